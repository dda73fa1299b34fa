//! The fs layer driven without a mount: each kind made, looked up,
//! listed, opened, read and written, its attributes read and set, and
//! removed while open — with channels standing in for the kernel's
//! replies.

use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use super::attr::{Attr, FileType, Ino, OpenStyle};
use super::reply::{Call, Opened, Replies};
use super::*;
use crate::caller::Caller;
use crate::error::Error;

/// Every answer the fs layer gives, as a test receives it.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Opened(Result<Opened>),
    Data(Result<Vec<u8>>),
    Written(Result<usize>),
    Flushed(Result<()>),
    Notified,
}

/// Replies that are channels: a test keeps the receiving end.
pub struct TestReplies;

/// A reply that must be answered exactly once, as a fuser reply must (one
/// dropped unanswered sends EIO, which no code path may do). Answering
/// takes it by value, so twice does not compile; dropped unanswered, it
/// fails the test: at once when that happens on the test's thread, and
/// wherever it happened at the test's next look at the answer
/// ([`now`]).
pub struct TestReply(Option<Sender<Answer>>);

impl TestReply {
    fn answer(mut self, answer: Answer) {
        let tx = self.0.take().expect("a reply is answered once");
        let _ = tx.send(answer);
    }
}

impl Drop for TestReply {
    fn drop(&mut self) {
        if self.0.is_some() && !std::thread::panicking() {
            panic!("a reply was dropped unanswered");
        }
    }
}

/// A reply and where its answer arrives.
fn reply() -> (TestReply, Receiver<Answer>) {
    let (tx, rx) = std::sync::mpsc::channel();
    (TestReply(Some(tx)), rx)
}

impl Replies for TestReplies {
    type Open = TestReply;
    type Read = TestReply;
    type Write = TestReply;
    type Flush = TestReply;
    /// A poll handle may be dropped without a notification (a newer poll
    /// replaces it), as fuser's may.
    type Poll = Sender<Answer>;
    /// Unit tests have no kernel to register files with.
    type Backing = ();

    fn opened(reply: TestReply, result: Result<Opened>) {
        reply.answer(Answer::Opened(result));
    }
    fn data(reply: TestReply, result: Result<&[u8]>) {
        reply.answer(Answer::Data(result.map(<[u8]>::to_vec)));
    }
    fn written(reply: TestReply, result: Result<usize>) {
        reply.answer(Answer::Written(result));
    }
    fn flushed(reply: TestReply, result: Result<()>) {
        reply.answer(Answer::Flushed(result));
    }
    fn notify(poll: Sender<Answer>) {
        let _ = poll.send(Answer::Notified);
    }
    fn open_backing(_: &TestReply, _: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(libc::EPERM))
    }
    fn opened_with_backing(reply: TestReply, opened: Opened, _: &()) {
        reply.answer(Answer::Opened(Ok(opened)));
    }
}

mod flush;
mod queue;
mod shm;
mod socket;
mod status;

/// The filesystem under test. Dropped, it shuts down first, as the
/// daemon does at unmount, so that every call still parked is answered.
struct TestFs(Fs<TestReplies>);

impl std::ops::Deref for TestFs {
    type Target = Fs<TestReplies>;
    fn deref(&self) -> &Fs<TestReplies> {
        &self.0
    }
}

impl Drop for TestFs {
    fn drop(&mut self) {
        self.0.shut_down();
    }
}

fn me() -> Caller {
    Caller::this_thread()
}

fn other_user() -> Caller {
    Caller {
        uid: 4242,
        gid: 4242,
        ..me()
    }
}

fn fs() -> TestFs {
    let c = me();
    TestFs(Fs::new(Config::new("/nonexistent".into()), (c.uid, c.gid)).unwrap())
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn call() -> Call {
    Call {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        caller: me(),
    }
}

fn dir(fs: &TestFs, name: &str) -> Ino {
    fs.lookup(&me(), tree::ROOT, name.as_bytes())
        .unwrap()
        .attr
        .ino
}

/// An answer that came at once, or `None` when the call parked. A reply
/// dropped unanswered (its channel closed with no answer) fails the test.
fn now(rx: &Receiver<Answer>) -> Option<Answer> {
    match rx.try_recv() {
        Ok(answer) => Some(answer),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Disconnected) => panic!("a reply was dropped unanswered"),
    }
}

fn opened(answer: Option<Answer>) -> Opened {
    match answer {
        Some(Answer::Opened(Ok(o))) => o,
        other => panic!("expected an open, got {other:?}"),
    }
}

fn open(fs: &TestFs, ino: Ino, flags: i32) -> Option<Answer> {
    let (tx, rx) = reply();
    fs.open(&call(), ino, flags, tx);
    now(&rx)
}

/// A caller's own read (direct I/O) of `size` bytes at `offset`.
fn at(offset: u64, size: usize) -> ReadAt {
    ReadAt {
        offset,
        size,
        nonblock: false,
        via_page_cache: false,
    }
}

fn read(fs: &TestFs, fh: u64, size: usize) -> Option<Answer> {
    let (tx, rx) = reply();
    fs.read(&call(), fh, at(0, size), tx);
    now(&rx)
}

fn write(fs: &TestFs, fh: u64, data: &[u8]) -> Option<Answer> {
    let (tx, rx) = reply();
    fs.write(&call(), fh, 0, data, false, tx);
    now(&rx)
}

/// The text of `status`, read whole through a new open of it.
fn status_text(fs: &TestFs) -> String {
    let status = fs.lookup(&me(), tree::ROOT, b"status").unwrap().attr.ino;
    let o = opened(open(fs, status, libc::O_RDONLY));
    let Some(Answer::Data(Ok(text))) = read(fs, o.fh, 1 << 20) else {
        panic!("status not read");
    };
    String::from_utf8(text).unwrap()
}

/// A close(2) (or fsync(2)) of a descriptor of `fh`.
fn flush(fs: &TestFs, fh: u64) -> Option<Answer> {
    let (tx, rx) = reply();
    fs.flush(&call(), fh, tx);
    now(&rx)
}

fn names(fs: &TestFs, ino: Ino) -> Vec<(String, FileType)> {
    let mut out = Vec::new();
    fs.readdir(&me(), ino, 0, |e| {
        out.push((String::from_utf8_lossy(e.name).into_owned(), e.file_type));
        false
    })
    .unwrap();
    out
}

fn make(fs: &TestFs, dir_name: &str, name: &str, t: FileType) -> Result<Attr> {
    let parent = dir(fs, dir_name);
    fs.mknod(&me(), parent, name.as_bytes(), 0o644, t)
}

fn xattr_names(fs: &TestFs, ino: Ino) -> Vec<String> {
    let list = fs.listxattr(ino).unwrap();
    list.split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8(n.to_vec()).unwrap())
        .collect()
}

fn xattr(fs: &TestFs, ino: Ino, field: &str) -> Result<String> {
    let value = fs.getxattr(ino, &format!("user.ipcfs.{field}"))?;
    Ok(String::from_utf8(value).unwrap())
}

#[test]
fn the_fixed_tree_is_listed_in_order() {
    let fs = fs();
    let root: Vec<String> = names(&fs, tree::ROOT).into_iter().map(|n| n.0).collect();
    assert_eq!(
        root,
        [
            ".", "..", "README", "status", "pipes", "queues", "shm", "sockets", "proc"
        ]
    );
    let pipes = fs.getattr(&me(), dir(&fs, "pipes")).unwrap();
    assert_eq!(pipes.file_type, FileType::Directory);
    assert_eq!(pipes.meta.perm, 0o1777);
    assert_eq!(
        fs.getattr(&me(), dir(&fs, "proc")).unwrap().meta.perm,
        0o555
    );
}

#[test]
fn a_pipe_is_made_looked_up_listed_and_carries_its_attributes() {
    let fs = fs();
    let a = make(&fs, "pipes", "p", FileType::Regular).unwrap();
    assert_eq!(a.file_type, FileType::Regular);
    assert_eq!(
        a.size,
        fs.shared.config.io.max_write() as u64,
        "st_size is the largest write"
    );
    let found = fs.lookup(&me(), dir(&fs, "pipes"), b"p").unwrap();
    assert_eq!(found.attr.ino, a.ino);
    assert!(found.cacheable);
    assert_eq!(
        names(&fs, dir(&fs, "pipes"))[2..],
        [("p".to_string(), FileType::Regular)]
    );
    assert_eq!(
        make(&fs, "pipes", "p", FileType::Regular).unwrap_err(),
        Error::Exists
    );

    assert_eq!(
        xattr_names(&fs, a.ino),
        [
            "user.ipcfs.capacity",
            "user.ipcfs.readers",
            "user.ipcfs.writers",
            "user.ipcfs.bytes",
            "user.ipcfs.blocked"
        ]
    );
    assert_eq!(xattr(&fs, a.ino, "capacity").unwrap(), "65536");
    fs.setxattr(&me(), a.ino, "user.ipcfs.capacity", b"8K\n")
        .unwrap();
    assert_eq!(xattr(&fs, a.ino, "capacity").unwrap(), "8192");
    let set = |who: &Caller, name: &str, v: &[u8]| fs.setxattr(who, a.ino, name, v);
    assert_eq!(
        set(&me(), "user.ipcfs.capacity", b"12"),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        set(&me(), "user.ipcfs.capacity", b"x"),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        set(&me(), "user.ipcfs.bytes", b"1"),
        Err(Error::NotPermitted)
    );
    assert_eq!(set(&me(), "user.other", b"1"), Err(Error::NotSupported));
    assert_eq!(
        set(&other_user(), "user.ipcfs.capacity", b"8192"),
        Err(Error::NotPermitted)
    );
    assert_eq!(fs.getxattr(a.ino, "user.other"), Err(Error::NoAttribute));
    assert_eq!(
        fs.removexattr(a.ino, "user.ipcfs.bytes"),
        Err(Error::NotPermitted)
    );
    assert_eq!(fs.removexattr(a.ino, "user.other"), Err(Error::NoAttribute));
}

#[test]
fn a_pipe_open_parks_until_its_partner_comes() {
    let fs = fs();
    let p = make(&fs, "pipes", "p", FileType::Regular).unwrap().ino;
    let (tx, reader) = reply();
    fs.open(&call(), p, libc::O_RDONLY, tx);
    assert_eq!(now(&reader), None, "a reader waits for a writer");
    assert_eq!(fs.parked(), 1);
    let w = opened(open(&fs, p, libc::O_WRONLY));
    let r = opened(now(&reader));
    assert_eq!(fs.parked(), 0);
    assert_eq!(write(&fs, w.fh, b"hello"), Some(Answer::Written(Ok(5))));
    assert_eq!(xattr(&fs, p, "bytes").unwrap(), "5");
    assert_eq!(
        read(&fs, r.fh, 64),
        Some(Answer::Data(Ok(b"hello".to_vec())))
    );
    fs.release(w.fh);
    assert_eq!(
        read(&fs, r.fh, 64),
        Some(Answer::Data(Ok(Vec::new()))),
        "end of file"
    );
    let nonblocking = open(&fs, p, libc::O_WRONLY | libc::O_NONBLOCK);
    assert!(
        matches!(nonblocking, Some(Answer::Opened(Ok(_)))),
        "a reader is there"
    );
    fs.release(r.fh);
    assert_eq!(
        open(&fs, p, libc::O_WRONLY | libc::O_NONBLOCK),
        Some(Answer::Opened(Err(Error::NoReader))),
        "no reader: ENXIO"
    );
}

#[test]
fn a_create_whose_open_failed_leaves_no_entry_behind_its_name() {
    let fs = fs();
    let pipes = dir(&fs, "pipes");
    // touch(1) on a pipe: made, but its non-blocking open for writing
    // fails (no reader), so the kernel holds no reference to it.
    let (tx, rx) = reply();
    let flags = libc::O_WRONLY | libc::O_NONBLOCK;
    fs.create(&call(), pipes, b"p", 0o644, flags, tx);
    assert_eq!(now(&rx), Some(Answer::Opened(Err(Error::NoReader))));
    let p = fs.lookup(&me(), pipes, b"p").unwrap().attr.ino;
    fs.forget(p, 1);
    // Removed, it is gone at once: nothing holds it.
    fs.unlink(&me(), pipes, b"p").unwrap();
    assert_eq!(fs.getattr(&me(), p).unwrap_err(), Error::NotFound);
}

#[test]
fn an_unlinked_open_pipe_works_until_released_and_forgotten() {
    let fs = fs();
    let pipes = dir(&fs, "pipes");
    let p = make(&fs, "pipes", "p", FileType::Regular).unwrap().ino;
    let end = opened(open(&fs, p, libc::O_RDWR));
    fs.unlink(&me(), pipes, b"p").unwrap();
    assert_eq!(fs.lookup(&me(), pipes, b"p").unwrap_err(), Error::NotFound);
    assert!(names(&fs, pipes).len() == 2, "only . and ..");
    assert!(fs.getattr(&me(), p).is_ok(), "the kernel still holds it");
    assert_eq!(write(&fs, end.fh, b"still"), Some(Answer::Written(Ok(5))));
    assert_eq!(
        read(&fs, end.fh, 64),
        Some(Answer::Data(Ok(b"still".to_vec())))
    );
    fs.release(end.fh);
    fs.forget(p, 1);
    assert_eq!(fs.getattr(&me(), p).unwrap_err(), Error::NotFound);
    // The name is free again.
    make(&fs, "pipes", "p", FileType::Regular).unwrap();
}

#[test]
fn a_kernel_fifo_is_a_fifo_node_without_attributes() {
    let fs = fs();
    let a = make(&fs, "pipes", "k", FileType::NamedPipe).unwrap();
    assert_eq!(a.file_type, FileType::NamedPipe);
    assert_eq!(a.size, 0);
    assert_eq!(
        names(&fs, dir(&fs, "pipes"))[2..],
        [("k".to_string(), FileType::NamedPipe)]
    );
    assert!(xattr_names(&fs, a.ino).is_empty());
    assert_eq!(xattr(&fs, a.ino, "bytes"), Err(Error::NoAttribute));
    assert_eq!(
        fs.setxattr(&me(), a.ino, "user.ipcfs.capacity", b"8192"),
        Err(Error::NotSupported)
    );
    assert_eq!(
        make(&fs, "queues", "k", FileType::NamedPipe).unwrap_err(),
        Error::NotPermitted,
        "no FIFO nodes in queues/"
    );
    fs.unlink(&me(), dir(&fs, "pipes"), b"k").unwrap();
}

#[test]
fn objects_are_only_made_where_their_kind_lives() {
    let fs = fs();
    let root = tree::ROOT;
    assert_eq!(
        fs.mknod(&me(), root, b"x", 0o644, FileType::Regular),
        Err(Error::NotPermitted)
    );
    assert_eq!(
        make(&fs, "sockets", "x", FileType::Regular).unwrap_err(),
        Error::NotPermitted
    );
    assert_eq!(
        make(&fs, "shm", "x", FileType::NamedPipe).unwrap_err(),
        Error::NotPermitted
    );
    assert_eq!(
        fs.mkdir(&me(), dir(&fs, "shm"), b"d", 0o755),
        Err(Error::NotPermitted)
    );
    assert_eq!(
        fs.mkdir(&me(), dir(&fs, "queues"), b"d", 0o755),
        Err(Error::NotPermitted)
    );
    assert_eq!(fs.mkdir(&me(), root, b"pipes", 0o755), Err(Error::Exists));
    assert_eq!(fs.rmdir(&me(), root, b"pipes"), Err(Error::NotPermitted));
    assert_eq!(fs.rmdir(&me(), root, b"README"), Err(Error::NotDirectory));
    let long = vec![b'n'; 256];
    assert_eq!(
        fs.mknod(&me(), dir(&fs, "pipes"), &long, 0o644, FileType::Regular),
        Err(Error::NameTooLong)
    );
}

#[test]
fn owners_rename_and_remove_others_may_not() {
    let fs = fs();
    let pipes = dir(&fs, "pipes");
    let queues = dir(&fs, "queues");
    let a = make(&fs, "pipes", "a", FileType::Regular).unwrap().ino;
    let stranger = other_user();
    assert_eq!(fs.unlink(&stranger, pipes, b"a"), Err(Error::NotPermitted));
    let rename = |who: &Caller, to: Ino, flags| fs.rename(who, (pipes, b"a"), (to, b"b"), flags);
    assert_eq!(
        rename(&stranger, pipes, RenameFlags::Plain),
        Err(Error::NotPermitted)
    );
    assert_eq!(
        rename(&me(), queues, RenameFlags::Plain),
        Err(Error::NotPermitted)
    );
    assert_eq!(
        rename(&me(), pipes, RenameFlags::Other),
        Err(Error::InvalidArgument)
    );
    rename(&me(), pipes, RenameFlags::Plain).unwrap();
    assert_eq!(fs.lookup(&me(), pipes, b"b").unwrap().attr.ino, a);

    let change = |mode, uid| AttrChange {
        mode,
        uid,
        ..AttrChange::default()
    };
    assert_eq!(
        fs.setattr(&stranger, a, change(Some(0o600), None)),
        Err(Error::NotPermitted)
    );
    assert_eq!(
        fs.setattr(&me(), a, change(Some(0o600), None))
            .unwrap()
            .meta
            .perm,
        0o600
    );
    let size = |s| AttrChange {
        size: Some(s),
        ..AttrChange::default()
    };
    assert!(
        fs.setattr(&me(), a, size(0)).is_ok(),
        "O_TRUNC does nothing"
    );
    assert_eq!(fs.setattr(&me(), a, size(5)), Err(Error::InvalidArgument));
    let readme = fs.lookup(&me(), tree::ROOT, b"README").unwrap().attr.ino;
    assert_eq!(fs.setattr(&me(), readme, size(0)), Err(Error::NotPermitted));
}

#[test]
fn readme_and_status_are_snapshots_taken_at_open() {
    let fs = fs();
    let readme = fs.lookup(&me(), tree::ROOT, b"README").unwrap().attr;
    assert_eq!(readme.size, README.len() as u64);
    let o = opened(open(&fs, readme.ino, libc::O_RDONLY));
    assert_eq!(o.style, OpenStyle::Generated);
    assert_eq!(
        read(&fs, o.fh, 1 << 20),
        Some(Answer::Data(Ok(README.as_bytes().to_vec())))
    );
    assert_eq!(
        open(&fs, readme.ino, libc::O_WRONLY),
        Some(Answer::Opened(Err(Error::AccessDenied)))
    );

    make(&fs, "queues", "jobs", FileType::Regular).unwrap();
    make(&fs, "pipes", "k", FileType::NamedPipe).unwrap();
    let status = fs.lookup(&me(), tree::ROOT, b"status").unwrap().attr.ino;
    let o = opened(open(&fs, status, libc::O_RDONLY));
    make(&fs, "pipes", "later", FileType::Regular).unwrap();
    let Some(Answer::Data(Ok(text))) = read(&fs, o.fh, 1 << 20) else {
        panic!("status not read");
    };
    let text = String::from_utf8(text).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert_eq!(rows[1][..2], ["fifo", "pipes/k"]);
    assert_eq!(rows[1][10], "kernel");
    assert_eq!(rows[2][..2], ["queue", "queues/jobs"]);
    assert_eq!(rows[2][5..10], ["0", "0", "0", "0", "0"]);
}

#[test]
fn proc_is_synthesized_from_the_processes_there_are() {
    let fs = fs();
    let proc_dir = dir(&fs, "proc");
    let me = me();
    let pid = std::process::id();
    let found = fs.lookup(&me, proc_dir, b"self").unwrap();
    assert_eq!(found.attr.file_type, FileType::Symlink);
    assert!(!found.cacheable, "names under proc/ are never cached");
    assert_eq!(
        fs.readlink(&me, found.attr.ino).unwrap(),
        pid.to_string().into_bytes()
    );
    let mine = fs
        .lookup(&me, proc_dir, pid.to_string().as_bytes())
        .unwrap()
        .attr;
    assert_eq!(mine.file_type, FileType::Directory);
    assert_eq!(mine.meta.uid, me.uid);
    let again = fs
        .lookup(&me, proc_dir, pid.to_string().as_bytes())
        .unwrap()
        .attr;
    assert_eq!(
        again.ino, mine.ino,
        "the same inode while the kernel holds it"
    );
    assert_eq!(
        names(&fs, mine.ino)[2..],
        [
            ("signal".to_string(), FileType::Regular),
            ("pgsignal".to_string(), FileType::Regular)
        ]
    );
    let listing = names(&fs, proc_dir);
    assert_eq!(listing[2].0, "self");
    assert!(listing.iter().any(|(n, _)| *n == pid.to_string()));

    assert_eq!(
        fs.lookup(&me, proc_dir, b"nope").unwrap_err(),
        Error::NotFound
    );
    assert_eq!(
        fs.lookup(&me, proc_dir, b"4294967295").unwrap_err(),
        Error::NotFound
    );
    assert_eq!(
        fs.mknod(&me, proc_dir, b"x", 0o644, FileType::Regular),
        Err(Error::NotPermitted)
    );
    assert_eq!(fs.unlink(&me, proc_dir, b"self"), Err(Error::NotPermitted));
}

#[test]
fn a_signal_file_checks_the_whole_write_and_describes_its_process() {
    let fs = fs();
    let proc_dir = dir(&fs, "proc");
    let pid = std::process::id().to_string();
    let process = fs.lookup(&me(), proc_dir, pid.as_bytes()).unwrap().attr.ino;
    let signal = fs.lookup(&me(), process, b"signal").unwrap().attr;
    assert_eq!(signal.meta.perm, 0o666);
    let trunc = AttrChange {
        size: Some(0),
        ..AttrChange::default()
    };
    assert!(
        fs.setattr(&me(), signal.ino, trunc).is_ok(),
        "echo > signal truncates"
    );
    let o = opened(open(&fs, signal.ino, libc::O_RDWR));
    assert_eq!(write(&fs, o.fh, b"0\n"), Some(Answer::Written(Ok(2))));
    assert_eq!(
        write(&fs, o.fh, b"0\nFOO\n"),
        Some(Answer::Written(Err(Error::InvalidArgument)))
    );
    let Some(Answer::Data(Ok(text))) = read(&fs, o.fh, 4096) else {
        panic!("no state read");
    };
    assert!(
        text.starts_with(b"pending:"),
        "{}",
        String::from_utf8_lossy(&text)
    );
    assert!(xattr_names(&fs, signal.ino).is_empty());
    fs.release(o.fh);
}

#[test]
fn statfs_counts_objects_and_the_memory_cap() {
    let fs = fs();
    make(&fs, "pipes", "a", FileType::Regular).unwrap();
    make(&fs, "queues", "b", FileType::Regular).unwrap();
    let u = fs.statfs();
    assert_eq!(u.files, 2);
    assert_eq!(u.total_files() - u.free_files, 2, "df -i: two used");
    assert_eq!(u.blocks, (fs.shared.config.max_memory / 4096) as u64);
    // Each object's record and name are charged.
    let records = 2 * (crate::memory::OBJECT_RECORD + 1);
    let free = (fs.shared.config.max_memory - records) / 4096;
    assert_eq!(u.free_blocks, free as u64);
}

#[test]
fn shutting_down_stops_the_reactor() {
    let fs = fs();
    assert!(fs.shared.reactor.is_empty());
    fs.shut_down();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    struct Nobody;
    impl crate::reactor::Ready for Nobody {
        fn ready(&self, _: crate::reactor::Token, _: crate::reactor::Readiness) {}
    }
    use std::os::fd::AsFd;
    let owner = Arc::new(Nobody);
    let refused =
        fs.shared
            .reactor
            .register(a.as_fd(), crate::reactor::Readiness::READABLE, &owner);
    assert_eq!(refused.unwrap_err().raw_os_error(), Some(libc::ESHUTDOWN));
}
