"""A TCP server on 127.0.0.1 (its port printed first) that accepts 1,000
connections and holds them a minute.

(tests/sockets.rs)
"""
import time
from helpers import local_peer
s = local_peer(backlog=2048)
conns = []
while len(conns) < 1000: conns.append(s.accept()[0])
time.sleep(60)
