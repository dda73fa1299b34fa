#!/bin/sh
# A TCP client endpoint, step by step: mkdir is socket(), a connect
# command to ctl is connect(), data is the connection both ways, shutdown wr
# sends end of file, rmdir is close(). Its server is made here too, on the
# mount, so the script needs nothing else.
#
#   sh examples/tcp-client.sh MOUNTPOINT  (ipcfs mounted on MOUNTPOINT)
. "$(dirname "$0")/prologue"
s=$m/sockets
srv=tcp-client-server-$$            # $$: names of our own
c=tcp-client-$$
tmp=$(mktemp -d)                    # what each side received, outside the mount

conn=
cleanup() {
    exec 3<&-
    for e in "$c" "$conn" "$srv"; do
        [ -z "$e" ] || rmdir "$s/$e" 2>/dev/null || :
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# The server: an endpoint listening on a free port of 127.0.0.1.
mkdir "$s/$srv"
echo 'bind tcp 127.0.0.1:0' >"$s/$srv/ctl"
echo listen >"$s/$srv/ctl"
server=$(cat "$s/$srv/local")
echo "server listening on $server"

# The client.
mkdir "$s/$c"                                   # socket()
echo "ctl after mkdir:   $(cat "$s/$c/ctl")"
[ "$(cat "$s/$c/ctl")" = 'unbound - - -' ] || fail "a new endpoint reads '$(cat "$s/$c/ctl")'"
timeout 5 sh -c 'echo "connect tcp $2" >"$1"' connect "$s/$c/ctl" "$server" ||
    fail "connect tcp $server failed: $(cat "$s/$c/err")"
line=$(cat "$s/$c/ctl")
echo "ctl after connect: $line"
local=$(cat "$s/$c/local")
[ "$line" = "connected tcp $local $server" ] || fail "ctl reads '$line'"
[ "$(cat "$s/$c/remote")" = "$server" ] || fail "remote reads '$(cat "$s/$c/remote")'"

# The server side of the connection: the endpoint accept names.
conn=$(timeout 5 cat "$s/$srv/accept") || fail "the server accepted nothing"
echo "server accepted $conn, whose remote is $(cat "$s/$conn/remote")"
[ "$(cat "$s/$conn/remote")" = "$local" ] || fail "$conn is connected to '$(cat "$s/$conn/remote")', not $local"

# The client sends its request through one descriptor for both ways, then
# shuts its writing side: the server reads to end of file.
exec 3<>"$s/$c/data"
printf 'GET /greeting\r\n' >&3
printf 'Host: example\r\n' >&3
echo 'shutdown wr' >"$s/$c/ctl"                 # shutdown(SHUT_WR)
echo "client status after shutdown wr:"
sed 's/^/    /' "$s/$c/status"
grep -qx 'shutdown: wr' "$s/$c/status" || fail "status does not say 'shutdown: wr'"

timeout 5 cat "$s/$conn/data" >"$tmp/request" || fail "the server's cat did not end"
printf 'GET /greeting\r\nHost: example\r\n' | cmp -s - "$tmp/request" ||
    fail "the server received '$(cat "$tmp/request")'"
echo "server read to end of file: $(tr -d '\r' <"$tmp/request" | paste -s -d '|' -)"

# A write after shutdown wr fails (EPIPE, after SIGPIPE as with a socket).
status=0
(printf 'too late\n' >&3) 2>/dev/null || status=$?
[ $status -ne 0 ] || fail "a write after shutdown wr succeeded"
echo "a write after shutdown wr fails (exit status $status)"

# The server answers and closes; the client reads the answer to end of file.
printf 'HTTP/1.0 200 OK\r\n\r\nhello\n' >"$s/$conn/data"
rmdir "$s/$conn"                                # the server's close()
conn=
timeout 5 cat <&3 >"$tmp/answer" || fail "the client's cat did not end"
printf 'HTTP/1.0 200 OK\r\n\r\nhello\n' | cmp -s - "$tmp/answer" ||
    fail "the client received '$(cat "$tmp/answer")'"
echo "client read to end of file: $(tail -n 1 "$tmp/answer")"
grep '^bytes_' "$s/$c/status" | paste -s -d ' ' - | sed 's/^/client status: /'

exec 3<&-
rmdir "$s/$c"                                   # close()
rmdir "$s/$srv"
[ ! -e "$s/$c" ] && [ ! -e "$s/$srv" ] || fail "an endpoint is still there after rmdir"
echo "tcp-client.sh: ok"
