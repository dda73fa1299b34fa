"""Writes signals to the signal file of root's process (TERM, 0, CONT) and
of a child of its own (TERM): prints each outcome, and the signal that
ended the child.

Usage: signal_own_not_roots.py ROOTS_PID, as a user in ROOTS_PID's
session, in an ipcfs mountpoint (tests/security.rs).
"""
import os, sys, errno
def send(pid, text):
    try:
        fd = os.open('proc/%d/signal' % pid, os.O_WRONLY)
        os.write(fd, text); return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
root = int(sys.argv[1])
mine = os.fork()
if mine == 0:
    import time; time.sleep(60); os._exit(0)
print(send(root, b'TERM'), send(root, b'0'), send(root, b'CONT'))
print(send(mine, b'TERM'), os.waitpid(mine, 0)[1] & 0x7f)
