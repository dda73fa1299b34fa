#!/bin/sh
# Lab: message boundaries. The same three write(2) calls, "one", "two" and
# "three", go into a pipe and into a queue, and the same reads take them
# out: the pipe is a byte stream and merges them, the queue keeps each
# write a message of its own.
#
#   sh examples/labs/boundaries.sh MOUNTPOINT    (ipcfs mounted on MOUNTPOINT)
#
# The queue is opened with O_DIRECT (packet mode): each write(2) is one
# message and each read(2) receives one, whatever the queue's framing.
# See ipcfs-labs(7).
. "$(dirname "$0")/../prologue"
needs_python3
pipe=$m/pipes/lab-boundaries-$$     # $$: names of our own
queue=$m/queues/lab-boundaries-$$

trap 'rm -f "$pipe" "$queue"' EXIT
trap 'exit 1' HUP INT TERM

touch "$pipe" "$queue"
python3 - "$pipe" "$queue" <<'EOF' || fail "the reads were not what this lab expects"
import os, sys

pipe, queue = sys.argv[1:3]

def three_writes(fd):
    for word in (b"one", b"two", b"three"):
        os.write(fd, word)

def reads(fd):
    """What each read(2) of 4096 bytes returns, until nothing is left."""
    got = []
    while True:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return got
        if not data:
            return got
        got.append(data)

def show(got):
    print("   %d read(s): %s" % (len(got), ", ".join(repr(g.decode()) for g in got)))

# One open for both ends, so that the writes are all done before the first
# read, as when a reader is slower than its writer.
print("1. A pipe: three writes, then reads of 4096 bytes")
fd = os.open(pipe, os.O_RDWR | os.O_NONBLOCK)
three_writes(fd)
got = reads(fd)
os.close(fd)
show(got)
assert got == [b"onetwothree"], got
print("   The pipe is one stream of bytes: where one write ended is lost.")

print("2. A queue opened with O_DIRECT: the same writes, the same reads")
fd = os.open(queue, os.O_RDWR | os.O_NONBLOCK | os.O_DIRECT)
three_writes(fd)
got = reads(fd)
os.close(fd)
show(got)
assert got == [b"one", b"two", b"three"], got
print("   Each write is one message, and each read receives one whole message.")

framing = os.getxattr(queue, "user.ipcfs.framing").decode()
print("3. The same queue without O_DIRECT: its framing (user.ipcfs.framing,")
print("   here %r) says where a message ends; 'message', the default, ends" % framing)
print("   it at the close")
fd = os.open(queue, os.O_WRONLY)
three_writes(fd)
os.close(fd)
fd = os.open(queue, os.O_RDONLY | os.O_NONBLOCK | os.O_DIRECT)
got = reads(fd)
os.close(fd)
show(got)
assert framing != "message" or got == [b"onetwothree"], (framing, got)
print("   One open, one message: the boundaries are where the sender's")
print("   interface puts them, and the queue keeps them.")
EOF

rm "$pipe" "$queue"
echo
echo "Question: the writer made three write(2) calls each time. Why did one"
echo "read(2) of the pipe return all three, and what must a protocol over a"
echo "byte stream (a pipe, or a TCP connection) add so that its reader finds"
echo "where each message ends? Name two ways."
echo "boundaries.sh: ok"
