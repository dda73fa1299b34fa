"""Connects to 127.0.0.1:PORT, sends `python` and a newline, and prints
what comes back until the server closes.

Usage: line_client.py PORT (tests/sockets.rs)
"""
import socket, sys
c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
c.sendall(b'python\n')
got = b''
while True:
    d = c.recv(100)
    if not d: break
    got += d
print(got.decode(), end='')
