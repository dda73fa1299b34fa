"""Writes messages of 4096 bytes to queues/q until one fails (the mount's
memory cap); prints how many went in and the errno, then whether they are
all there, in order.

Run in an ipcfs mountpoint (tests/queues.rs).
"""
import os

from helpers import attempt

w = os.open('queues/q', os.O_WRONLY)
n = 0
while True:
    r = attempt(lambda: os.write(w, b'%04d' % n + b'.' * 4092))
    if r != '4096': break
    n += 1
print(n, r)
q = os.open('queues/q', os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)
got = [os.read(q, 8192)[:4] for _ in range(n)]
print(got == [b'%04d' % i for i in range(n)], attempt(lambda: os.read(q, 8192)))
