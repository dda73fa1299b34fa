"""Fills queues/box (four places): two whole messages in packet mode,
then two messages left in progress (the writer's share of places); then
tries a blocking packet write and prints its outcome, then `held`; ends
its messages at a line on stdin.

Run in an ipcfs mountpoint (tests/security.rs).
"""
import os
from helpers import attempt, hold_until_told

packet = os.open('queues/box', os.O_WRONLY | os.O_DIRECT | os.O_APPEND)
for m in (b'one', b'two'):
    os.write(packet, m)
fds = [os.open('queues/box', os.O_WRONLY) for _ in range(2)]
for fd in fds:
    os.write(fd, b'x')
print(attempt(lambda: os.write(packet, b'three')))
hold_until_told(fds + [packet])
