"""Writes 16 MiB to pipes/big (its capacity raised to 16 MiB) and reads them
back in one read of 32 MiB, which must return at once with all 16.

Run in an ipcfs mountpoint (tests/pipes.rs).
"""
import os, mmap, signal
signal.alarm(10)
os.close(os.open('pipes/big', os.O_CREAT | os.O_WRONLY, 0o600))
os.setxattr('pipes/big', 'user.ipcfs.capacity', b'16M')
fd = os.open('pipes/big', os.O_RDWR)
data = bytes(range(256)) * (1 << 16)
print(os.write(fd, data))
buf = mmap.mmap(-1, 32 << 20)
n = os.readv(fd, [buf])
print(n, buf[:n] == data)
