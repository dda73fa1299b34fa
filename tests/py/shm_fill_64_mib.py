"""Makes shm/big 64 MiB, fills it through a mapping, and prints its last
two bytes.

Run in an ipcfs mountpoint (tests/shm.rs).
"""
import mmap
import os

fd = os.open('shm/big', os.O_RDWR | os.O_CREAT)
os.ftruncate(fd, 64 << 20)
mm = mmap.mmap(fd, 64 << 20, mmap.MAP_SHARED)
mm[:] = b'x' * (64 << 20)
print(os.pread(fd, 2, (64 << 20) - 2))
