"""A store through a mapping of shm/seen is seen at once by another
process's pread(2), with no msync, and that process's pwrite(2) at once
through the mapping: prints what each saw.

Run in an ipcfs mountpoint (tests/shm.rs).
"""
import mmap
import os

fd = os.open('shm/seen', os.O_RDWR)
mm = mmap.mmap(fd, 8192, mmap.MAP_SHARED)
mm[100:105] = b'hello'
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    other = os.open('shm/seen', os.O_RDWR)
    got = os.pread(other, 5, 100)
    os.pwrite(other, b'world', 5000)
    os.write(w, got)
    os._exit(0)
os.waitpid(pid, 0)
print(os.read(r, 5), mm[5000:5005])
