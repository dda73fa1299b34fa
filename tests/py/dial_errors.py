"""Opens dial files of a closed port and of a host that does not exist,
and tries to make the directories tcp and udp in sockets/: prints each
errno's name, and whether other dial paths exist.

Run in an ipcfs mountpoint (tests/sockets.rs).
"""
import os, errno
for path in ('sockets/tcp/127.0.0.1/1', 'sockets/tcp/no-such-host.invalid/80'):
    try: os.open(path, os.O_RDWR)
    except OSError as e: print(errno.errorcode[e.errno])
for name in ('tcp', 'udp'):
    try: os.mkdir('sockets/' + name)
    except OSError as e: print(errno.errorcode[e.errno])
print(os.path.isdir('sockets/udp/example'), os.path.exists('sockets/tcp/h/0'))
