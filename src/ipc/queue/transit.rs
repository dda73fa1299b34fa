//! A sent message's way into the queue: through its channel (channel.rs),
//! which may lose, duplicate, damage, hold back or delay it. Delayed and
//! held-back messages wait here, charged like queued ones and counted in
//! the queue's places, until their time comes: the queue says when
//! ([`Queue::next_arrival`]) and its holder's timer calls it back
//! ([`Queue::arrivals`]); no thread sleeps for them.
//!
//! A queue that never had faults has no channel at all (`transit` is
//! `None`): a perfect channel costs neither memory nor time.

use std::borrow::Cow;
use std::time::Instant;

use super::{Queue, QueueWakeups};
use crate::error::Result;
use crate::ipc::Parking;
use crate::ipc::channel::{Channel, ChannelCounters, Delivery, Faults, InFlight};
use crate::memory::MESSAGE_OVERHEAD;

/// A queue's channel and the messages it carries.
pub(super) struct Transit {
    channel: Channel,
    flight: InFlight<Vec<u8>>,
}

impl Transit {
    fn new(faults: Faults) -> Box<Transit> {
        Box::new(Transit {
            channel: Channel::new(faults),
            flight: InFlight::default(),
        })
    }

    /// What the copies held back by the channel are charged.
    fn held_charge(&self) -> usize {
        self.channel
            .held()
            .iter()
            .map(|d| charge(d.message.len()))
            .sum()
    }

    /// Keeps a delivery due at `when` if it is not due yet; gives it back
    /// to be queued now otherwise.
    fn keep_until(&mut self, message: Vec<u8>, when: Instant) -> Option<Vec<u8>> {
        if when <= Instant::now() {
            return Some(message);
        }
        self.flight.keep(when, message);
        None
    }
}

impl<P: Parking> Queue<P> {
    /// Sends a whole message, already charged (its bytes and its slot),
    /// through the channel. A perfect one queues it as it is: a borrowed
    /// one is copied (with no allocation of its own if short), an owned
    /// one kept.
    pub(super) fn transmit(&mut self, message: Cow<'_, [u8]>) {
        let Some(mut t) = self.transit.take_if(|t| !t.channel.is_perfect()) else {
            return self.queue_now(message);
        };
        // The charges follow the deliveries: the sent message's and the
        // held-back ones' are given back, then each delivery (a copy, or
        // one still held back) is charged again; a copy that cannot be
        // is not delivered. (Readers are served by the caller's settle.)
        self.budget.release(charge(message.len()) + t.held_charge());
        let now = Instant::now();
        let mut deliveries = t.channel.send(message.into_owned());
        // The sent message had a place; a duplicate needs one of its own,
        // and one that finds none is dropped, as an overflowing queue
        // would: the queue never holds more than max_messages.
        let places = self
            .max_messages()
            .saturating_sub(self.traffic.len() + self.reserved() + t.flight.len());
        while deliveries.len() + t.channel.held_count() > places {
            match deliveries.iter().position(|d| d.duplicate) {
                Some(at) => drop(deliveries.remove(at)),
                None if t.channel.drop_held_duplicate() => {}
                None => break,
            }
            log::info!("a duplicate of a queue message dropped: the queue is full");
        }
        for Delivery { message, delay, .. } in deliveries {
            if !self.budget.try_reserve(charge(message.len())) {
                log::info!("a copy of a queue message dropped: no memory left for it");
                continue;
            }
            if let Some(now_due) = t.keep_until(message, now + delay) {
                self.queue_now(now_due);
            }
        }
        let held = t.held_charge();
        if held > 0 && !self.budget.try_reserve(held) {
            // Cannot be held: it goes on at once instead.
            for d in t.channel.release_held() {
                if self.budget.try_reserve(charge(d.message.len())) {
                    if let Some(now_due) = t.keep_until(d.message, now + d.delay) {
                        self.queue_now(now_due);
                    }
                }
            }
        }
        t.flight.note_held(t.channel.holds(), now);
        self.transit = Some(t);
    }

    /// A message arrives in the queue: a borrowed one as a copy.
    fn queue_now<'a>(&mut self, message: impl Into<Cow<'a, [u8]>>) {
        match message.into() {
            Cow::Borrowed(message) => self.traffic.push_copy(message),
            Cow::Owned(message) => self.traffic.push_back(message),
        }
    }

    /// Messages the channel carries: delayed, or held back.
    pub(super) fn carried(&self) -> usize {
        self.transit
            .as_ref()
            .map_or(0, |t| t.flight.len() + t.channel.held_count())
    }

    /// When a delayed message falls due or a held-back one goes on alone.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.transit.as_ref().and_then(|t| t.flight.next_deadline())
    }

    /// Time has come for what is due at `now`: it arrives, and readers
    /// and writers waiting for it are served.
    pub fn arrivals(&mut self, now: Instant, wk: &mut QueueWakeups<P>) {
        let Some(mut t) = self.transit.take() else {
            return;
        };
        let mut due = Vec::new();
        if t.flight.hold_expired(now) {
            for d in t.channel.release_held() {
                due.extend(t.keep_until(d.message, now + d.delay));
            }
        }
        due.extend(t.flight.due(now));
        self.transit = Some(t);
        if due.is_empty() {
            return;
        }
        for message in due {
            self.queue_now(message);
        }
        self.settle(wk);
        self.notify(wk);
    }

    pub fn faults(&self) -> Faults {
        self.transit
            .as_ref()
            .map_or(Faults::PERFECT, |t| t.channel.faults())
    }

    pub fn channel_counters(&self) -> ChannelCounters {
        self.transit
            .as_ref()
            .map_or_else(ChannelCounters::default, |t| t.channel.counters())
    }

    /// Sets one of the channel's settings (see `Faults::set`), making the
    /// channel on its first setting.
    pub fn set_fault(&mut self, name: &str, value: &str) -> Result<()> {
        let mut faults = self.faults();
        faults.set(name, value)?;
        self.transit
            .get_or_insert_with(|| Transit::new(Faults::PERFECT))
            .channel
            .set(name, value)
    }

    /// The channel a new queue starts with (the mount's defaults); none
    /// for a perfect one.
    pub fn set_faults(&mut self, faults: Faults) {
        self.transit = (faults != Faults::PERFECT).then(|| Transit::new(faults));
    }
}

/// What one stored message is charged: its bytes and its slot.
fn charge(len: usize) -> usize {
    len + MESSAGE_OVERHEAD
}
