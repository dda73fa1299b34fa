"""Sends 1000-byte messages to queue PATH (packet mode) until a write
fails, with room for a million in the queue; prints whether any went in
and the errno's name of the write that failed.

Run by tests/store.rs.
"""
import errno, os, sys
from helpers import setting

path = sys.argv[1]
setting(path, 'max_messages', 1000000)
fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
sent = 0
try:
    while sent < 100000:
        os.write(fd, b'%04d' % (sent % 10000) + b'x' * 996)
        sent += 1
except OSError as e:
    print(sent > 0, errno.errorcode[e.errno])
