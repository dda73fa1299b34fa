"""Opens writers on PATH (each holds a place for its message in
progress) until one fails or MOST are open; prints how many opened and
the failure's errno name (`none`), then holds them until stdin ends."""

import errno
import os
import sys

path, most = sys.argv[1], int(sys.argv[2])
fds = []
failure = "none"
try:
    while len(fds) < most:
        fds.append(os.open(path, os.O_WRONLY))
except OSError as e:
    failure = errno.errorcode[e.errno]
print(len(fds), failure, flush=True)
sys.stdin.read()
