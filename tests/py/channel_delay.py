"""Sends a message to queues/slow (delay 400 ms) and one to queues/fast at
once; prints when each reader got its message.

Run in an ipcfs mountpoint (tests/labs.rs).
"""
import os
import time

from helpers import counter, send, setting

setting('queues/slow', 'delay_ms', 400)
slow = os.open('queues/slow', os.O_RDONLY | os.O_DIRECT)
fast = os.open('queues/fast', os.O_RDONLY | os.O_DIRECT)
t = time.monotonic()
send('queues/slow', [b'late'])
send('queues/fast', [b'prompt'])
a = os.read(fast, 100); ta = time.monotonic() - t
print(os.getxattr('queues/slow', 'user.ipcfs.messages'))
b = os.read(slow, 100); tb = time.monotonic() - t
print(a, ta < 0.2, b, tb >= 0.4, counter('queues/slow', 'delayed'))
