"""Reads queues/q (holding `hello` and `ab`) in packet mode (O_DIRECT): a
buffer too short is EMSGSIZE and takes nothing; each read is one whole
message.

Run in an ipcfs mountpoint (tests/queues.rs).
"""
import os

from helpers import attempt

r = os.open('queues/q', os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)
print(attempt(lambda: os.read(r, 3)))
print(os.getxattr('queues/q', 'user.ipcfs.messages'))
print(attempt(lambda: os.read(r, 100)))
print(attempt(lambda: os.read(r, 100)))
print(attempt(lambda: os.read(r, 100)))
