"""40 writes of 1 MiB wait at once in 40 pipes (the daemon keeps 8 in
their request buffers and copies the rest); prints the daemon's resident
memory then, in KiB, and whether every stream drains whole.

Run in an ipcfs mountpoint (tests/pipes.rs) with the daemon's pid.
"""
import os, sys, threading
from helpers import eventually, pipe_readers

daemon_pid = int(sys.argv[1])
PIPES = 40
SIZE = 1 << 20
names = [f'pipes/wait{p}' for p in range(PIPES)]
readers = pipe_readers(names)


def data(p):
    return bytes([p]) * SIZE


def write(p):
    fd = os.open(names[p], os.O_WRONLY)
    assert os.write(fd, data(p)) == SIZE
    os.close(fd)


writers = [threading.Thread(target=write, args=(p,)) for p in range(PIPES)]
for w in writers:
    w.start()
all_wait = eventually(
    lambda: all(os.getxattr(n, 'user.ipcfs.blocked') == b'1' for n in names))
print('all wait:', all_wait)
with open(f'/proc/{daemon_pid}/status') as f:
    rss = next(l for l in f if l.startswith('VmRSS:')).split()[1]
print('resident', rss)
whole = True
for p, fd in enumerate(readers):
    got = bytearray()
    while chunk := os.read(fd, SIZE):
        got += chunk
        if len(got) == SIZE:
            break
    whole = whole and bytes(got) == data(p)
for w in writers:
    w.join()
print('all whole:', whole)
