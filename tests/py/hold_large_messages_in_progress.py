"""Starts three messages of 3,000,000 bytes in queues/box and leaves them
unfinished: prints the outcome of each write (the third is past the
user's share), then `held`, and ends them when a line comes on stdin.

Run in an ipcfs mountpoint (tests/security.rs).
"""
import os
from helpers import attempt, hold_until_told
fds = [os.open('queues/box', os.O_WRONLY) for _ in range(3)]
data = b'x' * 3000000
print(os.write(fds[0], data), os.write(fds[1], data))
print(attempt(lambda: os.write(fds[2], data)))
hold_until_told(fds)
