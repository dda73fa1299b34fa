"""splice(2) from queues/q fails with EINVAL and keeps the message, which
read(2) then gets.

Run in an ipcfs mountpoint (tests/splice.rs).
"""
import os

from helpers import attempt

r = os.open('queues/q', os.O_RDONLY)
pr, pw = os.pipe()
print(attempt(lambda: os.splice(r, pw, 4096)))
print(os.read(r, 4096))
