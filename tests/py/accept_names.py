"""A listener sockets/l whose accept file names each connection (l.1,
l.2, ...; a name taken is skipped); each read after a name is end of
file. Prints what accept gave, the endpoints, and what a client got.

Run in an ipcfs mountpoint (tests/sockets.rs).
"""
import os, socket, errno
os.mkdir('sockets/l')
ctl = os.open('sockets/l/ctl', os.O_WRONLY)
a = os.open('sockets/l/accept', os.O_RDONLY)
try: os.read(a, 100)
except OSError as e: print(errno.errorcode[e.errno])
os.write(ctl, b'bind tcp 127.0.0.1:0'); os.write(ctl, b'listen 4')
port = int(open('sockets/l/local').read().split(':')[1])
clients = [socket.create_connection(('127.0.0.1', port)) for _ in range(2)]
print(os.read(a, 100), os.read(a, 100), os.read(a, 100))
os.mkdir('sockets/l.3')
c3 = socket.create_connection(('127.0.0.1', port))
print(os.read(a, 100), os.read(a, 100))
print(sorted(os.listdir('sockets')))
print(open('sockets/l.2/ctl').read().split()[:2])
os.write(os.open('sockets/l.1/data', os.O_WRONLY), b'to one')
print(clients[0].recv(10))
