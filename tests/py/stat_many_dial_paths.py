"""stat(2)s 100,000 distinct dial paths, sockets/tcp/10.X.Y.Z/80, then
prints `looked up`.

Run in an ipcfs mountpoint (tests/security.rs).
"""
import os
for i in range(100000):
    os.stat('sockets/tcp/10.%d.%d.%d/80' % (i // 62500, i // 250 % 250, i % 250))
print('looked up')
