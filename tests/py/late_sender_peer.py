"""A TCP server on 127.0.0.1 (its port printed first) that sends `late`
to its one client half a second after it connects.

(tests/sockets.rs)
"""
import time
from helpers import local_peer
s = local_peer()
c, _ = s.accept(); time.sleep(0.5); c.sendall(b'late'); time.sleep(5)
