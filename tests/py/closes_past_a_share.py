"""Opens a writer on each path given (after SIZE), writes SIZE bytes to
each (each description's message in progress), then closes them in
turn, printing each close's result: `ok` or the errno's name."""

import errno
import os
import sys

size = int(sys.argv[1])
fds = [os.open(path, os.O_WRONLY) for path in sys.argv[2:]]
for fd in fds:
    os.write(fd, b"x" * size)
for fd in fds:
    try:
        os.close(fd)
        print("ok")
    except OSError as e:
        print(errno.errorcode[e.errno])
