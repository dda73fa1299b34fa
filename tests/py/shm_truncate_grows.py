"""Grows shm/grow (mapped, 4 KiB) to 1 MiB with truncate(1): prints the
sizes stat gives, then whether a second mapper (a child) sees the stores
the first made, as its exit code (9 when it does).

Run in an ipcfs mountpoint (tests/shm.rs).
"""
import mmap
import os

fd = os.open('shm/grow', os.O_RDWR)
small = mmap.mmap(fd, 4096, mmap.MAP_SHARED)
os.system('truncate -s 1M shm/grow')
print(os.stat('shm/grow').st_size, os.fstat(fd).st_size)
big = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED)
big[(1 << 20) - 1] = 7
small[0] = 9
pid = os.fork()
if pid == 0:
    other = mmap.mmap(os.open('shm/grow', os.O_RDONLY), 1 << 20, mmap.MAP_SHARED, mmap.PROT_READ)
    os._exit(other[(1 << 20) - 1] * 10 + other[0] - 70)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
