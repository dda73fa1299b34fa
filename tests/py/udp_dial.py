"""Writes two datagrams through the dial file of udp 127.0.0.1:PORT and
prints the two answers.

Usage: udp_dial.py PORT, in an ipcfs mountpoint (tests/sockets.rs).
"""
import os, sys
fd = os.open('sockets/udp/127.0.0.1/' + sys.argv[1], os.O_RDWR)
os.write(fd, b'one'); os.write(fd, b'second')
print(os.read(fd, 100), os.read(fd, 100))
