"""Writes 100 lines to queues/q through one Python file object, flushing
after each: one message, whatever the writes.

Run in an ipcfs mountpoint (tests/framing.rs).
"""
with open('queues/q', 'w') as f:
    for i in range(100):
        print('line', i, file=f, flush=True)
