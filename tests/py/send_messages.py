"""Writes argv[2] messages of argv[3] bytes to the queue argv[1], one
write(2) each through a packet-mode open (O_DIRECT: each write is one
message); prints how many went in and the errno that stopped it (`none`
if none did).

Run in an ipcfs mountpoint (tests/security.rs).
"""
import errno, os, sys

fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT | os.O_NONBLOCK)
count, size = int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    try:
        os.write(fd, b'm' * size)
    except OSError as e:
        print(i, errno.errorcode[e.errno])
        break
else:
    print(count, 'none')
