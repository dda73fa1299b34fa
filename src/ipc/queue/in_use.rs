//! What a queue holds only while it is in use: how many descriptions
//! are open, their receive states and messages in progress, the places
//! those hold, its parked calls and its poll handles.
//!
//! Most of a mount's queues are idle most of the time (a hundred
//! thousand made and never opened again, at scale), and all of this is
//! empty then. It is kept in one box, made on first need and dropped
//! once it is empty again: an idle queue costs one pointer for it, not
//! a few hundred bytes of empty maps and wait queues.
//!
//! Invariant: `Queue::in_use` is `None` or holds something, except
//! between a change and the `rest_when_idle` that follows it; `None`
//! means the same as a box with every part empty, and every reader
//! treats it so.

use std::collections::HashMap;

use super::places::Holder;
use super::send::QueueWrite;
use super::{Parking, Queue, QueueEnd};
use crate::ipc::compose::Composition;
use crate::ipc::reception::Reception;
use crate::ipc::{ParkedRead, Pollers};
use crate::wait::WaitQueue;

pub(super) struct InUse<P: Parking> {
    /// Open descriptions, by end: the queue is in use while any is open.
    pub(super) readers: usize,
    pub(super) writers: usize,
    /// Places in the queue messages in progress hold (by whom: in
    /// `places_held`).
    pub(super) reserved: usize,
    /// Receive state, by file description open for reading.
    pub(super) receptions: HashMap<u64, Reception>,
    pub(super) reads: WaitQueue<ParkedRead<P::Read, QueueEnd>>,
    pub(super) writes: WaitQueue<QueueWrite<P::Write>>,
    pub(super) pollers: Pollers<P::Poll>,
    /// Messages in progress, by file description.
    pub(super) compositions: HashMap<u64, Composition>,
    /// The places in the queue those messages hold, by the uid that
    /// opened their description, with the account that pays for them.
    pub(super) places_held: HashMap<u32, Holder>,
    /// Opens for writing waiting for a place for their first message.
    pub(super) place_openers: WaitQueue<(P::Open, QueueEnd)>,
}

impl<P: Parking> Default for InUse<P> {
    fn default() -> Self {
        InUse {
            readers: 0,
            writers: 0,
            reserved: 0,
            receptions: HashMap::new(),
            reads: WaitQueue::new(),
            writes: WaitQueue::new(),
            pollers: Pollers::default(),
            compositions: HashMap::new(),
            places_held: HashMap::new(),
            place_openers: WaitQueue::new(),
        }
    }
}

impl<P: Parking> InUse<P> {
    /// Calls parked in the queue.
    pub(super) fn blocked(&self) -> usize {
        self.reads.len() + self.writes.len() + self.place_openers.len()
    }

    fn is_empty(&self) -> bool {
        self.readers == 0
            && self.writers == 0
            && self.receptions.is_empty()
            && self.reads.is_empty()
            && self.writes.is_empty()
            && self.pollers.is_empty()
            && self.compositions.is_empty()
            && self.places_held.is_empty()
            && self.place_openers.is_empty()
    }
}

impl<P: Parking> Queue<P> {
    /// The state in use, made empty if the queue had none.
    pub(super) fn in_use(&mut self) -> &mut InUse<P> {
        self.in_use.get_or_insert_with(Box::default)
    }

    /// The state in use, to look at: `None` when all of it is empty.
    pub(super) fn in_use_now(&self) -> Option<&InUse<P>> {
        self.in_use.as_deref()
    }

    /// Places messages in progress hold in the queue.
    pub(super) fn reserved(&self) -> usize {
        self.in_use_now().map_or(0, |u| u.reserved)
    }

    /// The message in progress of `end`, if it has one.
    pub(super) fn composition(&self, end: QueueEnd) -> Option<&Composition> {
        self.in_use_now()?.compositions.get(&end.id)
    }

    /// Gives the state in use back once nothing is in it: after a call
    /// that may have emptied it (a release, a cancel, a flush).
    pub(super) fn rest_when_idle(&mut self) {
        if self.in_use.as_ref().is_some_and(|u| u.is_empty()) {
            self.in_use = None;
        }
    }
}
