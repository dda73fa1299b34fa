"""Writes DATA to PATH as one message (packet mode, O_DIRECT), with
O_NONBLOCK when a third argument says 'nonblock'; prints the outcome:
the count written, or the errno's name.

Run by tests/store.rs.
"""
import os, sys
from helpers import attempt
flags = os.O_WRONLY | os.O_DIRECT | (os.O_NONBLOCK if sys.argv[3:] == ['nonblock'] else 0)
fd = os.open(sys.argv[1], flags)
print(attempt(lambda: os.write(fd, sys.argv[2].encode())))
