"""A TCP server on 127.0.0.1 (its port printed first) that prints whether
its one client sent data first, or closed (`eof`).

(tests/sockets.rs)
"""
import signal
signal.alarm(120)  # the test kills it; else it ends itself after two minutes

import socket
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
print('eof' if c.recv(10) == b'' else 'data', flush=True)
