"""Reads one byte of each of argv[1] messages of queues/box, each through
its own open, so that it keeps the rest of each; prints `held`. Then, at
a line on stdin, tries to keep argv[2] more the same way and prints how
many it kept and the errno that stopped it (`none` if none did).

Run in an ipcfs mountpoint (tests/security.rs).
"""
import errno, os, sys

kept = []


def keep(n):
    for i in range(n):
        fd = os.open('queues/box', os.O_RDONLY | os.O_NONBLOCK)
        try:
            os.read(fd, 1)
        except OSError as e:
            os.close(fd)
            return i, errno.errorcode[e.errno]
        kept.append(fd)
    return n, 'none'


print(*keep(int(sys.argv[1])))
print('held', flush=True)
sys.stdin.readline()
print(*keep(int(sys.argv[2])), flush=True)
