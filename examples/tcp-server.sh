#!/bin/sh
# A TCP server made of files, the way shell servers are written: an
# endpoint bound to a port and listening, and an accept loop that starts a
# handler in the background for each connection, so that every client is
# served at once. Each read of accept is one connection, a directory of its
# own; the handler reads the request, answers it as HTTP, and closes the
# connection (rmdir). Any HTTP client will do: curl, a browser.
#
#   sh examples/tcp-server.sh MOUNTPOINT
#       picks a free port, serves three clients of its own at once (dial
#       files, sockets/tcp/HOST/PORT, sending what a browser sends),
#       checks their answers and exits;
#   sh examples/tcp-server.sh MOUNTPOINT PORT [CONNECTIONS]
#       serves on 127.0.0.1:PORT (0: a free port, printed) until Ctrl-C,
#       or until CONNECTIONS connections were served; try
#       curl http://127.0.0.1:PORT/hello
usage="MOUNTPOINT [PORT [CONNECTIONS]]"
. "$(dirname "$0")/prologue"
s=$m/sockets
srv=tcp-server-$$                   # $$: a name of our own
tmp=$(mktemp -d)                    # what the clients receive, outside the mount
cr=$(printf '\r')

pids=
cleanup() {
    for pid in $pids; do kill "$pid" 2>/dev/null || :; done
    rmdir "$s/$srv" 2>/dev/null || :
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# One connection: $1 is its name. The whole request is read, its first
# line and the headers up to the empty line (a socket closed with unread
# bytes resets the connection, and the client would lose the answer), then
# the answer is written, and rmdir closes the connection: the client reads
# end of file.
handle() {
    conn=$s/$1
    exec 3<>"$conn/data"
    IFS= read -r first <&3 || first=
    while IFS= read -r header <&3 && [ "$header" != "$cr" ]; do :; done
    path=${first#GET }
    path=${path%% *}
    body="hello from $1: you asked for $path"
    printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s\n' \
        $((${#body} + 1)) "$body" >&3
    exec 3>&-
    rmdir "$conn"
    echo "served $1: ${first%"$cr"}"
}

# The accept loop: each read of accept waits for a connection and names
# its endpoint (srv.1, srv.2, ...); its handler runs in the background.
serve() {
    count=$1
    served=0
    while [ "$count" -eq 0 ] || [ "$served" -lt "$count" ]; do
        conn=$(cat "$s/$srv/accept") || break
        handle "$conn" &
        served=$((served + 1))
    done
    wait
}

mkdir "$s/$srv"                                   # socket()
echo "bind tcp 127.0.0.1:${2:-0}" >"$s/$srv/ctl"  # bind()
echo listen >"$s/$srv/ctl"                        # listen()
addr=$(cat "$s/$srv/local")
port=${addr##*:}
case $port in
    '' | 0 | *[!0-9]*) fail "local is '$addr', not 127.0.0.1:PORT" ;;
esac
[ "$(cat "$s/$srv/ctl")" = "listening tcp $addr -" ] ||
    fail "ctl reads '$(cat "$s/$srv/ctl")'"

if [ $# -ge 2 ]; then
    echo "serving on $addr"
    serve "${3:-0}"
    exit 0
fi

# Serving ourselves: three clients at once. Each opens a dial file (the
# open is connect()), sends a request as a browser does, and reads the
# answer until the server closes.
echo "ctl: $(cat "$s/$srv/ctl")"
serve 3 >"$tmp/log" &
pids="$pids $!"
clients=
for i in 1 2 3; do
    timeout 10 sh -c '
        exec 3<>"$1"
        printf "GET /client-%s HTTP/1.0\r\nHost: localhost\r\nAccept: */*\r\n\r\n" "$2" >&3
        cat <&3
    ' client "$s/tcp/127.0.0.1/$port" "$i" >"$tmp/answer-$i" &
    clients="$clients $!"
done
failed=0
for pid in $clients; do
    wait "$pid" || failed=1
done
[ $failed -eq 0 ] || fail "a client failed"
for pid in $pids; do
    wait "$pid" || fail "the server failed"
done
pids=
sort "$tmp/log"
for i in 1 2 3; do
    answer=$(tail -n 1 "$tmp/answer-$i")
    echo "client $i received: $answer"
    case $answer in
        "hello from $srv."[123]": you asked for /client-$i") ;;
        *) fail "client $i received '$(cat "$tmp/answer-$i")'" ;;
    esac
    head -n 1 "$tmp/answer-$i" | grep -q '^HTTP/1.0 200 OK' || fail "client $i: no status line"
done

rmdir "$s/$srv"
[ ! -e "$s/$srv" ] || fail "$srv is still there after rmdir"
echo "tcp-server.sh: ok"
