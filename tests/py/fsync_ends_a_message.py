"""Writes to queues/q, prints its message count before and after an fsync
(which ends the message so far), then writes a second message.

Run in an ipcfs mountpoint (tests/framing.rs).
"""
import os
fd = os.open('queues/q', os.O_WRONLY)
os.write(fd, b'one'); os.write(fd, b'+')
print(os.getxattr('queues/q', 'user.ipcfs.messages'))
os.fsync(fd)
print(os.getxattr('queues/q', 'user.ipcfs.messages'))
os.write(fd, b'two')
os.close(fd)
