"""Four processes each write 400 records of 4096 bytes (one letter each) to
pipes/rec while the parent reads them all: every record must arrive
whole. Prints the bytes read and the records of each writer.

Run in an ipcfs mountpoint (tests/pipes.rs).
"""
import os
N = 400
kids = []
r = os.open('pipes/rec', os.O_RDONLY | os.O_NONBLOCK)
keep = os.open('pipes/rec', os.O_WRONLY)
for k in range(4):
    pid = os.fork()
    if pid == 0:
        w = os.open('pipes/rec', os.O_WRONLY)
        rec = bytes([65 + k]) * 4096
        for _ in range(N):
            assert os.write(w, rec) == 4096
        os._exit(0)
    kids.append(pid)
os.set_blocking(r, True)
data = bytearray()
while len(data) < 4 * N * 4096:
    data += os.read(r, 65536)
for pid in kids: os.waitpid(pid, 0)
counts = {}
for i in range(0, len(data), 4096):
    rec = bytes(data[i:i+4096])
    assert rec == rec[:1] * 4096, 'torn record at %d' % i
    counts[rec[:1]] = counts.get(rec[:1], 0) + 1
print(len(data), sorted(counts.values()))
