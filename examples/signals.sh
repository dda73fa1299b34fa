#!/bin/sh
# Signals by writing their names: proc/PID/signal is kill(1) as a file.
#
#   sh examples/signals.sh MOUNTPOINT     (ipcfs mounted on MOUNTPOINT)
. "$(dirname "$0")/prologue"
out=$(mktemp)
victim=
catcher=

cleanup() {
    for p in $victim $catcher; do kill -KILL "$p" 2>/dev/null || :; done
    rm -f "$out"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# Runs "$@" every 50 ms until it succeeds, for at most 5 seconds.
await() {
    i=0
    until "$@"; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "gave up waiting for: $*"
        sleep 0.05
    done
}
is_sleep() { [ "$(cat "/proc/$1/comm" 2>/dev/null)" = sleep ]; }
caught() { grep -q "^caught:.* $2" "$m/proc/$1/signal"; }

# 1. TERM to a sleep.
sleep 60 &
victim=$!
await is_sleep "$victim"            # past the fork, into sleep itself
echo "proc/$victim/signal of a background sleep (a script's & ignores INT and QUIT):"
sed 's/^/  /' "$m/proc/$victim/signal"
grep -q '^ignored:.* INT' "$m/proc/$victim/signal" || fail "INT not shown as ignored"

echo 0 >"$m/proc/$victim/signal"    # 0 sends nothing: a probe, like kill -0
# Also: SIGTERM, term, 15, RTMIN+2, and "USR1 42" queues the value 42
# with the signal (sigqueue(3)); pgsignal sends to the process group.
echo TERM >"$m/proc/$victim/signal"
pid=$victim
status=0
wait "$victim" || status=$?
victim=
echo "after TERM: wait status $status (128 + 15: died of SIGTERM)"
[ $status -eq 143 ] || fail "wait status $status, not 143"
# Reaped, the process is gone from proc/, and so the probe fails.
if (echo 0 >"$m/proc/$pid/signal") 2>/dev/null; then
    fail "the probe still reaches $pid"
fi
echo "the probe of $pid now fails: no proc/$pid"

# 2. USR1 to a shell that traps it. It runs at most 5 seconds by itself.
sh -c 'trap "echo trapped USR1; exit 0" USR1
       i=0; while [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done; exit 1' >"$out" &
catcher=$!
await caught "$catcher" USR1        # the trap is set once USR1 is caught
echo "the shell's caught: line: $(grep '^caught:' "$m/proc/$catcher/signal")"
echo usr1 >"$m/proc/$catcher/signal"      # names in any case, SIG prefix optional
status=0
wait "$catcher" || status=$?
catcher=
echo "it said '$(cat "$out")' and exited with $status"
[ $status -eq 0 ] && [ "$(cat "$out")" = "trapped USR1" ] || fail "the trap did not run"

echo "signals.sh: ok"
