"""Reliable delivery over an unreliable channel: stop-and-wait and a
sliding window (selective repeat), between a sender and a receiver that
talk through two ipcfs queues, one for data and one for acknowledgements.

    python3 reliability.py PROTOCOL DATA_QUEUE ACK_QUEUE MESSAGES WINDOW TIMEOUT_MS

PROTOCOL is stop-and-wait or sliding-window (stop-and-wait is a window of
one). The receiver runs in a child process; the sender in this one. At
the end the receiver says what it delivered, and this process checks it:
every message exactly once, in order. It prints one line of figures,
NAME=VALUE separated by spaces, for reliability.sh, and exits 0 when the
check passes.

Both queues are opened with O_DIRECT (packet mode): one write(2) is one
message, one read(2) receives one, whatever the queue's framing. Reads
are non-blocking; poll(2) waits for a message or a timeout.

A frame is: a 4-byte sequence number, the payload, and a CRC-32 of the
two, all little-endian. The channel may lose a frame, change one byte of
it, or hold it back behind the next one; the CRC finds every changed
byte (CRC-32 detects every error of up to 32 bits in a row), the
sequence number finds duplicates and frames out of order, and the timeout
finds losses.

An acknowledgement is: the next sequence number the receiver expects
(all before it were delivered), the sequence number of the frame that
caused it, and a CRC-32.
"""

import os
import select
import struct
import sys
import time
import zlib

READ_SIZE = 65536


def frame(seq, payload):
    body = struct.pack("<I", seq) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def unframe(raw):
    """(seq, payload), or None if the frame was damaged."""
    if len(raw) < 8:
        return None
    body, crc = raw[:-4], struct.unpack("<I", raw[-4:])[0]
    if zlib.crc32(body) != crc:
        return None
    return struct.unpack("<I", body[:4])[0], body[4:]


def ack(expected, seq):
    body = struct.pack("<II", expected, seq)
    return body + struct.pack("<I", zlib.crc32(body))


def unack(raw):
    """(expected, seq), or None if the acknowledgement was damaged."""
    if len(raw) != 12:
        return None
    body, crc = raw[:8], struct.unpack("<I", raw[8:])[0]
    if zlib.crc32(body) != crc:
        return None
    return struct.unpack("<II", body)


def payload(i):
    return b"message %d of the lab" % i


def read_all(fd):
    """Every message waiting in the queue now (non-blocking)."""
    got = []
    while True:
        try:
            got.append(os.read(fd, READ_SIZE))
        except BlockingIOError:
            return got


def receiver(data_q, ack_q, count, window, stop_fd, result_fd):
    """Delivers frames in order, exactly once; buffers those that come
    early (within the window); acknowledges every intact frame, even a
    duplicate, whose first acknowledgement may have been lost."""
    data = os.open(data_q, os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)
    acks = os.open(ack_q, os.O_WRONLY | os.O_DIRECT)
    p = select.poll()
    p.register(data, select.POLLIN)
    p.register(stop_fd, select.POLLIN)
    expected = 0
    early = {}
    delivered = wrong = damaged = duplicates = 0
    check = zlib.crc32(b"")
    while True:
        # The timeout is a safety net: a frame that the channel held back
        # and released on its own may arrive without a wake-up.
        ready = dict(p.poll(50))
        if stop_fd in ready:
            break
        for raw in read_all(data):
            got = unframe(raw)
            if got is None:
                damaged += 1  # no acknowledgement: the sender's timer resends
                continue
            seq, body = got
            if seq < expected or seq in early:
                duplicates += 1
            elif seq < expected + window:
                early[seq] = body
                while expected in early:  # deliver what is now in order
                    body = early.pop(expected)
                    if body != payload(expected):
                        wrong += 1
                    check = zlib.crc32(body, check)
                    delivered += 1
                    expected += 1
            else:
                continue  # beyond the window: cannot be buffered
            os.write(acks, ack(expected, seq))
    os.write(result_fd, b"%d %d %d %d %d" % (delivered, wrong, damaged, duplicates, check))
    os.close(data)
    os.close(acks)


def sender(data_q, ack_q, count, window, timeout):
    """Keeps up to `window` frames unacknowledged, each with its own
    timer; resends a frame whose timer runs out, and only that frame."""
    data = os.open(data_q, os.O_WRONLY | os.O_DIRECT)
    acks = os.open(ack_q, os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)
    p = select.poll()
    p.register(acks, select.POLLIN)
    base = 0  # the oldest frame not yet acknowledged
    following = 0  # the next frame never sent
    acked = set()
    deadline = {}  # frame -> when its timer runs out
    sent = resent = bad_acks = 0
    while base < count:
        now = time.monotonic()
        while following < count and following < base + window:
            os.write(data, frame(following, payload(following)))
            deadline[following] = now + timeout
            following += 1
            sent += 1
        for seq in sorted(deadline):
            if deadline[seq] <= now:
                os.write(data, frame(seq, payload(seq)))
                deadline[seq] = now + timeout
                resent += 1
        wait = max(0.0, min(deadline.values()) - time.monotonic())
        if p.poll(wait * 1000):
            for raw in read_all(acks):
                got = unack(raw)
                if got is None:
                    bad_acks += 1
                    continue
                expected, seq = got
                for s in [seq] + list(range(base, expected)):
                    if s >= base:
                        acked.add(s)
                        deadline.pop(s, None)
                while base in acked:
                    acked.discard(base)
                    base += 1
    os.close(data)
    os.close(acks)
    return sent, resent, bad_acks


def main():
    protocol, data_q, ack_q = sys.argv[1:4]
    count, window, timeout_ms = (int(a) for a in sys.argv[4:7])
    if protocol == "stop-and-wait":
        window = 1
    elif protocol != "sliding-window":
        sys.exit("reliability.py: no protocol %r" % protocol)
    stop_r, stop_w = os.pipe()
    result_r, result_w = os.pipe()
    start = time.monotonic()
    child = os.fork()
    if child == 0:
        try:
            receiver(data_q, ack_q, count, window, stop_r, result_w)
        finally:
            os._exit(0)
    sent, resent, bad_acks = sender(data_q, ack_q, count, window, timeout_ms / 1000)
    elapsed = time.monotonic() - start
    # Every frame is acknowledged, so the receiver has delivered them all;
    # it may still be answering resent ones: stop it.
    os.write(stop_w, b"x")
    os.waitpid(child, 0)
    delivered, wrong, damaged, duplicates, check = (
        int(x) for x in os.read(result_r, 256).split()
    )
    want = zlib.crc32(b"".join(payload(i) for i in range(count)))
    ok = delivered == count and wrong == 0 and check == want
    print(
        "protocol=%s messages=%d delivered=%d in_order=%s window=%d timeout_ms=%d "
        "seconds=%.2f rate=%.0f sent=%d resent=%d damaged=%d bad_acks=%d duplicates=%d"
        % (protocol, count, delivered, "yes" if ok else "no", window, timeout_ms,
           elapsed, count / elapsed, sent, resent, damaged, bad_acks, duplicates)
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
