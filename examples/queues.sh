#!/bin/sh
# A message queue: each redirection is one message, each cat receives one.
#
#   sh examples/queues.sh MOUNTPOINT      (ipcfs mounted on MOUNTPOINT)
#
# A message is everything written through one open, until it is closed:
# printf 'a\nb\n' > queue is one message in any shell, however the shell
# splits its writes. With the queue's framing set to "line", each line is
# one message instead (seq 1000 > queue queues 1,000).
. "$(dirname "$0")/prologue"
q=$m/queues/example-$$              # $$: a name of our own

trap 'rm -f "$q"' EXIT
trap 'exit 1' HUP INT TERM

touch "$q"                          # make the queue
echo first >"$q"                    # two redirections, two messages
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

# One redirection is one message, however many lines and writes it has.
printf 'line one\nline two\n' >"$q"
msg=$(timeout 5 cat "$q")
echo "one message of two lines: $(echo "$msg" | tr '\n' '|')"
[ "$msg" = "line one
line two" ] || fail "the two-line message arrived as '$msg'"

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
    [ "$counters" = "sent=9 received=9 messages=0" ] || fail "counters: $counters"

    # Line framing: each line one message.
    python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.ipcfs.framing", b"line")' "$q"
    seq 3 >"$q"
    lines=$(for i in 1 2 3; do timeout 5 cat "$q"; done | tr '\n' ' ')
    echo "framing line, seq 3 gave three messages: $lines"
    [ "$lines" = "1 2 3 " ] || fail "line framing gave '$lines'"
else
    echo "(no python3: counters not shown)"
fi

rm "$q"
echo "queues.sh: ok"
