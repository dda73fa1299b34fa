"""Holds three connections through the dial file of 127.0.0.1:PORT; prints
the errno of a fourth, then closes one and dials again (`again`).

Usage: hold_dial_connections.py PORT, in an ipcfs mountpoint, as a user
limited to three objects (tests/security.rs).
"""
import os, errno, sys
dial = 'sockets/tcp/127.0.0.1/' + sys.argv[1]
held = [os.open(dial, os.O_RDWR) for _ in range(3)]
try: os.open(dial, os.O_RDWR)
except OSError as e: print(errno.errorcode[e.errno])
os.close(held.pop())
import time; time.sleep(0.2)
os.close(os.open(dial, os.O_RDWR)); print('again')
