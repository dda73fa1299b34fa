"""Makes three queues; prints the outcome of setxattr with XATTR_CREATE and
XATTR_REPLACE, and the mount's count of used and free inodes.

Run in an ipcfs mountpoint (tests/hardening.rs).
"""
import os, errno
for n in ('a', 'b', 'c'): open('queues/' + n, 'w').close()
def attempt(f):
    try: f(); return 'ok'
    except OSError as e: return errno.errorcode[e.errno]
q = 'queues/a'
print(attempt(lambda: os.setxattr(q, 'user.ipcfs.max_messages', b'5', os.XATTR_CREATE)))
print(attempt(lambda: os.setxattr(q, 'user.ipcfs.max_messages', b'5', os.XATTR_REPLACE)))
print(attempt(lambda: os.setxattr(q, 'user.other', b'5', os.XATTR_REPLACE)))
s = os.statvfs('.')
print(s.f_files - s.f_ffree, s.f_ffree > 0)
