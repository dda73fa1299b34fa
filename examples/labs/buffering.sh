#!/bin/sh
# Lab: buffering. A pipe holds at most its capacity; a writer with more to
# say than fits waits, blocked, until a reader makes room. The wait shows
# in the blocked column of status and in the pipe's user.ipcfs.blocked
# attribute; a non-blocking writer is told EAGAIN instead.
#
#   sh examples/labs/buffering.sh MOUNTPOINT     (ipcfs mounted on MOUNTPOINT)
#
# See ipcfs-labs(7).
. "$(dirname "$0")/../prologue"
needs_python3
name=pipes/lab-buffering-$$         # $$: a name of our own
p=$m/$name
size=10000                          # what the writer writes, in one write(2)

writer=
cleanup() {
    exec 3<&-
    [ -z "$writer" ] || kill "$writer" 2>/dev/null || :
    rm -f "$p"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

attr() {
    python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.ipcfs." + sys.argv[2]).decode())' "$p" "$1"
}
row() {
    awk -v n="$name" 'NR == 1 || $2 == n' "$m/status" | sed 's/^/   /'
}

touch "$p"
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.ipcfs.capacity", b"4096")' "$p"
echo "A pipe of $(attr capacity) bytes (its attribute user.ipcfs.capacity)."

# The writer: one write(2) of $size bytes. Its open waits for a reader.
timeout 10 dd if=/dev/zero bs=$size count=1 status=none >"$p" &
writer=$!
exec 3<"$p"                         # the reader opens, and does not read yet

# Wait until the pipe is full and the writer blocked in its write.
i=0
until [ "$(attr bytes)" = 4096 ] && [ "$(attr blocked)" = 1 ]; do
    i=$((i + 1))
    [ $i -lt 200 ] || fail "the writer never filled the pipe: bytes $(attr bytes), blocked $(attr blocked)"
    sleep 0.05
done
echo
echo "1. The writer wrote $size bytes in one write(2); the pipe took 4096 and"
echo "   the writer waits, blocked, for room. status (the blocked column):"
row
echo "   user.ipcfs.bytes = $(attr bytes), user.ipcfs.blocked = $(attr blocked)"
[ "$(awk -v n="$name" '$2 == n { print $10 }' "$m/status")" = 1 ] ||
    fail "status does not show the writer blocked"

echo
echo "2. A second writer with O_NONBLOCK is not made to wait: it is told EAGAIN."
python3 - "$p" <<'EOF' || fail "the non-blocking writer was not told EAGAIN"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
try:
    os.write(fd, b"more")
    sys.exit("   a write to the full pipe succeeded")
except BlockingIOError as e:
    print("   write(2): %s" % e.strerror)
finally:
    os.close(fd)
EOF

echo
echo "3. The reader reads everything; as it makes room, the writer goes on."
got=$(timeout 10 cat <&3 | wc -c)
exec 3<&-
status=0
wait "$writer" || status=$?
writer=
[ $status -eq 0 ] || fail "the writer exited with status $status"
echo "   The reader got $got bytes; the writer's write(2) returned and it exited."
[ "$got" -eq $size ] || fail "the reader got $got bytes, not $size"
row
[ "$(attr blocked)" = 0 ] || fail "user.ipcfs.blocked is $(attr blocked) after the writer ended"

rm "$p"
echo
echo "Question: the writer was stopped after 4096 bytes until the reader read."
echo "What would become of a fast producer and a slow consumer if the pipe"
echo "never blocked its writer? What does a larger capacity buy, and what"
echo "does it cost? When is EAGAIN more useful to a program than waiting?"
echo "buffering.sh: ok"
