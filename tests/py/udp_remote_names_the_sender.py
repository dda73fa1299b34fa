"""Two clients send datagrams in turn to the endpoint sockets/srv, bound to
127.0.0.1:PORT: after each read, remote names the sender. Prints each
datagram and whether remote named its sender.

Usage: udp_remote_names_the_sender.py PORT, in an ipcfs mountpoint
(tests/sockets.rs).
"""
import socket, sys
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(('127.0.0.1', 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(('127.0.0.1', 0))
for c in (a, b, a):
    c.sendto(b'hi', ('127.0.0.1', int(sys.argv[1])))
    data = open('sockets/srv/data', 'rb').read()
    remote = open('sockets/srv/remote').read()
    print(data, remote == '127.0.0.1:%d\n' % c.getsockname()[1])
