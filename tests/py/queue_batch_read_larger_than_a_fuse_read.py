"""Sends 256 messages of 16,380 bytes (4 MiB of records) to queues/q in
batch mode, then reads them in one batch read of 8 MiB, which must
return at once with all of them.

Run in an ipcfs mountpoint (tests/queues.rs).
"""
import mmap
import os
import signal

from helpers import BATCH, messages, records

signal.alarm(10)
w = os.open('queues/q', os.O_WRONLY | BATCH)
msgs = [bytes([i]) * 16380 for i in range(256)]
data = records(msgs)
done = 0
while done < len(data): done += os.write(w, data[done:])
print(len(data), done)
r = os.open('queues/q', os.O_RDONLY | BATCH)
buf = mmap.mmap(-1, 8 << 20)
n = os.readv(r, [buf])
print(n, messages(buf[:n]) == msgs)
