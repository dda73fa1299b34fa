"""Writes to pipes/fresh once its only reader has closed, ignoring SIGPIPE
(as Python does): prints the write's errno.

Run in an ipcfs mountpoint (tests/pipes.rs).
"""
import errno
import os
import time
fd = os.open('pipes/fresh', os.O_RDWR)
os.close(fd)
r = os.open('pipes/fresh', os.O_RDONLY | os.O_NONBLOCK)
w = os.open('pipes/fresh', os.O_WRONLY)
os.close(r)
# FUSE sends the release of a closed file after close() returns.
while os.getxattr('pipes/fresh', 'user.ipcfs.readers') != b'0': time.sleep(0.01)
try:
    os.write(w, b'x')
    print('wrote')
except OSError as e:
    print(errno.errorcode[e.errno])
