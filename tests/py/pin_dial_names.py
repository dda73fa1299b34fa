"""Pins up to argv[1] made-up names (sockets/tcp/10.X.Y.Z/80, each on a
host of its own) by holding an O_PATH descriptor of each, and prints how
many it pinned and the errno that stopped it (`none` if none did).

Run in an ipcfs mountpoint (tests/security.rs).
"""
import errno, os, sys

held = []
for i in range(int(sys.argv[1])):
    path = 'sockets/tcp/10.%d.%d.%d/80' % (i // 62500, i // 250 % 250, i % 250)
    try:
        held.append(os.open(path, os.O_PATH))
    except OSError as e:
        print(i, errno.errorcode[e.errno])
        break
else:
    print(len(held), 'none')
