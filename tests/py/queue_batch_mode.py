"""Batch mode (O_DIRECT | O_DSYNC) on queues/q: 100 messages in one write,
read back as records (a buffer too short for one is EMSGSIZE), and
writes of bad records; prints each outcome.

Run in an ipcfs mountpoint (tests/queues.rs).
"""
import os

from helpers import BATCH, attempt, messages, records

w = os.open('queues/q', os.O_WRONLY | BATCH)
msgs = [b'm%d' % i * (i % 7 + 1) for i in range(100)]
data = records(msgs)
print(os.write(w, data) == len(data), os.getxattr('queues/q', 'user.ipcfs.messages'))
r = os.open('queues/q', os.O_RDONLY | BATCH | os.O_NONBLOCK)
print(attempt(lambda: os.read(r, 4 + len(msgs[0]) - 1)))
first = os.read(r, 4 + len(msgs[0]) + 4 + len(msgs[1]) + 3)
print(first == records(msgs[:2]))
rest = os.read(r, 1 << 16)
print(messages(rest) == msgs[2:], os.getxattr('queues/q', 'user.ipcfs.received'))
print(attempt(lambda: os.read(r, 1 << 16)))
print(attempt(lambda: os.write(w, b'\x05\0\0\0hel')))
print(attempt(lambda: os.write(w, records([b'ok']) + b'\0\0\0\0')))
print(attempt(lambda: os.write(w, records([b'x' * 8193]))))
print(attempt(lambda: os.write(w, records([b'ok', b'cut'])[:10])))
print(os.getxattr('queues/q', 'user.ipcfs.messages'))
