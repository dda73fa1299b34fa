//! What each user's shared queues hold in the store, as this mount last
//! heard, and the most one user's may hold: the store's memory is kept
//! from one user as the daemon's is. A queue and its messages are its
//! owner's to pay for, as in memory: the queue's record ([`STORED_QUEUE`]
//! and its name) and each message's bytes and slot
//! ([`MESSAGE_OVERHEAD`]), so that neither many empty queues nor many
//! tiny messages fill the server past the share. A create, or a write
//! that would add to the queue of an owner past its share, fails
//! `ENOSPC` (root has no share). Every queue this mount shows counts,
//! made here or on another host, before or after this daemon started.
//!
//! Counted from what the store says (each `put`/`take` event carries the
//! queue's bytes): two mounts may each let a write in before hearing of
//! the other's, so a user may pass its share by what is in flight at
//! once, never by more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use crate::memory::MESSAGE_OVERHEAD;

/// What a queue costs the server beyond its name and messages: its
/// settings' hash, its stream with its readers' group, its places' set
/// (an empty queue with a 255-byte name measured ~1.7 KB), rounded up.
pub const STORED_QUEUE: usize = 2048;

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

    /// Whether `uid`'s queues may take `more` bytes; if not, says so in
    /// the log (`what`: what was refused).
    fn fits(&self, uid: u32, more: usize, what: &dyn std::fmt::Display) -> bool {
        let held = self.held_by(uid);
        let fits = uid == 0 || held.saturating_add(more) <= self.share;
        if !fits {
            log::warn!(
                "uid {uid}'s queues in the store hold {held} bytes of its {} \
                 (--max-memory-per-user): {what} refused",
                self.share
            );
        }
        fits
    }

    /// Whether `uid` may make a queue named with `name_len` bytes.
    pub fn may_make(&self, uid: u32, name_len: usize) -> bool {
        self.fits(uid, STORED_QUEUE + name_len, &"a queue more")
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

/// What one queue costs the server, counted for its owner until dropped.
#[derive(Debug)]
pub struct StoredCharge {
    of: Arc<StoredBytes>,
    owner: u32,
    /// Its record's cost (with its name), counted while it lives.
    record: usize,
    /// What its messages cost, as the store last said.
    messages: usize,
}

/// What `messages` messages of `bytes` in all cost the server.
pub fn messages_cost(messages: usize, bytes: usize) -> usize {
    bytes.saturating_add(messages.saturating_mul(MESSAGE_OVERHEAD))
}

impl StoredCharge {
    /// A queue named with `name_len` bytes, holding `messages` messages
    /// of `bytes` in all.
    pub fn new(
        of: &Arc<StoredBytes>,
        owner: u32,
        name_len: usize,
        messages: usize,
        bytes: usize,
    ) -> StoredCharge {
        let record = STORED_QUEUE + name_len;
        let messages = messages_cost(messages, bytes);
        of.add(owner, record + messages);
        StoredCharge {
            of: of.clone(),
            owner,
            record,
            messages,
        }
    }

    fn total(&self) -> usize {
        self.record + self.messages
    }

    /// The store says the queue holds `messages` messages of `bytes` in
    /// all; its owner is `owner` now (a chown moves the whole count).
    pub fn set(&mut self, owner: u32, messages: usize, bytes: usize) {
        self.of.sub(self.owner, self.total());
        self.messages = messages_cost(messages, bytes);
        self.owner = owner;
        self.of.add(owner, self.total());
    }

    /// The queue's owner is `owner` now (a chown): what it costs moves.
    pub fn follow(&mut self, owner: u32) {
        if owner != self.owner {
            self.of.sub(self.owner, self.total());
            self.owner = owner;
            self.of.add(owner, self.total());
        }
    }

    /// The queue is gone from the store: it costs its owner nothing more,
    /// though its node lives on while descriptors of it are open (they
    /// fail `EIDRM`), held by any user.
    pub fn release(&mut self) {
        self.of.sub(self.owner, self.total());
        (self.record, self.messages) = (0, 0);
    }

    /// Whether `owner`'s queues may take `count` more messages of `bytes`
    /// in all.
    pub fn fits(&mut self, owner: u32, count: usize, bytes: usize) -> bool {
        self.follow(owner);
        let more = messages_cost(count, bytes);
        self.of.fits(owner, more, &format_args!("{more} more"))
    }
}

impl Drop for StoredCharge {
    fn drop(&mut self) {
        self.of.sub(self.owner, self.total());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_queues_and_messages_share_one_count_and_root_has_no_share() {
        let record = STORED_QUEUE + 1;
        let usage = StoredBytes::new(2 * record + 300);
        let mut a = StoredCharge::new(&usage, 7, 1, 1, 100);
        let mut b = StoredCharge::new(&usage, 7, 1, 0, 0);
        assert_eq!(usage.held_by(7), 2 * record + 100 + MESSAGE_OVERHEAD);
        // 300 - 164 = 136 left: one message of 72 bytes, not two.
        assert!(a.fits(7, 1, 72));
        assert!(!b.fits(7, 2, 9));
        assert!(!usage.may_make(7, 1));
        // The store says a emptied; then b's owner changed (chown).
        a.set(7, 0, 0);
        assert!(!usage.may_make(7, 1) && a.fits(7, 2, 100));
        assert!(b.fits(8, 0, 0));
        assert_eq!((usage.held_by(7), usage.held_by(8)), (record, record));
        let root = StoredCharge::new(&usage, 0, 1, 1000, 1 << 30);
        assert!(usage.may_make(0, 255));
        // b removed from the store while its node lives: it counts no more.
        b.release();
        assert_eq!(usage.held_by(8), 0);
        drop((a, b, root));
        assert_eq!(
            (usage.held_by(0), usage.held_by(7), usage.held_by(8)),
            (0, 0, 0)
        );
    }
}
