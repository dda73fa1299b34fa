"""After kill_storm.py: each queue is drained (every message left must be
a whole one, n times 100 bytes of `k`: a writer killed part-way sends
nothing), then each object carries a fresh message there and back.
Prints, for each object, what came back and what a read after it gave.

Usage: round_trip.py OBJECT..., in an ipcfs mountpoint (tests/stress.rs).
"""
import errno, os, sys, time
for obj in sys.argv[1:]:
    if obj.startswith('queues/'):
        r = os.open(obj, os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)
        left = partial = 0
        while True:
            try:
                m = os.read(r, 65536)
            except OSError as e:
                assert e.errno == errno.EAGAIN, e
                break
            left += 1
            partial += not (len(m) in (100, 200, 300) and m == b'k' * len(m))
        w = os.open(obj, os.O_WRONLY)
        os.write(w, b'fresh ' + obj.encode())
        os.close(w)
        got = os.read(r, 65536)
        try:
            after = os.read(r, 65536)
        except OSError as e:
            after = errno.errorcode[e.errno]
        print(obj, got.decode(), after, '%d partial' % partial)
        print(obj, 'had', left, 'messages left', file=sys.stderr)
    else:
        r = os.open(obj, os.O_RDONLY | os.O_NONBLOCK)
        w = os.open(obj, os.O_WRONLY)
        os.write(w, b'fresh ' + obj.encode())
        got = os.read(r, 65536)
        os.close(w)
        # The kernel reports the close a moment after close() returns.
        deadline = time.monotonic() + 10
        while os.getxattr(obj, 'user.ipcfs.writers') != b'0' and time.monotonic() < deadline:
            time.sleep(0.01)
        after = os.read(r, 65536)
        print(obj, got.decode(), after)
    os.close(r)
