"""Connects three times to 127.0.0.1:PORT, one after the other, sending
`hi` each time and waiting half a second.

Usage: three_clients.py PORT (tests/sockets.rs)
"""
import socket, sys, time
for i in range(3):
    c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
    c.sendall(b'hi'); time.sleep(0.5)
