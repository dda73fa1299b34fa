"""A TCP server on 127.0.0.1 (its port printed first): it sends `bye` to
its first client and closes; it resets its second (SO_LINGER 0) after
reading a byte.

(tests/sockets.rs)
"""
import struct
import socket
from helpers import local_peer
s = local_peer()
c, _ = s.accept(); c.sendall(b'bye'); c.close()
c, _ = s.accept(); c.recv(1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()
