//! The daemon raises the kernel's cap on FUSE request pages, a setting of
//! the whole machine, and puts it back when it ends. Alone in its test
//! binary: no other daemon may raise or restore the cap meanwhile.

mod common;

use std::time::Duration;

const LIMIT: &str = "/proc/sys/fs/fuse/max_pages_limit";

#[test]
fn the_raised_page_cap_is_set_back_at_exit() {
    if common::mount_unavailable().is_some() || std::fs::read_to_string(LIMIT).is_err() {
        eprintln!("skipped: needs FUSE and {LIMIT}");
        return;
    }
    let before = std::fs::read_to_string(LIMIT).unwrap();
    if std::fs::write(LIMIT, "256").is_err() {
        eprintln!("skipped: {LIMIT} is not writable here");
        return;
    }
    let mut m = mount_or_skip!();
    let during = std::fs::read_to_string(LIMIT).unwrap();
    m.signal(nix::sys::signal::Signal::SIGTERM);
    let status = m.wait_exit(Duration::from_secs(10));
    let after = std::fs::read_to_string(LIMIT).unwrap();
    let _ = std::fs::write(LIMIT, before.trim());
    assert_eq!(during.trim(), "1024", "raised while mounted");
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_eq!(after.trim(), "256", "set back at exit");
    assert!(m.log().contains("fs.fuse.max_pages_limit set back to 256"));
}
