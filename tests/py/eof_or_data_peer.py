"""A TCP server on 127.0.0.1 (its port printed first) that prints whether
its one client sent data first, or closed (`eof`).

(tests/sockets.rs)
"""
from helpers import local_peer
s = local_peer()
c, _ = s.accept()
print('eof' if c.recv(10) == b'' else 'data', flush=True)
