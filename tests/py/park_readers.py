"""N threads of one process each block in a read of their own queue
queues/pI, and then check that they got mI: prints how many did.

Usage: park_readers.py N, in an ipcfs mountpoint holding queues/p0 to
queues/pN-1 (tests/stress.rs).
"""
import os, sys, threading
n = int(sys.argv[1])
threading.stack_size(256 * 1024)
got = [None] * n
def reader(i):
    try:
        fd = os.open('queues/p%d' % i, os.O_RDONLY)
        got[i] = os.read(fd, 4096)
        os.close(fd)
    except OSError as e:
        got[i] = e
threads = [threading.Thread(target=reader, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wrong = [(i, got[i]) for i in range(n) if got[i] != b'm%d' % i]
print('%d readers, %d got their own message' % (n, n - len(wrong)))
if wrong:
    print('wrong:', wrong[:10], file=sys.stderr)
