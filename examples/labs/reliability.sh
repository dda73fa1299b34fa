#!/bin/sh
# Lab: reliability. Two queues, one for data and one for acknowledgements,
# whose channels lose 20% of the messages, hold back 10% behind the next
# one and damage one byte of 5%. Over them, a stop-and-wait protocol and
# a sliding-window one (reliability.py, beside this script: sequence
# numbers, CRC-32 checksums and timeouts) still deliver every one of
# 1,000 messages exactly once and in order; the receiver checks it, and
# both print their throughput.
#
#   sh examples/labs/reliability.sh MOUNTPOINT    (ipcfs mounted on MOUNTPOINT)
#
# The faults are drawn from a seeded generator, so a run repeats the same
# faults for the same messages. To experiment, set any of these in the
# environment: LOSS, REORDER, CORRUPT (probabilities), SEED, MESSAGES,
# WINDOW (the sliding window's size), TIMEOUT_MS (both protocols'
# retransmission timeout). See ipcfs-labs(7).
. "$(dirname "$0")/../prologue"
needs_python3
here=$(dirname "$0")
loss=${LOSS:-0.2}
reorder=${REORDER:-0.1}
corrupt=${CORRUPT:-0.05}
seed=${SEED:-1}
messages=${MESSAGES:-1000}
window=${WINDOW:-16}
timeout_ms=${TIMEOUT_MS:-10}
data=queues/lab-data-$$             # $$: names of our own
acks=queues/lab-acks-$$
tmp=$(mktemp -d)                    # the figures of each run, outside the mount

cleanup() {
    rm -f "$m/$data" "$m/$acks"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# A fresh pair of queues with the channel's faults. The seed is set last:
# setting it starts the generator's sequence again.
channels() {
    rm -f "$m/$data" "$m/$acks"
    touch "$m/$data" "$m/$acks"
    python3 -c '
import os, sys
q, settings = sys.argv[1:3], sys.argv[3:]
for path in q:
    for setting in settings:
        name, value = setting.split("=")
        os.setxattr(path, "user.ipcfs." + name, value.encode())
' "$m/$data" "$m/$acks" "loss=$loss" "reorder=$reorder" "corrupt=$corrupt" "seed=$seed" ||
        fail "cannot set the channels' faults (loss=$loss reorder=$reorder corrupt=$corrupt seed=$seed)"
}

# One figure (NAME=VALUE) of a run's line.
figure() {
    tr ' ' '\n' <"$tmp/$1" | sed -n "s/^$2=//p"
}

# The channel column of status for the two queues.
show_channels() {
    awk -v d="$data" -v a="$acks" '$2 == d || $2 == a { print "    " $2 ": " $NF }' "$m/status"
}

echo "Two queues, data and acknowledgements; each channel loses $loss of the"
echo "messages, holds back $reorder behind the next one and damages one byte"
echo "of $corrupt (seed $seed). $messages messages must arrive exactly once, in order."
echo

for protocol in stop-and-wait sliding-window; do
    channels
    echo "$protocol: running..."
    if ! python3 "$here/reliability.py" "$protocol" "$m/$data" "$m/$acks" \
        "$messages" "$window" "$timeout_ms" >"$tmp/$protocol"; then
        cat "$tmp/$protocol"
        fail "$protocol did not deliver every message exactly once and in order"
    fi
    echo "  $(cat "$tmp/$protocol")"
    echo "  what the channels did (the status column channel):"
    show_channels
    [ "$(figure "$protocol" in_order)" = yes ] || fail "$protocol: $(cat "$tmp/$protocol")"
    [ "$(figure "$protocol" delivered)" = "$messages" ] || fail "$protocol: $(cat "$tmp/$protocol")"
done
rm -f "$m/$data" "$m/$acks"

echo
printf '%-16s %8s %8s %11s %7s\n' protocol messages seconds messages/s resent
for protocol in stop-and-wait sliding-window; do
    printf '%-16s %8s %8s %11s %7s\n' "$protocol" "$messages" \
        "$(figure "$protocol" seconds)" "$(figure "$protocol" rate)" \
        "$(figure "$protocol" resent)"
done
echo "(sliding window of $window frames; both resend after $timeout_ms ms without an acknowledgement)"
echo
echo "Both protocols delivered all $messages messages exactly once and in order,"
echo "over channels that lost, damaged and reordered some of them."
echo
echo "Question: stop-and-wait spends most of its time waiting for timeouts."
echo "Why is the sliding window so much faster over the same channel, and what"
echo "limits how large a window helps? Would sequence numbers that only"
echo "alternate between 0 and 1 (the alternating-bit protocol) be enough on a"
echo "channel that reorders?"
echo "reliability.sh: ok"
