"""Makes shared-memory files shm/u0, shm/u1, ... until one fails: prints
the errno's name and whether more than 300 were made.

Run in an ipcfs mountpoint (tests/security.rs).
"""
import errno
n = 0
try:
    while True: open(f'shm/u{n}', 'w').close(); n += 1
except OSError as e: print(errno.errorcode[e.errno], n > 300)
