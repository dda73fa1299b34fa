"""Looks up argv[1] made-up names (sockets/tcp/hN.example/80, each on a
host of its own) with stat(2); prints how many were found and how many
failed, by errno name.

Run in an ipcfs mountpoint (tests/security.rs).
"""
import errno, os, sys

seen = {}
for i in range(int(sys.argv[1])):
    try:
        os.stat('sockets/tcp/h%d.example/80' % i)
        key = 'ok'
    except OSError as e:
        key = errno.errorcode[e.errno]
    seen[key] = seen.get(key, 0) + 1
print(seen)
