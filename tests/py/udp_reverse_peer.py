"""A UDP server on 127.0.0.1 (its port printed first) that answers each
of two datagrams reversed, then prints the datagrams it got.

(tests/sockets.rs)
"""
import signal
signal.alarm(120)  # the test kills it; else it ends itself after two minutes

import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
got = []
for _ in range(2):
    d, a = s.recvfrom(100); got.append(d); s.sendto(d[::-1], a)
print(got, flush=True)
