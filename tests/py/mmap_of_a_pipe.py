"""A shared mapping of pipes/p is ENODEV; a private one maps, but a
child's access dies of SIGBUS; the bytes stay in the pipe. Prints each
outcome.

Run in an ipcfs mountpoint (tests/splice.rs).
"""
import mmap
import os

from helpers import attempt

fd = os.open('pipes/p', os.O_RDWR)
os.write(fd, b'abc')
print(attempt(lambda: mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ)))
mm = mmap.mmap(fd, 4096, mmap.MAP_PRIVATE, mmap.PROT_READ)
pid = os.fork()
if pid == 0:
    mm[0]
    os._exit(0)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), os.read(fd, 10))
