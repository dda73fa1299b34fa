"""Grows shm/cap past a 1 MiB memory cap by truncate, write(2) and
posix_fallocate: prints each outcome, then the size and the data kept.

Run in an ipcfs mountpoint (tests/shm.rs).
"""
import os

from helpers import attempt

fd = os.open('shm/cap', os.O_RDWR | os.O_CREAT)
print(attempt(lambda: os.truncate('shm/cap', 1 << 40)))
print(attempt(lambda: os.pwrite(fd, b'a' * 4096, 0)))
print(attempt(lambda: os.pwrite(fd, b'b' * 4096, (1 << 20) - 100)))
print(attempt(lambda: os.posix_fallocate(fd, 0, 2 << 20)))
print(os.fstat(fd).st_size, os.pread(fd, 4, 0))
