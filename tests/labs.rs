//! A queue's channel faults (labs) through a real mount: seeded and
//! repeatable, at the rates set, one byte per corruption, and delays held
//! by a timer that holds back no other queue.

mod common;

use common::{Mount, assert_ok, stdout};

/// Runs `tests/py/NAME`, whose channel helpers (queues opened in packet
/// mode, settings through setxattr, a drain that waits out messages held
/// back) are in tests/py/helpers.py; what it printed.
fn python(m: &Mount, name: &str) -> String {
    let out = m.python_file(name, &[]).output().unwrap();
    assert_ok(&out);
    stdout(&out)
}

#[test]
fn the_same_seed_loses_the_same_messages() {
    let m = mount_or_skip!("--queue-max-messages", "2000");
    assert_ok(&m.run("touch queues/q"));
    let out = python(&m, "channel_same_seed.py");
    let lines: Vec<&str> = out.lines().collect();
    let first: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(first[0], "True", "two runs with seed 7 differ: {out}");
    let kept: u64 = first[1].parse().unwrap();
    let lost: u64 = first[2].parse().unwrap();
    assert_eq!(kept * 2 + lost, 2000, "{out}");
    assert!(
        (600..=800).contains(&kept),
        "{kept} of 1000 kept at loss 0.3"
    );
    assert_eq!(lines[1], "True", "another seed, other losses");
}

/// Over 10,000 messages each observed rate is within five standard
/// deviations of its setting, and what the readers see agrees with the
/// counters: as many damaged messages as `corrupted` counts, as many
/// extra copies as `duplicated`, as many missing as `lost`.
#[test]
fn observed_rates_are_within_statistical_bounds() {
    let m = mount_or_skip!("--queue-max-messages", "30000");
    assert_ok(&m.run("touch queues/q"));
    let out = python(&m, "channel_rates.py");
    let v: Vec<f64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    let [
        got,
        damaged,
        _copies,
        out_of_order,
        lost,
        duplicated,
        corrupted,
        reordered,
        delayed,
    ] = v[..]
    else {
        panic!("{out}")
    };
    let within = |what: &str, seen: f64, trials: f64, p: f64| {
        let (mean, sd) = (trials * p, (trials * p * (1.0 - p)).sqrt());
        assert!(
            (seen - mean).abs() <= 5.0 * sd,
            "{what}: {seen} for an expected {mean} ± {sd} ({out})"
        );
    };
    within("lost", lost, 10_000.0, 0.1);
    let kept = 10_000.0 - lost;
    within("duplicated", duplicated, kept, 0.05);
    within("corrupted", corrupted, kept, 0.05);
    within("reordered", reordered, kept, 0.05 * 0.95);
    assert_eq!(delayed, 0.0);
    // What the readers saw is what the counters say.
    assert_eq!(got, kept + duplicated, "{out}");
    assert!(
        damaged >= corrupted && damaged <= 2.0 * corrupted,
        "a corrupted message, and its copy if it has one, are damaged: {out}"
    );
    assert!(
        out_of_order >= 1.0 && out_of_order <= reordered + duplicated,
        "{out}"
    );
}

#[test]
fn corruption_changes_exactly_one_byte() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let out = python(&m, "channel_corruption.py");
    assert_eq!(out, "200 {1} 200\n");
}

/// A duplicate needs a place of its own: one that finds the queue full is
/// dropped, so a duplicating queue never holds more than max_messages.
#[test]
fn a_duplicate_that_finds_the_queue_full_is_dropped() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let out = python(&m, "channel_duplicate_when_full.py");
    assert_eq!(out, "EAGAIN\nb'3' 2\n[b'a', b'a', b'b']\n");
}

/// A delayed message is held at least the delay, by the daemon's timer;
/// a message sent at the same time to another queue is not held back,
/// nor is a reader of that queue.
#[test]
fn a_delay_holds_its_queue_only() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/slow queues/fast"));
    let out = python(&m, "channel_delay.py");
    assert_eq!(out, "b'0'\nb'prompt' True b'late' True 1\n");
}

/// A bad setting is EINVAL and changes nothing; a queue with faults shows
/// what they did in status's channel column.
#[test]
fn bad_settings_are_einval_and_status_shows_the_channel() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q queues/perfect"));
    let out = python(&m, "channel_bad_settings.py");
    assert_eq!(out, "EINVAL\nEINVAL\nEINVAL\nEINVAL\nb'0'\n");
    let status = std::fs::read_to_string(m.path("status")).unwrap();
    let column = |name: &str| {
        let row = status.lines().find(|l| l.contains(name)).unwrap();
        row.split_whitespace().last().unwrap().to_string()
    };
    assert!(
        status.lines().next().unwrap().ends_with(" channel"),
        "{status}"
    );
    assert_eq!(
        column("queues/q "),
        "lost=1,duplicated=0,reordered=0,corrupted=0,delayed=0"
    );
    assert_eq!(column("queues/perfect"), "-");
}

/// The mount's defaults apply to every new queue.
#[test]
fn the_mount_sets_every_new_queues_channel() {
    let m = mount_or_skip!("--faults", "loss=1,seed=3", "-o", "delay_ms=5");
    assert_ok(&m.run("touch queues/q"));
    let out = python(&m, "channel_mount_defaults.py");
    assert_eq!(out, "[b'1', b'3', b'5']\n[] 3\n");
}

/// A udp endpoint's datagrams go out through its channel, set on its
/// `data` file: lost, damaged in one byte, or held back by the timer, as
/// a real receiver (a Python socket) sees them.
#[test]
fn a_datagram_endpoints_channel_acts_on_what_it_sends() {
    let m = mount_or_skip!();
    let out = python(&m, "channel_datagrams.py");
    assert_eq!(out, "b'one'\nNone 1\n1 1\nb'four' True 1\n");
}

/// A message held back for reordering that no other overtakes goes on
/// alone within 200 ms, and wakes the reader waiting for it.
#[test]
fn a_held_back_message_alone_wakes_its_reader() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let out = python(&m, "channel_held_back_alone.py");
    assert_eq!(out, "b'alone' True 0\n");
}
