//! What each user's shared queues hold in the store, as this mount last
//! heard, and the most one user's may hold: the store's memory is kept
//! from one user as the daemon's is. A queue and its messages are its
//! owner's to pay for, as in memory: the queue's record ([`STORED_QUEUE`]
//! and its name), each message's bytes and slot ([`MESSAGE_OVERHEAD`]),
//! and each place a message in progress holds ([`STORED_PLACE`]), so
//! that neither many empty queues, nor many tiny messages, nor many
//! writers' places fill the server past the share. A create, or a write
//! or open that would add to the queue of an owner past its share, fails
//! `ENOSPC` (root has no share). Every queue this mount shows counts,
//! made here or on another host, before or after this daemon started.
//!
//! Counted from what the store says (each event carries the queue's
//! counts). Each step that adds to a queue carries the most that queue
//! may cost ([`StoredCharge::share_left`]: the share less what the
//! owner's other queues cost, as this mount last heard), which the store
//! checks as it adds: one queue never passes it, whatever the mounts and
//! writers at once. A step on its way counts too, until its answer
//! ([`Sending`]), so that steps in flight at once on several queues of
//! one owner never pass the share together from one mount; two mounts
//! may, by what the other has on its way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::ipc::queue::store::Counts;
pub use crate::memory::MESSAGE_OVERHEAD;

/// What a queue costs the server beyond its name and messages: its
/// settings' hash, its stream with its readers' group, its places' set
/// (an empty queue with a 255-byte name measured ~1.7 KB), rounded up.
pub const STORED_QUEUE: usize = 2048;

/// What a place costs the server: its member (the holder's uid, this
/// daemon's name and a number) in the places' sorted set (79,960 places
/// measured 10.6 MB, 133 bytes each), rounded up.
pub const STORED_PLACE: usize = 160;

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
    /// What its messages and places cost, as the store last said.
    contents: usize,
}

/// What a queue's messages and places cost the server.
pub fn contents_cost(counts: Counts) -> usize {
    counts
        .bytes
        .saturating_add(counts.messages.saturating_mul(MESSAGE_OVERHEAD))
        .saturating_add(counts.places.saturating_mul(STORED_PLACE))
}

impl StoredCharge {
    /// A queue named with `name_len` bytes, holding `counts`.
    pub fn new(of: &Arc<StoredBytes>, owner: u32, name_len: usize, counts: Counts) -> StoredCharge {
        let record = STORED_QUEUE + name_len;
        let contents = contents_cost(counts);
        of.add(owner, record + contents);
        StoredCharge {
            of: of.clone(),
            owner,
            record,
            contents,
        }
    }

    fn total(&self) -> usize {
        self.record + self.contents
    }

    /// The store says the queue holds `counts`; its owner is `owner` now
    /// (a chown moves the whole count).
    pub fn set(&mut self, owner: u32, counts: Counts) {
        self.of.sub(self.owner, self.total());
        self.contents = contents_cost(counts);
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
        (self.record, self.contents) = (0, 0);
    }

    /// Whether `owner`'s queues may take `count` more messages of `bytes`
    /// in all.
    pub fn fits(&mut self, owner: u32, count: usize, bytes: usize) -> bool {
        self.follow(owner);
        let more = contents_cost(Counts {
            messages: count,
            bytes,
            places: 0,
        });
        self.of.fits(owner, more, &format_args!("{more} more"))
    }

    /// The most this queue's messages and places may cost the server, now
    /// that `owner` owns it: its share less what its other queues cost
    /// (and this one's record); `None` for root, which has no share.
    pub fn share_left(&mut self, owner: u32) -> Option<usize> {
        self.follow(owner);
        let others = self.of.held_by(owner).saturating_sub(self.total());
        (owner != 0).then(|| {
            self.of
                .share
                .saturating_sub(others)
                .saturating_sub(self.record)
        })
    }
}

/// What a step on its way to the store may add to a queue, counted for
/// the queue's owner until the step's answer comes: by then the store
/// has said what the queue holds (the worker tells the queue before it
/// answers), so that nothing the step added goes uncounted between.
#[derive(Debug)]
pub struct Sending {
    of: Arc<StoredBytes>,
    owner: u32,
    bytes: usize,
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.of.sub(self.owner, self.bytes);
    }
}

impl StoredCharge {
    /// Counts `bytes` a step to the store may add for `owner`, until the
    /// step's answer (the guard dropped).
    pub fn sending(&mut self, owner: u32, bytes: usize) -> Sending {
        self.follow(owner);
        self.of.add(owner, bytes);
        Sending {
            of: self.of.clone(),
            owner,
            bytes,
        }
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

    fn holding(messages: usize, bytes: usize, places: usize) -> Counts {
        Counts {
            messages,
            bytes,
            places,
        }
    }

    #[test]
    fn a_users_queues_messages_and_places_share_one_count_and_root_has_no_share() {
        let record = STORED_QUEUE + 1;
        let usage = StoredBytes::new(2 * record + 300 + STORED_PLACE);
        let mut a = StoredCharge::new(&usage, 7, 1, holding(1, 100, 1));
        let mut b = StoredCharge::new(&usage, 7, 1, Counts::default());
        assert_eq!(
            usage.held_by(7),
            2 * record + 100 + MESSAGE_OVERHEAD + STORED_PLACE
        );
        // 300 - 164 = 136 left: one message of 72 bytes, not two.
        assert!(a.fits(7, 1, 72));
        assert!(!b.fits(7, 2, 9));
        assert!(!usage.may_make(7, 1));
        // What each queue may cost in all: the share less the other's.
        assert_eq!(a.share_left(7), Some(300 + STORED_PLACE));
        assert_eq!(b.share_left(7), Some(300 - 164));
        // Steps on their way count until answered, for every queue.
        let on_its_way = a.sending(7, 100);
        assert_eq!(b.share_left(7), Some(300 - 164 - 100));
        assert!(!a.fits(7, 1, 40));
        drop(on_its_way);
        assert!(a.fits(7, 1, 40));
        assert_eq!(b.share_left(7), Some(300 - 164));
        // The store says a emptied; then b's owner changed (chown).
        a.set(7, Counts::default());
        assert!(!usage.may_make(7, 1) && a.fits(7, 2, 100));
        assert!(b.fits(8, 0, 0));
        assert_eq!((usage.held_by(7), usage.held_by(8)), (record, record));
        let root = StoredCharge::new(&usage, 0, 1, holding(1000, 1 << 30, 9));
        assert!(usage.may_make(0, 255));
        assert_eq!(
            StoredCharge::new(&usage, 0, 1, Counts::default()).share_left(0),
            None
        );
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
