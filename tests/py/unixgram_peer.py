"""A Unix datagram server on PATH (`ready` printed once bound) that
receives two datagrams, answers the sender with two, and prints the two
it got.

Usage: unixgram_peer.py PATH (tests/sockets.rs)
"""
import signal
signal.alarm(120)  # the test kills it; else it ends itself after two minutes

import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
print('ready', flush=True)
got = []
for _ in range(2):
    d, a = s.recvfrom(100); got.append(d)
s.sendto(b'reply one', a); s.sendto(b'reply two', a)
print(got, flush=True)
