//! How large a write reaches the daemon whole.
//!
//! FUSE hands the daemon a `write(2)` in pieces of at most `max_pages`
//! pages each, and a buffer that does not start on a page boundary spans
//! one page more than its length suggests. So a write of at most
//! `(max_pages - 1)` pages always arrives in one piece, whatever the
//! buffer's alignment, and a longer write always arrives as a first piece
//! of at least that size. A queue's largest message is kept one byte below
//! that bound: then every message arrives whole, and every oversized write
//! is seen as oversized in its first piece (and refused with `EMSGSIZE`
//! before anything is queued).
//!
//! The kernel caps `max_pages` at `fs.fuse.max_pages_limit` (256 pages,
//! 1 MiB, by default). A daemon running as root raises that cap to
//! [`WANTED_PAGES`] when it is lower, so that 1 MiB messages fit.

use std::path::Path;

pub const PAGE_SIZE: usize = 4096;
/// `max_pages` of kernels without the `max_pages_limit` setting.
pub const KERNEL_DEFAULT_PAGES: u32 = 256;
/// Pages per request ipcfs asks for: writes and reads of up to 4 MiB.
pub const WANTED_PAGES: u32 = 1024;
const PAGES_LIMIT: &str = "/proc/sys/fs/fuse/max_pages_limit";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoLimits {
    /// Pages per FUSE request, as the kernel will allow them.
    pub max_pages: u32,
}

impl IoLimits {
    pub fn new(max_pages: u32) -> Self {
        IoLimits {
            max_pages: max_pages.max(2),
        }
    }

    /// The `max_write` to negotiate: one request of `max_pages` pages.
    pub fn max_write(&self) -> usize {
        self.max_pages as usize * PAGE_SIZE
    }

    /// The largest queue message: every write of this size arrives whole,
    /// and every bigger one is seen as bigger than this.
    pub fn max_message(&self) -> usize {
        (self.max_pages as usize - 1) * PAGE_SIZE - 1
    }

    /// Reads the kernel's cap and, when allowed, raises it to
    /// [`WANTED_PAGES`]. Returns the limits this mount will have and, if
    /// the cap was raised, its old value.
    pub fn detect(may_raise: bool) -> (IoLimits, Option<u32>) {
        Self::detect_at(Path::new(PAGES_LIMIT), may_raise)
    }

    /// Puts the kernel's cap back to `old` (what [`IoLimits::detect`]
    /// raised it from), at exit: mounts made meanwhile keep what they
    /// negotiated, and the machine is left as it was found.
    pub fn restore(old: u32) {
        Self::restore_at(Path::new(PAGES_LIMIT), old);
    }

    fn restore_at(setting: &Path, old: u32) {
        match std::fs::write(setting, old.to_string()) {
            Ok(()) => log::info!("fs.fuse.max_pages_limit set back to {old}"),
            Err(e) => log::warn!("cannot set fs.fuse.max_pages_limit back to {old}: {e}"),
        }
    }

    fn detect_at(setting: &Path, may_raise: bool) -> (IoLimits, Option<u32>) {
        let Some(cap) = std::fs::read_to_string(setting)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        else {
            return (IoLimits::new(KERNEL_DEFAULT_PAGES), None);
        };
        if cap >= WANTED_PAGES {
            return (IoLimits::new(WANTED_PAGES), None);
        }
        if may_raise && std::fs::write(setting, WANTED_PAGES.to_string()).is_ok() {
            return (IoLimits::new(WANTED_PAGES), Some(cap));
        }
        (IoLimits::new(cap), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_cap_is_put_back() {
        let dir = std::env::temp_dir().join(format!("ipcfs-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let setting = dir.join("max_pages_limit");
        std::fs::write(&setting, "256\n").unwrap();
        let (io, raised) = IoLimits::detect_at(&setting, true);
        assert_eq!((io.max_pages, raised), (WANTED_PAGES, Some(256)));
        assert_eq!(
            std::fs::read_to_string(&setting).unwrap(),
            WANTED_PAGES.to_string()
        );
        IoLimits::restore_at(&setting, 256);
        assert_eq!(std::fs::read_to_string(&setting).unwrap(), "256");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn message_bound_is_below_one_unaligned_request() {
        let l = IoLimits::new(256);
        assert_eq!(l.max_write(), 1 << 20);
        assert_eq!(l.max_message(), 255 * 4096 - 1);
        let l = IoLimits::new(1024);
        assert_eq!(l.max_write(), 4 << 20);
        assert!(l.max_message() >= 1 << 20, "1 MiB messages fit");
    }

    #[test]
    fn detect_raises_a_low_cap_only_when_allowed() {
        let dir = std::env::temp_dir().join(format!("ipcfs-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let setting = dir.join("max_pages_limit");
        std::fs::write(&setting, "256\n").unwrap();
        assert_eq!(
            IoLimits::detect_at(&setting, false),
            (IoLimits::new(256), None)
        );
        assert_eq!(
            IoLimits::detect_at(&setting, true),
            (IoLimits::new(WANTED_PAGES), Some(256))
        );
        assert_eq!(std::fs::read_to_string(&setting).unwrap(), "1024");
        std::fs::write(&setting, "4096").unwrap();
        assert_eq!(
            IoLimits::detect_at(&setting, true),
            (IoLimits::new(WANTED_PAGES), None)
        );
        assert_eq!(
            IoLimits::detect_at(&dir.join("absent"), true),
            (IoLimits::new(KERNEL_DEFAULT_PAGES), None)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
