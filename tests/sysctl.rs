//! The daemon raises the kernel's cap on FUSE request pages, a setting of
//! the whole machine, and puts it back when it ends. Alone in its test
//! binary: no other daemon may raise or restore the cap meanwhile, and the
//! tests here take turns.

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

const LIMIT: &str = "/proc/sys/fs/fuse/max_pages_limit";

/// The tests of this binary run one at a time: each sets the cap.
static TURN: Mutex<()> = Mutex::new(());

/// This binary's turn, with the cap at the kernel's default (256) as on a
/// fresh machine; dropping it puts back the value found.
struct FreshCap {
    _turn: MutexGuard<'static, ()>,
    before: String,
}

impl FreshCap {
    /// `None`, with the reason printed, where there is no FUSE or the
    /// cap cannot be set.
    fn take() -> Option<FreshCap> {
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        if common::mount_unavailable().is_some() {
            eprintln!("skipped: needs FUSE");
            return None;
        }
        let Ok(before) = std::fs::read_to_string(LIMIT) else {
            eprintln!("skipped: no {LIMIT} here");
            return None;
        };
        if std::fs::write(LIMIT, "256").is_err() {
            eprintln!("skipped: {LIMIT} is not writable here");
            return None;
        }
        Some(FreshCap {
            _turn: turn,
            before: before.trim().to_string(),
        })
    }
}

impl Drop for FreshCap {
    fn drop(&mut self) {
        let _ = std::fs::write(LIMIT, &self.before);
    }
}

#[test]
fn the_raised_page_cap_is_set_back_at_exit() {
    let Some(fresh) = FreshCap::take() else {
        return;
    };
    let mut m = mount_or_skip!();
    let during = std::fs::read_to_string(LIMIT).unwrap();
    m.signal(nix::sys::signal::Signal::SIGTERM);
    let status = m.wait_exit(Duration::from_secs(10));
    let after = std::fs::read_to_string(LIMIT).unwrap();
    drop(fresh);
    assert_eq!(during.trim(), "1024", "raised while mounted");
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_eq!(after.trim(), "256", "set back at exit");
    assert!(m.log().contains("fs.fuse.max_pages_limit set back to 256"));
}

/// On a fresh machine the cap is the kernel's 256: a run refused for a
/// usage error (a missing mountpoint, a stale mount, a bad option) must
/// say its one line and leave the cap as it found it.
#[test]
fn a_refused_run_says_one_line_and_leaves_the_cap_alone() {
    let Some(fresh) = FreshCap::take() else {
        return;
    };
    let tmp = common::TempDir::new("fresh");
    let missing = tmp.0.join("nope");
    let missing_err = common::refuse(&[missing.to_str().unwrap()]);
    let after_missing = std::fs::read_to_string(LIMIT).unwrap();
    let option_err = common::refuse(&["-o", "nonsense", tmp.0.to_str().unwrap()]);
    let after_option = std::fs::read_to_string(LIMIT).unwrap();
    drop(fresh);
    assert!(missing_err.contains("no such directory"), "{missing_err}");
    assert!(option_err.contains("unknown mount option"), "{option_err}");
    assert_eq!(
        after_missing.trim(),
        "256",
        "a missing mountpoint changed the cap"
    );
    assert_eq!(after_option.trim(), "256", "a bad option changed the cap");
}
