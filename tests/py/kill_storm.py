"""TOTAL short-lived processes, at most LIVE at once, each doing blocking
opens, reads and writes on one of the objects (its role, object and
delay drawn from a generator seeded with SEED), each SIGKILLed after a
random delay (at once, within 20 ms, or within 300 ms). A worker that
meets an errno other than those a pipe or queue gives in normal use
exits 3. Prints how the workers ended, and how many were not reaped
within 10 s of their SIGKILL (a process stuck in the filesystem, in
state D); on stderr, where each was (its wchan) when it was killed.

Usage: kill_storm.py SEED TOTAL LIVE OBJECT..., in an ipcfs mountpoint
(tests/stress.rs).
"""
import collections, errno, os, random, signal, sys, time
SEED, TOTAL, LIVE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
objs = sys.argv[4:]
rng = random.Random(SEED)
NORMAL = {errno.EPIPE, errno.EAGAIN, errno.EINTR, errno.ENXIO}
ROLES = ['reader', 'writer', 'opener', 'rdwr']

def work(obj, role, n):
    queue = obj.startswith('queues/')
    chunk = b'k' * (100 if queue else 4096)
    while True:
        try:
            if role == 'reader':
                fd = os.open(obj, os.O_RDONLY)
                while os.read(fd, 65536):
                    pass
                os.close(fd)
            elif role == 'writer':
                fd = os.open(obj, os.O_WRONLY)
                for _ in range(n if queue else 1 << 30):
                    os.write(fd, chunk)
                os.close(fd)
            elif role == 'opener':
                os.close(os.open(obj, os.O_RDONLY if n % 2 else os.O_WRONLY))
            else:
                # On a queue in packet mode: each write and read one message.
                fd = os.open(obj, os.O_RDWR | (os.O_DIRECT if queue else 0))
                os.write(fd, chunk)
                os.read(fd, 65536)
                os.close(fd)
        except OSError as e:
            if e.errno not in NORMAL:
                os.write(2, ('%s of %s: %s\n' % (role, obj, e)).encode())
                os._exit(3)

live = {}        # pid -> [kill at, killed at]
ended = collections.Counter()
waits = collections.Counter()   # where the workers were when killed
stuck = []
spawned = 0
while spawned < TOTAL or live:
    now = time.monotonic()
    while spawned < TOTAL and len(live) < LIVE:
        obj, role, n = rng.choice(objs), rng.choice(ROLES), rng.randint(1, 3)
        delay = rng.choice([0.0, rng.uniform(0, 0.02), rng.uniform(0, 0.3)])
        pid = os.fork()
        if pid == 0:
            try:
                work(obj, role, n)
            finally:
                os._exit(4)
        live[pid] = [now + delay, None]
        spawned += 1
    now = time.monotonic()
    for pid, t in live.items():
        if t[1] is None and t[0] <= now:
            try:
                with open('/proc/%d/wchan' % pid) as f:
                    w = f.read()
                waits[w if w not in ('', '0') else 'running'] += 1
            except OSError:
                pass
            os.kill(pid, signal.SIGKILL)
            t[1] = now
    while live:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        del live[pid]
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            ended['killed'] += 1
        else:
            ended['ended with status %d' % status] += 1
    for pid, t in list(live.items()):
        if t[1] is not None and now - t[1] > 10:
            try:
                with open('/proc/%d/stat' % pid) as f:
                    state = f.read().rsplit(')', 1)[1].split()[0]
                with open('/proc/%d/wchan' % pid) as f:
                    state += ' in ' + f.read()
            except OSError as e:
                state = str(e)
            stuck.append('%d in state %s' % (pid, state))
            del live[pid]
    time.sleep(0.002)
print('%d spawned, %d killed by SIGKILL, %d ended otherwise, %d not reaped'
      % (spawned, ended['killed'], spawned - ended['killed'] - len(stuck), len(stuck)))
for k, v in ended.items():
    if k != 'killed':
        print(k, v, file=sys.stderr)
for s in stuck:
    print('stuck:', s, file=sys.stderr)
print('killed in:', ', '.join('%s %d' % kv for kv in waits.most_common()), file=sys.stderr)
