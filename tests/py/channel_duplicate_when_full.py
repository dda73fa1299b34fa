"""On queues/q of three messages, duplicating every one: the third write
finds no room (EAGAIN); prints the queue's messages, its duplicated count
and what it holds.

Run in an ipcfs mountpoint (tests/labs.rs).
"""
import os

from helpers import counter, drain, setting

setting('queues/q', 'max_messages', 3)
setting('queues/q', 'duplicate', 1)
fd = os.open('queues/q', os.O_WRONLY | os.O_DIRECT | os.O_NONBLOCK)
os.write(fd, b'a'); os.write(fd, b'b')
try:
    os.write(fd, b'c'); print('written')
except BlockingIOError:
    print('EAGAIN')
print(os.getxattr('queues/q', 'user.ipcfs.messages'), counter('queues/q', 'duplicated'))
print(drain('queues/q'))
