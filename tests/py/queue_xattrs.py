"""The attributes of queues/q: lists them, sets its limits (right and
wrong) and tries to set a counter; prints each outcome and the values.

Run in an ipcfs mountpoint (tests/queues.rs).
"""
import os

from helpers import attempt

p = 'queues/q'
print(sorted(os.listxattr(p)))
print(attempt(lambda: os.setxattr(p, 'user.ipcfs.max_messages', b'0')))
print(attempt(lambda: os.setxattr(p, 'user.ipcfs.max_messages', b'3')))
print(attempt(lambda: os.setxattr(p, 'user.ipcfs.max_message_size', b'99999999')))
print(attempt(lambda: os.setxattr(p, 'user.ipcfs.sent', b'5')))
print([os.getxattr(p, 'user.ipcfs.' + n) for n in ['max_messages', 'max_message_size', 'messages', 'bytes']])
