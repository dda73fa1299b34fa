"""Large writes that wait in pipes, more of them at once than the daemon
keeps request buffers for (16), are read back byte exact, in order, with
reads of many sizes; and a waiting write cut short by a signal reports
the bytes that went in, and the reader gets exactly those.

Run in an ipcfs mountpoint (tests/pipes.rs). Prints one line per check.
"""
import hashlib, os, signal, threading
from helpers import eventually, pipe_readers

signal.alarm(60)
PIPES = 20
# Each writer's writes: large ones (kept), one small one (copied), again.
SIZES = [1 << 20, 200_000, 40_000, 5_000, 1 << 20, 33_000]
READS = [100, 1 << 20, 65536, 7, 300_000, 4096, 1 << 20]


def pattern(pipe, i, size):
    seed = hashlib.sha256(f'{pipe}.{i}'.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def expected(pipe):
    return b''.join(pattern(pipe, i, s) for i, s in enumerate(SIZES))


names = [f'pipes/kept{p}' for p in range(PIPES)]
readers = pipe_readers(names)


def write_all(p):
    fd = os.open(names[p], os.O_WRONLY)
    for i, size in enumerate(SIZES):
        data = pattern(p, i, size)
        n = os.write(fd, data)
        assert n == size, (p, i, n, size)
    os.close(fd)


writers = [threading.Thread(target=write_all, args=(p,)) for p in range(PIPES)]
for w in writers:
    w.start()
# Every writer's first write waits: the pipe holds 64 KiB of its 1 MiB.
all_wait = eventually(
    lambda: all(os.getxattr(n, 'user.ipcfs.blocked') != b'0' for n in names))
print('all writers wait:', all_wait)

ok = True
for p, fd in enumerate(readers):
    got = bytearray()
    k = 0
    while True:
        chunk = os.read(fd, READS[(p + k) % len(READS)])
        k += 1
        if not chunk:
            break
        got += chunk
    ok = ok and bytes(got) == expected(p)
for w in writers:
    w.join()
print('every stream whole and in order:', ok)
print('pipes empty:', all(os.getxattr(n, 'user.ipcfs.bytes') == b'0' for n in names))

# A waiting write cut short: it reports what went in (the pipe's 64 KiB),
# the reader gets exactly that, then the end of the stream.
signal.signal(signal.SIGALRM, lambda *_: None)
fd = os.open('pipes/cut', os.O_CREAT | os.O_RDWR, 0o600)
wfd = os.open('pipes/cut', os.O_WRONLY)
rfd = os.open('pipes/cut', os.O_RDONLY)
os.close(fd)
big = pattern('cut', 0, 1 << 20)
signal.setitimer(signal.ITIMER_REAL, 0.3)
n = os.write(wfd, big)
os.close(wfd)
got = bytearray()
while chunk := os.read(rfd, 1 << 20):
    got += chunk
print('cut short at', n, 'reader got the same:', bytes(got) == big[:n])
