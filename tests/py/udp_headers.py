"""Two clients send a datagram each to the endpoint sockets/srv, bound to
127.0.0.1:PORT with `headers on`; each read has its sender's address on
a first line, and an answer written after that address reaches that
sender. Prints whether the first header is right and what each got.

Usage: udp_headers.py PORT, in an ipcfs mountpoint (tests/sockets.rs).
"""
import socket, sys
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(('127.0.0.1', 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(('127.0.0.1', 0))
a.sendto(b'from a', ('127.0.0.1', int(sys.argv[1])))
b.sendto(b'from b', ('127.0.0.1', int(sys.argv[1])))
got = [open('sockets/srv/data', 'rb').read() for _ in range(2)]
for g in got:
    head, body = g.split(b'\n', 1)
    with open('sockets/srv/data', 'wb') as f: f.write(head + b'\nre: ' + body)
print(got[0] == b'127.0.0.1:%d\nfrom a' % a.getsockname()[1], a.recv(100), b.recv(100))
