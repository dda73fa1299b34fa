"""Holds three opens of its own signal file; prints the errno of a fourth,
then closes one and opens again (`again`).

Run in an ipcfs mountpoint, as a user limited to three objects
(tests/security.rs).
"""
import os, errno
p = 'proc/%d/signal' % os.getpid()
held = [os.open(p, os.O_RDONLY) for _ in range(3)]
try: os.open(p, os.O_RDONLY)
except OSError as e: print(errno.errorcode[e.errno])
os.close(held.pop())
import time; time.sleep(0.2)
os.close(os.open(p, os.O_RDONLY)); print('again')
