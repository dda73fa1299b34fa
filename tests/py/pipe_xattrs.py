"""The attributes of pipes/p: lists them, sets its capacity (right and
wrong), and tries to set a counter and read one that does not exist;
prints each outcome.

Run in an ipcfs mountpoint holding pipes/p (tests/pipes.rs).
"""
import os, errno
p = 'pipes/p'
def attempt(f):
    try:
        r = f(); return 'ok' if r is None else r.decode()
    except OSError as e:
        return errno.errorcode[e.errno]
print(sorted(os.listxattr(p)))
print(attempt(lambda: os.getxattr(p, 'user.ipcfs.capacity')))
print(attempt(lambda: os.setxattr(p, 'user.ipcfs.capacity', b'8192')))
print(attempt(lambda: os.getxattr(p, 'user.ipcfs.capacity')))
print(attempt(lambda: os.setxattr(p, 'user.ipcfs.capacity', b'abc')))
print(attempt(lambda: os.setxattr(p, 'user.ipcfs.capacity', b'100')))
print(attempt(lambda: os.setxattr(p, 'user.ipcfs.bytes', b'1')))
print(attempt(lambda: os.getxattr(p, 'user.ipcfs.nothing')))
fd = os.open(p, os.O_RDWR); os.write(fd, b'x' * 5000)
print(attempt(lambda: os.setxattr(p, 'user.ipcfs.capacity', b'4096')))
print(attempt(lambda: os.getxattr(p, 'user.ipcfs.bytes')), attempt(lambda: os.getxattr(p, 'user.ipcfs.readers')), attempt(lambda: os.getxattr(p, 'user.ipcfs.writers')))
