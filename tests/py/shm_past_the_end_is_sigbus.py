"""Shrinks shm/bus (mapped, 8 KiB) to 4 KiB: a child's store past the new
end dies of SIGBUS. Prints how the child ended and the size.

Run in an ipcfs mountpoint (tests/shm.rs).
"""
import mmap
import os

fd = os.open('shm/bus', os.O_RDWR)
mm = mmap.mmap(fd, 8192, mmap.MAP_SHARED)
mm[4096] = 1
os.ftruncate(fd, 4096)
pid = os.fork()
if pid == 0:
    mm[4096] = 2
    os._exit(0)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), os.fstat(fd).st_size)
