"""Sends datagrams of 1,000 and 60,000 bytes to the endpoint sockets/srv,
bound to 127.0.0.1:PORT, and reads each with a short read and a long
one: prints how many bytes each read gave.

Usage: datagram_rest_past_the_cap.py PORT, in an ipcfs mountpoint
(tests/sockets.rs).
"""
import os, socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for size in (1000, 60000):
    c.sendto(b'x' * size, ('127.0.0.1', int(sys.argv[1])))
    fd = os.open('sockets/srv/data', os.O_RDONLY)
    print(len(os.read(fd, 600)), len(os.read(fd, 65536)))
    os.close(fd)
