"""Fills queues/q (a queue of one message) through one non-blocking open;
a write through the next open prints EAGAIN.

Run in an ipcfs mountpoint (tests/framing.rs).
"""
import os
w = os.open('queues/q', os.O_WRONLY | os.O_NONBLOCK)
os.write(w, b'x'); os.close(w)
w = os.open('queues/q', os.O_WRONLY | os.O_NONBLOCK)
try: os.write(w, b'y')
except BlockingIOError: print('EAGAIN')
