"""`write PATH N`: makes room for N messages in queue PATH and sends the
numbers 0 to N-1 as one batch, one write(2); prints what it returned.
`read PATH N`: receives N messages in batch mode; prints `N in order`, or
where the order broke.

Run by tests/store.rs.
"""
import os, sys
from helpers import BATCH, messages, records, setting

mode, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == 'write':
    setting(path, 'max_messages', n)
    fd = os.open(path, os.O_WRONLY | BATCH)
    batch = records([b'%d' % i for i in range(n)])
    print(os.write(fd, batch) == len(batch))
else:
    fd = os.open(path, os.O_RDONLY | BATCH)
    got = []
    while len(got) < n:
        got.extend(int(m) for m in messages(os.read(fd, 1 << 16)))
    print(f'{len(got)} in order' if got == list(range(n)) else f'out of order at {got[:20]}')
