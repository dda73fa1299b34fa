#!/bin/sh
# A named pipe between two processes: a reader that waits for a writer,
# a writer, and the end of file that ends the reader.
#
#   sh examples/pipes.sh MOUNTPOINT      (ipcfs mounted on MOUNTPOINT)
. "$(dirname "$0")/prologue"
pipe=pipes/example-$$               # $$: a name of our own
got=$(mktemp)
reader=

cleanup() {
    [ -z "$reader" ] || kill "$reader" 2>/dev/null || :
    rm -f "$m/$pipe" "$got"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

touch "$m/$pipe"                    # make the pipe

# The reader: its open waits until a writer opens the pipe.
timeout 10 cat "$m/$pipe" >"$got" &
reader=$!

# Wait until status shows the reader (parked in open: readers 1, blocked 1).
row() { awk -v n="$pipe" '$2 == n' "$m/status"; }
i=0
until row | awk '$8 == 1 { ok = 1 } END { exit !ok }'; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the reader never opened $pipe"
    sleep 0.05
done
echo "status while the reader waits for a writer:"
awk 'NR == 1' "$m/status"
row

# The writer: another process. Its close is the last writer's close, which
# gives the reader end of file, so cat ends by itself.
timeout 10 sh -c 'echo hello; echo "from pid $$"' >"$m/$pipe"

status=0
wait "$reader" || status=$?
reader=
[ $status -eq 0 ] || fail "the reader exited with status $status"
echo "the reader got, then end of file:"
sed 's/^/  /' "$got"
[ "$(sed -n 1p "$got")" = hello ] || fail "first line is not hello"
[ "$(wc -l <"$got")" -eq 2 ] || fail "expected 2 lines"

rm "$m/$pipe"
row | grep -q . && fail "$pipe is still listed after rm"
echo "pipes.sh: ok"
