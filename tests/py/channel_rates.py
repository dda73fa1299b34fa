"""Sends 10,000 numbered messages through queues/q with loss, duplication,
corruption and reordering set; prints what the reader saw (received,
damaged, extra copies, out of order) and the queue's counters.

Run in an ipcfs mountpoint (tests/labs.rs).
"""
import struct

from helpers import counter, drain, intact, numbered, send, setting

q = 'queues/q'
for name, p in (('loss', 0.1), ('duplicate', 0.05), ('corrupt', 0.05), ('reorder', 0.05)):
    setting(q, name, p)
setting(q, 'seed', 12345)
send(q, numbered(10000))
got = drain(q)
good = [m for m in got if intact(m)]
ids = [struct.unpack('<I', m[:4])[0] for m in good]
damaged = len(got) - len(good)
copies = len(ids) - len(set(ids))
out_of_order = sum(1 for a, b in zip(ids, ids[1:]) if b < a)
c = {n: counter(q, n) for n in ('lost', 'duplicated', 'corrupted', 'reordered', 'delayed')}
print(len(got), damaged, copies, out_of_order, c['lost'], c['duplicated'], c['corrupted'], c['reordered'], c['delayed'])
