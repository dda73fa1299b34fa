#!/bin/sh
# A work queue shared by two mounts of one queue store (two hosts): a
# producer on the first queues jobs, workers on both take them, one
# message per cat, until each takes a "stop". Every message goes to
# exactly one worker, on whichever host, so no job is lost or done twice.
#
#   ipcfs --queue-store redis://HOST:6379 MOUNT_A        (on host A)
#   ipcfs --queue-store redis://HOST:6379 MOUNT_B        (on host B)
#   sh examples/store/work-queue.sh MOUNT_A MOUNT_B
usage="MOUNT_A MOUNT_B"
. "$(dirname "$0")/../prologue"
a=$1
b=$2
grep -qs '^ipcfs:' "$b/README" || fail "no ipcfs mounted on $b"
name=work-$$                        # $$: a name of our own
jobs=20
tmp=$(mktemp -d)                    # the workers' reports, outside the mounts

pids=
cleanup() {
    for pid in $pids; do kill "$pid" 2>/dev/null || :; done
    rm -f "$a/queues/$name"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# The queue, made on A, is B's too once the store says so.
touch "$a/queues/$name"
tries=0
until [ -e "$b/queues/$name" ]; do
    tries=$((tries + 1))
    [ $tries -le 50 ] || fail "$b does not show $a's queue: not the same queue store?"
    sleep 0.1
done

# A worker on mount $1: one message per cat; a cat that gets nothing
# within 10 seconds ends it with a failure.
worker() {
    while job=$(timeout 10 cat "$1/queues/$name"); do
        if [ "$job" = stop ]; then
            return 0
        fi
        echo "$2 did $job"
    done
    echo "$2: no message within 10 seconds" >&2
    return 1
}
worker "$b" worker-b1 >"$tmp/b1" &
pids="$pids $!"
worker "$b" worker-b2 >"$tmp/b2" &
pids="$pids $!"
worker "$a" worker-a >"$tmp/a" &
pids="$pids $!"

# The producer, on A: each redirection is one message.
for i in $(seq "$jobs"); do echo "job-$i" >"$a/queues/$name"; done
for k in 1 2 3; do echo stop >"$a/queues/$name"; done

failed=0
for pid in $pids; do
    wait "$pid" || failed=1
done
pids=
[ $failed -eq 0 ] || fail "a worker failed"
for w in a b1 b2; do
    echo "worker-$w: $(wc -l <"$tmp/$w") jobs"
done

# Every job exactly once: the jobs done, sorted, against the jobs sent.
cat "$tmp"/a "$tmp"/b1 "$tmp"/b2 | sed 's/^worker-[a-z0-9]* did //' | sort >"$tmp/done"
seq "$jobs" | sed 's/^/job-/' | sort >"$tmp/sent"
cmp -s "$tmp/done" "$tmp/sent" || {
    diff "$tmp/sent" "$tmp/done" >&2 || :
    fail "jobs done do not match jobs sent"
}
echo "all $jobs jobs done exactly once, on two mounts"
rm "$a/queues/$name"
echo "work-queue.sh: ok"
