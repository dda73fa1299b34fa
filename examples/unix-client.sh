#!/bin/sh
# A Unix-domain stream socket: a server endpoint bound at a path in a
# temporary directory, listening, and a client endpoint that connects to
# that path; a line goes each way.
#
#   sh examples/unix-client.sh MOUNTPOINT (ipcfs mounted on MOUNTPOINT)
#
# The path must be absolute (ipcfs makes the system calls, from its own
# working directory) and outside the mount. Any program can connect to it,
# as to any Unix-domain socket.
. "$(dirname "$0")/prologue"
s=$m/sockets
srv=unix-server-$$                  # $$: names of our own
c=unix-client-$$
tmp=$(mktemp -d)                    # for the socket file, outside the mount
path=$tmp/server.sock

conn=
cleanup() {
    for e in "$c" "$conn" "$srv"; do
        [ -z "$e" ] || rmdir "$s/$e" 2>/dev/null || :
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# Receive one line from endpoint $1's connection; timeout ends the wait.
receive() {
    timeout 5 sh -c 'IFS= read -r line <"$1" && printf "%s\n" "$line"' receive "$s/$1/data"
}

# The server: bind makes the socket file, which must not exist yet.
mkdir "$s/$srv"
echo "bind unix $path" >"$s/$srv/ctl"
echo listen >"$s/$srv/ctl"
echo "server: $(cat "$s/$srv/ctl")"
[ "$(cat "$s/$srv/ctl")" = "listening unix $path -" ] || fail "the server's ctl reads '$(cat "$s/$srv/ctl")'"
[ -S "$path" ] || fail "bind made no socket at the path"

# A relative path is refused, with the reason in err.
mkdir "$s/$c"
if (echo 'connect unix server.sock' >"$s/$c/ctl") 2>/dev/null; then
    fail "connect unix with a relative path succeeded"
fi
echo "connect unix server.sock is refused: $(cat "$s/$c/err")"

# The client.
timeout 5 sh -c 'echo "connect unix $2" >"$1"' connect "$s/$c/ctl" "$path" ||
    fail "connect unix $path failed: $(cat "$s/$c/err")"
echo "client: $(cat "$s/$c/ctl")"
[ "$(sed -n 's/^state: //p' "$s/$c/status")" = connected ] ||
    fail "the client is not connected: $(cat "$s/$c/ctl")"
[ "$(cat "$s/$c/remote")" = "$path" ] || fail "the client's remote reads '$(cat "$s/$c/remote")'"

conn=$(timeout 5 cat "$s/$srv/accept") || fail "the server accepted nothing"
echo "server accepted $conn: $(cat "$s/$conn/ctl")"
[ "$(cat "$s/$conn/local")" = "$path" ] || fail "$conn's local reads '$(cat "$s/$conn/local")'"

# A line each way.
echo 'ping from the client' >"$s/$c/data"
request=$(receive "$conn") || fail "the server received nothing"
echo "server received: $request"
[ "$request" = 'ping from the client' ] || fail "the server received '$request'"

echo "pong from $conn" >"$s/$conn/data"
answer=$(receive "$c") || fail "the client received nothing"
echo "client received: $answer"
[ "$answer" = "pong from $conn" ] || fail "the client received '$answer'"

# Closing: the client's rmdir is its close(); the server reads end of file.
rmdir "$s/$c"
rest=$(timeout 5 cat "$s/$conn/data") || fail "the server's read did not end"
[ -z "$rest" ] || fail "the server read '$rest' after the lines"
echo "the client closed: the server read end of file"
rmdir "$s/$conn" "$s/$srv"
conn=

# As with any socket, the file stays at the path after the close.
[ -S "$path" ] || fail "the socket file went with the close"
rm "$path"
echo "unix-client.sh: ok"
