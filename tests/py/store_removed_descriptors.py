"""Holds a reader and a writer of queues/NAME open, says `open`, waits for
a line on stdin (the queue removed meanwhile, on this or another mount),
then reads and writes through them: prints each call's errno name, or
what it got.

Run in an ipcfs mountpoint with a queue store (tests/store.rs).
"""
import errno
import os
import sys


def outcome(call):
    try:
        return repr(call())
    except OSError as e:
        return errno.errorcode[e.errno]


path = 'queues/' + sys.argv[1]
reader = os.open(path, os.O_RDONLY)
writer = os.open(path, os.O_WRONLY | os.O_DIRECT)
print('open', flush=True)
sys.stdin.readline()
print(outcome(lambda: os.read(reader, 100)), outcome(lambda: os.write(writer, b'old')))
