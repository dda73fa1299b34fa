"""Non-blocking opens and reads of pipes/p: prints the outcome of a
writer's open with no reader, and of reads with no writer, with a writer
and no data, and with data.

Run in an ipcfs mountpoint (tests/pipes.rs).
"""
import os, errno
def attempt(f):
    try:
        return repr(f())
    except OSError as e:
        return errno.errorcode[e.errno]
print(attempt(lambda: os.open('pipes/p', os.O_WRONLY | os.O_NONBLOCK)))
r = os.open('pipes/p', os.O_RDONLY | os.O_NONBLOCK)
print(attempt(lambda: os.read(r, 10)))
w = os.open('pipes/p', os.O_WRONLY | os.O_NONBLOCK)
print(attempt(lambda: os.read(r, 10)))
os.write(w, b'abc')
print(attempt(lambda: os.read(r, 10)))
