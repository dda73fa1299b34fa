"""A large write to a stream endpoint is answered once the daemon holds
its bytes, before the socket took them, and those bytes then behave as a
kernel socket's buffered bytes do: sent first and in order, no POLLOUT
while they wait, handed to the kernel at a close (which does not wait for
the peer), and a send error they meet is the next write's.

Against a Unix server that reads only when this program says (a Unix
socket's send buffer holds about 208 KiB, far less than one write here).
Writes are 512 KiB: a write of 1 MiB from an unaligned buffer reaches the
daemon as two, and the small second one waits. Prints one line per step.
argv[1]: the server's path; argv[2]: `early`, or `waits` where writes are
not answered early (over io_uring), and the first write waits for the
server as it would on a kernel socket. (tests/sockets.rs)
"""
import os
import select
import signal
import socket
import sys
import threading

from helpers import attempt, eventually

signal.alarm(120)
path, mode = sys.argv[1:3]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(1)
os.mkdir('sockets/e')
with open('sockets/e/ctl', 'w') as ctl:
    ctl.write('connect unix %s\n' % path)
peer, _ = server.accept()
data = 'sockets/e/data'
fd = os.open(data, os.O_RDWR)
answers = {}


def write_in_background(name, fd, payload):
    def write():
        answers[name] = attempt(lambda: os.write(fd, payload))
    t = threading.Thread(target=write)
    t.start()
    return t


def receive(n):
    got = bytearray()
    while len(got) < n:
        d = peer.recv(n - len(got))
        if not d:
            break
        got += d
    return bytes(got)


a, b, c, d = (os.urandom(n) for n in (512 << 10, 100000, 512 << 10, 512 << 10))

first = write_in_background('a', fd, a)
if mode == 'waits':
    print('first write waits', not eventually(lambda: 'a' in answers, 0.5))
    print('server got it', receive(len(a)) == a)
    first.join()
    print('first write', answers['a'])
    sys.exit(0)
if not eventually(lambda: 'a' in answers):
    print('the first write waits for the server')
    os._exit(1)
print('first write', answers['a'])

p = select.poll()
p.register(fd, select.POLLOUT)
print('pollout', bool(p.poll(0)))

nonblocking = os.open(data, os.O_RDWR | os.O_NONBLOCK)
print('nonblocking write', attempt(lambda: os.write(nonblocking, b'x' * 10)))
os.close(nonblocking)

second = write_in_background('b', fd, b)
print('second write waits', not eventually(lambda: 'b' in answers, 0.5))
print('server got first then second', receive(len(a) + len(b)) == a + b)
second.join()
print('second write', answers['b'])

write_in_background('c', fd, c).join()
print('third write', answers['c'])
closing = threading.Thread(target=os.close, args=(fd,))
closing.start()
print('close returned', eventually(lambda: not closing.is_alive()))
print('server got third after the close', receive(len(c)) == c)

fd = os.open(data, os.O_RDWR)
write_in_background('d', fd, d).join()
print('fourth write', answers['d'])
peer.close()
print('err says send', eventually(lambda: open('sockets/e/err').read().startswith('send:')))
print('write after', attempt(lambda: os.write(fd, b'x')))
print('write after that', attempt(lambda: os.write(fd, b'x')))
os.close(fd)
os.rmdir('sockets/e')

# Before the socket stops taking bytes, the bytes a write was answered
# for go to the kernel, ahead of the end of the stream: at `shutdown wr`,
# and at rmdir (close()).
ends = (('f', 'shutdown wr', 'echo shutdown wr > sockets/f/ctl'), ('g', 'rmdir', 'rmdir sockets/g'))
for name, what, end in ends:
    os.mkdir('sockets/' + name)
    with open('sockets/%s/ctl' % name, 'w') as ctl:
        ctl.write('connect unix %s\n' % path)
    peer, _ = server.accept()
    fd = os.open('sockets/%s/data' % name, os.O_RDWR)
    payload = os.urandom(512 << 10)
    write_in_background(name, fd, payload).join()
    os.close(fd)
    print('%s: write %s, then %s' % (name, answers[name], what))
    assert os.system(end) == 0
    whole = receive(len(payload)) == payload
    print('%s: the server got it whole, then the end' % name, whole, peer.recv(1) == b'')
    if name == 'f':
        os.rmdir('sockets/f')
