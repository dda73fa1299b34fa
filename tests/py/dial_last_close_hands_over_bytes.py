"""A dial file's last close hands the bytes of a write answered before the
socket took them to the kernel: the server, which reads nothing until the
writer has closed, gets every byte and then the end of the stream.

The writer fills the socket with non-blocking writes (O_NONBLOCK writes
are never answered early: they take what the socket takes, then EAGAIN),
makes one blocking write of 512 KiB, and closes. The server's small
receive buffer keeps the socket full. argv[1]: `early` (the blocking write
returns while the socket is full), `unmount` (the same, and then the
server reads only after a line on stdin: the test unmounts first, so the
daemon hands the bytes to the kernel as it exits) or `waits` (over
io_uring: the write waits for the server, as on a kernel socket).
(tests/sockets.rs)
"""
import os
import random
import signal
import socket
import sys
import threading

from helpers import eventually

signal.alarm(120)
mode = sys.argv[1]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
server.bind(('127.0.0.1', 0))
server.listen(1)
fd = os.open('sockets/tcp/127.0.0.1/%d' % server.getsockname()[1], os.O_RDWR | os.O_NONBLOCK)
peer, _ = server.accept()
rng = random.Random(7)
sent = bytearray()
while True:
    chunk = rng.randbytes(65536)
    try:
        n = os.write(fd, chunk)
    except BlockingIOError:
        break
    sent += chunk[:n]
print('non-blocking writes filled the socket', len(sent) > 0)
os.set_blocking(fd, True)
last = rng.randbytes(512 << 10)
answer = []
writer = threading.Thread(target=lambda: answer.append(os.write(fd, last)))
writer.start()
got = bytearray()
if mode != 'waits':
    print('the blocking write returned', eventually(lambda: bool(answer)), answer)
    os.close(fd)
    print('closed', flush=True)
    if mode == 'unmount':
        sys.stdin.readline()
else:
    print('the blocking write waits', not eventually(lambda: bool(answer), 0.5))
    while not answer:
        got += peer.recv(1 << 20)
    os.close(fd)
sent += last
while True:
    d = peer.recv(1 << 20)
    if not d:
        break
    got += d
print("the server got every byte, then the end", got == sent)
