//! A message channel's faults, for labs: loss, duplication, reordering,
//! damage and delay, drawn from a seeded generator so that a run can be
//! repeated exactly.
//!
//! Every message sent draws the same six numbers in the same order,
//! whatever happens to it, so the same seed and the same sequence of
//! messages give the same faults, and changing one probability changes
//! only the outcomes that depend on it. Defaults: a perfect channel,
//! which draws nothing.
//!
//! This module decides what happens to a message; the queue holds the
//! delayed ones (under a timer, never a sleeping thread) and stores them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The names of the fault settings after `$name`s: the one list of them
/// that `Faults::SETTINGS`, the mount options and a queue's attributes
/// are all made from.
macro_rules! with_fault_settings {
    ($($name:literal),* $(,)?) => {
        &[
            $($name,)*
            "loss",
            "duplicate",
            "reorder",
            "corrupt",
            "delay_ms",
            "jitter_ms",
            "seed",
        ]
    };
}
pub(crate) use with_fault_settings;

/// The names of the channel's counters after `$name`s (a queue's
/// attributes): the one list `ChannelCounters::NAMES` is made from too.
macro_rules! with_channel_counters {
    ($($name:literal),* $(,)?) => {
        &[
            $($name,)*
            "lost",
            "duplicated",
            "reordered",
            "corrupted",
            "delayed",
        ]
    };
}
pub(crate) use with_channel_counters;

/// How long a message held back for reordering waits for a next one to
/// overtake it before it goes on alone.
pub const REORDER_HOLD: Duration = Duration::from_millis(200);

/// The longest delay or jitter that may be set: a minute.
pub const MAX_DELAY_MS: u64 = 60_000;

/// A channel's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Probability a message is lost.
    pub loss: f64,
    /// Probability a message is delivered twice.
    pub duplicate: f64,
    /// Probability a message is held back behind the next one.
    pub reorder: f64,
    /// Probability one byte of a message is changed.
    pub corrupt: f64,
    /// Every message is delivered this much later...
    pub delay_ms: u64,
    /// ...plus a uniform extra of up to this much (so messages may pass
    /// each other).
    pub jitter_ms: u64,
    /// The generator's seed: setting it starts its sequence again.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults::PERFECT
    }
}

impl Faults {
    pub const PERFECT: Faults = Faults {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        corrupt: 0.0,
        delay_ms: 0,
        jitter_ms: 0,
        seed: 0,
    };

    /// The settings' names, as attributes and mount options take them
    /// (the one list: see `with_fault_settings!`).
    pub const SETTINGS: [&'static str; 7] = *with_fault_settings!();

    /// Whether messages go through untouched (the seed alone changes
    /// nothing).
    pub fn is_perfect(&self) -> bool {
        Faults { seed: 0, ..*self } == Faults::PERFECT
    }

    /// A setting as text: probabilities as decimals, the rest as whole
    /// numbers.
    pub fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "loss" => self.loss.to_string(),
            "duplicate" => self.duplicate.to_string(),
            "reorder" => self.reorder.to_string(),
            "corrupt" => self.corrupt.to_string(),
            "delay_ms" => self.delay_ms.to_string(),
            "jitter_ms" => self.jitter_ms.to_string(),
            "seed" => self.seed.to_string(),
            _ => return None,
        })
    }

    /// Sets one setting from its text: a probability from 0 to 1, a delay
    /// of at most a minute, any 64-bit seed. `EINVAL` otherwise, and
    /// nothing changes.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let value = value.trim();
        let probability = || -> Result<f64> {
            let p: f64 = value.parse().map_err(|_| Error::InvalidArgument)?;
            if (0.0..=1.0).contains(&p) {
                Ok(p)
            } else {
                Err(Error::InvalidArgument)
            }
        };
        let millis = || -> Result<u64> {
            let ms: u64 = value.parse().map_err(|_| Error::InvalidArgument)?;
            if ms <= MAX_DELAY_MS {
                Ok(ms)
            } else {
                Err(Error::InvalidArgument)
            }
        };
        match name {
            "loss" => self.loss = probability()?,
            "duplicate" => self.duplicate = probability()?,
            "reorder" => self.reorder = probability()?,
            "corrupt" => self.corrupt = probability()?,
            "delay_ms" => self.delay_ms = millis()?,
            "jitter_ms" => self.jitter_ms = millis()?,
            "seed" => self.seed = value.parse().map_err(|_| Error::InvalidArgument)?,
            _ => return Err(Error::InvalidArgument),
        }
        Ok(())
    }
}

/// What a channel did, as the counters show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelCounters {
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    pub delayed: u64,
}

impl ChannelCounters {
    /// The counters' names, as attributes show them.
    pub const NAMES: [&'static str; 5] = *with_channel_counters!();

    pub fn get(&self, name: &str) -> Option<u64> {
        Some(match name {
            "lost" => self.lost,
            "duplicated" => self.duplicated,
            "reordered" => self.reordered,
            "corrupted" => self.corrupted,
            "delayed" => self.delayed,
            _ => return None,
        })
    }
}

/// The `channel` column of an object's `status` row: what its faults
/// did, or `None` (`-`) for a perfect channel that never had any.
pub fn status_column(faults: Faults, c: ChannelCounters) -> Option<String> {
    if faults.is_perfect() && c == ChannelCounters::default() {
        return None;
    }
    Some(format!(
        "lost={},duplicated={},reordered={},corrupted={},delayed={}",
        c.lost, c.duplicated, c.reordered, c.corrupted, c.delayed
    ))
}

/// What a channel carries besides the messages it delivers at once: the
/// delayed ones, by when they arrive (and the order they were sent, for
/// ties), and when the one it holds back goes on alone. `T` is what
/// travels with a message (its charge, for a datagram). The holder says
/// when it next has work ([`InFlight::next_deadline`]) and its timer
/// calls it back.
#[derive(Debug)]
pub struct InFlight<T> {
    waiting: BTreeMap<(Instant, u64), T>,
    sequence: u64,
    held_until: Option<Instant>,
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        InFlight {
            waiting: BTreeMap::new(),
            sequence: 0,
            held_until: None,
        }
    }
}

impl<T> InFlight<T> {
    /// Keeps `item` until `when`.
    pub fn keep(&mut self, when: Instant, item: T) {
        self.sequence += 1;
        self.waiting.insert((when, self.sequence), item);
    }

    /// Delayed messages kept.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// After a send: a message the channel newly holds back goes on alone
    /// `REORDER_HOLD` from `now`; none held, no such deadline.
    pub fn note_held(&mut self, holds: bool, now: Instant) {
        self.held_until = match (holds, self.held_until) {
            (false, _) => None,
            (true, kept @ Some(_)) => kept,
            (true, None) => Some(now + REORDER_HOLD),
        };
    }

    /// Whether the held-back message's time to go on alone has come at
    /// `now` (then its deadline is cleared).
    pub fn hold_expired(&mut self, now: Instant) -> bool {
        let expired = self.held_until.is_some_and(|at| at <= now);
        if expired {
            self.held_until = None;
        }
        expired
    }

    /// When a delayed message falls due or a held-back one goes on alone.
    pub fn next_deadline(&self) -> Option<Instant> {
        let flight = self.waiting.keys().next().map(|(t, _)| *t);
        match (flight, self.held_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Every item kept, due or not, in order; the hold's deadline goes
    /// too (for a holder that stops).
    pub fn take_all(&mut self) -> Vec<T> {
        self.held_until = None;
        std::mem::take(&mut self.waiting).into_values().collect()
    }

    /// The items due at `now`, in order.
    pub fn due(&mut self, now: Instant) -> Vec<T> {
        let mut out = Vec::new();
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            out.push(entry.remove());
        }
        out
    }
}

/// SplitMix64: small, fast, and the same on every machine.
#[derive(Debug, Clone)]
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One message on its way: its bytes and how long it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message: Vec<u8>,
    pub delay: Duration,
    /// The second copy of a duplicated message.
    pub duplicate: bool,
}

/// A channel: its settings, its generator, its counters and the message
/// it holds back for reordering.
#[derive(Debug, Clone)]
pub struct Channel {
    faults: Faults,
    generator: Generator,
    counters: ChannelCounters,
    /// The copies of a message held back for reordering (none, or one,
    /// or two if it was duplicated too).
    held: Vec<Delivery>,
}

impl Channel {
    pub fn new(faults: Faults) -> Channel {
        Channel {
            faults,
            generator: Generator(faults.seed),
            counters: ChannelCounters::default(),
            held: Vec::new(),
        }
    }

    pub fn faults(&self) -> Faults {
        self.faults
    }

    pub fn counters(&self) -> ChannelCounters {
        self.counters
    }

    pub fn is_perfect(&self) -> bool {
        self.faults.is_perfect() && self.held.is_empty()
    }

    /// Sets one setting (see [`Faults::set`]); a new seed starts the
    /// generator again.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        self.faults.set(name, value)?;
        if name == "seed" {
            self.generator = Generator(self.faults.seed);
        }
        Ok(())
    }

    /// Whether a message is held back for reordering.
    pub fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// The copies of the message held back.
    pub fn held(&self) -> &[Delivery] {
        &self.held
    }

    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// Sends one message: what is delivered now or later, in order. A
    /// message held back before this one comes after it.
    pub fn send(&mut self, mut message: Vec<u8>) -> Vec<Delivery> {
        if self.faults.is_perfect() {
            let mut out = vec![Delivery {
                message,
                delay: Duration::ZERO,
                duplicate: false,
            }];
            if self.holds() {
                // Held back before the faults were cleared: this one
                // overtakes it all the same.
                self.counters.reordered += 1;
                out.append(&mut self.held);
            }
            return out;
        }
        let f = self.faults;
        let g = &mut self.generator;
        let (lose, twice, hold, damage) = (g.unit(), g.unit(), g.unit(), g.unit());
        let (place, jitter) = (g.next(), g.unit());
        if lose < f.loss {
            self.counters.lost += 1;
            return std::mem::take(&mut self.held);
        }
        if damage < f.corrupt && !message.is_empty() {
            let at = (place % message.len() as u64) as usize;
            // A non-zero mask: the byte always changes.
            let mask = ((place >> 32) % 255 + 1) as u8;
            message[at] ^= mask;
            self.counters.corrupted += 1;
        }
        let extra = (jitter * (f.jitter_ms as f64 + 1.0)).floor() as u64;
        let delay = Duration::from_millis(f.delay_ms + extra.min(f.jitter_ms));
        if !delay.is_zero() {
            self.counters.delayed += 1;
        }
        let copies = if twice < f.duplicate {
            self.counters.duplicated += 1;
            2
        } else {
            1
        };
        let mut out: Vec<Delivery> = (0..copies)
            .map(|i| Delivery {
                message: message.clone(),
                delay,
                duplicate: i > 0,
            })
            .collect();
        if self.holds() {
            // This message overtakes the one held back.
            self.counters.reordered += 1;
            out.append(&mut self.held);
        } else if hold < f.reorder {
            // Held back until the next message (or REORDER_HOLD).
            self.held = out;
            return Vec::new();
        }
        out
    }

    /// Drops the duplicate copy among the deliveries held back, if there
    /// is one; whether there was.
    pub fn drop_held_duplicate(&mut self) -> bool {
        match self.held.iter().position(|d| d.duplicate) {
            Some(at) => {
                self.held.remove(at);
                true
            }
            None => false,
        }
    }

    /// The message held back for reordering, when no other came to
    /// overtake it in time: it goes on, not counted as reordered.
    pub fn release_held(&mut self) -> Vec<Delivery> {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faulty(set: &[(&str, &str)]) -> Channel {
        let mut c = Channel::new(Faults::PERFECT);
        for (k, v) in set {
            c.set(k, v).unwrap();
        }
        c
    }

    fn messages(n: u32) -> impl Iterator<Item = Vec<u8>> {
        (0..n).map(|i| i.to_le_bytes().to_vec())
    }

    #[test]
    fn a_perfect_channel_delivers_each_message_once_at_once() {
        let mut c = Channel::new(Faults::PERFECT);
        for m in messages(100) {
            assert_eq!(
                c.send(m.clone()),
                vec![Delivery {
                    message: m,
                    delay: Duration::ZERO,
                    duplicate: false,
                }]
            );
        }
        assert_eq!(c.counters(), ChannelCounters::default());
    }

    #[test]
    fn the_same_seed_loses_the_same_messages() {
        let run = |seed: &str| -> Vec<Vec<u8>> {
            let mut c = faulty(&[("loss", "0.3"), ("seed", seed)]);
            messages(1000)
                .flat_map(|m| c.send(m))
                .map(|d| d.message)
                .collect()
        };
        assert_eq!(run("42"), run("42"));
        assert_ne!(run("42"), run("43"));
        let lost = 1000 - run("42").len();
        assert!((240..=360).contains(&lost), "{lost} of 1000 lost at 0.3");
    }

    #[test]
    fn corruption_changes_exactly_one_byte() {
        let mut c = faulty(&[("corrupt", "1"), ("seed", "7")]);
        for m in messages(200) {
            let got = c.send(m.clone());
            assert_eq!(got.len(), 1);
            let changed = m
                .iter()
                .zip(&got[0].message)
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(changed, 1);
        }
        assert_eq!(c.counters().corrupted, 200);
    }

    #[test]
    fn a_held_message_comes_after_the_next() {
        let mut c = faulty(&[("reorder", "1")]);
        assert_eq!(c.send(b"a".to_vec()), vec![]);
        assert!(c.holds());
        let got: Vec<Vec<u8>> = c
            .send(b"b".to_vec())
            .into_iter()
            .map(|d| d.message)
            .collect();
        assert_eq!(got, vec![b"b".to_vec(), b"a".to_vec()]);
        assert_eq!(c.counters().reordered, 1);
        assert_eq!(c.send(b"c".to_vec()), vec![]);
        assert_eq!(c.release_held()[0].message, b"c");
        assert_eq!(c.counters().reordered, 1, "going on alone is no reordering");
    }

    #[test]
    fn duplicates_and_delays_are_counted() {
        let mut c = faulty(&[("duplicate", "1"), ("delay_ms", "50"), ("jitter_ms", "10")]);
        let got = c.send(b"x".to_vec());
        assert_eq!(got.len(), 2);
        assert!(
            got.iter()
                .all(|d| (50..=60).contains(&(d.delay.as_millis() as u64)))
        );
        assert_eq!((c.counters().duplicated, c.counters().delayed), (1, 1));
    }

    #[test]
    fn in_flight_items_come_due_in_time_order_and_a_hold_expires_once() {
        let now = Instant::now();
        let ms = |n| now + Duration::from_millis(n);
        let mut f: InFlight<&str> = InFlight::default();
        f.keep(ms(20), "late");
        f.keep(ms(10), "early");
        f.keep(ms(10), "early, sent second");
        assert_eq!(f.next_deadline(), Some(ms(10)));
        f.note_held(true, now);
        assert_eq!(f.next_deadline(), Some(ms(10)), "the hold ends later");
        assert_eq!(f.due(ms(15)), ["early", "early, sent second"]);
        assert_eq!((f.len(), f.next_deadline()), (1, Some(ms(20))));
        f.note_held(true, ms(5));
        assert_eq!(f.due(ms(20)), ["late"]);
        assert_eq!(
            f.next_deadline(),
            Some(now + REORDER_HOLD),
            "the hold alone"
        );
        assert!(!f.hold_expired(ms(199)), "the first hold's deadline stands");
        assert!(f.hold_expired(now + REORDER_HOLD));
        assert!(!f.hold_expired(now + REORDER_HOLD), "cleared");
        // A holder that stops takes everything, due or not.
        f.keep(ms(60_000), "a minute late");
        f.keep(ms(30), "soon");
        f.note_held(true, now);
        assert_eq!(f.take_all(), ["soon", "a minute late"]);
        assert_eq!((f.len(), f.next_deadline()), (0, None));
    }

    #[test]
    fn bad_settings_are_einval_and_change_nothing() {
        let mut c = Channel::new(Faults::PERFECT);
        for (k, v) in [
            ("loss", "1.5"),
            ("loss", "-0.1"),
            ("loss", "NaN"),
            ("corrupt", "x"),
            ("delay_ms", "60001"),
            ("seed", "-1"),
            ("bogus", "1"),
        ] {
            assert_eq!(c.set(k, v), Err(Error::InvalidArgument), "{k}={v}");
        }
        assert_eq!(c.faults(), Faults::PERFECT);
        c.set("loss", "0.25\n").unwrap();
        assert_eq!(c.faults().get("loss").unwrap(), "0.25");
    }
}
