"""A TCP server on 127.0.0.1 (its port printed first) that reads its one
client to the end and answers how many bytes it got.

(tests/sockets.rs)
"""
import signal
signal.alarm(120)  # the test kills it; else it ends itself after two minutes

import socket
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); got = b''
while True:
    d = c.recv(100)
    if not d: break
    got += d
c.sendall(b'got %d bytes' % len(got)); c.close()
