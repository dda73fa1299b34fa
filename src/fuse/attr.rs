//! File attributes as the kernel sees them.
//!
//! Every pipe and queue reports the mount's largest write as `st_size`,
//! never the bytes buffered: with
//! `FOPEN_STREAM` every write starts at offset 0, and the kernel takes its
//! inode lock exclusively (and uninterruptibly) for any write that reaches
//! past the cached size. A size no smaller than the largest write keeps
//! concurrent writers parked in the daemon, where they can be interrupted.

use std::time::{Duration, SystemTime};

use fuser::{FileAttr, FileType, INodeNo};

use crate::ipc::namespace::{Entry, Ino, fixed};

use super::Object;

/// Names are stable between calls that the kernel sees itself.
pub const ENTRY_TTL: Duration = Duration::from_secs(1);
/// Attributes of objects change (owner, mode, counters): never cached.
pub const ATTR_TTL: Duration = Duration::ZERO;

/// Attributes with the times set to now.
pub fn attr(ino: Ino, kind: FileType, perm: u16, uid: u32, gid: u32, size: u64) -> FileAttr {
    let now = SystemTime::now();
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: 0,
        atime: now,
        mtime: now,
        ctime: now,
        crtime: now,
        kind,
        perm,
        nlink: if kind == FileType::Directory { 2 } else { 1 },
        uid,
        gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

/// Attributes of the fixed tree, owned by the user who mounted.
pub fn fixed_attr(ino: Ino, owner: (u32, u32), readme_len: usize) -> Option<FileAttr> {
    let (uid, gid) = owner;
    let dir = |perm| Some(attr(ino, FileType::Directory, perm, uid, gid, 0));
    match ino {
        fixed::ROOT => dir(0o755),
        fixed::PIPES | fixed::QUEUES | fixed::SHM | fixed::SOCKETS => dir(0o1777),
        fixed::PROC => dir(0o555),
        fixed::README => Some(attr(
            ino,
            FileType::RegularFile,
            0o444,
            uid,
            gid,
            readme_len as u64,
        )),
        // Generated at each open and read with direct I/O: no size to give.
        fixed::STATUS => Some(attr(ino, FileType::RegularFile, 0o444, uid, gid, 0)),
        _ => None,
    }
}

/// Attributes of an object's entry; `stream_size` is the `st_size` of
/// stream objects (the mount's largest write).
pub fn entry_attr(entry: &Entry<Object>, stream_size: u64) -> FileAttr {
    let m = &entry.meta;
    let (kind, size) = match entry.object {
        Object::Pipe(_) | Object::Queue(_) => (FileType::RegularFile, stream_size),
        Object::KernelFifo => (FileType::NamedPipe, 0),
    };
    let mut a = attr(entry.ino, kind, m.perm, m.uid, m.gid, size);
    a.atime = m.atime;
    a.mtime = m.mtime;
    a.ctime = m.ctime;
    a.crtime = m.ctime;
    a
}
