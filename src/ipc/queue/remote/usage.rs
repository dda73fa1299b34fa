//! What each user's shared queues hold in the store, as this mount last
//! heard, and the most one user's may hold: the store's memory is kept
//! from one user as the daemon's is. A queue's messages are its owner's
//! to pay for, as in memory; a write that would add to the queue of an
//! owner past its share fails `ENOSPC` (root has no share).
//!
//! Counted from what the store says (each `put`/`take` event carries the
//! queue's bytes): two mounts may each let a write in before hearing of
//! the other's, so a user may pass its share by what is in flight at
//! once, never by more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The bytes in the store of each user's queues, and the share.
#[derive(Debug)]
pub struct StoredBytes {
    share: usize,
    by_user: Mutex<HashMap<u32, usize>>,
}

impl StoredBytes {
    pub fn new(share: usize) -> Arc<StoredBytes> {
        Arc::new(StoredBytes {
            share,
            by_user: Mutex::new(HashMap::new()),
        })
    }

    /// The bytes `uid`'s queues hold in the store.
    pub fn held_by(&self, uid: u32) -> usize {
        crate::locks::lock(&self.by_user)
            .get(&uid)
            .copied()
            .unwrap_or(0)
    }

    /// Whether `uid`'s queues may take `more` bytes.
    fn fits(&self, uid: u32, more: usize) -> bool {
        uid == 0 || self.held_by(uid).saturating_add(more) <= self.share
    }

    fn add(&self, uid: u32, bytes: usize) {
        *crate::locks::lock(&self.by_user).entry(uid).or_default() += bytes;
    }

    fn sub(&self, uid: u32, bytes: usize) {
        let mut by_user = crate::locks::lock(&self.by_user);
        if let Some(held) = by_user.get_mut(&uid) {
            *held = held.saturating_sub(bytes);
            if *held == 0 {
                by_user.remove(&uid);
            }
        }
    }
}

/// One queue's bytes in the store, counted for its owner until dropped.
#[derive(Debug)]
pub struct StoredCharge {
    of: Arc<StoredBytes>,
    owner: u32,
    bytes: usize,
}

impl StoredCharge {
    pub fn new(of: &Arc<StoredBytes>, owner: u32, bytes: usize) -> StoredCharge {
        of.add(owner, bytes);
        StoredCharge {
            of: of.clone(),
            owner,
            bytes,
        }
    }

    /// The store says the queue holds `bytes`; its owner is `owner` now
    /// (a chown moves the whole count).
    pub fn set(&mut self, owner: u32, bytes: usize) {
        self.of.sub(self.owner, self.bytes);
        self.of.add(owner, bytes);
        (self.owner, self.bytes) = (owner, bytes);
    }

    /// Whether `owner`'s queues may take `more` bytes.
    pub fn fits(&mut self, owner: u32, more: usize) -> bool {
        if owner != self.owner {
            self.set(owner, self.bytes);
        }
        let fits = self.of.fits(owner, more);
        if !fits {
            log::warn!(
                "uid {owner}'s queues in the store hold {} bytes of its {} \
                 (--max-memory-per-user): {more} more refused",
                self.of.held_by(owner),
                self.of.share
            );
        }
        fits
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for StoredCharge {
    fn drop(&mut self) {
        self.of.sub(self.owner, self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_queues_share_one_count_and_root_has_no_share() {
        let usage = StoredBytes::new(100);
        let mut a = StoredCharge::new(&usage, 7, 60);
        let mut b = StoredCharge::new(&usage, 7, 30);
        assert_eq!(usage.held_by(7), 90);
        assert!(a.fits(7, 10));
        assert!(!b.fits(7, 11));
        // The store says b emptied; then a's owner changed (chown).
        b.set(7, 0);
        assert!(b.fits(7, 40));
        assert!(a.fits(8, 40));
        assert_eq!((usage.held_by(7), usage.held_by(8)), (0, 60));
        let root = StoredCharge::new(&usage, 0, 1000);
        assert!(StoredCharge::new(&usage, 0, 0).fits(0, 1 << 30));
        drop((a, b, root));
        assert_eq!((usage.held_by(0), usage.held_by(8)), (0, 0));
    }
}
