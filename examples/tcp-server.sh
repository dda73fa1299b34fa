#!/bin/sh
# A TCP server made of files: an endpoint bound to a port and listening,
# each read of its accept file one connection, each connection a directory
# of its own. It answers HTTP requests as a browser sends them (try it with
# a browser or curl on the port it prints); the clients here are dial
# files, sockets/tcp/HOST/PORT, sending what a browser sends.
#
#   sh examples/tcp-server.sh MOUNTPOINT  (ipcfs mounted on MOUNTPOINT)
#
# Port 0 lets the kernel choose a free port; the endpoint's local file
# tells which.
. "$(dirname "$0")/prologue"
s=$m/sockets
srv=tcp-server-$$                   # $$: a name of our own
tmp=$(mktemp -d)                    # what the clients receive, outside the mount

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

cr=$(printf '\r')
# Two clients, one after the other. Each opens a dial file (the open is
# connect()), sends a request as a browser does, and reads the answer
# until the server closes.
for i in 1 2; do
    timeout 5 sh -c '
        exec 3<>"$1"
        printf "GET /client-%s HTTP/1.0\r\nHost: localhost\r\nAccept: */*\r\n\r\n" "$2" >&3
        cat <&3
    ' client "$s/tcp/127.0.0.1/$port" "$i" >"$tmp/answer-$i" &
    pids="$pids $!"

    # accept(): a read of accept waits for a connection and names its
    # endpoint, srv.1 then srv.2.
    conn=$(timeout 5 cat "$s/$srv/accept") || fail "no connection within 5 seconds"
    echo "accepted $conn: $(cat "$s/$conn/ctl")"
    [ "$conn" = "$srv.$i" ] || fail "accepted '$conn', not $srv.$i"

    # The request: its first line, then headers up to the empty line (a
    # read returns what has arrived; timeout ends the wait if nothing
    # comes). All of it is read: a socket closed with unread bytes resets
    # the connection, and the client would lose the answer.
    timeout 5 sh -c '
        exec <"$1"
        IFS= read -r first && printf "%s\n" "$first"
        while IFS= read -r header && [ "$header" != "$2" ]; do :; done
    ' server "$s/$conn/data" "$cr" >"$tmp/request-$i" || fail "no request from client $i"
    printf 'GET /client-%s HTTP/1.0\r\n' "$i" | cmp -s - "$tmp/request-$i" ||
        fail "client $i sent '$(cat "$tmp/request-$i")'"
    echo "  $conn received: $(tr -d '\r' <"$tmp/request-$i")"

    body="hello, client $i: you are $conn"
    printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %s\r\n\r\n%s\n' \
        $((${#body} + 1)) "$body" >"$tmp/sent-$i"
    cat "$tmp/sent-$i" >"$s/$conn/data"
    bytes=$(grep '^bytes_out' "$s/$conn/status")
    echo "  $conn status: $bytes"
    [ "$bytes" = "bytes_out: $(wc -c <"$tmp/sent-$i")" ] || fail "status counts '$bytes'"

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
    echo "client $i received: $(tail -n 1 "$tmp/answer-$i")"
    cmp -s "$tmp/sent-$i" "$tmp/answer-$i" ||
        fail "client $i received '$(cat "$tmp/answer-$i")'"
done

rmdir "$s/$srv"
[ ! -e "$s/$srv" ] || fail "$srv is still there after rmdir"
echo "tcp-server.sh: ok"
