"""Commands that fail on sockets/c/ctl: a connect to a closed port and
three that are not commands; then a read and a write of an endpoint not
connected. Prints each errno's name.

Run in an ipcfs mountpoint (tests/sockets.rs).
"""
import os, errno
os.mkdir('sockets/c')
fd = os.open('sockets/c/ctl', os.O_WRONLY)
try: os.write(fd, b'connect tcp 127.0.0.1:1\n')
except OSError as e: print(errno.errorcode[e.errno])
for bad in (b'connect sctp 1.2.3.4:5', b'connect tcp nowhere', b'listen x'):
    try: os.write(fd, bad)
    except OSError as e: print(errno.errorcode[e.errno])
d = os.open('sockets/c/data', os.O_RDWR)
for f in (lambda: os.read(d, 10), lambda: os.write(d, b'x')):
    try: f()
    except OSError as e: print(errno.errorcode[e.errno])
