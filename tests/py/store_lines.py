"""Writes to PATH, a queue under line framing, through one descriptor:
two lines at once, a line in three pieces, a line begun by one write
and ended by the next with the start of another, and an unfinished
line that the close ends. Prints each write's count.

Run by tests/store.rs.
"""
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
counts = [os.write(fd, b'1\n2\nthr'), os.write(fd, b'ee\n'),
          os.write(fd, b'begun an'), os.write(fd, b'd done\ntail')]
os.close(fd)
print(*counts)
