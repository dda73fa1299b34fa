"""A TCP server on 127.0.0.1 (its port printed first): it sends `bye` to
its first client and closes; it resets its second (SO_LINGER 0) after
reading a byte.

(tests/sockets.rs)
"""
import signal
signal.alarm(120)  # the test kills it; else it ends itself after two minutes

import socket, struct
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.sendall(b'bye'); c.close()
c, _ = s.accept(); c.recv(1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()
