"""Starts four messages in queues/box and leaves them unfinished: prints
`held`, and ends them when a line comes on stdin.

Run in an ipcfs mountpoint (tests/security.rs).
"""
import os, sys
fds = [os.open('queues/box', os.O_WRONLY) for _ in range(4)]
for fd in fds: os.write(fd, b'x')
print('held', flush=True)
sys.stdin.readline()
for fd in fds: os.close(fd)
