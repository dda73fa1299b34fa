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

    /// Reads the kernel's cap and decides what this mount's limits will
    /// be: [`WANTED_PAGES`] when the cap is that high already, or when it
    /// may be raised (`may_raise`, and the setting opens for writing).
    /// Changes nothing: [`PagesPlan::apply`] raises the cap, once every
    /// check that can refuse the run has passed.
    pub fn plan(may_raise: bool) -> PagesPlan {
        Self::plan_at(Path::new(PAGES_LIMIT), may_raise)
    }

    /// Puts the kernel's cap back to `old` (what [`PagesPlan::apply`]
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

    fn plan_at(setting: &Path, may_raise: bool) -> PagesPlan {
        let plan = |max_pages, raise| PagesPlan {
            limits: IoLimits::new(max_pages),
            raise,
            setting: setting.to_path_buf(),
        };
        let Some(cap) = read_cap(setting) else {
            return plan(KERNEL_DEFAULT_PAGES, false);
        };
        if cap >= WANTED_PAGES {
            return plan(WANTED_PAGES, false);
        }
        // Opening for writing is where the kernel checks the right to
        // change a sysctl; nothing is written yet.
        let writable = std::fs::OpenOptions::new()
            .write(true)
            .open(setting)
            .is_ok();
        if may_raise && writable {
            return plan(WANTED_PAGES, true);
        }
        plan(cap, false)
    }
}

fn read_cap(setting: &Path) -> Option<u32> {
    std::fs::read_to_string(setting)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
}

/// The limits a mount will have, and whether the kernel's cap must be
/// raised for them: decided at start, applied only after the mountpoint
/// and options are checked, so that a run refused for a usage error
/// changes nothing on the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagesPlan {
    pub limits: IoLimits,
    raise: bool,
    setting: std::path::PathBuf,
}

impl PagesPlan {
    /// Raises the cap to the planned pages if it is still lower (another
    /// mount may have raised it meanwhile). Returns the value it had, to
    /// set back at exit, or `None` when nothing was changed.
    pub fn apply(&self) -> std::result::Result<Option<u32>, String> {
        if !self.raise {
            return Ok(None);
        }
        let wanted = self.limits.max_pages;
        match read_cap(&self.setting) {
            Some(cap) if cap >= wanted => Ok(None),
            cap => match std::fs::write(&self.setting, wanted.to_string()) {
                Ok(()) => Ok(cap),
                Err(e) => Err(format!(
                    "cannot raise fs.fuse.max_pages_limit to {wanted}: {e}"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch copy of the setting, holding `value`.
    fn setting(tag: &str, value: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("ipcfs-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let setting = dir.join("max_pages_limit");
        std::fs::write(&setting, value).unwrap();
        (dir, setting)
    }

    #[test]
    fn a_raised_cap_is_put_back() {
        let (dir, setting) = setting("limit", "256\n");
        let plan = IoLimits::plan_at(&setting, true);
        assert_eq!(plan.limits.max_pages, WANTED_PAGES);
        assert_eq!(plan.apply(), Ok(Some(256)));
        assert_eq!(
            std::fs::read_to_string(&setting).unwrap(),
            WANTED_PAGES.to_string()
        );
        IoLimits::restore_at(&setting, 256);
        assert_eq!(std::fs::read_to_string(&setting).unwrap(), "256");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn planning_changes_nothing_until_applied() {
        let (dir, setting) = setting("plan", "256\n");
        let plan = IoLimits::plan_at(&setting, true);
        assert_eq!(std::fs::read_to_string(&setting).unwrap(), "256\n");
        // Raised meanwhile by another mount: nothing to do, nothing to
        // set back.
        std::fs::write(&setting, "1024").unwrap();
        assert_eq!(plan.apply(), Ok(None));
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
    fn a_low_cap_is_planned_raised_only_when_allowed() {
        let (dir, setting) = setting("limits", "256\n");
        let plan = IoLimits::plan_at(&setting, false);
        assert_eq!((plan.limits, plan.apply()), (IoLimits::new(256), Ok(None)));
        assert_eq!(std::fs::read_to_string(&setting).unwrap(), "256\n");
        let plan = IoLimits::plan_at(&setting, true);
        assert_eq!(
            (plan.limits, plan.apply()),
            (IoLimits::new(WANTED_PAGES), Ok(Some(256)))
        );
        assert_eq!(std::fs::read_to_string(&setting).unwrap(), "1024");
        std::fs::write(&setting, "4096").unwrap();
        let plan = IoLimits::plan_at(&setting, true);
        assert_eq!(
            (plan.limits, plan.apply()),
            (IoLimits::new(WANTED_PAGES), Ok(None))
        );
        let plan = IoLimits::plan_at(&dir.join("absent"), true);
        assert_eq!(
            (plan.limits, plan.apply()),
            (IoLimits::new(KERNEL_DEFAULT_PAGES), Ok(None))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
