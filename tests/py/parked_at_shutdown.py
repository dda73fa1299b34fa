"""K callers parked in each of five ways, one object each, in threads of
one process: a queue read (empty queue), a pipe read (a writer open, no
data), a pipe open (no writer), a pipe write (a full pipe of 4096
bytes) and a queue write (a full queue of one message). Waits for them
all to end (the daemon is told to exit meanwhile) and prints how each
ended.

Usage: parked_at_shutdown.py K, in an ipcfs mountpoint holding
queues/rI, pipes/rI, pipes/oI, pipes/wI and queues/wI for I below K
(tests/stress.rs).
"""
import collections, errno, os, sys, threading, time
K = int(sys.argv[1])
threading.stack_size(256 * 1024)
ends = []
lock = threading.Lock()
def call(kind, f):
    try:
        r = f()
        end = 'EOF' if r == b'' else 'returned %r' % (r if isinstance(r, int) else len(r))
    except OSError as e:
        end = errno.errorcode.get(e.errno, str(e.errno))
    with lock:
        ends.append((kind, end))
keep = []
jobs = []
for i in range(K):
    q = 'queues/r%d' % i
    jobs.append(('queue read', lambda q=q: os.read(os.open(q, os.O_RDONLY), 100)))
    p = 'pipes/r%d' % i
    keep.append(os.open(p, os.O_RDWR))
    jobs.append(('pipe read', lambda p=p: os.read(os.open(p, os.O_RDONLY), 100)))
    o = 'pipes/o%d' % i
    jobs.append(('pipe open', lambda o=o: os.open(o, os.O_RDONLY)))
    w = 'pipes/w%d' % i
    os.setxattr(w, 'user.ipcfs.capacity', b'4096')
    fd = os.open(w, os.O_RDWR)
    keep.append(fd)
    assert os.write(fd, b'x' * 4096) == 4096
    jobs.append(('pipe write', lambda w=w: os.write(os.open(w, os.O_WRONLY), b'y' * 4096)))
    f = 'queues/w%d' % i
    os.setxattr(f, 'user.ipcfs.max_messages', b'1')
    fd = os.open(f, os.O_WRONLY)
    os.write(fd, b'full')
    os.close(fd)
    jobs.append(('queue write', lambda f=f: os.write(os.open(f, os.O_WRONLY), b'z' * 10)))
threads = [threading.Thread(target=call, args=job) for job in jobs]
for t in threads:
    t.start()
deadline = time.monotonic() + 20
for t in threads:
    t.join(max(0, deadline - time.monotonic()))
for (kind, end), n in sorted(collections.Counter(ends).items()):
    print(kind, end, n)
print('still waiting', sum(t.is_alive() for t in threads))
sys.stdout.flush()
os._exit(0)
