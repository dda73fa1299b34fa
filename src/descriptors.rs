//! The daemon's descriptor table, which every user's objects share: a
//! shared-memory file's memfd, an endpoint's or a dial's socket, an open
//! signal file's pidfd. Objects are counted per user
//! (`--max-objects-per-user`), but many users together could still fill
//! the table, and then every call that needs a descriptor fails for
//! everyone, root included. So the last [`reserve`] descriptors below
//! the open-file limit are root's: a user's new object is refused with
//! `EMFILE` once fewer than that many are free.
//!
//! Descriptors are handed out lowest first, so the lowest free one tells
//! how full the table is: when it is at or past `limit - reserve`, every
//! descriptor below that is taken, and at most `reserve` are left.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::sys::resource::{Resource, getrlimit};

/// The descriptors kept for root: 256, or a quarter of a smaller table.
pub fn reserve(limit: u64) -> u64 {
    (limit / 4).min(256)
}

/// Whether a user other than root may take one more descriptor: more
/// than [`reserve`] would be left free after it. A table that cannot be
/// probed (no descriptor to be had at all) is full.
pub fn room_for_users() -> bool {
    let Ok((limit, _)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return true;
    };
    match lowest_free() {
        Some(lowest) => lowest.saturating_add(reserve(limit)) < limit,
        None => false,
    }
}

/// The lowest free descriptor number: what the next open would get.
fn lowest_free() -> Option<u64> {
    // SAFETY: eventfd takes no pointers; a descriptor it returns is ours.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd was just made and nothing else owns it; dropping closes it.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Some(fd as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_256_or_a_quarter_of_a_small_table() {
        assert_eq!(reserve(20_000), 256);
        assert_eq!(reserve(1024), 256);
        assert_eq!(reserve(400), 100);
    }

    #[test]
    fn a_table_with_room_has_room_for_users() {
        // The test process holds a few dozen descriptors of thousands.
        let (limit, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert!(limit > 512, "the test needs a table of more than 512");
        assert!(room_for_users());
    }
}
