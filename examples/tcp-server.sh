#!/bin/sh
# A TCP server made of files: an endpoint bound to a port and listening,
# each read of its accept file one connection, each connection a directory
# of its own. The clients here are dial files, sockets/tcp/HOST/PORT.
#
#   sh examples/tcp-server.sh MOUNTPOINT  (ipcfs mounted on MOUNTPOINT)
#
# Port 0 lets the kernel choose a free port; the endpoint's local file
# tells which.
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
s=$m/sockets
srv=tcp-server-$$                   # $$: a name of our own
tmp=$(mktemp -d)                    # what the clients receive, outside the mount

fail() {
    echo "tcp-server.sh: FAILED: $*" >&2
    exit 1
}
pids=
conn=
cleanup() {
    for pid in $pids; do kill "$pid" 2>/dev/null || :; done
    [ -z "$conn" ] || rmdir "$s/$conn" 2>/dev/null || :
    rmdir "$s/$srv" 2>/dev/null || :
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

mkdir "$s/$srv"                                 # socket()
echo 'bind tcp 127.0.0.1:0' >"$s/$srv/ctl"      # bind()
echo listen >"$s/$srv/ctl"                      # listen()
addr=$(cat "$s/$srv/local")
port=${addr##*:}
echo "ctl: $(cat "$s/$srv/ctl")"
case $port in
    '' | 0 | *[!0-9]*) fail "local is '$addr', not 127.0.0.1:PORT" ;;
esac
[ "$(cat "$s/$srv/ctl")" = "listening tcp $addr -" ] ||
    fail "ctl reads '$(cat "$s/$srv/ctl")'"

# Two clients, one after the other. Each opens a dial file (the open is
# connect()), sends one line, and reads the answer until the server closes.
for i in 1 2; do
    timeout 5 sh -c '
        exec 3<>"$1"
        printf "hello from client %s\n" "$2" >&3
        cat <&3
    ' client "$s/tcp/127.0.0.1/$port" "$i" >"$tmp/answer-$i" &
    pids="$pids $!"

    # accept(): a read of accept waits for a connection and names its
    # endpoint, srv.1 then srv.2.
    conn=$(timeout 5 cat "$s/$srv/accept") || fail "no connection within 5 seconds"
    echo "accepted $conn: $(cat "$s/$conn/ctl")"
    [ "$conn" = "$srv.$i" ] || fail "accepted '$conn', not $srv.$i"

    # The request: a read returns what has arrived, and read(1) takes one
    # line (timeout ends the wait if nothing comes).
    timeout 5 sh -c 'IFS= read -r line <"$1" && printf "%s\n" "$line"' \
        server "$s/$conn/data" >"$tmp/request-$i" || fail "no request from client $i"
    printf 'hello from client %s\n' "$i" | cmp -s - "$tmp/request-$i" ||
        fail "client $i sent '$(cat "$tmp/request-$i")'"
    echo "  $conn received: $(cat "$tmp/request-$i")"

    printf 'hello, client %s: you are %s\n' "$i" "$conn" >"$s/$conn/data"
    printf 'hello, client %s: you are %s\n' "$i" "$conn" >"$tmp/sent-$i"
    bytes=$(grep '^bytes_' "$s/$conn/status" | paste -s -d ' ' -)
    echo "  $conn status: $bytes"
    want="bytes_in: $(wc -c <"$tmp/request-$i") bytes_out: $(wc -c <"$tmp/sent-$i")"
    [ "$bytes" = "$want" ] || fail "status counts '$bytes', not '$want'"

    rmdir "$s/$conn"                # close(): the client reads end of file
    conn=
done

failed=0
for pid in $pids; do
    wait "$pid" || failed=1
done
pids=
[ $failed -eq 0 ] || fail "a client failed"
for i in 1 2; do
    echo "client $i received: $(cat "$tmp/answer-$i")"
    printf 'hello, client %s: you are %s\n' "$i" "$srv.$i" | cmp -s - "$tmp/answer-$i" ||
        fail "client $i received '$(cat "$tmp/answer-$i")'"
done

rmdir "$s/$srv"
[ ! -e "$s/$srv" ] || fail "$srv is still there after rmdir"
echo "tcp-server.sh: ok"
