//! Message queues through a real mount: boundaries kept from the shell and
//! from programs.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{assert_ok, eventually, stdout, timed, wait_within, xattr};

/// Python prelude: `attempt(f)` prints a result or the errno's name.
const ATTEMPT: &str = "import os, errno, sys\n\
    def attempt(f):\n\
    \x20   try:\n        return repr(f())\n\
    \x20   except OSError as e:\n        return errno.errorcode[e.errno]\n";

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
    let script = format!(
        "{ATTEMPT}\
         os.setxattr('queues/q', 'user.ipcfs.framing', b'write')\n\
         fd = os.open('queues/q', os.O_RDWR)\n\
         print(attempt(lambda: os.write(fd, b'x' * 9000)))\n\
         print(os.getxattr('queues/q', 'user.ipcfs.messages'))\n\
         os.setxattr('queues/q', 'user.ipcfs.max_message_size', b'1048576')\n\
         big = bytes(range(256)) * 4096\n\
         print(attempt(lambda: os.write(fd, big)))\n\
         print(attempt(lambda: os.write(fd, big + b'!')))\n\
         got = os.read(fd, 4 << 20)\n\
         print(len(got), got == big)\n\
         print(os.read(fd, 10))\n"
    );
    let out = m.python(&script, &[]).output().unwrap();
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
    let script = format!(
        "{ATTEMPT}\
         os.setxattr('queues/q', 'user.ipcfs.framing', b'write')\n\
         w = os.open('queues/q', os.O_WRONLY | os.O_NONBLOCK)\n\
         print(attempt(lambda: os.write(w, b'1')), attempt(lambda: os.write(w, b'2')))\n\
         print(attempt(lambda: os.write(w, b'3')))\n"
    );
    let out = m.python(&script, &[]).output().unwrap();
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
    let script = format!(
        "{ATTEMPT}\
         r = os.open('queues/q', os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)\n\
         print(attempt(lambda: os.read(r, 3)))\n\
         print(os.getxattr('queues/q', 'user.ipcfs.messages'))\n\
         print(attempt(lambda: os.read(r, 100)))\n\
         print(attempt(lambda: os.read(r, 100)))\n\
         print(attempt(lambda: os.read(r, 100)))\n"
    );
    let out = m.python(&script, &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "EMSGSIZE\nb'2'\nb'hello'\nb'ab'\nEAGAIN\n");
}

#[test]
fn four_writers_and_four_readers_each_message_once_and_in_order() {
    let m = mount_or_skip!("--queue-framing", "write");
    assert_ok(&m.run("touch queues/jobs"));
    let script = "import os, sys\n\
        N = 5000\n\
        results = []\n\
        readers = []\n\
        for k in range(4):\n\
        \x20   rfd, wfd = os.pipe()\n\
        \x20   pid = os.fork()\n\
        \x20   if pid == 0:\n\
        \x20       os.close(rfd)\n\
        \x20       q = os.open('queues/jobs', os.O_RDONLY | os.O_DIRECT)\n\
        \x20       got = []\n\
        \x20       while True:\n\
        \x20           m = os.read(q, 64)\n\
        \x20           if m == b'stop': break\n\
        \x20           got.append(m.decode())\n\
        \x20       os.write(wfd, ('\\n'.join(got) + '\\n').encode()); os._exit(0)\n\
        \x20   os.close(wfd); readers.append((pid, rfd))\n\
        writers = []\n\
        for k in range(4):\n\
        \x20   pid = os.fork()\n\
        \x20   if pid == 0:\n\
        \x20       q = os.open('queues/jobs', os.O_WRONLY)\n\
        \x20       for i in range(N):\n\
        \x20           os.write(q, b'%d:%d' % (k, i))\n\
        \x20       os._exit(0)\n\
        \x20   writers.append(pid)\n\
        for pid in writers: os.waitpid(pid, 0)\n\
        q = os.open('queues/jobs', os.O_WRONLY)\n\
        for _ in readers: os.write(q, b'stop')\n\
        seen = []\n\
        for pid, rfd in readers:\n\
        \x20   data = b''\n\
        \x20   while True:\n\
        \x20       c = os.read(rfd, 1 << 20)\n\
        \x20       if not c: break\n\
        \x20       data += c\n\
        \x20   os.waitpid(pid, 0)\n\
        \x20   got = [l for l in data.decode().split('\\n') if l]\n\
        \x20   last = {}\n\
        \x20   for item in got:\n\
        \x20       w, i = map(int, item.split(':'))\n\
        \x20       assert last.get(w, -1) < i, 'writer %d out of order' % w\n\
        \x20       last[w] = i\n\
        \x20   seen += got\n\
        print(len(seen), len(set(seen)) == 4 * N)\n";
    let out = m.python(script, &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "20000 True\n");
}

#[test]
fn memory_cap_gives_enospc_and_keeps_what_was_queued() {
    let m = mount_or_skip!("--max-memory", "64K", "-o", "queue_framing=write");
    assert_ok(&m.run("touch queues/q"));
    let script = format!(
        "{ATTEMPT}\
         w = os.open('queues/q', os.O_WRONLY)\n\
         n = 0\n\
         while True:\n\
         \x20   r = attempt(lambda: os.write(w, b'%04d' % n + b'.' * 4092))\n\
         \x20   if r != '4096': break\n\
         \x20   n += 1\n\
         print(n, r)\n\
         q = os.open('queues/q', os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)\n\
         got = [os.read(q, 8192)[:4] for _ in range(n)]\n\
         print(got == [b'%04d' % i for i in range(n)], attempt(lambda: os.read(q, 8192)))\n"
    );
    let out = m.python(&script, &[]).output().unwrap();
    assert_ok(&out);
    // 15 messages of 4096 bytes and 64 of slot each, and the queue's
    // record (1024 bytes and its name): a 16th would pass 64 KiB.
    assert_eq!(stdout(&out), "15 ENOSPC\nTrue EAGAIN\n");
}

#[test]
fn poll_reports_pollin_for_a_message_and_pollout_for_room() {
    let m = mount_or_skip!("--queue-max-messages", "1");
    assert_ok(&m.run("touch queues/q"));
    let script = "import os, select, time\n\
        r = os.open('queues/q', os.O_RDONLY | os.O_NONBLOCK)\n\
        w = os.open('queues/q', os.O_WRONLY | os.O_NONBLOCK)\n\
        p = select.poll(); p.register(r, select.POLLIN)\n\
        o = select.poll(); o.register(w, select.POLLOUT)\n\
        print(p.poll(100), len(o.poll(0)))\n\
        if os.fork() == 0:\n\
        \x20   time.sleep(0.3); os.write(w, b'm'); os._exit(0)\n\
        print([e for _, e in p.poll(5000)] == [select.POLLIN])\n\
        os.wait()\n\
        print(o.poll(100))\n";
    let out = m.python(script, &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "[] 1\nTrue\n[]\n");
}

#[test]
fn xattrs_and_status_line() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q; echo hi > queues/q"));
    let script = format!(
        "{ATTEMPT}\
         p = 'queues/q'\n\
         print(sorted(os.listxattr(p)))\n\
         print(attempt(lambda: os.setxattr(p, 'user.ipcfs.max_messages', b'0')))\n\
         print(attempt(lambda: os.setxattr(p, 'user.ipcfs.max_messages', b'3')))\n\
         print(attempt(lambda: os.setxattr(p, 'user.ipcfs.max_message_size', b'99999999')))\n\
         print(attempt(lambda: os.setxattr(p, 'user.ipcfs.sent', b'5')))\n\
         print([os.getxattr(p, 'user.ipcfs.' + n) for n in \
                ['max_messages', 'max_message_size', 'messages', 'bytes']])\n"
    );
    let out = m.python(&script, &[]).output().unwrap();
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

/// Python prelude for batch mode: `records(msgs)` encodes, `messages(data)`
/// decodes, `BATCH` opens in batch mode.
const RECORDS: &str = "import struct\n\
    BATCH = os.O_DIRECT | os.O_DSYNC\n\
    def records(msgs):\n\
    \x20   return b''.join(struct.pack('<I', len(m)) + m for m in msgs)\n\
    def messages(data):\n\
    \x20   out = []\n\
    \x20   while data:\n\
    \x20       n = struct.unpack('<I', data[:4])[0]\n\
    \x20       assert len(data) >= 4 + n, 'a record was cut'\n\
    \x20       out.append(data[4:4 + n]); data = data[4 + n:]\n\
    \x20   return out\n";

#[test]
fn batch_mode_moves_many_whole_messages_per_call() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let script = format!(
        "{ATTEMPT}{RECORDS}\
         w = os.open('queues/q', os.O_WRONLY | BATCH)\n\
         msgs = [b'm%d' % i * (i % 7 + 1) for i in range(100)]\n\
         data = records(msgs)\n\
         print(os.write(w, data) == len(data), os.getxattr('queues/q', 'user.ipcfs.messages'))\n\
         r = os.open('queues/q', os.O_RDONLY | BATCH | os.O_NONBLOCK)\n\
         print(attempt(lambda: os.read(r, 4 + len(msgs[0]) - 1)))\n\
         first = os.read(r, 4 + len(msgs[0]) + 4 + len(msgs[1]) + 3)\n\
         print(first == records(msgs[:2]))\n\
         rest = os.read(r, 1 << 16)\n\
         print(messages(rest) == msgs[2:], os.getxattr('queues/q', 'user.ipcfs.received'))\n\
         print(attempt(lambda: os.read(r, 1 << 16)))\n\
         print(attempt(lambda: os.write(w, b'\\x05\\0\\0\\0hel')))\n\
         print(attempt(lambda: os.write(w, records([b'ok']) + b'\\0\\0\\0\\0')))\n\
         print(attempt(lambda: os.write(w, records([b'x' * 8193]))))\n\
         print(attempt(lambda: os.write(w, records([b'ok', b'cut'])[:10])))\n\
         print(os.getxattr('queues/q', 'user.ipcfs.messages'))\n"
    );
    let out = m.python(&script, &[]).output().unwrap();
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
    let script = format!(
        "{ATTEMPT}{RECORDS}\
         import signal\n\
         signal.signal(signal.SIGALRM, lambda *a: None)\n\
         w = os.open('queues/q', os.O_WRONLY | BATCH)\n\
         signal.setitimer(signal.ITIMER_REAL, 0.3)\n\
         print(os.write(w, records([b'a', b'bb', b'ccc', b'dddd'])))\n\
         print(os.getxattr('queues/q', 'user.ipcfs.messages'))\n\
         def intr(*a): raise InterruptedError(errno.EINTR, 'interrupted')\n\
         signal.signal(signal.SIGALRM, intr)\n\
         signal.setitimer(signal.ITIMER_REAL, 0.3)\n\
         print(attempt(lambda: os.write(w, records([b'late']))))\n"
    );
    let out = m.python(&script, &[]).output().unwrap();
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
    let script = format!(
        "{ATTEMPT}{RECORDS}\
         import mmap, signal\n\
         signal.alarm(10)\n\
         w = os.open('queues/q', os.O_WRONLY | BATCH)\n\
         msgs = [bytes([i]) * 16380 for i in range(256)]\n\
         data = records(msgs)\n\
         done = 0\n\
         while done < len(data): done += os.write(w, data[done:])\n\
         print(len(data), done)\n\
         r = os.open('queues/q', os.O_RDONLY | BATCH)\n\
         buf = mmap.mmap(-1, 8 << 20)\n\
         n = os.readv(r, [buf])\n\
         print(n, messages(buf[:n]) == msgs)\n"
    );
    let out = m.python(&script, &[]).output().unwrap();
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
