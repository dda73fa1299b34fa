"""A TCP server on 127.0.0.1 (its port printed first) that sends `late`
to its one client half a second after it connects.

(tests/sockets.rs)
"""
import signal
signal.alarm(120)  # the test kills it; else it ends itself after two minutes

import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); time.sleep(0.5); c.sendall(b'late'); time.sleep(5)
