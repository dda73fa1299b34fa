"""The endpoint sockets/srv, bound to 127.0.0.1:PORT: a write before any
datagram came is ENOTCONN; after a client's datagram, a write answers
that client. Prints each outcome.

Usage: udp_answers_its_sender.py PORT, in an ipcfs mountpoint
(tests/sockets.rs).
"""
import os, socket, errno, sys
fd = os.open('sockets/srv/data', os.O_WRONLY)
try: os.write(fd, b'to nobody')
except OSError as e: print(errno.errorcode[e.errno])
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.sendto(b'ping', ('127.0.0.1', int(sys.argv[1])))
print(open('sockets/srv/data', 'rb').read())
with open('sockets/srv/data', 'wb') as f: f.write(b'pong')
print(c.recvfrom(100)[0])
