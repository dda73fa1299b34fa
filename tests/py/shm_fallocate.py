"""fallocate(2) on shm/f in three modes (plain, punching a hole, keeping
the size): prints each outcome, and the file's count of opens.

Run in an ipcfs mountpoint (tests/shm.rs).
"""
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
def fallocate(fd, mode, off, n):
    if libc.fallocate(fd, mode, off, n) != 0:
        return errno.errorcode[ctypes.get_errno()]
    return os.fstat(fd).st_size
fd = os.open('shm/f', os.O_RDWR | os.O_CREAT)
print(fallocate(fd, 0, 0, 8192))
os.pwrite(fd, b'z' * 8192, 0)
print(fallocate(fd, 3, 0, 4096), os.pread(fd, 2, 4094), os.pread(fd, 2, 4096))
print(fallocate(fd, 1, 0, 1 << 20))
print(os.getxattr('shm/f', 'user.ipcfs.opens'))
