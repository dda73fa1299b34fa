"""Makes 1,000 endpoints sockets/c0 to c999, each connected to
127.0.0.1:PORT: prints how many say they are connected.

Usage: thousand_connects.py PORT, in an ipcfs mountpoint (tests/sockets.rs).
"""
import os, sys
for i in range(1000):
    os.mkdir('sockets/c%d' % i)
    with open('sockets/c%d/ctl' % i, 'w') as f: f.write('connect tcp 127.0.0.1:' + sys.argv[1])
print(sum(open('sockets/c%d/ctl' % i).read().startswith('connected') for i in range(1000)))
