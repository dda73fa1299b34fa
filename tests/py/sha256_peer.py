"""A TCP server on 127.0.0.1 (its port printed first) that sends its one
client 16 MiB (bytes 0 to 250 over and over) while it receives, then
prints how many bytes it received and their SHA-256.

(tests/sockets.rs)
"""
import hashlib, threading
import socket
from helpers import local_peer
s = local_peer()
c, _ = s.accept()
data = bytes(range(251)) * (16 * 1024 * 1024 // 251 + 1)
data = data[:16 * 1024 * 1024]
t = threading.Thread(target=lambda: (c.sendall(data), c.shutdown(socket.SHUT_WR)))
t.start()
h = hashlib.sha256(); n = 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    h.update(d); n += len(d)
t.join()
print(n, h.hexdigest())
