"""300 threads each park in a read of queues/q; prints how many messages
they got and how many distinct.

Run in an ipcfs mountpoint (tests/transport.rs).
"""
import os, threading
threading.stack_size(65536)
got = []
def wait():
    got.append(os.read(os.open('queues/q', os.O_RDONLY), 100))
ts = [threading.Thread(target=wait, daemon=True) for _ in range(300)]
for t in ts: t.start()
for t in ts: t.join(60)
print(len(got), len(set(got)))
