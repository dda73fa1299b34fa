"""Two processes map shm/counter and each increments a counter in it
10,000 times under flock: prints their exit statuses and the count.

Run in an ipcfs mountpoint (tests/shm.rs).
"""
import fcntl
import mmap
import os
import struct

def work():
    fd = os.open('shm/counter', os.O_RDWR)
    mm = mmap.mmap(fd, 4096, mmap.MAP_SHARED)
    for _ in range(10000):
        fcntl.flock(fd, fcntl.LOCK_EX)
        struct.pack_into('Q', mm, 8, struct.unpack_from('Q', mm, 8)[0] + 1)
        fcntl.flock(fd, fcntl.LOCK_UN)
    os._exit(0)
pids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0: work()
    pids.append(pid)
print([os.waitpid(p, 0)[1] for p in pids])
fd = os.open('shm/counter', os.O_RDONLY)
print(struct.unpack('Q', os.pread(fd, 8, 8))[0])
