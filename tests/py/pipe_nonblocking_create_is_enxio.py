"""Makes pipes/nb with a non-blocking open for writing: prints the open's
errno (ENXIO, as a FIFO's) and whether the pipe stays.

Run in an ipcfs mountpoint (tests/pipes.rs).
"""
import os, errno
try:
    os.open('pipes/nb', os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK)
except OSError as e:
    print(errno.errorcode[e.errno], os.path.exists('pipes/nb'))
