"""Four writers each send 5,000 numbered messages to queues/jobs while four
readers receive them; each reader checks that each writer's messages come
in order. Prints how many were received and whether each came once.

Run in an ipcfs mountpoint (tests/queues.rs).
"""
import os
from helpers import report
N = 5000
readers = []
for k in range(4):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        q = os.open('queues/jobs', os.O_RDONLY | os.O_DIRECT)
        got = []
        while True:
            m = os.read(q, 64)
            if m == b'stop': break
            got.append(m.decode())
        os.write(wfd, ('\n'.join(got) + '\n').encode()); os._exit(0)
    os.close(wfd); readers.append((pid, rfd))
writers = []
for k in range(4):
    pid = os.fork()
    if pid == 0:
        q = os.open('queues/jobs', os.O_WRONLY)
        for i in range(N):
            os.write(q, b'%d:%d' % (k, i))
        os._exit(0)
    writers.append(pid)
for pid in writers: os.waitpid(pid, 0)
q = os.open('queues/jobs', os.O_WRONLY)
for _ in readers: os.write(q, b'stop')
seen = []
for pid, rfd in readers:
    data, _ = report(pid, rfd)
    got = [l for l in data.decode().split('\n') if l]
    last = {}
    for item in got:
        w, i = map(int, item.split(':'))
        assert last.get(w, -1) < i, 'writer %d out of order' % w
        last[w] = i
    seen += got
print(len(seen), len(set(seen)) == 4 * N)
