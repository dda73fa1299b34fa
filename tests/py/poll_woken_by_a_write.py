"""Polls queues/q for POLLIN: nothing at first; prints `waiting`, then
whether a message written by another process woke the poll within 5 s,
and the message.

Run in an ipcfs mountpoint (tests/transport.rs).
"""
import os, select, time
r = os.open('queues/q', os.O_RDONLY | os.O_NONBLOCK)
p = select.poll(); p.register(r, select.POLLIN)
print(p.poll(0))
print('waiting', flush=True)
t = time.monotonic()
ev = p.poll(10000)
print([e for _, e in ev] == [select.POLLIN], time.monotonic() - t < 5)
print(os.read(r, 100))
