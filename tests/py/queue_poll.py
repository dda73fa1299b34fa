"""poll(2) on queues/q (of one message): no POLLIN while empty and POLLOUT
for the writer; POLLIN once a child writes, and then no more POLLOUT.

Run in an ipcfs mountpoint (tests/queues.rs).
"""
import os, select, time
r = os.open('queues/q', os.O_RDONLY | os.O_NONBLOCK)
w = os.open('queues/q', os.O_WRONLY | os.O_NONBLOCK)
p = select.poll(); p.register(r, select.POLLIN)
o = select.poll(); o.register(w, select.POLLOUT)
print(p.poll(100), len(o.poll(0)))
if os.fork() == 0:
    time.sleep(0.3); os.write(w, b'm'); os._exit(0)
print([e for _, e in p.poll(5000)] == [select.POLLIN])
os.wait()
print(o.poll(100))
