"""Receives every message queued in a queue, each whole (an O_DIRECT read
is one message), without waiting; prints Python's repr of their list.

Usage: receive_all.py QUEUE (tests/framing.rs)
"""
import os, sys
q = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)
got = []
while True:
    try: got.append(os.read(q, 1 << 20))
    except BlockingIOError: break
print(got)
