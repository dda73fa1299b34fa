#!/bin/sh
# UDP with boundaries kept: a server endpoint bound to a free port of
# 127.0.0.1, and clients that are dial files, sockets/udp/127.0.0.1/PORT.
#
#   sh examples/udp.sh MOUNTPOINT         (ipcfs mounted on MOUNTPOINT)
#
# On an endpoint's data file, one open is one datagram, as one redirection
# is one queue message: cat receives exactly one, and everything written
# through one open is sent as one when it is closed, in any shell. On a
# dial file each write is one datagram and each read receives one. A bound
# endpoint that is not connected receives from anyone and answers its most
# recent sender.
. "$(dirname "$0")/prologue"
s=$m/sockets
srv=udp-$$                          # $$: a name of our own

cleanup() {
    exec 3<&- 4<&-
    rmdir "$s/$srv" 2>/dev/null || :
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# One datagram from the server endpoint (one open: cat), or from a dial
# file's descriptor $1 (one read: dd), waiting at most 5 seconds.
server_receives() {
    timeout 5 cat "$s/$srv/data"
}
client_receives() {
    timeout 5 dd bs="${2:-64K}" count=1 status=none <&"$1"
}

mkdir "$s/$srv"
echo 'bind udp 127.0.0.1:0' >"$s/$srv/ctl"
addr=$(cat "$s/$srv/local")
port=${addr##*:}
echo "server: $(cat "$s/$srv/ctl")"
[ "$(cat "$s/$srv/ctl")" = "bound udp $addr -" ] || fail "ctl reads '$(cat "$s/$srv/ctl")'"

# Before anyone has sent, the server has no one to answer.
if (printf 'hello?\n' >"$s/$srv/data") 2>/dev/null; then
    fail "a write before any datagram arrived succeeded"
fi
echo "a write before any datagram arrived fails: no one to answer yet"

# A client: three writes to a dial file, three datagrams; each cat of the
# server's data receives one, never two run together.
exec 3<>"$s/udp/127.0.0.1/$port"
printf one >&3
printf two >&3
printf 'three\n' >&3
got=
for want in one two 'three'; do
    d=$(server_receives) || fail "no datagram '$want'"
    got="$got [$d]"
    [ "$d" = "$want" ] || fail "the server received '$d', not '$want'"
done
echo "the client sent one, two, three; the server's cats received:$got"

# The server answers its most recent sender. One open, one datagram: two
# lines in one printf, and two printfs in one redirection, are one each.
printf 'two lines\nin one datagram\n' >"$s/$srv/data"
{ printf 'one '; printf 'redirection'; } >"$s/$srv/data"
d1=$(client_receives 3) || fail "the client received no answer"
d2=$(client_receives 3) || fail "the client received no second answer"
echo "the client's reads received: [$(echo "$d1" | paste -s -d '|' -)] [$d2]"
[ "$d1" = "two lines
in one datagram" ] || fail "the first answer was '$d1'"
[ "$d2" = "one redirection" ] || fail "the second answer was '$d2'"

# A read on the dial file smaller than the datagram gets its start; the
# rest is lost, and the next read gets the next datagram.
printf abcdefgh >"$s/$srv/data"
printf next >"$s/$srv/data"
d1=$(client_receives 3 4) || fail "no datagram abcdefgh"
d2=$(client_receives 3) || fail "no datagram next"
echo "abcdefgh read with 4 bytes gives '$d1'; the next read gives '$d2'"
[ "$d1" = abcd ] && [ "$d2" = next ] || fail "short reads gave '$d1' and '$d2'"

# A second client sends: the answer now goes to it, not to the first.
exec 4<>"$s/udp/127.0.0.1/$port"
printf 'ping from client 2' >&4
d=$(server_receives) || fail "nothing from client 2"
[ "$d" = 'ping from client 2' ] || fail "the server received '$d' from client 2"
printf 'pong' >"$s/$srv/data"
d=$(client_receives 4) || fail "client 2 received no answer"
[ "$d" = pong ] || fail "client 2 received '$d'"
status=0
timeout 0.3 dd bs=64K count=1 status=none <&3 >/dev/null || status=$?
[ $status -eq 124 ] || fail "client 1's read exited with $status, not 124"
echo "client 2 sent last, so client 2 received the answer; client 1's read waited until timeout"

# With nothing sent, a cat of the server's data waits: timeout ends it.
status=0
timeout 0.3 cat "$s/$srv/data" >/dev/null || status=$?
[ $status -eq 124 ] || fail "cat with no datagram exited with $status, not 124"
echo "cat with no datagram waited until timeout ended it"

# The counters: in, 3 + 3 + 6 + 18 bytes; out, 26 + 15 + 8 + 4 + 4.
counters=$(grep '^bytes_' "$s/$srv/status" | paste -s -d ' ' -)
echo "server status: $counters"
[ "$counters" = "bytes_in: 30 bytes_out: 57" ] || fail "status counts '$counters'"

exec 3<&- 4<&-
rmdir "$s/$srv"
echo "udp.sh: ok"
