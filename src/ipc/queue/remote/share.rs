//! The opens that wait because their user holds its share of a shared
//! queue's places (no user but the owner may hold more than half of
//! them in messages in progress: the store counts, places.rs says why).
//!
//! They wait apart from the calls that wait for room, so that one user
//! past its share never holds back another's open or write, as in
//! memory; each user's in order. At every change of the queue (a message
//! or place went in or out, on any host), each user's oldest is asked
//! again, one step per user, not one per waiter: a user with thousands
//! of opens parked costs one step per change.

use std::collections::{BTreeMap, HashSet};

use crate::wait::{WaitQueue, WaiterId};

pub(super) struct ShareWaiters<A> {
    by_user: BTreeMap<u32, WaitQueue<A>>,
    /// Users whose oldest is being asked again: not asked twice at once.
    asking: HashSet<u32>,
    /// Users of `asking` for whom a change came while it was asked: an
    /// answer "past share" may predate it, so the waiter asks again at
    /// once rather than wait for a change that came already.
    changed: HashSet<u32>,
}

impl<A> Default for ShareWaiters<A> {
    fn default() -> Self {
        ShareWaiters {
            by_user: BTreeMap::new(),
            asking: HashSet::new(),
            changed: HashSet::new(),
        }
    }
}

impl<A> ShareWaiters<A> {
    /// Whether `user` has opens waiting for its share: a new one waits
    /// behind them.
    pub fn has(&self, user: u32) -> bool {
        self.by_user.contains_key(&user)
    }

    /// `user`'s open `id` waits, behind the user's others; an open asked
    /// again and still past its share goes back in front (`oldest`).
    /// Returns it to be asked again at once if a change came meanwhile.
    pub fn wait(&mut self, user: u32, id: WaiterId, waiter: A, oldest: bool) -> Option<A> {
        if oldest {
            self.asking.remove(&user);
            if self.changed.remove(&user) {
                self.asking.insert(user);
                return Some(waiter);
            }
        }
        let queue = self.by_user.entry(user).or_default();
        queue.push(id, waiter);
        if oldest {
            queue.to_front(id);
        }
        None
    }

    /// An answer other than "past share" came for `user`'s open asked
    /// again: the user's next is asked at the next change.
    pub fn answered(&mut self, user: u32) {
        self.asking.remove(&user);
        self.changed.remove(&user);
    }

    /// The queue changed: each user's oldest, to ask again (and marked
    /// as being asked), but for users whose oldest is being asked now.
    pub fn due(&mut self) -> Vec<(WaiterId, A)> {
        let mut due = Vec::new();
        for (user, queue) in &mut self.by_user {
            if self.asking.contains(user) {
                self.changed.insert(*user);
                continue;
            }
            if let Some(front) = queue.pop_front() {
                self.asking.insert(*user);
                due.push(front);
            }
        }
        self.by_user.retain(|_, q| !q.is_empty());
        due
    }

    /// Takes waiter `id` out (interrupted).
    pub fn remove(&mut self, id: WaiterId) -> Option<A> {
        let (user, waiter) = self
            .by_user
            .iter_mut()
            .find_map(|(user, q)| q.remove(id).map(|w| (*user, w)))?;
        if self.by_user.get(&user).is_some_and(WaitQueue::is_empty) {
            self.by_user.remove(&user);
        }
        Some(waiter)
    }

    /// Every waiter, each user's in order (to answer them all).
    pub fn take_all(&mut self) -> Vec<(WaiterId, A)> {
        let mut all = Vec::new();
        for (_, mut queue) in std::mem::take(&mut self.by_user) {
            all.extend(queue.drain());
        }
        self.asking.clear();
        self.changed.clear();
        all
    }

    pub fn ids(&self) -> Vec<WaiterId> {
        self.by_user.values().flat_map(WaitQueue::ids).collect()
    }

    pub fn len(&self) -> usize {
        self.by_user.values().map(WaitQueue::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_users_oldest_is_asked_once_per_change() {
        let mut w = ShareWaiters::default();
        for (user, id) in [(7, 1), (7, 2), (8, 3), (7, 4)] {
            assert!(w.wait(user, id, id, false).is_none());
        }
        assert_eq!(w.due(), [(1, 1), (3, 3)]);
        // Being asked: a change now marks them, asks no more.
        assert_eq!(w.due(), []);
        // 7's is past its share still, but a change came while asked:
        // asked again at once.
        assert_eq!(w.wait(7, 1, 1, true), Some(1));
        // 8's got its place; 7's asked again is past its share once more,
        // with no change since: it waits in front of 7's others.
        w.answered(8);
        assert_eq!(w.wait(7, 1, 1, true), None);
        assert_eq!(w.ids(), [1, 2, 4]);
        assert_eq!(w.due(), [(1, 1)]);
        w.answered(7);
        assert_eq!(w.due(), [(2, 2)]);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn an_interrupted_waiter_leaves_and_all_can_be_taken() {
        let mut w = ShareWaiters::default();
        for (user, id) in [(7, 1), (8, 2), (8, 3)] {
            w.wait(user, id, id, false);
        }
        assert_eq!(w.remove(1), Some(1));
        assert!(!w.has(7));
        assert!(w.has(8));
        assert_eq!(w.remove(1), None);
        assert_eq!(w.take_all(), [(2, 2), (3, 3)]);
        assert_eq!(w.len(), 0);
    }
}
