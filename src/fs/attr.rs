//! File attributes as the fs layer reports them, in plain types the
//! adapter translates for the kernel.
//!
//! Every stream file (pipe, queue) reports the mount's largest write as
//! `st_size`, never the bytes buffered: with `FOPEN_STREAM` every write
//! starts at offset 0, and the kernel takes its inode lock exclusively
//! (and uninterruptibly) for any write that reaches past the cached size.
//! A size no smaller than the largest write keeps concurrent writers
//! parked in the daemon, where they can be interrupted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// A node's time: nanoseconds from the epoch (negative before it), 8
/// bytes where a `SystemTime` takes 16. Every node keeps three, and a
/// mount keeps many nodes; ±292 years from 1970 is range enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(i64);

impl Time {
    pub fn now() -> Time {
        Time::from(SystemTime::now())
    }
}

impl From<SystemTime> for Time {
    /// A time past the range is kept at its end.
    fn from(t: SystemTime) -> Time {
        let clamp = |ns: u128| i64::try_from(ns).unwrap_or(i64::MAX);
        Time(match t.duration_since(UNIX_EPOCH) {
            Ok(after) => clamp(after.as_nanos()),
            Err(before) => -clamp(before.duration().as_nanos()),
        })
    }
}

impl From<Time> for SystemTime {
    fn from(t: Time) -> SystemTime {
        let ns = Duration::from_nanos(t.0.unsigned_abs());
        match t.0 >= 0 {
            true => UNIX_EPOCH + ns,
            false => UNIX_EPOCH - ns,
        }
    }
}

/// Ownership, permission bits and times of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits only (`0o7777`).
    pub perm: u16,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
}

impl Meta {
    pub fn new(uid: u32, gid: u32, perm: u16) -> Self {
        let now = Time::now();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_keeps_nanoseconds_on_both_sides_of_the_epoch_in_8_bytes() {
        assert_eq!(std::mem::size_of::<Time>(), 8);
        for t in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            UNIX_EPOCH - Duration::new(86_400, 1),
        ] {
            assert_eq!(SystemTime::from(Time::from(t)), t);
        }
        let far = UNIX_EPOCH + Duration::from_secs(400 * 365 * 86_400);
        assert_eq!(Time::from(far), Time(i64::MAX));
    }
}
