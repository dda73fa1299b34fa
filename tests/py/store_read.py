"""Reads one message from PATH in packet mode without waiting
(O_DIRECT | O_NONBLOCK); prints it, or the errno's name.

Run by tests/store.rs.
"""
import os, sys
from helpers import attempt
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)
print(attempt(lambda: os.read(fd, 4096)))
