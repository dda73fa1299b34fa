//! File attributes as the fs layer reports them, in plain types the
//! adapter translates for the kernel.
//!
//! Every stream file (pipe, queue) reports the mount's largest write as
//! `st_size`, never the bytes buffered: with `FOPEN_STREAM` every write
//! starts at offset 0, and the kernel takes its inode lock exclusively
//! (and uninterruptibly) for any write that reaches past the cached size.
//! A size no smaller than the largest write keeps concurrent writers
//! parked in the daemon, where they can be interrupted.

use std::time::SystemTime;

pub type Ino = u64;

/// The type of a node, as `st_mode`'s format bits give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Directory,
    Regular,
    /// A FIFO node the kernel serves itself (`mkfifo`).
    NamedPipe,
    Symlink,
}

/// Ownership, permission bits and times of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits only (`0o7777`).
    pub perm: u16,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

impl Meta {
    pub fn new(uid: u32, gid: u32, perm: u16) -> Self {
        let now = SystemTime::now();
        Meta {
            uid,
            gid,
            perm: perm & 0o7777,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub file_type: FileType,
    pub size: u64,
    pub meta: Meta,
}

impl Attr {
    /// Directories count `.` and their entry in the parent.
    pub fn nlink(&self) -> u32 {
        if self.file_type == FileType::Directory {
            2
        } else {
            1
        }
    }
}

/// How the kernel is to treat an open file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenStyle {
    /// A byte or message stream: no page cache, no file position, and
    /// writes that do not serialize on the inode lock.
    Stream,
    /// A file generated at open (README, status, a signal file): read
    /// with direct I/O, so its reported size does not cut reads short.
    Generated,
    /// A shared-memory file served through passthrough: mappings map its
    /// memory file directly; read(2) and write(2) still come to the
    /// daemon (direct I/O), which charges growth to the memory cap.
    Mapped,
    /// A shared-memory file served through the page cache: seekable,
    /// mappable, its pages kept across opens; every write reaches the
    /// daemon before it returns.
    Cached,
}
