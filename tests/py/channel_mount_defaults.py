"""Prints queues/q's loss, seed and delay_ms (the mount's defaults), sends
three messages and prints what arrived and the lost count.

Run in an ipcfs mountpoint (tests/labs.rs).
"""
import os

from helpers import counter, drain, send

print([os.getxattr('queues/q', 'user.ipcfs.' + n) for n in ('loss', 'seed', 'delay_ms')])
send('queues/q', [b'x'] * 3)
print(drain('queues/q'), counter('queues/q', 'lost'))
