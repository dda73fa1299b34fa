"""Tries four bad channel settings on queues/q (each printed EINVAL), then
sets loss 1 and sends a message, lost.

Run in an ipcfs mountpoint (tests/labs.rs).
"""
import errno
import os

from helpers import send, setting

for name, value in (('loss', '1.5'), ('corrupt', 'x'), ('delay_ms', '60001'), ('seed', '-1')):
    try: setting('queues/q', name, value); print('set', name)
    except OSError as e: print(errno.errorcode[e.errno])
print(os.getxattr('queues/q', 'user.ipcfs.loss'))
setting('queues/q', 'loss', 1)
send('queues/q', [b'gone'])
