"""A TCP server on 127.0.0.1 (its port printed first) that reads its one
client to the end and answers how many bytes it got.

(tests/sockets.rs)
"""
from helpers import local_peer
s = local_peer()
c, _ = s.accept(); got = b''
while True:
    d = c.recv(100)
    if not d: break
    got += d
c.sendall(b'got %d bytes' % len(got)); c.close()
