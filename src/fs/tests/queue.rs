//! Queues in the fs layer: made by create, framing as a setting, parked
//! reads at shutdown, xattr flags, and the memory a status snapshot holds.

use super::*;

#[test]
fn a_queue_is_created_open_and_keeps_messages_whole() {
    let fs = fs();
    let queues = dir(&fs, "queues");
    let (tx, rx) = reply();
    fs.create(&call(), queues, b"q", 0o600, libc::O_RDWR, tx);
    let o = opened(now(&rx));
    let created = o.created.expect("a create carries its attributes");
    assert_eq!(created.meta.perm, 0o600);
    assert_eq!(o.style, OpenStyle::Stream);
    assert_eq!(
        fs.lookup(&me(), queues, b"q").unwrap().attr.ino,
        created.ino
    );
    assert_eq!(write(&fs, o.fh, b"one"), Some(Answer::Written(Ok(3))));
    assert_eq!(write(&fs, o.fh, b"two"), Some(Answer::Written(Ok(3))));
    assert_eq!(xattr(&fs, created.ino, "framing").unwrap(), "message");
    assert_eq!(
        xattr(&fs, created.ino, "messages").unwrap(),
        "0",
        "a message is seen only when it ends"
    );
    assert_eq!(flush(&fs, o.fh), Some(Answer::Flushed(Ok(()))));
    assert_eq!(xattr(&fs, created.ino, "messages").unwrap(), "1");
    assert_eq!(xattr(&fs, created.ino, "max_messages").unwrap(), "256");
    assert_eq!(
        xattr_names(&fs, created.ino).len(),
        24,
        "limits, framing, faults, counters"
    );
    fs.setxattr(&me(), created.ino, "user.ipcfs.max_messages", b"3")
        .unwrap();
    assert_eq!(
        fs.setxattr(&me(), created.ino, "user.ipcfs.max_messages", b"0"),
        Err(Error::InvalidArgument)
    );
    // Removed while open: the open description still sends and receives.
    fs.unlink(&me(), queues, b"q").unwrap();
    assert_eq!(write(&fs, o.fh, b"three"), Some(Answer::Written(Ok(5))));
    assert_eq!(flush(&fs, o.fh), Some(Answer::Flushed(Ok(()))));
    assert_eq!(
        read(&fs, o.fh, 64),
        Some(Answer::Data(Ok(b"onetwo".to_vec())))
    );
    assert_eq!(
        read(&fs, o.fh, 64),
        Some(Answer::Data(Ok(Vec::new()))),
        "its end"
    );
    assert_eq!(
        read(&fs, o.fh, 64),
        Some(Answer::Data(Ok(b"three".to_vec())))
    );
    fs.release(o.fh);
}

#[test]
fn a_queue_framing_is_a_setting_new_opens_follow() {
    let fs = fs();
    let q = make(&fs, "queues", "q", FileType::Regular).unwrap().ino;
    let set = |v: &[u8]| fs.setxattr(&me(), q, "user.ipcfs.framing", v);
    assert_eq!(set(b"lines"), Err(Error::InvalidArgument));
    assert_eq!(
        set(b"line\n\n"),
        Err(Error::InvalidArgument),
        "one newline, as echo's"
    );
    assert_eq!(
        fs.setxattr(&other_user(), q, "user.ipcfs.framing", b"line"),
        Err(Error::NotPermitted)
    );
    let before = opened(open(&fs, q, libc::O_RDWR));
    set(b"line\n").unwrap();
    assert_eq!(xattr(&fs, q, "framing").unwrap(), "line");
    let after = opened(open(&fs, q, libc::O_RDWR));
    assert_eq!(
        write(&fs, after.fh, b"a\nb\nc"),
        Some(Answer::Written(Ok(5)))
    );
    assert_eq!(xattr(&fs, q, "messages").unwrap(), "2", "two whole lines");
    assert_eq!(
        write(&fs, before.fh, b"x\ny\n"),
        Some(Answer::Written(Ok(4)))
    );
    assert_eq!(
        xattr(&fs, q, "messages").unwrap(),
        "2",
        "an older open keeps its framing"
    );
    fs.release(after.fh);
    assert_eq!(
        xattr(&fs, q, "messages").unwrap(),
        "3",
        "the last line at close"
    );
    assert_eq!(flush(&fs, before.fh), Some(Answer::Flushed(Ok(()))));
    let mut got = Vec::new();
    for _ in 0..4 {
        let Some(Answer::Data(Ok(m))) = read(&fs, before.fh, 64) else {
            panic!("no message");
        };
        got.push(String::from_utf8(m).unwrap());
        read(&fs, before.fh, 64);
    }
    assert_eq!(got, ["a\n", "b\n", "c", "x\ny\n"]);
    let rows = status_text(&fs);
    let row: Vec<&str> = rows.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[11], "line", "status shows the framing: {rows}");
}

#[test]
fn a_parked_read_is_answered_at_shutdown() {
    let fs = fs();
    let q = make(&fs, "queues", "q", FileType::Regular).unwrap().ino;
    let o = opened(open(&fs, q, libc::O_RDWR));
    let (tx, rx) = reply();
    fs.read(&call(), o.fh, at(0, 64), tx);
    assert_eq!(now(&rx), None, "an empty queue parks its reader");
    let (tx, rx2) = reply();
    fs.read(&call(), o.fh, at(4096, 64), tx);
    assert_eq!(
        now(&rx2),
        Some(Answer::Data(Err(Error::WouldBlock))),
        "a continuation piece never waits"
    );
    assert_eq!(fs.shut_down(), 1);
    assert_eq!(now(&rx), Some(Answer::Data(Ok(Vec::new()))));
    assert_eq!(fs.parked(), 0);
}

#[test]
fn setxattr_create_and_replace_flags_are_honoured() {
    let fs = fs();
    let q = make(&fs, "queues", "q", FileType::Regular).unwrap().ino;
    let set = |name: &str, how| fs.setxattr_how(&me(), q, name, b"9", how);
    assert_eq!(
        set("user.ipcfs.max_messages", SetHow::Create),
        Err(Error::Exists)
    );
    assert_eq!(set("user.ipcfs.max_messages", SetHow::Replace), Ok(()));
    assert_eq!(set("user.other", SetHow::Replace), Err(Error::NoAttribute));
    assert_eq!(set("user.other", SetHow::Create), Err(Error::NotSupported));
    let k = make(&fs, "pipes", "k", FileType::NamedPipe).unwrap().ino;
    assert_eq!(
        fs.setxattr_how(&me(), k, "user.ipcfs.capacity", b"1", SetHow::Replace),
        Err(Error::NoAttribute)
    );
}

#[test]
fn a_status_snapshot_counts_against_the_memory_cap_while_open() {
    let c = me();
    let mut config = Config::new("/nonexistent".into());
    // The five queues' records, and room for one snapshot of them.
    let records = 5 * (crate::memory::OBJECT_RECORD + "queue-0".len());
    config.max_memory = records + 600;
    config.max_memory_per_user = Some(config.max_memory);
    let fs = TestFs(Fs::new(config, (c.uid, c.gid)).unwrap());
    for i in 0..5 {
        make(&fs, "queues", &format!("queue-{i}"), FileType::Regular).unwrap();
    }
    assert_eq!(fs.shared.budget.used(), records);
    let status = fs.lookup(&me(), tree::ROOT, b"status").unwrap().attr.ino;
    let first = opened(open(&fs, status, libc::O_RDONLY));
    let used = fs.shared.budget.used() - records;
    assert!(used > 300, "the snapshot is reserved: {used}");
    assert_eq!(
        open(&fs, status, libc::O_RDONLY),
        Some(Answer::Opened(Err(Error::NoSpace))),
        "a second one would pass the cap"
    );
    fs.release(first.fh);
    assert_eq!(fs.shared.budget.used(), records, "given back at release");
    opened(open(&fs, status, libc::O_RDONLY));
}
