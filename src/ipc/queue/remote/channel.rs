//! A shared queue's channel faults (labs: channel.rs), on the reading
//! side: every message this mount takes for its readers goes through the
//! mount's channel, which may lose, duplicate, damage, hold back or delay
//! it. The writers' side cannot: a message is the server's once it is
//! sent, and any host may take it.
//!
//! A message stays pending in the server (counted toward `max_messages`,
//! claimed by another host should this one end) until it is received
//! here, or lost: what the channel delays or holds back keeps its place.
//! A duplicate is a copy made here: it holds no place, and only the
//! original is acknowledged.

use std::time::Instant;

use super::Taken;
use crate::ipc::channel::{Channel, ChannelCounters, Delivery, Faults, InFlight};
use std::sync::Arc;

use crate::memory::Account;

pub(super) struct ReadChannel {
    channel: Channel,
    /// Messages delayed: they join the taken ones when due.
    flight: InFlight<Taken>,
    /// The id of the message whose copies the channel holds back.
    held: Option<String>,
}

/// What one message taken became.
#[derive(Default)]
pub(super) struct Carried {
    /// Arrived now, in order.
    pub now: Vec<Taken>,
    /// The ids of messages lost: acknowledged, never received.
    pub lost: Vec<String>,
}

impl ReadChannel {
    pub fn new(faults: Faults) -> ReadChannel {
        ReadChannel {
            channel: Channel::new(faults),
            flight: InFlight::default(),
            held: None,
        }
    }

    pub fn faults(&self) -> Faults {
        self.channel.faults()
    }

    pub fn set(&mut self, name: &str, value: &str) -> crate::error::Result<()> {
        self.channel.set(name, value)
    }

    pub fn counters(&self) -> ChannelCounters {
        self.channel.counters()
    }

    /// Messages delayed or held back here.
    pub fn carried(&self) -> usize {
        self.flight.len() + usize::from(self.held.is_some())
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.flight.next_deadline()
    }

    /// Sends message `t` through the channel; what arrives is charged to
    /// `budget` copy by copy (a copy that cannot be is not delivered).
    pub fn carry(&mut self, t: Taken, budget: &Arc<Account>) -> Carried {
        let Some(id) = t.id else {
            return Carried::default();
        };
        let held_before = self.channel.held_count();
        let lost_before = self.channel.counters().lost;
        // Whatever becomes of this message, the channel lets go of the
        // one it held back before: its copies come last.
        let previous = self.held.take();
        let mut deliveries = self.channel.send(t.message);
        let released = deliveries.split_off(deliveries.len() - held_before);
        let mut out = Carried::default();
        let now = Instant::now();
        if self.channel.counters().lost > lost_before {
            out.lost.push(id);
        } else if deliveries.is_empty() {
            self.held = Some(id);
        } else {
            self.arrive(Some(id), deliveries, now, budget, &mut out);
        }
        self.arrive(previous, released, now, budget, &mut out);
        self.flight.note_held(self.channel.holds(), now);
        out
    }

    /// What is due at `now`: delayed messages, and the one held back
    /// when none came to overtake it in time.
    pub fn due(&mut self, now: Instant, budget: &Arc<Account>) -> Vec<Taken> {
        let mut out = Carried::default();
        if self.flight.hold_expired(now) {
            let held = self.held.take();
            let released = self.channel.release_held();
            self.arrive(held, released, now, budget, &mut out);
        }
        let mut now_due = out.now;
        now_due.extend(self.flight.due(now));
        now_due
    }

    /// Everything carried, for a queue that stops: what was taken and not
    /// lost goes back (ids), copies are dropped.
    pub fn drain(&mut self) -> Vec<String> {
        let mut ids: Vec<String> = self.held.take().into_iter().collect();
        self.channel.release_held();
        ids.extend(self.flight.take_all().into_iter().filter_map(|t| t.id));
        ids
    }

    /// The copies of message `id` arrive: now, or when their delay ends.
    /// The first that is not a duplicate carries the id.
    fn arrive(
        &mut self,
        mut id: Option<String>,
        deliveries: Vec<Delivery>,
        now: Instant,
        budget: &Arc<Account>,
        out: &mut Carried,
    ) {
        for d in deliveries {
            let Some(charge) = budget.hold(d.message.len()) else {
                log::info!("a copy of a shared queue message dropped: no memory left for it");
                continue;
            };
            let taken = Taken {
                id: if d.duplicate { None } else { id.take() },
                message: d.message,
                _charge: charge,
            };
            match d.delay.is_zero() {
                true => out.now.push(taken),
                false => self.flight.keep(now + d.delay, taken),
            }
        }
        // A copy that could not be charged leaves its message received.
        out.lost.extend(id);
    }
}
