"""Sends 1,000 numbered messages twice through queues/q at loss 0.3 and
seed 7, then once at seed 8; prints whether the two seed-7 runs kept the
same messages, how many, the queue's lost count, and whether seed 8 kept
others.

Run in an ipcfs mountpoint (tests/labs.rs).
"""
from helpers import counter, drain, numbered, send, setting

setting('queues/q', 'loss', 0.3)
runs = []
for _ in range(2):
    setting('queues/q', 'seed', 7)
    send('queues/q', numbered(1000))
    runs.append(drain('queues/q'))
print(runs[0] == runs[1], len(runs[0]), counter('queues/q', 'lost'))
setting('queues/q', 'seed', 8)
send('queues/q', numbered(1000))
print(drain('queues/q') != runs[0])
