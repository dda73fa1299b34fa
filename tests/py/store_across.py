"""One message in each framing and mode, written on mount A and read on
mount B of the same queue store: prints what B received, one repr a
line. Usage: store_across.py A B (mountpoints); queues/x exists.

Run by tests/store.rs.
"""
import os, sys
from helpers import BATCH, records, messages
a, b = (os.path.join(m, 'queues/x') for m in sys.argv[1:3])

# message framing: one redirection, one message (two writes in it).
with open(a, 'wb') as f:
    f.write(b'first half,'); f.flush(); f.write(b' second half')
with open(b, 'rb') as f:
    print(repr(f.read()))

# packet mode: each write one message, each read one message.
w = os.open(a, os.O_WRONLY | os.O_DIRECT)
os.write(w, b'\x00binary\xffpacket'); os.write(w, b'p2')
r = os.open(b, os.O_RDONLY | os.O_DIRECT)
print(repr(os.read(r, 100)), repr(os.read(r, 100)))

# batch mode: one write of three records; read back as records.
wb = os.open(a, os.O_WRONLY | BATCH)
print(os.write(wb, records([b'one', b'two', b'three'])))
rb = os.open(b, os.O_RDONLY | BATCH)
got = []
while len(got) < 3:
    got += messages(os.read(rb, 4096))
print(repr(got))

# A stream reader with a small buffer: the rest of the message, then EOF.
with open(a, 'wb') as f:
    f.write(b'0123456789')
s = os.open(b, os.O_RDONLY)
print(repr(os.read(s, 4)), repr(os.read(s, 100)), repr(os.read(s, 100)))
