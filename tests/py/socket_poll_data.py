"""Connects sockets/p to 127.0.0.1:PORT and polls its data: nothing at
first, then POLLIN when the peer sends; prints what was read.

Usage: socket_poll_data.py PORT, in an ipcfs mountpoint (tests/sockets.rs).
"""
import os, select, sys
os.mkdir('sockets/p')
with open('sockets/p/ctl', 'w') as f: f.write('connect tcp 127.0.0.1:%s' % sys.argv[1])
d = os.open('sockets/p/data', os.O_RDWR | os.O_NONBLOCK)
p = select.poll(); p.register(d, select.POLLIN)
print(p.poll(0))
ev = p.poll(5000)
print([e & select.POLLIN for _, e in ev] == [select.POLLIN], os.read(d, 10))
