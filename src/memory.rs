//! The memory the daemon holds for users, and who holds it.
//!
//! Every byte an object holds on behalf of its users (pipe buffers, queued
//! messages and their per-message overhead, parked writes' data, unread
//! rests of received messages, shared-memory files, object records and
//! names, status snapshots) is reserved here before it is stored and
//! released when it leaves. A reservation passes two limits or fails:
//! the mount's cap (`--max-memory`), and the share of the user it is
//! charged to (`--max-memory-per-user`, like POSIX mq's RLIMIT_MSGQUEUE),
//! so that one user cannot leave the others nothing. Objects are counted
//! per user too (`--max-objects-per-user`, like `fs.mqueue.queues_max`).
//! Root (uid 0) is held to the mount's cap only.
//!
//! What an object holds is charged to its owner, through the object's
//! [`Account`]: a user can fill another user's object only as far as that
//! object's own limits (a pipe's capacity, a queue's `max_messages`),
//! which its owner sets. A failed reservation changes nothing, and the
//! caller turns it into `ENOSPC` without touching what is already stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::descriptors;
use crate::error::{Error, Result};

/// What one object's record costs beyond its name, charged at creation:
/// the tree's entry, the object's state and its locks, rounded up (a
/// queue measured ~650 bytes).
pub const OBJECT_RECORD: usize = 1024;

/// What a queued message costs beyond its bytes: its slot in the queue
/// and its allocation's header, rounded up (a 1-byte message measured
/// ~55 bytes of resident memory).
pub const MESSAGE_OVERHEAD: usize = 64;

/// How far what is held must fall below its high-water mark before the
/// allocator is asked to give memory back.
const TRIM_STEP: usize = 1 << 20;

/// Asks the C allocator to give its free pages back (glibc keeps them).
fn trim_allocator() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases memory the allocator holds free;
    // it touches no memory of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Per-user limits; `usize::MAX` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserLimits {
    pub bytes: usize,
    pub objects: usize,
}

impl UserLimits {
    pub const NONE: UserLimits = UserLimits {
        bytes: usize::MAX,
        objects: usize::MAX,
    };
}

/// What one user holds now.
#[derive(Debug)]
struct Usage {
    uid: u32,
    bytes: AtomicUsize,
    objects: AtomicUsize,
}

#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
    /// The most held since the allocator was last trimmed.
    high: AtomicUsize,
    user_limits: UserLimits,
    users: Mutex<HashMap<u32, Arc<Usage>>>,
}

impl MemoryBudget {
    /// A budget with a mount cap and no per-user limits.
    pub fn new(limit: usize) -> Arc<Self> {
        Self::with_user_limits(limit, UserLimits::NONE)
    }

    pub fn with_user_limits(limit: usize, user_limits: UserLimits) -> Arc<Self> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
            high: AtomicUsize::new(0),
            user_limits,
            users: Mutex::new(HashMap::new()),
        })
    }

    /// Reserves `bytes` against the mount's cap alone, all or nothing.
    /// Returns false when the cap would be passed; nothing is reserved
    /// then.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(bytes).filter(|n| *n <= self.limit) else {
                return false;
            };
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.high.fetch_max(next, Ordering::Relaxed);
                    return true;
                }
                Err(actual) => used = actual,
            }
        }
    }

    /// Gives back bytes reserved earlier.
    pub fn release(&self, bytes: usize) {
        let before = self.used.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(before >= bytes, "released more than reserved");
        self.note_freed();
    }

    /// Hands memory freed by draining back to the system. The allocator
    /// keeps freed blocks (a flood of one-byte messages leaves a heap of
    /// them) for reuse; once what is held has fallen `TRIM_STEP` below
    /// its high-water mark since the last trim, it is asked to return its
    /// free pages. A steady flow (a pipe that fills and drains its
    /// buffer) never falls that far, and never pays for a trim.
    fn note_freed(&self) {
        let used = self.used.load(Ordering::Relaxed);
        let high = self.high.load(Ordering::Relaxed);
        if high.saturating_sub(used) >= TRIM_STEP
            && self
                .high
                .compare_exchange(high, used, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            trim_allocator();
        }
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn user_limits(&self) -> UserLimits {
        self.user_limits
    }

    /// Bytes and objects `uid` holds now.
    pub fn held_by(&self, uid: u32) -> (usize, usize) {
        match self.lock_users().get(&uid) {
            Some(u) => (
                u.bytes.load(Ordering::Relaxed),
                u.objects.load(Ordering::Relaxed),
            ),
            None => (0, 0),
        }
    }

    /// An account charged to `uid` that is not an object (a status
    /// snapshot's).
    pub fn account(self: &Arc<Self>, uid: u32) -> Arc<Account> {
        Arc::new(Account {
            budget: self.clone(),
            owner: Mutex::new(self.usage(uid)),
            held: AtomicUsize::new(0),
            object: false,
        })
    }

    /// The account of a new object owned by `uid` with a name of
    /// `name_len` bytes: one more of the user's objects (`EMFILE` past
    /// their limit), and its record charged (`ENOSPC` past a cap). The
    /// object is counted until the account is dropped.
    pub fn object_account(self: &Arc<Self>, uid: u32, name_len: usize) -> Result<Arc<Account>> {
        let usage = self.usage(uid);
        let limit = self.user_limits.objects;
        let counted = usage
            .objects
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (uid == 0 || n < limit).then_some(n + 1)
            });
        if counted.is_err() {
            log::warn!(
                "uid {uid} may not make another object: it has {limit} \
                 (--max-objects-per-user)"
            );
            return Err(Error::TooManyObjects);
        }
        if uid != 0 && !descriptors::room_for_users() {
            usage.objects.fetch_sub(1, Ordering::Relaxed);
            log::warn!(
                "uid {uid} may not make another object: the daemon's last \
                 descriptors are kept for root"
            );
            return Err(Error::TooManyObjects);
        }
        let account = Arc::new(Account {
            budget: self.clone(),
            owner: Mutex::new(usage),
            held: AtomicUsize::new(0),
            object: true,
        });
        // The account is an object from here on: dropping it on failure
        // uncounts it.
        if !account.try_reserve(OBJECT_RECORD + name_len) {
            return Err(Error::NoSpace);
        }
        Ok(account)
    }

    fn usage(&self, uid: u32) -> Arc<Usage> {
        let mut users = self.lock_users();
        let usage = users.entry(uid).or_insert_with(|| {
            Arc::new(Usage {
                uid,
                bytes: AtomicUsize::new(0),
                objects: AtomicUsize::new(0),
            })
        });
        usage.clone()
    }

    fn lock_users(&self) -> MutexGuard<'_, HashMap<u32, Arc<Usage>>> {
        crate::locks::lock(&self.users)
    }
}

/// What one object (or one snapshot) holds, charged to its owner: the
/// same calls as the budget's, with the owner's share checked too.
#[derive(Debug)]
pub struct Account {
    budget: Arc<MemoryBudget>,
    /// The usage of the uid charged (its uid in it: an account is one
    /// per object, and kept small). Locked for every change, so that a
    /// change of owner moves exactly what is held.
    owner: Mutex<Arc<Usage>>,
    /// Bytes reserved through this account and not yet released.
    held: AtomicUsize,
    /// Whether this account counts as one of its owner's objects.
    object: bool,
}

impl Account {
    /// Reserves `bytes` for the owner, all or nothing: false (and a log
    /// line naming the limit) when the owner's share or the mount's cap
    /// would be passed.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        self.reserve(bytes, true)
    }

    /// Reserves `bytes` as [`Account::try_reserve`] does, with no log line
    /// when they do not fit: for a charge taken for many things at once
    /// (a batch's messages), whose caller then charges them one by one and
    /// logs the one refused.
    pub fn try_reserve_quietly(&self, bytes: usize) -> bool {
        self.reserve(bytes, false)
    }

    fn reserve(&self, bytes: usize, log_refusal: bool) -> bool {
        let owner = self.lock_owner();
        let (uid, usage) = (&owner.uid, &*owner);
        let share = self.budget.user_limits.bytes;
        // The user's share is checked and taken in one atomic step: two
        // objects of one user reserving at once cannot both pass a check
        // only one of them fits.
        let took = usage
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(bytes).filter(|n| *uid == 0 || *n <= share)
            });
        if let Err(held) = took {
            if !log_refusal {
                return false;
            }
            log::warn!(
                "uid {uid} refused {bytes} more bytes: it holds {held} of its \
                 {share} (--max-memory-per-user)"
            );
            return false;
        }
        if !self.budget.try_reserve(bytes) {
            usage.bytes.fetch_sub(bytes, Ordering::Relaxed);
            if !log_refusal {
                return false;
            }
            log::warn!(
                "uid {uid} refused {bytes} more bytes: the mount holds {} of its \
                 {} (--max-memory)",
                self.budget.used(),
                self.budget.limit
            );
            return false;
        }
        self.held.fetch_add(bytes, Ordering::Relaxed);
        true
    }

    /// Reserves `bytes` (as [`Account::try_reserve`]) for as long as the
    /// returned guard lives: for data whose holder has many ways to let
    /// go of it (a parked write answered, cancelled or drained).
    pub fn hold(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        self.try_reserve(bytes).then(|| Held {
            account: self.clone(),
            bytes,
        })
    }

    /// A guard for `bytes` already reserved through this account, given
    /// back when it is dropped (a queued message's charge, kept while a
    /// reader holds the message).
    pub fn adopt(self: &Arc<Self>, bytes: usize) -> Held {
        Held {
            account: self.clone(),
            bytes,
        }
    }

    /// Gives back bytes reserved earlier through this account.
    pub fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let owner = self.lock_owner();
        owner.bytes.fetch_sub(bytes, Ordering::Relaxed);
        let before = self.held.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(before >= bytes, "released more than reserved");
        self.budget.release(bytes);
    }

    /// An account of the same budget charged to `uid`, not one of its
    /// objects: for what `uid` holds in another's object (its messages
    /// in progress in a queue).
    pub fn of_user(&self, uid: u32) -> Arc<Account> {
        self.budget.account(uid)
    }

    /// Moves `bytes` held through this account to `to` (a message in
    /// progress, whole, becomes its queue's). The mount holds what it
    /// held: only who is charged changes, and `to`'s owner's share may be
    /// passed by it, as by a chown. The two accounts are changed one
    /// after the other, never both locked.
    pub fn transfer(&self, to: &Account, bytes: usize) {
        if bytes == 0 || std::ptr::eq(self, to) {
            return;
        }
        {
            let owner = self.lock_owner();
            owner.bytes.fetch_sub(bytes, Ordering::Relaxed);
            let before = self.held.fetch_sub(bytes, Ordering::Relaxed);
            debug_assert!(before >= bytes, "moved more than held");
        }
        let owner = to.lock_owner();
        owner.bytes.fetch_add(bytes, Ordering::Relaxed);
        to.held.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The mount's cap, for log lines.
    pub fn limit(&self) -> usize {
        self.budget.limit
    }

    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    pub fn uid(&self) -> u32 {
        self.lock_owner().uid
    }

    /// `chown`: what the object holds is charged to `uid` from now on
    /// (the new owner's share may be passed by it; only root gives
    /// objects away).
    pub fn set_owner(&self, uid: u32) {
        let mut owner = self.lock_owner();
        if owner.uid == uid {
            return;
        }
        let to = self.budget.usage(uid);
        let held = self.held.load(Ordering::Relaxed);
        owner.bytes.fetch_sub(held, Ordering::Relaxed);
        to.bytes.fetch_add(held, Ordering::Relaxed);
        if self.object {
            owner.objects.fetch_sub(1, Ordering::Relaxed);
            to.objects.fetch_add(1, Ordering::Relaxed);
        }
        *owner = to;
    }

    fn lock_owner(&self) -> MutexGuard<'_, Arc<Usage>> {
        crate::locks::lock(&self.owner)
    }
}

/// Bytes reserved through an account until this is dropped.
#[derive(Debug)]
pub struct Held {
    account: Arc<Account>,
    bytes: usize,
}

impl Held {
    /// Gives back `n` of its bytes (at most all): they left, or another
    /// charge took them.
    pub fn give_back(&mut self, n: usize) {
        let n = n.min(self.bytes);
        self.account.release(n);
        self.bytes -= n;
    }

    /// Reserves `n` more on the same account; false, and nothing taken,
    /// past a limit.
    pub fn grow(&mut self, n: usize) -> bool {
        let took = self.account.try_reserve(n);
        if took {
            self.bytes += n;
        }
        took
    }

    /// Moves `n` of its bytes (at most all) to `to`, which pays for them
    /// from now on (they went into an object of `to`'s): on the same
    /// account the charge only changes holder; else `to` reserves them
    /// first, and false (nothing moved) when it cannot.
    pub fn move_to(&mut self, to: &Arc<Account>, n: usize) -> bool {
        let n = n.min(self.bytes);
        if !Arc::ptr_eq(&self.account, to) {
            if !to.try_reserve(n) {
                return false;
            }
            self.account.release(n);
        }
        self.bytes -= n;
        true
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.account.release(self.bytes);
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let held = self.held.load(Ordering::Relaxed);
        self.release(held);
        if self.object {
            self.lock_owner().objects.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_up_to_the_limit_and_not_past_it() {
        let budget = MemoryBudget::new(100);
        assert!(budget.try_reserve(60));
        assert!(!budget.try_reserve(41));
        assert_eq!(budget.used(), 60);
        assert!(budget.try_reserve(40));
        budget.release(100);
        assert_eq!(budget.used(), 0);
    }

    fn limited() -> Arc<MemoryBudget> {
        MemoryBudget::with_user_limits(
            10_000,
            UserLimits {
                bytes: 4_000,
                objects: 2,
            },
        )
    }

    #[test]
    fn a_user_is_held_to_its_share_and_others_still_get_theirs() {
        let budget = limited();
        let a = budget.account(1000);
        assert!(a.try_reserve(4_000));
        assert!(!a.try_reserve(1), "past uid 1000's share");
        let b = budget.account(1001);
        assert!(b.try_reserve(4_000), "another user still has its share");
        let root = budget.account(0);
        assert!(root.try_reserve(2_000), "root has no share, only the cap");
        assert!(!root.try_reserve(1), "but the cap holds for root too");
        assert_eq!(budget.held_by(1000), (4_000, 0));
        a.release(1_000);
        assert!(a.try_reserve(1_000));
        drop(a);
        assert_eq!(budget.held_by(1000), (0, 0));
        assert_eq!(budget.used(), 6_000);
        let held = b.hold(0).expect("nothing to hold");
        drop(held);
        assert!(b.hold(1).is_none(), "past uid 1001's share");
        drop(b);
        assert_eq!(budget.used(), 2_000);
    }

    #[test]
    fn a_share_is_never_overrun_by_reserves_at_once() {
        let budget = MemoryBudget::with_user_limits(
            1 << 30,
            UserLimits {
                bytes: 1000,
                objects: 100,
            },
        );
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let account = budget.account(1000);
                std::thread::spawn(move || {
                    let mut taken = 0;
                    for _ in 0..200 {
                        if account.try_reserve(10) {
                            taken += 10;
                        }
                    }
                    (account, taken)
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let total: usize = results.iter().map(|(_, t)| t).sum();
        assert_eq!(total, 1000, "the whole share, and not a byte more");
        assert_eq!(budget.used(), 1000);
    }

    #[test]
    fn objects_are_counted_and_their_records_charged() {
        let budget = limited();
        let one = budget.object_account(1000, 10).unwrap();
        let two = budget.object_account(1000, 10).unwrap();
        assert_eq!(
            budget.object_account(1000, 10).unwrap_err(),
            Error::TooManyObjects
        );
        assert_eq!(budget.held_by(1000), (2 * (OBJECT_RECORD + 10), 2));
        drop(one);
        assert_eq!(budget.held_by(1000).1, 1);
        assert!(budget.object_account(0, 10).is_ok(), "root is not limited");
        // A change of owner moves what the object holds, and the object.
        assert!(two.try_reserve(100));
        two.set_owner(1001);
        assert_eq!(budget.held_by(1000), (0, 0));
        assert_eq!(budget.held_by(1001), (OBJECT_RECORD + 110, 1));
        drop(two);
        assert_eq!(budget.held_by(1001), (0, 0));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_transfer_moves_the_charge_and_not_the_total() {
        let budget = limited();
        let queue = budget.account(1000);
        assert!(queue.try_reserve(4_000), "the owner's whole share");
        let writer = queue.of_user(1001);
        assert!(writer.try_reserve(500));
        writer.transfer(&queue, 500);
        assert_eq!(budget.held_by(1001), (0, 0));
        assert_eq!(budget.held_by(1000), (4_500, 0), "past its share");
        assert_eq!(budget.used(), 4_500);
        queue.transfer(&queue, 100);
        assert_eq!(queue.held(), 4_500, "to itself, nothing moves");
        drop(writer);
        drop(queue);
        assert_eq!(budget.used(), 0);
    }
}
