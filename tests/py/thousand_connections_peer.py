"""A TCP server on 127.0.0.1 (its port printed first) that accepts 1,000
connections and holds them a minute.

(tests/sockets.rs)
"""
import signal
signal.alarm(120)  # the test kills it; else it ends itself after two minutes

import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(2048)
print(s.getsockname()[1], flush=True)
conns = []
while len(conns) < 1000: conns.append(s.accept()[0])
time.sleep(60)
