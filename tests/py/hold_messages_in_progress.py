"""Starts four messages in queues/box and leaves them unfinished, then
tries a blocking write through a description that holds no place (opened
O_NONBLOCK, then made blocking) and prints its outcome; prints `held`,
and ends the four messages when a line comes on stdin.

Run in an ipcfs mountpoint (tests/security.rs).
"""
import fcntl, os
from helpers import attempt, hold_until_told
fds = [os.open('queues/box', os.O_WRONLY) for _ in range(4)]
for fd in fds:
    os.write(fd, b'x')
extra = os.open('queues/box', os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
fcntl.fcntl(extra, fcntl.F_SETFL, os.O_APPEND)
print(attempt(lambda: os.write(extra, b'y')))
hold_until_told(fds + [extra])
