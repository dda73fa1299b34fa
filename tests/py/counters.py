"""`user.ipcfs.` attributes of objects, read in one process: one line per
object, `FILE a=1 b=2`.

Usage: counters.py NAME,NAME... FILE... (tests/stress.rs)
"""
import os, sys
names = sys.argv[1].split(',')
for f in sys.argv[2:]:
    print(f, ' '.join('%s=%s' % (n, os.getxattr(f, 'user.ipcfs.' + n).decode()) for n in names))
