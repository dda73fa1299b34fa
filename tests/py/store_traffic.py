"""Numbered messages through one shared queue between two mounts.

store_traffic.py write MOUNT WRITERS COUNT: WRITERS processes each send
COUNT messages 'W SEQ' (packet mode, one write each) to MOUNT's
queues/traffic; prints 'sent N'.

store_traffic.py read MOUNT READERS TOTAL: READERS processes receive
(packet mode) until TOTAL messages came in all; then checks that none
was lost, duplicated or torn and that each reader saw each writer's
messages in order, and prints 'received N lost L duplicated D torn T
out-of-order O'.

Run by tests/store.rs.
"""
import os, sys
mode, mount, procs, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
q = os.path.join(mount, 'queues/traffic')

if mode == 'write':
    kids = []
    for w in range(procs):
        pid = os.fork()
        if pid == 0:
            fd = os.open(q, os.O_WRONLY | os.O_DIRECT)
            for seq in range(count):
                os.write(fd, b'%d %d' % (w, seq))
            os._exit(0)
        kids.append(pid)
    ok = all(os.waitstatus_to_exitcode(os.waitpid(k, 0)[1]) == 0 for k in kids)
    print('sent', procs * count if ok else -1)
    sys.exit(0)

# Readers: each stops at its END; the test sends one END per reader.
pipes = []
for r in range(procs):
    rd, wr = os.pipe()
    if os.fork() == 0:
        os.close(rd)
        fd = os.open(q, os.O_RDONLY | os.O_DIRECT)
        out = []
        while True:
            m = os.read(fd, 100)
            if m == b'END':
                break
            out.append(m)
        os.write(wr, b'\n'.join(out) + b'\n')
        os._exit(0)
    os.close(wr)
    pipes.append(rd)
seen, dup, torn, disorder = set(), 0, 0, 0
for rd in pipes:
    data = b''
    while True:
        chunk = os.read(rd, 1 << 16)
        if not chunk:
            break
        data += chunk
    last = {}
    for line in data.split(b'\n'):
        if not line:
            continue
        parts = line.split(b' ')
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            torn += 1
            continue
        w, seq = int(parts[0]), int(parts[1])
        if (w, seq) in seen:
            dup += 1
        seen.add((w, seq))
        if seq <= last.get(w, -1):
            disorder += 1
        last[w] = seq
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
print('received', len(seen), 'lost', count - len(seen), 'duplicated', dup, 'torn', torn,
      'out-of-order', disorder)
