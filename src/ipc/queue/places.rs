//! Who holds a queue's places, and pays for them: a message in progress
//! holds one from its first byte (or from its writer's open) until it
//! ends, and its bytes and slot are charged to the user who opened its
//! file description until then; whole, they are the queue owner's.
//!
//! No user but the queue's owner may hold more than half of the places
//! that way. So one user's writers that start messages and never end
//! them cannot hold the queue shut: another user's message always finds
//! a place once the queued messages are read. A writer past its share
//! waits in its open (which holds no lock of the kernel) as on a full
//! queue, and the writers behind it that are not past theirs go ahead:
//! "in turn" below means among those that may take a place. Its writes
//! never wait: one that would fails with `EAGAIN` (send.rs), since the
//! kernel holds the file's lock while a write waits.

use std::sync::Arc;

use super::send::QueueWrite;
use super::{Parking, Queue};
use crate::memory::Account;

/// What one user holds in a queue's messages in progress.
pub(super) struct Holder {
    places: usize,
    /// Charged for their bytes and slots: the user's own account (the
    /// queue's, for its owner).
    account: Arc<Account>,
}

impl<P: Parking> Queue<P> {
    /// The most places one user other than the owner may hold in
    /// messages in progress: half the queue's, rounded up.
    pub(super) fn share(&self) -> usize {
        self.max_messages().div_ceil(2)
    }

    /// Whether `uid` holds its share of places in messages in progress,
    /// so that its next message waits for one of them to end.
    pub(super) fn past_share(&self, uid: u32) -> bool {
        uid != self.budget.uid() && self.places_of(uid) >= self.share()
    }

    /// The places `uid` holds in messages in progress.
    fn places_of(&self, uid: u32) -> usize {
        (self.in_use_now())
            .and_then(|u| u.places_held.get(&uid))
            .map_or(0, |h| h.places)
    }

    /// Whether any user other than the owner holds its share: only then
    /// is a waiter passed, or a write refused, for its share. Cheap (one
    /// entry per user holding places), so that the scans of the waiters
    /// below are made only then, not on every call.
    pub(super) fn anyone_past_share(&self) -> bool {
        let owner = self.budget.uid();
        let share = self.share();
        self.in_use_now().is_some_and(|u| {
            (u.places_held)
                .iter()
                .any(|(&uid, h)| uid != owner && h.places >= share)
        })
    }

    /// Whether a new message of `uid` has a place now (waiters aside).
    pub(super) fn room_for(&self, uid: u32) -> bool {
        !self.full() && !self.past_share(uid)
    }

    /// A message in progress of `uid` takes a place.
    pub(super) fn hold_place(&mut self, uid: u32) {
        let owner = &self.budget;
        let in_use = self.in_use.get_or_insert_with(Box::default);
        in_use.reserved += 1;
        let holder = in_use.places_held.entry(uid).or_insert_with(|| Holder {
            places: 0,
            account: match owner.uid() == uid {
                true => owner.clone(),
                false => owner.of_user(uid),
            },
        });
        holder.places += 1;
    }

    /// A message in progress of `uid` ended (queued or dropped, its
    /// charge moved or given back): its place is free.
    pub(super) fn free_place(&mut self, uid: u32) {
        let in_use = self.in_use();
        in_use.reserved -= 1;
        let places_held = &mut in_use.places_held;
        if let Some(holder) = places_held.get_mut(&uid) {
            holder.places -= 1;
            if holder.places == 0 {
                places_held.remove(&uid);
            }
        }
    }

    /// The account that pays for `uid`'s messages in progress, asked
    /// only while `uid` holds a place (the owner's otherwise: never a
    /// panic, and a debug build's accounts catch the slip).
    pub(super) fn payer(&self, uid: u32) -> &Arc<Account> {
        (self.in_use_now())
            .and_then(|u| u.places_held.get(&uid))
            .map_or(&self.budget, |h| &h.account)
    }

    /// Whether a parked write's writer holds its share of places: then it
    /// must not wait (the kernel holds the file's lock while a write
    /// waits, and the queue may be full of the writer's own messages in
    /// progress).
    pub(super) fn waits_for_share(&self, w: &QueueWrite<P::Write>) -> bool {
        self.past_share(w.rest.writer())
    }

    /// Whether an open or a write waits in turn for a place, so that a
    /// newcomer must wait behind it (those waiting for their own share
    /// are passed).
    pub(super) fn waiting_in_turn(&self) -> bool {
        let Some(u) = self.in_use_now() else {
            return false;
        };
        if !self.anyone_past_share() {
            return !u.writes.is_empty() || !u.place_openers.is_empty();
        }
        u.writes.iter().any(|w| !self.waits_for_share(w))
            || (u.place_openers)
                .iter()
                .any(|(_, end)| !self.past_share(end.opener))
    }

    /// Logs that `uid`'s next message waits for its share.
    pub(super) fn log_past_share(&self, uid: u32) {
        log::info!(
            "queue: uid {uid} holds {} places in messages in progress, its share of {}; \
             its next message waits for one of them to end",
            self.share(),
            self.max_messages()
        );
    }
}
