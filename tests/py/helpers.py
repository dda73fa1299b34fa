"""Small functions the test programs of tests/py share: `from helpers
import attempt`. (The programs run with tests/py as their first path, so
this module is found wherever they are run from.)
"""
import errno
import os
import signal
import socket
import struct
import sys
import time
import zlib


def attempt(f):
    """f()'s result as its repr, or the name of the errno it raised."""
    try:
        return repr(f())
    except OSError as e:
        return errno.errorcode[e.errno]


# Batch mode of a queue (an open with O_DIRECT | O_DSYNC): many whole
# messages per system call, each a record, a 4-byte little-endian length
# then the bytes.
BATCH = os.O_DIRECT | os.O_DSYNC


def records(msgs):
    """The records of the messages msgs, as one batch."""
    return b''.join(struct.pack('<I', len(m)) + m for m in msgs)


def messages(data):
    """The messages of a batch's records; fails on a record cut short."""
    out = []
    while data:
        n = struct.unpack('<I', data[:4])[0]
        assert len(data) >= 4 + n, 'a record was cut'
        out.append(data[4:4 + n]); data = data[4 + n:]
    return out


# A queue's channel faults (labs): queues opened in packet mode (one write
# is one message, one read receives one), settings through setxattr.

def setting(q, name, value):
    os.setxattr(q, 'user.ipcfs.' + name, str(value).encode())


def counter(q, name):
    return int(os.getxattr(q, 'user.ipcfs.' + name))


def send(q, msgs):
    """Sends each of msgs as one message."""
    fd = os.open(q, os.O_WRONLY | os.O_DIRECT)
    for m in msgs: os.write(fd, m)
    os.close(fd)


def drain(q, quiet=0.4):
    """Reads until the queue is empty and stays empty `quiet` seconds (a
    message held back for reordering goes on within 200 ms)."""
    fd = os.open(q, os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)
    got, last = [], time.monotonic()
    while time.monotonic() - last < quiet:
        try:
            got.append(os.read(fd, 65536)); last = time.monotonic()
        except BlockingIOError:
            time.sleep(0.01)
    os.close(fd)
    return got


def numbered(n):
    """n messages, each its number, a payload and a CRC-32 of both."""
    out = []
    for i in range(n):
        body = struct.pack('<I', i) + b'payload-%06d' % i
        out.append(body + struct.pack('<I', zlib.crc32(body)))
    return out


def intact(m):
    """Whether a message of numbered() still matches its checksum."""
    return struct.unpack('<I', m[-4:])[0] == zlib.crc32(m[:-4])


def report(pid, fd):
    """What the child pid wrote on its pipe (fd, the read end) until it
    closed it, and the child's wait status once it ended."""
    chunks = []
    while True:
        c = os.read(fd, 1 << 20)
        if not c:
            break
        chunks.append(c)
    return b''.join(chunks), os.waitpid(pid, 0)[1]


def pipe_readers(names):
    """A blocking reader of each of the pipes `names`, made by the open
    (a creating reader opens at once, with no writer yet)."""
    fds = [os.open(n, os.O_CREAT | os.O_RDONLY | os.O_NONBLOCK, 0o600) for n in names]
    for fd in fds:
        os.set_blocking(fd, True)
    return fds


def eventually(ready, limit=20):
    """Whether ready() comes true within `limit` seconds."""
    deadline = time.monotonic() + limit
    while not ready():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def hold_until_told(fds):
    """Prints `held`, waits for a line on stdin, then closes fds."""
    print('held', flush=True)
    sys.stdin.readline()
    for fd in fds:
        os.close(fd)


def local_peer(kind=socket.SOCK_STREAM, backlog=128):
    """A peer for a test: a socket of kind on 127.0.0.1 (listening, for a
    stream), whose port is printed first. The test kills the program; else
    it ends itself after two minutes."""
    signal.alarm(120)
    s = socket.socket(socket.AF_INET, kind)
    s.bind(('127.0.0.1', 0))
    if kind == socket.SOCK_STREAM:
        s.listen(backlog)
    print(s.getsockname()[1], flush=True)
    return s
