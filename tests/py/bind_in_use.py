"""Binds sockets/b to 127.0.0.1:PORT, a port in use (printed EADDRINUSE),
then to port 0: prints the write's count and what ctl says.

Usage: bind_in_use.py PORT, in an ipcfs mountpoint (tests/sockets.rs).
"""
import os, errno, sys
os.mkdir('sockets/b')
fd = os.open('sockets/b/ctl', os.O_WRONLY)
try: os.write(fd, ('bind tcp 127.0.0.1:%s' % sys.argv[1]).encode())
except OSError as e: print(errno.errorcode[e.errno])
print(os.write(fd, b'bind tcp 127.0.0.1:0'))
print(open('sockets/b/ctl').read().split()[:2])
