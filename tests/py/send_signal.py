"""Writes TEXT to proc/PID/FILE: prints `ok` or the errno's name (ENOENT
when the open itself fails).

Usage: send_signal.py PID signal|pgsignal TEXT, in an ipcfs mountpoint
(tests/signals.rs).
"""
import os, errno, sys
try:
    fd = os.open('proc/%s/%s' % (sys.argv[1], sys.argv[2]), os.O_WRONLY)
    os.write(fd, sys.argv[3].encode()); print('ok')
except OSError as e:
    print(errno.errorcode[e.errno])
