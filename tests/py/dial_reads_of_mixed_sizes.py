"""Reads a dial file with reads of mixed sizes, 100 B to 2 MiB, while a
peer on 127.0.0.1 sends bytes 0 to 250 over and over in uneven pieces,
(with an argument, a Unix socket path: reads the data file of a unix
stream endpoint connected to a peer listening there),
some with a pause between them: every read must get the next bytes of
the stream, never more than it asked for, then end of stream once the
peer closes. Large reads of a socket holding much are answered from a
pipe the daemon splices into the reply; small ones by recv(2).

(tests/sockets.rs)
"""
import os
import socket
import sys
import threading
import time
from helpers import local_peer

TOTAL = 24 << 20
BIGGEST = 2 << 20
STREAM = bytes(range(251)) * ((TOTAL + BIGGEST) // 251 + 2)

if len(sys.argv) > 1:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sys.argv[1])
    server.listen(1)
    print("ready", flush=True)
else:
    server = local_peer()


def send():
    c, _ = server.accept()
    sizes = [1 << 20, 1, 65536, 3000, 200000, 7, 40000, 2 << 20]
    at, i = 0, 0
    while at < TOTAL:
        n = min(sizes[i % len(sizes)], TOTAL - at)
        c.sendall(STREAM[at:at + n])
        at += n
        i += 1
        if i % 5 == 0:
            time.sleep(0.002)
    c.close()


sender = threading.Thread(target=send)
sender.start()
if len(sys.argv) > 1:
    os.mkdir("sockets/u")
    with open("sockets/u/ctl", "w") as ctl:
        ctl.write(f"connect unix {sys.argv[1]}\n")
    fd = os.open("sockets/u/data", os.O_RDWR)
else:
    fd = os.open(f"sockets/tcp/127.0.0.1/{server.getsockname()[1]}", os.O_RDWR)
sizes = [1 << 20, 40000, 100, 33000, 2 << 20, 32768, 4096, 500000]
at, i = 0, 0
while at < TOTAL:
    size = sizes[i % len(sizes)]
    got = os.read(fd, size)
    assert got, f"end of stream at {at}"
    assert len(got) <= size, f"{len(got)} bytes for a read of {size}"
    if got != STREAM[at:at + len(got)]:
        raise SystemExit(f"read {i} ({size} asked, {len(got)} got) differs at {at}")
    at += len(got)
    i += 1
sender.join()
print(at, "bytes in order")
print("end of stream" if os.read(fd, 1 << 20) == b"" else "more bytes")
os.close(fd)
