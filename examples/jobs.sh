#!/bin/sh
# A worker pool on one message queue: a producer queues jobs, three workers
# take them, one message per cat, until each takes a "stop". Every message
# goes to exactly one reader, so no job is lost or done twice.
#
#   sh examples/jobs.sh MOUNTPOINT        (ipcfs mounted on MOUNTPOINT)
. "$(dirname "$0")/prologue"
q=$m/queues/jobs-$$                 # $$: a name of our own
jobs=12
workers=3
tmp=$(mktemp -d)                    # the workers' reports, outside the mount

pids=
cleanup() {
    for pid in $pids; do kill "$pid" 2>/dev/null || :; done
    rm -f "$q"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# A worker: receives one message per cat; a cat that gets nothing within
# 5 seconds ends it with a failure.
worker() {
    while job=$(timeout 5 cat "$q"); do
        if [ "$job" = stop ]; then
            return 0
        fi
        echo "worker $1 did $job"
    done
    echo "worker $1: no message within 5 seconds" >&2
    return 1
}

touch "$q"
for k in $(seq "$workers"); do
    worker "$k" >"$tmp/worker-$k" &     # they wait: the queue is empty
    pids="$pids $!"
done

# The producer: another process; each redirection is one message.
timeout 10 sh -c '
    for i in $(seq "$2"); do echo "job-$i" >"$1"; done
    for k in $(seq "$3"); do echo stop >"$1"; done
' producer "$q" "$jobs" "$workers" || fail "the producer failed"

failed=0
for pid in $pids; do
    wait "$pid" || failed=1
done
pids=
[ $failed -eq 0 ] || fail "a worker failed"

cat "$tmp"/worker-*
for k in $(seq "$workers"); do
    echo "worker $k: $(wc -l <"$tmp/worker-$k") jobs"
done

# Every job exactly once: the jobs done, sorted, against the jobs sent.
cat "$tmp"/worker-* | sed 's/^worker [0-9]* did //' | sort >"$tmp/done"
seq "$jobs" | sed 's/^/job-/' | sort >"$tmp/sent"
cmp -s "$tmp/done" "$tmp/sent" || {
    diff "$tmp/sent" "$tmp/done" >&2 || :
    fail "jobs done do not match jobs sent"
}
echo "all $jobs jobs done exactly once"

rm "$q"
echo "jobs.sh: ok"
