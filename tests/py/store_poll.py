"""Polls PATH (a queue, opened for reading without waiting): prints
'not yet' if it is not readable at once, then waits up to 10 s and
prints 'readable' when it is, then the message it reads.

Run by tests/store.rs.
"""
import os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK | os.O_DIRECT)
p = select.poll()
p.register(fd, select.POLLIN)
print('not yet' if not p.poll(0) else 'readable at once', flush=True)
print('readable' if p.poll(10000) else 'timed out', flush=True)
print(repr(os.read(fd, 100)))
