"""A udp endpoint sockets/u sends to a Python socket through its channel:
a datagram plain, lost, corrupted, and delayed by 300 ms; prints what the
receiver got each time and the endpoint's counters.

Run in an ipcfs mountpoint (tests/labs.rs).
"""
import os
import socket
import time

from helpers import counter, send, setting

peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
peer.bind(('127.0.0.1', 0)); peer.settimeout(0.3)
os.mkdir('sockets/u')
with open('sockets/u/ctl', 'w') as c: c.write('connect udp 127.0.0.1:%d\n' % peer.getsockname()[1])
data = 'sockets/u/data'
def recv():
    try: return peer.recv(100)
    except socket.timeout: return None
send(data, [b'one'])
print(recv())
setting(data, 'loss', 1)
send(data, [b'two'])
print(recv(), counter(data, 'lost'))
setting(data, 'loss', 0); setting(data, 'corrupt', 1)
send(data, [b'three'])
got = recv()
print(sum(a != b for a, b in zip(got, b'three')), counter(data, 'corrupted'))
setting(data, 'corrupt', 0); setting(data, 'delay_ms', 300)
t = time.monotonic()
send(data, [b'four'])
peer.settimeout(2)
got = recv()
print(got, time.monotonic() - t >= 0.3, counter(data, 'delayed'))
os.rmdir('sockets/u')
