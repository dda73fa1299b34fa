#!/bin/sh
# Lab: direction. A pipe carries bytes one way, from whoever writes to
# whoever reads; a connected socket endpoint carries them both ways, and
# what one end writes only the other end reads. A question and its answer
# go through one pipe, through two pipes, and through one TCP connection
# between two endpoints of the mount.
#
#   sh examples/labs/direction.sh MOUNTPOINT     (ipcfs mounted on MOUNTPOINT)
#
# See ipcfs-labs(7).
. "$(dirname "$0")/../prologue"
one=pipes/lab-one-$$                # $$: names of our own
ab=pipes/lab-a-to-b-$$
ba=pipes/lab-b-to-a-$$
s=$m/sockets
srv=lab-b-$$                        # B listens; A connects
a=lab-a-$$

pids=
conn=
cleanup() {
    exec 3<&- 4<&-
    for pid in $pids; do kill "$pid" 2>/dev/null || :; done
    rm -f "$m/$one" "$m/$ab" "$m/$ba"
    for e in "$a" "$conn" "$srv"; do
        [ -z "$e" ] || rmdir "$s/$e" 2>/dev/null || :
    done
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

echo "1. One pipe, opened for reading and writing (as A would use it to talk"
echo "   with B both ways). A writes its question, then reads for the answer:"
touch "$m/$one"
exec 3<>"$m/$one"                   # one descriptor, both ends of the pipe
printf 'question from A\n' >&3
IFS= read -r got <&3
echo "   A read back: '$got'"
[ "$got" = 'question from A' ] || fail "A read '$got' from the pipe"
echo "   A got its own question: the pipe does not know who is who, it takes"
echo "   bytes from any writer and gives them to any reader, A included."
exec 3<&-
rm "$m/$one"
echo

echo "2. Two pipes, one for each direction: A to B, and B to A."
touch "$m/$ab" "$m/$ba"
# B: reads a question from one pipe, answers on the other.
timeout 10 sh -c '
    IFS= read -r q <"$1"
    printf "answer from B to \"%s\"\n" "$q" >"$2"
' b "$m/$ab" "$m/$ba" &
pids="$pids $!"
printf 'question from A\n' >"$m/$ab"
got=$(timeout 5 cat "$m/$ba") || fail "no answer from B on $ba"
echo "   A wrote its question to $ab and read from $ba: '$got'"
[ "$got" = 'answer from B to "question from A"' ] || fail "A read '$got'"
wait $pids || fail "B failed"
pids=
rm "$m/$ab" "$m/$ba"
echo

echo "3. One TCP connection between two socket endpoints: each end's data"
echo "   file goes both ways."
mkdir "$s/$srv"
echo 'bind tcp 127.0.0.1:0' >"$s/$srv/ctl"
echo listen >"$s/$srv/ctl"
addr=$(cat "$s/$srv/local")
mkdir "$s/$a"
timeout 5 sh -c 'echo "connect tcp $2" >"$1"' connect "$s/$a/ctl" "$addr" ||
    fail "connect tcp $addr failed: $(cat "$s/$a/err")"
conn=$(timeout 5 cat "$s/$srv/accept") || fail "B accepted no connection"
echo "   A is sockets/$a, connected to B's sockets/$conn"
exec 4<>"$s/$a/data"                # A: one descriptor, both ways
printf 'question from A\n' >&4
# B: reads the question from its end's data file, answers on the same file.
q=$(timeout 5 sh -c 'IFS= read -r q <"$1" && printf "%s\n" "$q"' b "$s/$conn/data") ||
    fail "B read nothing"
echo "   B read from sockets/$conn/data: '$q'"
[ "$q" = 'question from A' ] || fail "B read '$q'"
printf 'answer from B to "%s"\n' "$q" >"$s/$conn/data"
IFS= read -r got <&4
echo "   A read from the descriptor it wrote to: '$got'"
[ "$got" = 'answer from B to "question from A"' ] || fail "A read '$got'"
echo "   What A wrote went to B only, and B's answer to A only."
exec 4<&-
rmdir "$s/$a" "$s/$conn" "$s/$srv"
conn=

echo
echo "Question: why did A read its own question in part 1, and why does a"
echo "conversation over pipes need two of them, when one TCP connection is"
echo "enough? How many byte streams does a connection have, and which end"
echo "reads each?"
echo "direction.sh: ok"
