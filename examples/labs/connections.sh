#!/bin/sh
# Lab: connections. TCP connects first: a connect to a port where nobody
# listens fails at once, and a server has one endpoint per client, made by
# accept. UDP sends datagrams without connecting: a datagram to a port
# where nobody listens is "sent" all the same, and a server has one
# endpoint for every client. Last, datagrams through a channel that loses
# half of them: nobody resends them, and nobody is told.
#
#   sh examples/labs/connections.sh MOUNTPOINT   (ipcfs mounted on MOUNTPOINT)
#
# Clients are dial files, sockets/tcp/HOST/PORT and sockets/udp/HOST/PORT:
# opening one connects. Part 4 sets the client endpoint's channel with
# python3, and is left out without it. See ipcfs-labs(7).
. "$(dirname "$0")/../prologue"
s=$m/sockets
tsrv=lab-tcp-$$                     # $$: names of our own
usrv=lab-udp-$$
probe=lab-probe-$$
client=lab-client-$$

cleanup() {
    exec 3<&- 4<&-
    for e in "$client" "$probe" "$tsrv.1" "$tsrv.2" "$tsrv" "$usrv"; do
        rmdir "$s/$e" 2>/dev/null || :
    done
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# A port of 127.0.0.1 where nobody listens: one the kernel chose for an
# endpoint that is closed at once.
free_port() {
    mkdir "$s/$probe"
    echo "bind $1 127.0.0.1:0" >"$s/$probe/ctl"
    addr=$(cat "$s/$probe/local")
    rmdir "$s/$probe"
    echo "${addr##*:}"
}

echo "1. Nobody listens on the port."
port=$(free_port tcp)
mkdir "$s/$client"
if (echo "connect tcp 127.0.0.1:$port" >"$s/$client/ctl") 2>/dev/null; then
    fail "a TCP connect to port $port, where nobody listens, succeeded"
fi
echo "   TCP:  connect to 127.0.0.1:$port fails at once: $(cat "$s/$client/err")"
rmdir "$s/$client"
port=$(free_port udp)
exec 3<>"$s/udp/127.0.0.1/$port" || fail "opening a UDP dial file failed"
printf 'is anybody there?' >&3 || fail "the first UDP datagram to port $port failed"
echo "   UDP:  a datagram to 127.0.0.1:$port is sent without an error: nobody"
echo "         was asked first. (A later send may fail with ECONNREFUSED: the"
echo "         kernel heard, after the fact, that the port was closed.)"
exec 3<&-
echo

echo "2. A TCP server and two clients: accept makes one endpoint per client."
mkdir "$s/$tsrv"
echo 'bind tcp 127.0.0.1:0' >"$s/$tsrv/ctl"
echo listen >"$s/$tsrv/ctl"
port=$(cat "$s/$tsrv/local")
port=${port##*:}
exec 3<>"$s/tcp/127.0.0.1/$port"    # client 1 connects
exec 4<>"$s/tcp/127.0.0.1/$port"    # client 2 connects
c1=$(timeout 5 cat "$s/$tsrv/accept") || fail "no first connection"
c2=$(timeout 5 cat "$s/$tsrv/accept") || fail "no second connection"
echo "   accept gave sockets/$c1 (remote $(cat "$s/$c1/remote")) and"
echo "   sockets/$c2 (remote $(cat "$s/$c2/remote")): one endpoint per connection"
printf 'hello from client 1\n' >&3
printf 'hello from client 2\n' >&4
for c in "$c1" "$c2"; do
    line=$(timeout 5 sh -c 'IFS= read -r l <"$1" && printf "%s\n" "$l"' read "$s/$c/data") ||
        fail "nothing arrived on $c"
    echo "   sockets/$c/data: '$line'"
done
exec 3<&- 4<&-
rmdir "$s/$c1" "$s/$c2" "$s/$tsrv"
echo

echo "3. A UDP server and two clients: no accept, one endpoint receives all."
mkdir "$s/$usrv"
echo 'bind udp 127.0.0.1:0' >"$s/$usrv/ctl"
port=$(cat "$s/$usrv/local")
port=${port##*:}
exec 3<>"$s/udp/127.0.0.1/$port"    # client 1: no handshake
exec 4<>"$s/udp/127.0.0.1/$port"    # client 2
printf 'datagram from client 1' >&3
printf 'datagram from client 2' >&4
printf 'datagram from client 1 again' >&3
n=0
for want in 'datagram from client 1' 'datagram from client 2' 'datagram from client 1 again'; do
    d=$(timeout 5 cat "$s/$usrv/data") || fail "no datagram '$want'"
    [ "$d" = "$want" ] || fail "received '$d', not '$want'"
    n=$((n + 1))
    echo "   cat sockets/$usrv/data ($n): '$d'"
done
echo "   Endpoints of the server: $(cd "$s" && ls -d "$usrv"*)"
exec 3<&- 4<&-
echo

echo "4. UDP through a channel that loses half of the datagrams (the client"
echo "   endpoint's user.ipcfs.loss, seed 3): 10 sent, one cat each."
if command -v python3 >/dev/null 2>&1; then
    mkdir "$s/$client"
    echo "connect udp 127.0.0.1:$port" >"$s/$client/ctl"
    python3 -c '
import os, sys
for name, value in (("loss", b"0.5"), ("seed", b"3")):
    os.setxattr(sys.argv[1], "user.ipcfs." + name, value)
' "$s/$client/data"
    for i in 1 2 3 4 5 6 7 8 9 10; do
        echo "datagram $i" >"$s/$client/data" || fail "datagram $i was refused"
    done
    got=
    n=0
    while d=$(timeout 0.5 cat "$s/$usrv/data"); do
        got="$got ${d#datagram }"
        n=$((n + 1))
    done
    lost=$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.ipcfs.lost").decode())' "$s/$client/data")
    echo "   Every write succeeded; the server received $n:$got"
    echo "   The client's channel counted $lost lost: $(awk -v n="sockets/$client" '$2 == n { print $NF }' "$m/status")"
    [ $((n + lost)) -eq 10 ] || fail "$n received and $lost lost are not the 10 sent"
    [ "$lost" -gt 0 ] || fail "no datagram was lost at 0.5"
    rmdir "$s/$client"
else
    echo "   (left out: no python3 to set the channel)"
fi
rmdir "$s/$usrv"

echo
echo "Question: why did the TCP connect fail at once, while the UDP datagram"
echo "to a closed port was \"sent\"? A TCP server gets an endpoint per client;"
echo "what does a UDP server know about who sent each datagram, and what"
echo "must an application over UDP do for itself that TCP did here?"
echo "connections.sh: ok"
