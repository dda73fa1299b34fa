"""Makes 100 queues, then opens the status file (a snapshot held in memory)
up to 100 times; prints the errno that stopped it and how many it holds.

Run in an ipcfs mountpoint (tests/hardening.rs).
"""
import os, errno
for i in range(100): open('queues/q%03d' % i, 'w').close()
held = []
try:
    while len(held) < 100: held.append(os.open('status', os.O_RDONLY))
except OSError as e: print(errno.errorcode[e.errno], len(held))
for fd in held: os.close(fd)
