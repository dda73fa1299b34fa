"""Looks up argv[1] made-up names (sockets/tcp/10.X.Y.Z/80, each on a
host of its own) with stat(2); prints `looked up`.

Run in an ipcfs mountpoint (tests/security.rs).
"""
import os, sys

for i in range(int(sys.argv[1])):
    os.stat('sockets/tcp/10.%d.%d.%d/80' % (i // 62500, i // 250 % 250, i % 250))
print('looked up')
