"""A TCP server on 127.0.0.1:7007 that sends `inside` to each of its first
two clients.

Run in a network namespace of the test's own (tests/security.rs).
"""
import socket
s = socket.socket(); s.bind(("127.0.0.1", 7007)); s.listen()
for _ in range(2):
    c, _ = s.accept(); c.sendall(b"inside\n"); c.close()
