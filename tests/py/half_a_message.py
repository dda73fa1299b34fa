"""Writes half a message to queues/q, prints its pid, and sleeps a minute
with the message unfinished (for the test to kill it).

Run in an ipcfs mountpoint (tests/framing.rs).
"""
import os, time
fd = os.open('queues/q', os.O_WRONLY)
os.write(fd, b'half a message')
print(os.getpid(), flush=True)
time.sleep(60)
