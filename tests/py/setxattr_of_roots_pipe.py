"""Sets the capacity of pipes/open, a world-writable pipe of root's: a user
that is not its owner gets EPERM, printed as its number.

Run in an ipcfs mountpoint, as another user than root (tests/security.rs).
"""
import os
try:
    os.setxattr('pipes/open', 'user.ipcfs.capacity', b'8192')
except PermissionError as e:
    print(e.errno)
