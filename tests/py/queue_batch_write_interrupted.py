"""A batch of four records to queues/q (of two messages) blocks after two;
a signal ends it, and it returns their bytes. A batch that queued nothing
ends with EINTR.

Run in an ipcfs mountpoint (tests/queues.rs).
"""
import errno
import os
import signal

from helpers import BATCH, attempt, records

signal.signal(signal.SIGALRM, lambda *a: None)
w = os.open('queues/q', os.O_WRONLY | BATCH)
signal.setitimer(signal.ITIMER_REAL, 0.3)
print(os.write(w, records([b'a', b'bb', b'ccc', b'dddd'])))
print(os.getxattr('queues/q', 'user.ipcfs.messages'))
def intr(*a): raise InterruptedError(errno.EINTR, 'interrupted')
signal.signal(signal.SIGALRM, intr)
signal.setitimer(signal.ITIMER_REAL, 0.3)
print(attempt(lambda: os.write(w, records([b'late']))))
