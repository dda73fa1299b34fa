"""Reads proc/self from a thread: prints whether it names the process (not
the thread), and whether proc/self is a directory.

Run in an ipcfs mountpoint (tests/signals.rs).
"""
import os, threading
r = []
t = threading.Thread(target=lambda: r.append(os.readlink('proc/self')))
t.start(); t.join()
print(r[0] == str(os.getpid()), os.path.isdir('proc/self'))
