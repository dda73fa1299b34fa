"""With reorder 1, a message sent 0.2 s after a reader starts waiting on
queues/q is held back alone; prints whether it woke the reader within
1.5 s, and the reordered count.

Run in an ipcfs mountpoint (tests/labs.rs).
"""
import os
import time

from helpers import counter, send, setting

setting('queues/q', 'reorder', 1)
r = os.open('queues/q', os.O_RDONLY | os.O_DIRECT)
if os.fork() == 0:
    time.sleep(0.2); send('queues/q', [b'alone']); os._exit(0)
t = time.monotonic()
print(os.read(r, 100), time.monotonic() - t < 1.5, counter('queues/q', 'reordered'))
