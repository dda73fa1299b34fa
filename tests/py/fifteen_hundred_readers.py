"""1,500 threads each park in a read of queues/q; once all are parked,
writes 1,500 messages: prints how many parked, then how many messages
were read and how many distinct.

Run in an ipcfs mountpoint (tests/transport.rs).
"""
import os, threading, time
N = 1500
got = []
def reader():
    fd = os.open('queues/q', os.O_RDONLY | os.O_DIRECT)
    got.append(os.read(fd, 100))
threads = [threading.Thread(target=reader) for _ in range(N)]
for t in threads: t.start()
blocked = lambda: int(os.getxattr('queues/q', 'user.ipcfs.blocked'))
t0 = time.monotonic()
while blocked() < N and time.monotonic() - t0 < 60: time.sleep(0.1)
print(blocked())
w = os.open('queues/q', os.O_WRONLY | os.O_DIRECT)
for i in range(N): os.write(w, b'%d' % i)
for t in threads: t.join(30)
print(len(got), len(set(got)))
