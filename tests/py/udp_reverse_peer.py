"""A UDP server on 127.0.0.1 (its port printed first) that answers each
of two datagrams reversed, then prints the datagrams it got.

(tests/sockets.rs)
"""
import socket
from helpers import local_peer
s = local_peer(socket.SOCK_DGRAM)
got = []
for _ in range(2):
    d, a = s.recvfrom(100); got.append(d); s.sendto(d[::-1], a)
print(got, flush=True)
