"""poll(2) and select(2) on pipes/p: nothing while it is empty, POLLIN once
a child writes, POLLOUT for the writer, POLLHUP once the writer closes.

Run in an ipcfs mountpoint (tests/pipes.rs).
"""
import os, select, time
r = os.open('pipes/p', os.O_RDONLY | os.O_NONBLOCK)
w = os.open('pipes/p', os.O_WRONLY)
p = select.poll(); p.register(r, select.POLLIN)
print('idle', p.poll(200))
if os.fork() == 0:
    time.sleep(0.3); os.write(w, b'x'); os._exit(0)
t = time.time(); ev = p.poll(5000)
print('data', [e & select.POLLIN for _, e in ev], time.time() - t < 4)
q = select.poll(); q.register(w, select.POLLOUT)
print('out', [e & select.POLLOUT for _, e in q.poll(0)])
os.read(r, 1); os.wait(); os.close(w)
print('hup', [e & select.POLLHUP for _, e in p.poll(5000)])
s = select.select([r], [], [], 5)
print('select', len(s[0]))
