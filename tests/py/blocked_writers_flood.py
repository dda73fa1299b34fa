"""Blocks six writes, in threads, on OBJECT (pipes/box: 2 MiB each; or
queues/box, full: a batch of 2,000 records of 1,000 bytes each), which
another user made; after 2.5 s prints the errnos they ended with.

Usage: blocked_writers_flood.py pipes/box|queues/box, in an ipcfs
mountpoint (tests/security.rs).
"""
import os, errno, struct, sys, threading, time
obj = sys.argv[1]
if obj.startswith('pipes/'):
    fd = os.open(obj, os.O_RDWR)
    data = b'A' * (2 << 20)
else:
    fd = os.open(obj, os.O_WRONLY | os.O_DIRECT | os.O_DSYNC)
    data = (struct.pack('<I', 1000) + b'x' * 1000) * 2000
seen = []
def write():
    try: os.write(fd, data)
    except OSError as e: seen.append(errno.errorcode[e.errno])
for _ in range(6): threading.Thread(target=write, daemon=True).start()
time.sleep(2.5)
print(sorted(set(seen)))
os._exit(0)
