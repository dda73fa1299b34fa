"""Creates PATH exclusively (O_CREAT | O_EXCL) and writes `mine` to it:
prints `made`, or the errno name of the open.

Run in an ipcfs mountpoint (tests/store.rs).
"""
import errno
import os
import sys

try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
except OSError as e:
    print(errno.errorcode[e.errno])
else:
    os.write(fd, b'mine\n')
    os.close(fd)
    print('made')
