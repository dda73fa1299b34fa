"""Polls the accept file of a listener sockets/l: nothing at first, then
POLLIN when a client connects; prints what accept then gives.

Run in an ipcfs mountpoint (tests/sockets.rs).
"""
import os, select, socket, threading, time
os.mkdir('sockets/l')
with open('sockets/l/ctl', 'w') as f: f.write('bind tcp 127.0.0.1:0')
with open('sockets/l/ctl', 'w') as f: f.write('listen')
port = int(open('sockets/l/local').read().split(':')[1])
a = os.open('sockets/l/accept', os.O_RDONLY)
p = select.poll(); p.register(a, select.POLLIN)
print(p.poll(0))
threading.Thread(target=lambda: (time.sleep(0.3), socket.create_connection(('127.0.0.1', port)))).start()
print([e for _, e in p.poll(5000)] == [select.POLLIN], os.read(a, 100))
