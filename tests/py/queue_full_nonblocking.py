"""Writes three messages to queues/q (of two messages) without blocking:
prints each outcome (the third is EAGAIN).

Run in an ipcfs mountpoint (tests/queues.rs).
"""
import os

from helpers import attempt

os.setxattr('queues/q', 'user.ipcfs.framing', b'write')
w = os.open('queues/q', os.O_WRONLY | os.O_NONBLOCK)
print(attempt(lambda: os.write(w, b'1')), attempt(lambda: os.write(w, b'2')))
print(attempt(lambda: os.write(w, b'3')))
