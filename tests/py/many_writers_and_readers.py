"""W writers and R readers on one pipe or queue: each writer sends N
numbered, checksummed messages (the queue: one write(2) each, of varying
length; the pipe: 64-byte records, 1 to 64 per write, so at most
PIPE_BUF), each reader receives and checks them and hands the parent
what it got, and the parent prints the tally (and, on stderr, the
messages per reader).

Queue readers alternate between packet mode (O_DIRECT: one whole
message per read) and stream mode (a read takes the message, the next
returns its end of file); they stop at a STOP message each. Pipe readers
re-frame the records and stop at end of file, which comes when the
parent's own O_RDWR descriptor, held until every writer is done, closes.

Usage: many_writers_and_readers.py pipe|queue PATH W R N, in an ipcfs
mountpoint (tests/stress.rs).
"""
import array, os, struct, sys, traceback, zlib
from helpers import report
kind, path = sys.argv[1], sys.argv[2]
W, R, N = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
HEAD = struct.Struct('<HI')    # writer, sequence number
CRC = struct.Struct('<I')
REC = 64                       # a pipe record: head, payload, checksum

def payload(w, s, n):
    unit = b'%d/%d;' % (w, s)
    return (unit * (n // len(unit) + 1))[:n]

def seal(w, s, n):
    body = HEAD.pack(w, s) + payload(w, s, n)
    return body + CRC.pack(zlib.crc32(body))

def message(w, s):
    if kind == 'queue':
        return seal(w, s, (w * 37 + s * 11) % 300)
    return seal(w, s, REC - HEAD.size - CRC.size)

def check(m):
    # (writer, sequence) of a whole, intact message; None if torn.
    if len(m) < HEAD.size + CRC.size:
        return None
    if CRC.unpack(m[-CRC.size:])[0] != zlib.crc32(m[:-CRC.size]):
        return None
    w, s = HEAD.unpack_from(m)
    return (w, s) if w < W and s < N and m == message(w, s) else None

def run(f):
    try:
        f()
        code = 0
    except BaseException:
        traceback.print_exc()
        code = 1
    os._exit(code)

def writer(w):
    fd = os.open(path, os.O_WRONLY)
    s = j = 0
    while s < N:
        if kind == 'queue':
            k, buf = 1, message(w, s)
        else:
            k = min(N - s, 1 + (w * 31 + j) % 64)
            buf = b''.join(message(w, s + i) for i in range(k))
        assert os.write(fd, buf) == len(buf), 'short write'
        s += k
        j += 1
    os.close(fd)

def reader(r, ready, out):
    packet = kind == 'queue' and r % 2 == 0
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if packet else 0))
    os.write(ready, b'r')
    got = array.array('Q')
    last = {}
    tally = {'torn': 0, 'disorder': 0}
    def take(m):
        key = check(m)
        if key is None:
            tally['torn'] += 1
            return
        w, s = key
        if last.get(w, -1) >= s:
            tally['disorder'] += 1
        last[w] = s
        got.append(w << 32 | s)
    if kind == 'queue':
        while True:
            m = os.read(fd, 65536)
            if not packet and os.read(fd, 65536) != b'':
                tally['torn'] += 1          # a message in more than one read
            if m == b'STOP':
                break
            take(m)
    else:
        rest = b''
        while True:
            c = os.read(fd, 65536)
            if not c:
                break
            c = rest + c
            whole = len(c) - len(c) % REC
            for i in range(0, whole, REC):
                take(c[i:i + REC])
            rest = c[whole:]
        if rest:
            tally['torn'] += 1
    os.close(fd)
    data = struct.pack('<QQQ', len(got), tally['torn'], tally['disorder']) + got.tobytes()
    view = memoryview(data)
    while view:
        view = view[os.write(out, view):]

keep = os.open(path, os.O_RDWR) if kind == 'pipe' else None
ready_r, ready_w = os.pipe()
readers = []
for r in range(R):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        os.close(ready_r)
        if keep is not None:
            os.close(keep)
        run(lambda: reader(r, ready_w, wfd))
    os.close(wfd)
    readers.append((pid, rfd))
os.close(ready_w)
opened = 0
while opened < R:
    c = os.read(ready_r, R)
    assert c, 'a reader died before it opened'
    opened += len(c)
writers = []
for w in range(W):
    pid = os.fork()
    if pid == 0:
        if keep is not None:
            os.close(keep)
        run(lambda: writer(w))
    writers.append(pid)
failed = 0
for pid in writers:
    failed += os.waitpid(pid, 0)[1] != 0
if kind == 'queue':
    fd = os.open(path, os.O_WRONLY)
    for _ in range(R):
        os.write(fd, b'STOP')
    os.close(fd)
else:
    os.close(keep)
keys = array.array('Q')
torn = disorder = 0
shares = []
for pid, rfd in readers:
    data, status = report(pid, rfd)
    failed += status != 0
    if len(data) < 24:
        continue
    n, t, d = struct.unpack_from('<QQQ', data)
    part = array.array('Q')
    part.frombytes(data[24:24 + 8 * n])
    keys.extend(part)
    shares.append(n)
    torn += t
    disorder += d
received = set(keys)
expected = set(w << 32 | s for w in range(W) for s in range(N))
print('%s: %d writers, %d readers, %d sent, %d received, %d lost, %d duplicated, '
      '%d unknown, %d torn, %d out of order, %d workers failed'
      % (kind, W, R, W * N, len(keys), len(expected - received), len(keys) - len(received),
         len(received - expected), torn, disorder, failed))
print('messages per reader: min %d, max %d' % (min(shares), max(shares)),
      file=sys.stderr)
