"""Removes shm/gone (1 MiB, mapped) and goes on using it: prints whether
the name is gone and what the mapping and pread(2) see, then the
mount's free blocks while it is held.

Run in an ipcfs mountpoint (tests/shm.rs).
"""
import mmap
import os

fd = os.open('shm/gone', os.O_RDWR | os.O_CREAT)
os.ftruncate(fd, 1 << 20)
mm = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED)
os.unlink('shm/gone')
mm[5:8] = b'abc'
print('gone' in os.listdir('shm'), os.pread(fd, 3, 5), mm[5:8])
print(os.statvfs('.').f_bfree)
