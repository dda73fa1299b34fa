"""Opens queues/q N times and prints `opened`; when a line comes on stdin,
N threads each read one message: prints `reading` once all are in
read(2), then how many messages came and how many distinct.

Usage: burst_of_readers.py N, in an ipcfs mountpoint (tests/transport.rs).
"""
import os, sys, threading
N = int(sys.argv[1])
fds = [os.open('queues/q', os.O_RDONLY | os.O_DIRECT) for _ in range(N)]
print('opened', flush=True)
sys.stdin.readline()
got = []
ts = [threading.Thread(target=lambda fd=fd: got.append(os.read(fd, 100))) for fd in fds]
for t in ts: t.start()
def in_read():
    n = 0
    for tid in os.listdir('/proc/self/task'):
        try: n += open('/proc/self/task/%s/syscall' % tid).read().split()[0] == '0'
        except OSError: pass
    return n
while in_read() < N: pass
print('reading', flush=True)
for t in ts: t.join(30)
print(len(got), len(set(got)), flush=True)
