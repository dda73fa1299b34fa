//! fuser's reply objects as the fs layer's [`Replies`]: how each answer
//! is sent, and the one place a failed call is logged.

use std::fmt;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fuser::{
    BackingId, Errno, FileAttr, FileHandle, FopenFlags, Generation, INodeNo, PollNotifier,
    ReplyCreate, ReplyData, ReplyEmpty, ReplyOpen, ReplyWrite, RequestId,
};

use crate::error::{Error, Result};
use crate::fs::attr::{Attr, FileType, OpenStyle};
use crate::fs::reply::{Opened, Replies};
use crate::ipc::bytes::{Gathered, Shared};
use crate::ipc::socket::splice::Spliced;
use crate::wait::WaiterId;

/// Names are stable between calls that the kernel sees itself.
pub const ENTRY_TTL: Duration = Duration::from_secs(1);
/// Attributes change (owner, mode, counters): never cached.
pub const ATTR_TTL: Duration = Duration::ZERO;

/// How the adapter names an inode in a log line: its path in the mount.
pub type Paths = Arc<dyn Fn(u64) -> String + Send + Sync>;

/// Where a call was made, for the log line of its failure: the path of its
/// inode, looked up only if it fails.
#[derive(Clone)]
pub struct At {
    paths: Paths,
    ino: u64,
}

impl At {
    pub fn new(paths: &Paths, ino: u64) -> At {
        At {
            paths: paths.clone(),
            ino,
        }
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&(self.paths)(self.ino))
    }
}

/// The reply an open waits to send: a plain open, or the open half of a
/// create (which also carries the new entry's attributes).
pub enum OpenReply {
    Open(ReplyOpen, At),
    Create(ReplyCreate, At),
}

impl OpenReply {
    fn at(&self) -> &At {
        match self {
            OpenReply::Open(_, at) | OpenReply::Create(_, at) => at,
        }
    }
}

/// A read's reply, and where it was made.
pub struct DataReply(pub ReplyData, pub At);

/// A write's reply, and where it was made.
pub struct WriteReply(pub ReplyWrite, pub At);

/// A flush's reply, the call it answers (`"flush"` or `"fsync"`, which
/// the fs layer serves alike), and where it was made.
pub struct FlushReply(pub ReplyEmpty, pub &'static str, pub At);

pub struct FuseReplies;

/// Whether the session's transport is /dev/fuse: only there does the
/// kernel take a reply from a pipe (large socket reads are spliced), and
/// does fuser lend request buffers (large write bytes are kept).
static DEV_FUSE: AtomicBool = AtomicBool::new(false);

/// Sets whether the session's transport is /dev/fuse.
pub fn transport_is_dev_fuse(on: bool) {
    DEV_FUSE.store(on, Ordering::Relaxed);
}

/// A write's bytes kept in fuser's request buffer (see `ipc::bytes`).
struct Kept(fuser::KeptBytes);

impl AsRef<[u8]> for Kept {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Replies for FuseReplies {
    type Open = OpenReply;
    type Read = DataReply;
    type Write = WriteReply;
    type Poll = PollNotifier;
    type Flush = FlushReply;
    type Backing = BackingId;

    fn opened(reply: OpenReply, result: Result<Opened>) {
        let opened = match result {
            Ok(o) => o,
            Err(e) => {
                let errno = log_error("open", reply.at(), e);
                return match reply {
                    OpenReply::Open(r, _) => r.error(errno),
                    OpenReply::Create(r, _) => r.error(errno),
                };
            }
        };
        let fh = FileHandle(opened.fh);
        let flags = open_flags(opened.style);
        match (reply, opened.created) {
            (OpenReply::Open(r, _), _) => r.opened(fh, flags),
            (OpenReply::Create(r, _), Some(attr)) => {
                r.created(&ATTR_TTL, &file_attr(&attr), Generation(0), fh, flags)
            }
            // The fs layer gives every create its attributes; were one
            // missing, the kernel must still get an answer.
            (OpenReply::Create(r, at), None) => r.error(log_error("create", &at, Error::NotFound)),
        }
    }

    fn data(reply: DataReply, result: Result<&[u8]>) {
        let DataReply(reply, at) = reply;
        match result {
            Ok(data) => reply.data(data),
            Err(e) => reply.error(log_error("read", &at, e)),
        }
    }

    fn splice_header(id: WaiterId, len: usize) -> Option<[u8; 16]> {
        if !DEV_FUSE.load(Ordering::Relaxed) {
            return None;
        }
        ReplyData::pipe_header(RequestId(id), len)
    }

    fn spliced(reply: DataReply, bytes: Spliced) {
        let DataReply(reply, _) = reply;
        reply.data_from_pipe(bytes.pipe(), RequestId(bytes.call()), bytes.len());
        bytes.sent();
    }

    fn gathered(reply: DataReply, pieces: Gathered) {
        let DataReply(reply, _) = reply;
        reply.data_vectored(&pieces.slices());
    }

    fn keeps_writes() -> bool {
        DEV_FUSE.load(Ordering::Relaxed)
    }

    fn keep(data: &[u8]) -> Option<Shared> {
        let kept = fuser::keep_request_bytes(data)?;
        Some(Shared::new(Arc::new(Kept(kept))))
    }

    fn written(reply: WriteReply, result: Result<usize>) {
        let WriteReply(reply, at) = reply;
        match result {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(log_error("write", &at, e)),
        }
    }

    fn flushed(reply: FlushReply, result: Result<()>) {
        let FlushReply(reply, op, at) = reply;
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(log_error(op, &at, e)),
        }
    }

    fn notify(poll: PollNotifier) {
        if let Err(e) = poll.notify() {
            log::debug!("poll notification not delivered: {e}");
        }
    }

    fn open_backing(reply: &OpenReply, file: BorrowedFd<'_>) -> std::io::Result<BackingId> {
        match reply {
            OpenReply::Open(r, _) => r.open_backing(file),
            OpenReply::Create(r, _) => r.open_backing(file),
        }
    }

    fn opened_with_backing(reply: OpenReply, opened: Opened, backing: &BackingId) {
        let fh = FileHandle(opened.fh);
        let flags = open_flags(opened.style);
        match (reply, opened.created) {
            (OpenReply::Open(r, _), _) => r.opened_passthrough(fh, flags, backing),
            (OpenReply::Create(r, _), Some(attr)) => r.created_passthrough(
                &ATTR_TTL,
                &file_attr(&attr),
                Generation(0),
                fh,
                flags,
                backing,
            ),
            (OpenReply::Create(r, at), None) => r.error(log_error("create", &at, Error::NotFound)),
        }
    }
}

/// Logs a failed call once, at the boundary, with where it was made (a
/// path in the mount), and gives its errno. Errors that programs meet in
/// normal use (a name that is not there, a non-blocking call that would
/// block, an interrupted wait) log at debug.
pub fn log_error(op: &str, at: &dyn fmt::Display, e: Error) -> Errno {
    match e {
        Error::NotFound | Error::WouldBlock | Error::Interrupted | Error::NoAttribute => {
            log::debug!("{op} {at}: {e}")
        }
        _ => log::info!("{op} {at}: {e}"),
    }
    Errno::from_i32(e.errno())
}

/// How the kernel is to treat an open file of each style.
pub fn open_flags(style: OpenStyle) -> FopenFlags {
    match style {
        // No page cache, no file position, and writes that do not
        // serialize on the inode lock (see fs/attr.rs).
        OpenStyle::Stream => {
            FopenFlags::FOPEN_DIRECT_IO
                | FopenFlags::FOPEN_NONSEEKABLE
                | FopenFlags::FOPEN_STREAM
                | FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES
        }
        OpenStyle::Generated => FopenFlags::FOPEN_DIRECT_IO,
        // With passthrough, direct I/O sends read(2) and write(2) to the
        // daemon while mappings still map the backing file (the kernel
        // lets FOPEN_DIRECT_IO override passthrough for reads and writes
        // only): every growth is charged (ipc/shm.rs).
        OpenStyle::Mapped => FopenFlags::FOPEN_DIRECT_IO,
        // Pages kept across opens: the kernel's page cache is the one
        // copy mappings share; writes go through to the daemon.
        OpenStyle::Cached => FopenFlags::FOPEN_KEEP_CACHE,
    }
}

pub fn file_type(t: FileType) -> fuser::FileType {
    match t {
        FileType::Directory => fuser::FileType::Directory,
        FileType::Regular => fuser::FileType::RegularFile,
        FileType::NamedPipe => fuser::FileType::NamedPipe,
        FileType::Symlink => fuser::FileType::Symlink,
    }
}

pub fn file_attr(a: &Attr) -> FileAttr {
    let m = &a.meta;
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: 0,
        atime: m.atime.into(),
        mtime: m.mtime.into(),
        ctime: m.ctime.into(),
        crtime: m.ctime.into(),
        kind: file_type(a.file_type),
        perm: m.perm,
        nlink: a.nlink(),
        uid: m.uid,
        gid: m.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}
