"""lseek(2) with SEEK_DATA and SEEK_HOLE in shm/holes (1 MiB, data at 0
and 512 KiB): prints where data and holes start, and the errno past the
end.

Run in an ipcfs mountpoint (tests/shm.rs).
"""
import os, errno
fd = os.open('shm/holes', os.O_CREAT | os.O_RDWR, 0o600)
os.pwrite(fd, b'a', 0)
os.ftruncate(fd, 1 << 20)
os.pwrite(fd, b'b', 1 << 19)
print(os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE))
print(os.lseek(fd, 4096, os.SEEK_DATA), os.lseek(fd, (1 << 19) + 1, os.SEEK_HOLE))
try: os.lseek(fd, 2 << 20, os.SEEK_DATA)
except OSError as e: print(errno.errorcode[e.errno])
