"""Sends 200 messages through queues/q at corrupt 1; prints how many came,
the set of how many bytes each differs by, and the corrupted count.

Run in an ipcfs mountpoint (tests/labs.rs).
"""
from helpers import counter, drain, numbered, send, setting

setting('queues/q', 'corrupt', 1)
sent = numbered(200)
send('queues/q', sent)
got = drain('queues/q')
changed = [sum(a != b for a, b in zip(s, g)) for s, g in zip(sent, got)]
print(len(got), set(changed), counter('queues/q', 'corrupted'))
