//! A shared-memory file's store: one memory file (memfd) whose size is
//! charged to the mount's memory cap.
//!
//! Invariant: the memory file's size changes only here, under `size`'s
//! lock, and `size` always equals it, so the bytes charged to the budget
//! are exactly the file's size. That holds in both ways the kernel serves
//! these files: with passthrough, mappings map the memory file itself but
//! read(2) and write(2) still come to the daemon (direct I/O), and a
//! store through a mapping cannot grow a file (past its end is SIGBUS);
//! with the page cache, every write reaches the daemon before it returns
//! (no writeback cache). So a file never grows past `--max-memory`
//! without a call here refusing it with `ENOSPC`.
//!
//! A file's size is charged whole, holes included, as POSIX message
//! queues charge their whole capacity: `truncate -s 1T` is refused at
//! once rather than accepted and then failing at some later store with
//! SIGBUS.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, MutexGuard};

use nix::fcntl::{FallocateFlags, fallocate};
use nix::sys::memfd::{MFdFlags, memfd_create};

use crate::error::{Error, Result};
use crate::memory::Account;

/// How an `fallocate(2)` call asks to change a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocate {
    /// Mode 0: make `[offset, offset + len)` resident, growing the file
    /// if it ends past the end.
    Reserve,
    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`: zero the range and
    /// give its memory back; the size stays.
    PunchHole,
}

pub struct SharedMemory {
    file: File,
    budget: Arc<Account>,
    /// The file's size, which is also what is charged to `budget`.
    size: Mutex<u64>,
}

impl SharedMemory {
    /// A new, empty file. `name` shows in /proc/PID/maps of the processes
    /// that map it (as `/memfd:NAME`).
    pub fn new(name: &str, budget: Arc<Account>) -> Result<Self> {
        let name = format!("ipcfs-shm:{name}");
        // A name with a NUL cannot be a C string; the kernel's own limit
        // is 249 bytes. Neither matters to anything but /proc/PID/maps.
        let name: String = name.replace('\0', "?").chars().take(200).collect();
        let fd = memfd_create(name.as_str(), MFdFlags::MFD_CLOEXEC).map_err(|e| {
            let e = std::io::Error::from(e);
            log::warn!("a shared-memory file could not be made: {e}");
            Error::from_os(&e)
        })?;
        Ok(SharedMemory {
            file: File::from(fd),
            budget,
            size: Mutex::new(0),
        })
    }

    /// The memory file, for the kernel to map (passthrough).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// `SEEK_DATA` or `SEEK_HOLE` from `offset`, as the memory file (tmpfs)
    /// knows its holes; past the end `ENXIO`.
    pub fn seek_data(&self, offset: u64, whence: i32) -> Result<u64> {
        use std::os::fd::AsRawFd;
        let offset = i64::try_from(offset).map_err(|_| Error::NoReader)?;
        // SAFETY: lseek on our own descriptor; its position is not used
        // elsewhere (reads and writes give their offsets).
        let at = unsafe { libc::lseek(self.fd().as_raw_fd(), offset, whence) };
        if at < 0 {
            return Err(Error::from_os(&std::io::Error::last_os_error()));
        }
        Ok(at as u64)
    }

    pub fn size(&self) -> u64 {
        *self.lock()
    }

    /// Up to `len` bytes from `offset`; fewer at the end of the file,
    /// none past it.
    pub fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let size = self.size();
        let available = size.saturating_sub(offset).min(len as u64) as usize;
        let mut data = vec![0u8; available];
        // A concurrent shrink may end the file early: the read is short.
        let mut filled = 0;
        while filled < available {
            match self
                .file
                .read_at(&mut data[filled..], offset + filled as u64)
            {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.failed("read", &e)),
            }
        }
        data.truncate(filled);
        Ok(data)
    }

    /// Writes all of `data` at `offset`, growing the file if it ends past
    /// the end: `ENOSPC`, with nothing written, when the growth passes
    /// the memory cap.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(Error::InvalidArgument)?;
        let mut size = self.lock();
        let old = *size;
        if end > old {
            self.charge(old, end)?;
        }
        if let Err(e) = self.file.write_all_at(data, offset) {
            // Nothing of a failed write is kept: the size goes back.
            if end > old {
                let _ = self.file.set_len(old);
                self.refund(end, old);
            }
            return Err(self.failed("write", &e));
        }
        *size = old.max(end);
        Ok(data.len())
    }

    /// `truncate(2)`: grows with zeros or cuts; growth past the memory cap
    /// is `ENOSPC` and changes nothing.
    pub fn set_len(&self, new: u64) -> Result<()> {
        let mut size = self.lock();
        let old = *size;
        if new > old {
            self.charge(old, new)?;
        }
        if let Err(e) = self.file.set_len(new) {
            if new > old {
                self.refund(new, old);
            }
            return Err(self.failed("truncate", &e));
        }
        if new < old {
            self.refund(old, new);
        }
        *size = new;
        Ok(())
    }

    /// `fallocate(2)` of `[offset, offset + len)`.
    pub fn allocate(&self, how: Allocate, offset: u64, len: u64) -> Result<()> {
        let end = offset.checked_add(len).ok_or(Error::InvalidArgument)?;
        let (start, length) = (to_off(offset)?, to_off(len)?);
        let mut size = self.lock();
        let old = *size;
        match how {
            Allocate::Reserve => {
                if end > old {
                    self.charge(old, end)?;
                }
                if let Err(e) = fallocate(&self.file, FallocateFlags::empty(), start, length) {
                    if end > old {
                        let _ = self.file.set_len(old);
                        self.refund(end, old);
                    }
                    return Err(self.failed("fallocate", &e.into()));
                }
                *size = old.max(end);
            }
            Allocate::PunchHole => {
                let flags =
                    FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
                fallocate(&self.file, flags, start, length)
                    .map_err(|e| self.failed("fallocate", &e.into()))?;
            }
        }
        Ok(())
    }

    /// Charges the growth from `old` to `new` bytes, or says `ENOSPC`.
    fn charge(&self, old: u64, new: u64) -> Result<()> {
        let growth = usize::try_from(new - old).map_err(|_| Error::NoSpace)?;
        if self.budget.try_reserve(growth) {
            return Ok(());
        }
        log::warn!(
            "a shared-memory file refused to grow from {old} to {new} bytes: \
             --max-memory ({} bytes) reached",
            self.budget.limit()
        );
        Err(Error::NoSpace)
    }

    /// Gives back the charge of a file that went from `old` to `new`
    /// (smaller) bytes.
    fn refund(&self, old: u64, new: u64) {
        self.budget.release((old - new) as usize);
    }

    fn failed(&self, op: &str, e: &std::io::Error) -> Error {
        log::warn!("{op} of a shared-memory file failed: {e}");
        Error::from_os(e)
    }

    fn lock(&self) -> MutexGuard<'_, u64> {
        crate::locks::lock(&self.size)
    }
}

fn to_off(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::InvalidArgument)
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        let size = *self.lock();
        self.budget.release(size as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBudget;

    fn shm(limit: usize) -> (SharedMemory, Arc<MemoryBudget>) {
        let budget = MemoryBudget::new(limit);
        (SharedMemory::new("t", budget.account(1)).unwrap(), budget)
    }

    #[test]
    fn writes_at_offsets_read_back_with_zeros_between() {
        let (m, budget) = shm(1 << 20);
        assert_eq!(m.write_at(4, b"abc"), Ok(3));
        assert_eq!(m.size(), 7);
        assert_eq!(budget.used(), 7);
        assert_eq!(m.read_at(0, 100).unwrap(), b"\0\0\0\0abc");
        assert_eq!(m.read_at(5, 1).unwrap(), b"b");
        assert_eq!(m.read_at(7, 10).unwrap(), b"");
        assert_eq!(m.read_at(1000, 10).unwrap(), b"");
        // A write inside the file charges nothing more.
        assert_eq!(m.write_at(0, b"xy"), Ok(2));
        assert_eq!(budget.used(), 7);
    }

    #[test]
    fn growth_past_the_cap_is_refused_and_changes_nothing() {
        let (m, budget) = shm(4096);
        m.set_len(4000).unwrap();
        assert_eq!(m.write_at(4000, &[1; 97]), Err(Error::NoSpace));
        assert_eq!(m.set_len(1 << 40), Err(Error::NoSpace));
        assert_eq!(m.size(), 4000);
        assert_eq!(budget.used(), 4000);
        assert_eq!(m.write_at(4000, &[1; 96]), Ok(96));
        assert_eq!(budget.used(), 4096);
        m.set_len(10).unwrap();
        assert_eq!(budget.used(), 10);
        assert_eq!(m.read_at(0, 4096).unwrap(), vec![0; 10]);
        drop(m);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn fallocate_grows_within_the_cap_and_punching_keeps_the_size() {
        let (m, budget) = shm(8192);
        m.allocate(Allocate::Reserve, 0, 8192).unwrap();
        assert_eq!((m.size(), budget.used()), (8192, 8192));
        assert_eq!(m.allocate(Allocate::Reserve, 8192, 1), Err(Error::NoSpace));
        m.write_at(0, &[7; 8192]).unwrap();
        m.allocate(Allocate::PunchHole, 0, 4096).unwrap();
        assert_eq!(m.size(), 8192);
        let data = m.read_at(0, 8192).unwrap();
        assert_eq!(&data[..4096], &[0; 4096][..]);
        assert_eq!(&data[4096..], &[7; 4096][..]);
        assert_eq!(
            m.allocate(Allocate::Reserve, u64::MAX, 2),
            Err(Error::InvalidArgument)
        );
    }
}
