"""Writes 6 bytes, then 5 and 1, to queues/q on a mount whose largest
message is 10 bytes; prints each write's result or errno, and the queue's
count of dropped messages.

Run in an ipcfs mountpoint (tests/framing.rs).
"""
import os, errno
fd = os.open('queues/q', os.O_WRONLY)
print(os.write(fd, b'123456'))
for chunk in (b'78901', b'x'):
    try: os.write(fd, chunk)
    except OSError as e: print(errno.errorcode[e.errno])
os.close(fd)
print(os.getxattr('queues/q', 'user.ipcfs.dropped'))
