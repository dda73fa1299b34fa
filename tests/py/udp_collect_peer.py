"""A UDP server on 127.0.0.1 (its port printed first) that receives three
datagrams, answers the last sender with two, and prints the three.

(tests/sockets.rs)
"""
import socket
from helpers import local_peer
s = local_peer(socket.SOCK_DGRAM)
got = []
for _ in range(3):
    d, a = s.recvfrom(65536); got.append(d)
s.sendto(b'first reply', a); s.sendto(b'second', a)
print(got, flush=True)
