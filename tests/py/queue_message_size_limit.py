"""On queues/q (write framing): a 9000-byte message is EMSGSIZE; raised to
1 MiB, a message of 1 MiB goes in whole and one byte more does not.
Prints each outcome.

Run in an ipcfs mountpoint (tests/queues.rs).
"""
import os

from helpers import attempt

os.setxattr('queues/q', 'user.ipcfs.framing', b'write')
fd = os.open('queues/q', os.O_RDWR)
print(attempt(lambda: os.write(fd, b'x' * 9000)))
print(os.getxattr('queues/q', 'user.ipcfs.messages'))
os.setxattr('queues/q', 'user.ipcfs.max_message_size', b'1048576')
big = bytes(range(256)) * 4096
print(attempt(lambda: os.write(fd, big)))
print(attempt(lambda: os.write(fd, big + b'!')))
got = os.read(fd, 4 << 20)
print(len(got), got == big)
print(os.read(fd, 10))
