"""Writes a message to queues/q and exits with status 3 without closing it:
the exit, not being a signal, sends the message.

Run in an ipcfs mountpoint (tests/framing.rs).
"""
import os
fd = os.open('queues/q', os.O_WRONLY)
os.write(fd, b'whole')
os._exit(3)
