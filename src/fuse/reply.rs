//! fuser's reply objects as the fs layer's [`Replies`]: how each answer
//! is sent, and the one place a failed call is logged.

use std::time::Duration;

use std::os::fd::BorrowedFd;

use fuser::{
    BackingId, Errno, FileAttr, FileHandle, FopenFlags, Generation, INodeNo, PollNotifier,
    ReplyCreate, ReplyData, ReplyOpen, ReplyWrite,
};

use crate::error::{Error, Result};
use crate::fs::attr::{Attr, FileType, OpenStyle};
use crate::fs::reply::{Opened, Replies};

/// Names are stable between calls that the kernel sees itself.
pub const ENTRY_TTL: Duration = Duration::from_secs(1);
/// Attributes change (owner, mode, counters): never cached.
pub const ATTR_TTL: Duration = Duration::ZERO;

/// The reply an open waits to send: a plain open, or the open half of a
/// create (which also carries the new entry's attributes).
pub enum OpenReply {
    Open(ReplyOpen),
    Create(ReplyCreate),
}

pub struct FuseReplies;

impl Replies for FuseReplies {
    type Open = OpenReply;
    type Read = ReplyData;
    type Write = ReplyWrite;
    type Poll = PollNotifier;
    type Backing = BackingId;

    fn opened(reply: OpenReply, result: Result<Opened>) {
        let opened = match result {
            Ok(o) => o,
            Err(e) => {
                let errno = log_error("open", e);
                return match reply {
                    OpenReply::Open(r) => r.error(errno),
                    OpenReply::Create(r) => r.error(errno),
                };
            }
        };
        let fh = FileHandle(opened.fh);
        let flags = open_flags(opened.style);
        match (reply, opened.created) {
            (OpenReply::Open(r), _) => r.opened(fh, flags),
            (OpenReply::Create(r), Some(attr)) => {
                r.created(&ATTR_TTL, &file_attr(&attr), Generation(0), fh, flags)
            }
            // The fs layer gives every create its attributes; were one
            // missing, the kernel must still get an answer.
            (OpenReply::Create(r), None) => r.error(log_error("create", Error::NotFound)),
        }
    }

    fn data(reply: ReplyData, result: Result<&[u8]>) {
        match result {
            Ok(data) => reply.data(data),
            Err(e) => reply.error(log_error("read", e)),
        }
    }

    fn written(reply: ReplyWrite, result: Result<usize>) {
        match result {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(log_error("write", e)),
        }
    }

    fn notify(poll: PollNotifier) {
        if let Err(e) = poll.notify() {
            log::debug!("poll notification not delivered: {e}");
        }
    }

    fn open_backing(reply: &OpenReply, file: BorrowedFd<'_>) -> std::io::Result<BackingId> {
        match reply {
            OpenReply::Open(r) => r.open_backing(file),
            OpenReply::Create(r) => r.open_backing(file),
        }
    }

    fn opened_with_backing(reply: OpenReply, opened: Opened, backing: &BackingId) {
        let fh = FileHandle(opened.fh);
        let flags = open_flags(opened.style);
        match (reply, opened.created) {
            (OpenReply::Open(r), _) => r.opened_passthrough(fh, flags, backing),
            (OpenReply::Create(r), Some(attr)) => r.created_passthrough(
                &ATTR_TTL,
                &file_attr(&attr),
                Generation(0),
                fh,
                flags,
                backing,
            ),
            (OpenReply::Create(r), None) => r.error(log_error("create", Error::NotFound)),
        }
    }
}

/// Logs a failed call once, at the boundary, and gives its errno. Errors
/// that programs meet in normal use (a name that is not there, a
/// non-blocking call that would block, an interrupted wait) log at debug.
pub fn log_error(op: &str, e: Error) -> Errno {
    match e {
        Error::NotFound | Error::WouldBlock | Error::Interrupted | Error::NoAttribute => {
            log::debug!("{op}: {e}")
        }
        _ => log::info!("{op}: {e}"),
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
        atime: m.atime,
        mtime: m.mtime,
        ctime: m.ctime,
        crtime: m.ctime,
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
