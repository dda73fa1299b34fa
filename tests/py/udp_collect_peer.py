"""A UDP server on 127.0.0.1 (its port printed first) that receives three
datagrams, answers the last sender with two, and prints the three.

(tests/sockets.rs)
"""
import signal
signal.alarm(120)  # the test kills it; else it ends itself after two minutes

import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
got = []
for _ in range(3):
    d, a = s.recvfrom(65536); got.append(d)
s.sendto(b'first reply', a); s.sendto(b'second', a)
print(got, flush=True)
