"""A Unix stream server on PATH (`ready` printed once it listens) that
answers its one client's first bytes reversed.

Usage: reverse_unix_peer.py PATH (tests/sockets.rs)
"""
import signal
signal.alarm(120)  # the test kills it; else it ends itself after two minutes

import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()
print('ready', flush=True)
c, _ = s.accept(); c.sendall(c.recv(100)[::-1]); c.close()
