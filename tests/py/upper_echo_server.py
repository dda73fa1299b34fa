"""A TCP server on ADDRESS (127.0.0.1 or ::1), on a free port it prints
first, that echoes each connection's bytes back in upper case, forever.

Usage: upper_echo_server.py ADDRESS (tests/sockets.rs)
"""
import signal
signal.alarm(120)  # the test kills it; else it ends itself after two minutes

import socket, sys, threading
family = socket.AF_INET6 if sys.argv[1] == '::1' else socket.AF_INET
s = socket.socket(family); s.bind((sys.argv[1], 0)); s.listen()
print(s.getsockname()[1], flush=True)
def serve(c):
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d.upper())
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
