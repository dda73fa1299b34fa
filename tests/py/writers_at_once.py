"""Writes messages of SIZE bytes in packet mode (O_DIRECT) from THREADS
threads at once, thread i to the i-th path given (round robin), each
until its first failure; prints how many went in and the failures'
errno names, sorted and counted (`ENOSPC 16`)."""

import collections
import errno
import os
import sys
import threading

size, threads, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
went = 0
failures = collections.Counter()
lock = threading.Lock()
start = threading.Barrier(threads)


def write(path):
    global went
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    start.wait()
    try:
        while True:
            os.write(fd, b"x" * size)
            with lock:
                went += 1
    except OSError as e:
        with lock:
            failures[errno.errorcode[e.errno]] += 1
    finally:
        os.close(fd)


workers = [threading.Thread(target=write, args=(paths[i % len(paths)],)) for i in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print(went, " ".join(f"{name} {n}" for name, n in sorted(failures.items())))
