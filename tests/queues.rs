//! Message queues through a real mount: boundaries kept from the shell and
//! from programs.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{assert_ok, eventually, stdout, timed, wait_within, xattr};

#[test]
fn each_cat_receives_one_message() {
    let m = mount_or_skip!();
    let out =
        m.run("touch queues/q; echo a > queues/q; echo b > queues/q; cat queues/q; cat queues/q");
    assert_ok(&out);
    assert_eq!(stdout(&out), "a\nb\n");
    assert_eq!(xattr(&m, "queues/q", "messages"), "0");
    assert_eq!(xattr(&m, "queues/q", "sent"), "2");
    assert_eq!(xattr(&m, "queues/q", "received"), "2");
}

#[test]
fn command_substitution_and_read_take_one_message_each() {
    let m = mount_or_skip!();
    let out = m.run(
        "touch queues/q; printf 'one\\n' > queues/q; printf 'two\\nextra\\n' > queues/q; \
         printf 'three\\n' > queues/q; \
         msg=$(cat queues/q); read -r line < queues/q; rest=$(cat queues/q); \
         printf '%s|%s|%s\\n' \"$msg\" \"$line\" \"$rest\"",
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "one|two|three\n");
    // `read` stopped at the newline: the rest of its message was dropped.
    // Counted at close, which FUSE reports a moment after close() returns.
    assert!(eventually(Duration::from_secs(5), || xattr(
        &m,
        "queues/q",
        "truncated"
    ) == "1"));
}

#[test]
fn cat_blocks_on_an_empty_queue_until_a_message_arrives() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let (out, took) = timed(&mut m.sh("timeout 1 cat queues/q"));
    assert_eq!(out.status.code(), Some(124));
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let reader = m.sh("cat queues/q").stdout(Stdio::piped()).spawn().unwrap();
    assert!(eventually(Duration::from_secs(5), || xattr(
        &m, "queues/q", "blocked"
    ) == "1"));
    assert_ok(&m.run("echo late > queues/q"));
    let out = reader.wait_with_output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "late\n");
}

#[test]
fn oversized_message_is_emsgsize_and_a_raised_limit_takes_1_mib_whole() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let out = m
        .python_file("queue_message_size_limit.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "EMSGSIZE\nb'0'\n1048576\nEMSGSIZE\n1048576 True\nb''\n"
    );
}

#[test]
fn full_queue_is_eagain_nonblocking_and_blocks_a_blocking_writer() {
    let m = mount_or_skip!("--queue-max-messages", "2");
    assert_ok(&m.run("touch queues/q"));
    let out = m
        .python_file("queue_full_nonblocking.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "1 1\nEAGAIN\n");
    let mut writer = m.sh("echo third > queues/q").spawn().unwrap();
    assert!(eventually(Duration::from_secs(5), || xattr(
        &m, "queues/q", "blocked"
    ) == "1"));
    assert_eq!(writer.try_wait().unwrap(), None, "writer did not block");
    assert_eq!(stdout(&m.run("cat queues/q")), "1");
    assert!(wait_within(&mut writer, Duration::from_secs(3), "blocked writer").success());
    assert_eq!(
        stdout(&m.run("cat queues/q; echo; cat queues/q")),
        "2\nthird\n"
    );
}

#[test]
fn blocked_writers_of_a_full_queue_are_each_ended_alone() {
    let m = mount_or_skip!("--queue-max-messages", "1");
    assert_ok(&m.run("touch queues/q; echo fill > queues/q"));
    let mut first = m
        .sh("exec timeout 4 sh -c 'echo one > queues/q'")
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || xattr(
        &m, "queues/q", "blocked"
    ) == "1"));
    let (second, took) = timed(&mut m.sh("timeout 1 sh -c 'echo two > queues/q'"));
    assert_eq!(second.status.code(), Some(124));
    assert!(took < Duration::from_secs(2), "second writer took {took:?}");
    assert_eq!(first.try_wait().unwrap(), None);
    assert_eq!(
        wait_within(&mut first, Duration::from_secs(5), "first").code(),
        Some(124)
    );
    assert_eq!(xattr(&m, "queues/q", "messages"), "1");
}

#[test]
fn packet_mode_returns_whole_messages_and_emsgsize_for_a_short_buffer() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q; printf hello > queues/q; printf ab > queues/q"));
    let out = m.python_file("queue_packet_mode.py", &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "EMSGSIZE\nb'2'\nb'hello'\nb'ab'\nEAGAIN\n");
}

#[test]
fn four_writers_and_four_readers_each_message_once_and_in_order() {
    let m = mount_or_skip!("--queue-framing", "write");
    assert_ok(&m.run("touch queues/jobs"));
    let out = m
        .python_file("queue_writers_and_readers.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "20000 True\n");
}

#[test]
fn memory_cap_gives_enospc_and_keeps_what_was_queued() {
    let m = mount_or_skip!("--max-memory", "64K", "-o", "queue_framing=write");
    assert_ok(&m.run("touch queues/q"));
    let out = m.python_file("queue_memory_cap.py", &[]).output().unwrap();
    assert_ok(&out);
    // 15 messages of 4096 bytes and 64 of slot each, and the queue's
    // record (1024 bytes and its name): a 16th would pass 64 KiB.
    assert_eq!(stdout(&out), "15 ENOSPC\nTrue EAGAIN\n");
}

#[test]
fn poll_reports_pollin_for_a_message_and_pollout_for_room() {
    let m = mount_or_skip!("--queue-max-messages", "1");
    assert_ok(&m.run("touch queues/q"));
    let out = m.python_file("queue_poll.py", &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "[] 1\nTrue\n[]\n");
}

#[test]
fn xattrs_and_status_line() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q; echo hi > queues/q"));
    let out = m.python_file("queue_xattrs.py", &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "['user.ipcfs.blocked', 'user.ipcfs.bytes', 'user.ipcfs.corrupt', \
         'user.ipcfs.corrupted', 'user.ipcfs.delay_ms', 'user.ipcfs.delayed', \
         'user.ipcfs.dropped', 'user.ipcfs.duplicate', 'user.ipcfs.duplicated', \
         'user.ipcfs.framing', 'user.ipcfs.jitter_ms', 'user.ipcfs.loss', \
         'user.ipcfs.lost', 'user.ipcfs.max_message_size', \
         'user.ipcfs.max_messages', 'user.ipcfs.messages', 'user.ipcfs.readers', \
         'user.ipcfs.received', 'user.ipcfs.reorder', 'user.ipcfs.reordered', \
         'user.ipcfs.seed', 'user.ipcfs.sent', 'user.ipcfs.truncated', \
         'user.ipcfs.writers']\n\
         EINVAL\nNone\nEINVAL\nEPERM\n[b'3', b'8192', b'1', b'3']\n"
    );
    // The writers' closes reach the daemon a moment after close() returns.
    assert!(eventually(Duration::from_secs(5), || xattr(
        &m, "queues/q", "writers"
    ) == "0"));
    let status = stdout(&m.run("cat status"));
    let row: Vec<&str> = status
        .lines()
        .find(|l| l.starts_with("queue"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        [
            "queue", "queues/q", "0", "0", "0644", "3", "1", "0", "0", "0", "daemon", "message",
            "-"
        ]
    );
    assert_eq!(
        stdout(&m.run("stat -c %s queues/q")),
        format!("{}\n", common::stream_size())
    );
}

#[test]
fn blocked_readers_are_served_in_the_order_they_blocked() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let mut readers = Vec::new();
    for k in 1..=3 {
        readers.push(m.sh("cat queues/q").stdout(Stdio::piped()).spawn().unwrap());
        assert!(eventually(Duration::from_secs(5), || xattr(
            &m, "queues/q", "blocked"
        ) == k.to_string()));
    }
    assert_ok(&m.run("echo m1 > queues/q; echo m2 > queues/q; echo m3 > queues/q"));
    let got: Vec<String> = readers
        .into_iter()
        .map(|r| stdout(&r.wait_with_output().unwrap()))
        .collect();
    assert_eq!(got, ["m1\n", "m2\n", "m3\n"]);
}

#[test]
fn wrong_kinds_in_queues_are_eperm() {
    let m = mount_or_skip!();
    let out = m.run("mkfifo queues/f 2>&1; mkdir queues/d 2>&1; true");
    let text = stdout(&out);
    assert_eq!(text.matches("Operation not permitted").count(), 2, "{text}");
}

#[test]
fn batch_mode_moves_many_whole_messages_per_call() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let out = m.python_file("queue_batch_mode.py", &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "True b'100'\nEMSGSIZE\nTrue\nTrue b'100'\nEAGAIN\nEINVAL\nEINVAL\nEMSGSIZE\n6\nb'1'\n"
    );
    // Each record was one message: a shell reader receives the one left.
    assert_eq!(stdout(&m.run("cat queues/q")), "ok");
}

#[test]
fn batch_records_from_the_shell_and_plain_messages_to_a_batch_reader() {
    let m = mount_or_skip!();
    let out = m.run(
        "touch queues/q && printf '\\005\\0\\0\\0hello\\003\\0\\0\\0abc' \
         | dd of=queues/q oflag=direct,dsync status=none && cat queues/q; echo; cat queues/q; \
         echo; printf 'plain' > queues/q; \
         dd if=queues/q iflag=direct,dsync bs=64 count=1 status=none | od -An -c",
    );
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "hello\nabc\n 005  \\0  \\0  \\0   p   l   a   i   n\n"
    );
}

#[test]
fn a_blocked_batch_write_keeps_what_went_in_when_interrupted() {
    let m = mount_or_skip!("--queue-max-messages", "2");
    assert_ok(&m.run("touch queues/q"));
    let out = m
        .python_file("queue_batch_write_interrupted.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    // Two records (5 + 6 bytes) went in before the queue was full: the
    // interrupted write returns their count, and they stay queued. A write
    // that queued nothing ends with EINTR.
    assert_eq!(stdout(&out), "11\nb'2'\nEINTR\n");
    assert_eq!(stdout(&m.run("cat queues/q; echo; cat queues/q")), "a\nbb");
}

/// A batch read larger than the largest FUSE read is split by the kernel;
/// when the records fill its first pieces exactly, the next piece must not
/// wait on an empty queue while the caller holds every message.
#[test]
fn a_batch_read_larger_than_a_fuse_read_returns_what_is_queued() {
    let m = mount_or_skip!();
    assert_ok(&m.run(
        "touch queues/q && python3 -c \"import os; \
             os.setxattr('queues/q', 'user.ipcfs.max_message_size', b'16380')\"",
    ));
    let out = m
        .python_file("queue_batch_read_larger_than_a_fuse_read.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "4194304 4194304\n4194304 True\n");
}

/// The bounded buffer written the obvious way: three shells run
/// `echo item > queues/q` on a full queue of one message. Each waits in
/// its open, for its message's place, where no lock of the kernel is held:
/// none is in state D (the truncation of a `>` open behind a writer parked
/// in write(2) would be), and SIGINT ends each at once. Then a reader
/// takes the message and a new writer goes through.
#[test]
fn writers_of_a_full_queue_wait_where_a_signal_ends_them() {
    let m = mount_or_skip!("--queue-max-messages", "1");
    assert_ok(&m.run("echo first > queues/q"));
    let mut writers: Vec<std::process::Child> = (0..3)
        .map(|i| m.sh(&format!("echo item{i} > queues/q")).spawn().unwrap())
        .collect();
    let parked = || xattr(&m, "queues/q", "blocked") == "3";
    assert!(eventually(Duration::from_secs(5), parked), "the opens park");
    for w in &mut writers {
        assert!(
            w.try_wait().unwrap().is_none(),
            "a writer of a full queue waits"
        );
        let wchan = std::fs::read_to_string(format!("/proc/{}/wchan", w.id())).unwrap_or_default();
        assert_ne!(
            common::proc_state(w.id()),
            Some('D'),
            "in state D at {wchan}"
        );
    }
    assert_eq!(xattr(&m, "queues/q", "blocked"), "3");
    for w in &mut writers {
        let signalled = std::time::Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(w.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let status = wait_within(w, Duration::from_secs(5), "a writer after SIGINT");
        let took = signalled.elapsed();
        assert!(!status.success(), "{status:?}");
        assert!(took < Duration::from_millis(100), "SIGINT took {took:?}");
    }
    assert_eq!(xattr(&m, "queues/q", "blocked"), "0");
    let out = m.run("cat queues/q; echo second > queues/q; cat queues/q");
    assert_eq!(stdout(&out), "first\nsecond\n");
}
