//! The parking seam: callers that would block are stored, never slept on.
//!
//! A [`WaitQueue`] holds parked callers of one object and one direction in
//! arrival order. What is parked is generic: the FUSE adapter parks reply
//! objects, the unit tests park plain values. A parked caller leaves the
//! queue in one of three ways, and exactly one: it is served (popped from
//! the front, or taken by id when the object decides so), it is cancelled
//! because its caller got a signal ([`WaitQueue::remove`]), or it is drained
//! at unmount ([`WaitQueue::drain`]).

use std::collections::VecDeque;

/// Identifies one parked call across the whole daemon. The adapter uses the
/// FUSE request's unique id, which the kernel never reuses while the request
/// is outstanding.
pub type WaiterId = u64;

#[derive(Debug)]
pub struct WaitQueue<T> {
    entries: VecDeque<(WaiterId, T)>,
}

impl<T> Default for WaitQueue<T> {
    fn default() -> Self {
        WaitQueue {
            entries: VecDeque::new(),
        }
    }
}

impl<T> WaitQueue<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, id: WaiterId, waiter: T) {
        self.entries.push_back((id, waiter));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The id of the oldest waiter.
    pub fn front_id(&self) -> Option<WaiterId> {
        self.entries.front().map(|(id, _)| *id)
    }

    pub fn front(&self) -> Option<&T> {
        self.entries.front().map(|(_, w)| w)
    }

    pub fn front_mut(&mut self) -> Option<&mut T> {
        self.entries.front_mut().map(|(_, w)| w)
    }

    pub fn pop_front(&mut self) -> Option<(WaiterId, T)> {
        self.entries.pop_front()
    }

    /// Takes the waiter with this id out of the queue, wherever it stands.
    /// `None` if it is not parked here (already served, or never was).
    pub fn remove(&mut self, id: WaiterId) -> Option<T> {
        let index = self.entries.iter().position(|(i, _)| *i == id)?;
        self.entries.remove(index).map(|(_, w)| w)
    }

    /// The id of the oldest waiter for which `pred` holds.
    pub fn first_id_where(&self, pred: impl Fn(&T) -> bool) -> Option<WaiterId> {
        self.entries
            .iter()
            .find(|(_, w)| pred(w))
            .map(|(id, _)| *id)
    }

    /// Moves the waiter with this id to the front (the object serves it
    /// before those it passes); nothing if it is not parked here.
    pub fn to_front(&mut self, id: WaiterId) {
        if let Some(index) = self.entries.iter().position(|(i, _)| *i == id) {
            let entry = self.entries.remove(index).expect("the index is in range");
            self.entries.push_front(entry);
        }
    }

    /// The waiters, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, w)| w)
    }

    /// The ids parked here, oldest first.
    pub fn ids(&self) -> Vec<WaiterId> {
        self.entries.iter().map(|(id, _)| *id).collect()
    }

    /// Every waiter, oldest first, leaving the queue empty.
    pub fn drain(&mut self) -> impl Iterator<Item = (WaiterId, T)> + '_ {
        self.entries.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue of `entries` parked in that order.
    fn parked<T>(entries: &[(WaiterId, T)]) -> WaitQueue<T>
    where
        T: Copy,
    {
        let mut q = WaitQueue::new();
        for &(id, waiter) in entries {
            q.push(id, waiter);
        }
        q
    }

    #[test]
    fn serves_in_arrival_order() {
        let mut q = parked(&[(7, "a"), (3, "b"), (9, "c")]);
        let served: Vec<_> = std::iter::from_fn(|| q.pop_front()).collect();
        assert_eq!(served, [(7, "a"), (3, "b"), (9, "c")]);
        assert_eq!(q.pop_front(), None);
    }

    #[test]
    fn remove_takes_one_from_the_middle_and_keeps_order() {
        let mut q = parked(&[(1, 'x'), (2, 'y'), (3, 'z')]);
        assert_eq!(q.remove(2), Some('y'));
        assert_eq!(q.remove(2), None);
        assert_eq!(q.len(), 2);
        let rest: Vec<_> = q.drain().collect();
        assert_eq!(rest, vec![(1, 'x'), (3, 'z')]);
        assert!(q.is_empty());
    }

    #[test]
    fn parks_channels_like_replies() {
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        let mut q = WaitQueue::new();
        q.push(42, tx);
        let (_, reply) = q.pop_front().unwrap();
        reply.send(5).unwrap();
        assert_eq!(rx.recv().unwrap(), 5);
    }
}
