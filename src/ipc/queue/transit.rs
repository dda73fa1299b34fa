//! A sent message's way into the queue: through its channel (channel.rs),
//! which may lose, duplicate, damage, hold back or delay it. Delayed and
//! held-back messages wait here, charged like queued ones and counted in
//! the queue's places, until their time comes: the queue says when
//! ([`Queue::next_arrival`]) and its holder's timer calls it back
//! ([`Queue::arrivals`]); no thread sleeps for them.

use std::time::Instant;

use super::{Queue, QueueWakeups};
use crate::error::Result;
use crate::ipc::Parking;
use crate::ipc::channel::{ChannelCounters, Delivery, Faults, REORDER_HOLD};
use crate::memory::MESSAGE_OVERHEAD;

impl<P: Parking> Queue<P> {
    /// Sends a whole message, already charged (its bytes and its slot),
    /// through the channel.
    pub(super) fn transmit(&mut self, message: Vec<u8>) {
        if self.channel.is_perfect() {
            self.bytes += message.len();
            self.messages.push_back(message);
            return;
        }
        // The charges follow the deliveries: the sent message's and the
        // held-back ones' are given back, then each delivery (a copy, or
        // one still held back) is charged again; a copy that cannot be
        // is not delivered.
        let held_before = self.held_charge();
        self.budget.release(charge(message.len()) + held_before);
        let now = Instant::now();
        for Delivery { message, delay } in self.channel.send(message) {
            if !self.budget.try_reserve(charge(message.len())) {
                log::info!("a copy of a queue message dropped: no memory left for it");
                continue;
            }
            // Readers are served by the caller's settle.
            self.arrive(message, now + delay);
        }
        let held_now = self.held_charge();
        if held_now > 0 && !self.budget.try_reserve(held_now) {
            // Cannot be held: it goes on at once instead.
            for d in self.channel.release_held() {
                if self.budget.try_reserve(charge(d.message.len())) {
                    self.arrive(d.message, now + d.delay);
                }
            }
        }
        self.held_until = match (self.channel.holds(), self.held_until) {
            (false, _) => None,
            (true, Some(t)) => Some(t),
            (true, None) => Some(now + REORDER_HOLD),
        };
    }

    /// A delivery reaches the queue at `when`: now (true), or later from
    /// the in-flight messages.
    fn arrive(&mut self, message: Vec<u8>, when: Instant) -> bool {
        if when <= Instant::now() {
            self.bytes += message.len();
            self.messages.push_back(message);
            true
        } else {
            self.sent_in_flight += 1;
            self.in_flight.insert((when, self.sent_in_flight), message);
            false
        }
    }

    /// What the copies held back by the channel are charged.
    fn held_charge(&self) -> usize {
        self.channel
            .held()
            .iter()
            .map(|d| charge(d.message.len()))
            .sum()
    }

    /// Messages the channel carries: delayed, or held back.
    pub(super) fn carried(&self) -> usize {
        self.in_flight.len() + self.channel.held_count()
    }

    /// When a delayed message falls due or a held-back one goes on alone.
    pub fn next_arrival(&self) -> Option<Instant> {
        let flight = self.in_flight.keys().next().map(|(t, _)| *t);
        match (flight, self.held_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time has come for what is due at `now`: it arrives, and readers
    /// and writers waiting for it are served.
    pub fn arrivals(&mut self, now: Instant, wk: &mut QueueWakeups<P>) {
        let mut arrived = false;
        if self.held_until.is_some_and(|t| t <= now) {
            self.held_until = None;
            for d in self.channel.release_held() {
                arrived |= self.arrive(d.message, now + d.delay);
            }
        }
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let message = entry.remove();
            self.bytes += message.len();
            self.messages.push_back(message);
            arrived = true;
        }
        if arrived {
            self.settle(wk);
            self.notify(wk);
        }
    }

    pub fn faults(&self) -> Faults {
        self.channel.faults()
    }

    pub fn channel_counters(&self) -> ChannelCounters {
        self.channel.counters()
    }

    /// Sets one of the channel's settings (see `Faults::set`).
    pub fn set_fault(&mut self, name: &str, value: &str) -> Result<()> {
        self.channel.set(name, value)
    }

    /// The channel a new queue starts with (the mount's defaults).
    pub fn set_faults(&mut self, faults: Faults) {
        self.channel = crate::ipc::channel::Channel::new(faults);
    }
}

/// What one stored message is charged: its bytes and its slot.
fn charge(len: usize) -> usize {
    len + MESSAGE_OVERHEAD
}
