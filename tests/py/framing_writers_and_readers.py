"""16 writers and 16 readers on queues/q at once, in the framing given:
each writer sends 150 numbered messages, each reader checks those it
receives (whole, and each writer's in order). Prints how many messages
were received and how many distinct.

Usage: framing_writers_and_readers.py message|line|write (tests/framing.rs)
"""
import os, sys
from helpers import report
framing = sys.argv[1]
W, R, N = 16, 16, 150
readers = []
for k in range(R):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        q = os.open('queues/q', os.O_RDONLY | os.O_DIRECT)
        got = []
        while True:
            m = os.read(q, 4096)
            if m == b'stop': break
            got.append(m)
        os.write(wfd, repr(got).encode()); os._exit(0)
    os.close(wfd); readers.append((pid, rfd))
def body(w, i):
    return b'%d:%d:' % (w, i) + b'x' * (i % 50) + b'\n'
writers = []
for w in range(W):
    pid = os.fork()
    if pid == 0:
        if framing == 'message':
            for i in range(N):
                fd = os.open('queues/q', os.O_WRONLY)
                b = body(w, i)
                os.write(fd, b[:3]); os.write(fd, b[3:]); os.close(fd)
        else:
            fd = os.open('queues/q', os.O_WRONLY)
            if framing == 'line':
                data = b''.join(body(w, i) for i in range(N))
                for s in range(0, len(data), 777): os.write(fd, data[s:s + 777])
            else:
                for i in range(N): os.write(fd, body(w, i))
            os.close(fd)
        os._exit(0)
    writers.append(pid)
for pid in writers: os.waitpid(pid, 0)
for _ in readers:
    fd = os.open('queues/q', os.O_WRONLY | os.O_DIRECT)
    os.write(fd, b'stop'); os.close(fd)
seen = []
for pid, rfd in readers:
    data, _ = report(pid, rfd)
    got = eval(data.decode())
    last = {}
    for m in got:
        w, i, _ = m.split(b':', 2)
        w, i = int(w), int(i)
        assert m == body(w, i), 'torn: %r' % m
        assert last.get(w, -1) < i, 'writer %d out of order' % w
        last[w] = i
    seen += got
print(len(seen), len(set(seen)))
