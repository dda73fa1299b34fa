#!/bin/sh
# A message queue: each write is one message, each cat receives one.
#
#   sh examples/queues.sh MOUNTPOINT      (ipcfs mounted on MOUNTPOINT)
#
# Keep one message to one line written at once (echo, or one printf per
# message): bash's printf writes line by line, so under bash
# printf 'a\nb\n' > queue sends two messages.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 MOUNTPOINT" >&2
    exit 2
fi
m=$1
if ! grep -qs '^ipcfs:' "$m/README"; then
    echo "$0: no ipcfs mounted on $m" >&2
    exit 1
fi
q=$m/queues/example-$$              # $$: a name of our own

fail() {
    echo "queues.sh: FAILED: $*" >&2
    exit 1
}
trap 'rm -f "$q"' EXIT
trap 'exit 1' HUP INT TERM

touch "$q"                          # make the queue
echo first >"$q"                    # two writes, two messages
echo second >"$q"
n=$(awk -v n="queues/example-$$" '$2 == n { print $7 }' "$m/status")
echo "status: $n messages queued"
[ "$n" = 2 ] || fail "status shows '$n' messages, not 2"

# Each cat receives exactly one message and exits.
a=$(timeout 5 cat "$q")
b=$(timeout 5 cat "$q")
echo "cat received '$a', the next cat '$b'"
[ "$a" = first ] && [ "$b" = second ] || fail "received '$a' and '$b'"

# An empty queue makes a reader wait: here timeout ends it.
status=0
timeout 0.3 cat "$q" >/dev/null || status=$?
[ $status -eq 124 ] || fail "cat of an empty queue exited with $status, not 124"
echo "cat of the empty queue waited until timeout ended it"

# A consumer loop: one message per cat, until a message says end (or
# nothing comes for 5 seconds).
for job in build test deploy end; do
    echo "$job" >"$q"
done
done_list=
while msg=$(timeout 5 cat "$q") && [ "$msg" != end ]; do
    echo "  consumer got: $msg"
    done_list="$done_list $msg"
done
[ "$msg" = end ] || fail "the loop ended without the end message"
[ "$done_list" = " build test deploy" ] || fail "the loop got:$done_list"

# An O_DIRECT open (dd iflag=direct) receives one whole message per read,
# so one open can take several.
echo one >"$q"
echo two >"$q"
both=$(timeout 5 dd if="$q" iflag=direct bs=8K count=2 status=none)
echo "dd iflag=direct, two reads:" $both
[ "$both" = "one
two" ] || fail "dd iflag=direct received '$both'"

# Settings and counters are extended attributes; getfattr may be missing,
# so ask Python, if there is one.
if command -v python3 >/dev/null 2>&1; then
    counters=$(python3 -c '
import os, sys
names = ("sent", "received", "messages")
print(" ".join("%s=%s" % (n, os.getxattr(sys.argv[1], "user.ipcfs." + n).decode())
               for n in names))' "$q")
    echo "counters: $counters"
    [ "$counters" = "sent=8 received=8 messages=0" ] || fail "counters: $counters"
else
    echo "(no python3: counters not shown)"
fi

rm "$q"
echo "queues.sh: ok"
