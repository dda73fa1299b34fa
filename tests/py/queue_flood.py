"""Fills a queue of the calling user's (queues/flood-UID) with one-byte
messages in batch mode, its message limit raised as far as it goes,
until a write fails: prints that errno's name and whether more than
200,000 messages went in.

Run in an ipcfs mountpoint (tests/security.rs).
"""
import os, errno, struct
name = 'queues/flood-%d' % os.getuid()
os.close(os.open(name, os.O_CREAT | os.O_WRONLY, 0o600))
os.setxattr(name, 'user.ipcfs.max_messages', str(2**32 - 1).encode())
fd = os.open(name, os.O_WRONLY | os.O_DIRECT | os.O_DSYNC)
batch = (struct.pack('<I', 1) + b'x') * 50000
sent = 0
try:
    while True:
        sent += os.write(fd, batch) // 5
except OSError as e:
    print(errno.errorcode[e.errno], sent > 200000)
