//! What passed through a queue: its messages, oldest first, their bytes,
//! and how many were sent, received, truncated and dropped.
//!
//! Laid out for the many queues never used (a hundred thousand made and
//! left empty, at scale): one pointer until the first message or loss,
//! where these took seven words in every one of a mount's queues. A
//! queue drained of a burst gives its slots back and keeps its counts.
//!
//! A short message is kept in its slot, not in an allocation of its own:
//! a flow of them (batch mode carries dozens in one call) then costs the
//! allocator nothing per message, where a message allocated by the
//! writer's thread and freed by the reader's cost the allocator a tenth
//! of the daemon's time (perf, batch mode).

use std::collections::VecDeque;

/// How many slots a drained queue may keep for its next messages: a
/// steady flow reuses them; a burst's high-water mark is given back.
/// At [`Slot`]'s size, under 2.5 KiB.
const KEPT_SLOTS: usize = 32;

/// The longest message a slot holds itself.
const SHORT: usize = 64;

#[derive(Default)]
pub struct Traffic(Option<Box<Record>>);

/// Invariant: `bytes` is the sum of the messages' lengths.
#[derive(Default)]
struct Record {
    messages: VecDeque<Slot>,
    bytes: usize,
    counts: Counts,
}

/// One queued message. Invariant: a `Long` one is longer than [`SHORT`].
enum Slot {
    Short { len: u8, bytes: [u8; SHORT] },
    Long(Vec<u8>),
}

impl Slot {
    fn of(message: &[u8]) -> Slot {
        if message.len() > SHORT {
            return Slot::Long(message.to_vec());
        }
        let mut bytes = [0; SHORT];
        bytes[..message.len()].copy_from_slice(message);
        Slot::Short {
            len: message.len() as u8,
            bytes,
        }
    }

    fn message(&self) -> &[u8] {
        match self {
            Slot::Short { len, bytes } => &bytes[..*len as usize],
            Slot::Long(message) => message,
        }
    }

    fn into_message(self) -> Vec<u8> {
        match self {
            Slot::Short { .. } => self.message().to_vec(),
            Slot::Long(message) => message,
        }
    }
}

/// How many messages went in whole, were taken by readers, were left
/// unread in part (a reader closed mid-message), and were dropped before
/// they were whole (too long, writer killed).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    pub received: u64,
    pub truncated: u64,
    pub dropped: u64,
}

impl Traffic {
    /// Messages queued.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |r| r.messages.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of the messages queued.
    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |r| r.bytes)
    }

    pub fn front(&self) -> Option<&[u8]> {
        self.0.as_ref()?.messages.front().map(Slot::message)
    }

    /// Queues a message that has an allocation already (one the channel
    /// carried): a long one keeps it.
    pub fn push_back(&mut self, message: Vec<u8>) {
        let slot = match message.len() > SHORT {
            true => Slot::Long(message),
            false => Slot::of(&message),
        };
        self.push(slot);
    }

    /// Queues a copy of `message`.
    pub fn push_copy(&mut self, message: &[u8]) {
        self.push(Slot::of(message));
    }

    fn push(&mut self, slot: Slot) {
        let record = self.record();
        record.bytes += slot.message().len();
        record.messages.push_back(slot);
    }

    /// The oldest message, counted as received.
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        self.take_front().map(Slot::into_message)
    }

    /// Hands the oldest message to `take` (which copies what it needs)
    /// and counts it as received: a short one is never allocated.
    pub fn pop_front_with<T>(&mut self, take: impl FnOnce(&[u8]) -> T) -> Option<T> {
        self.take_front().map(|slot| take(slot.message()))
    }

    /// A queue drained of more than [`KEPT_SLOTS`] messages' slots gives
    /// the rest back.
    fn take_front(&mut self) -> Option<Slot> {
        let record = self.0.as_mut()?;
        let slot = record.messages.pop_front()?;
        record.bytes -= slot.message().len();
        record.counts.received += 1;
        if record.messages.is_empty() && record.messages.capacity() > KEPT_SLOTS {
            record.messages.shrink_to(KEPT_SLOTS);
        }
        Some(slot)
    }

    pub fn counts(&self) -> Counts {
        self.0.as_ref().map_or_else(Counts::default, |r| r.counts)
    }

    /// The counts, to add to.
    pub fn counts_mut(&mut self) -> &mut Counts {
        &mut self.record().counts
    }

    fn record(&mut self) -> &mut Record {
        self.0.get_or_insert_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_out_oldest_first_and_a_drained_burst_gives_its_slots_back() {
        let mut t = Traffic::default();
        assert!(t.is_empty() && t.front().is_none() && t.pop_front().is_none());
        assert!(t.0.is_none(), "looking makes no record");
        for i in 0..1000u32 {
            t.push_back(i.to_le_bytes().to_vec());
        }
        assert_eq!((t.len(), t.bytes()), (1000, 4000));
        assert_eq!(t.front(), Some(&0u32.to_le_bytes()[..]));
        for i in 0..1000u32 {
            assert_eq!(t.pop_front(), Some(i.to_le_bytes().to_vec()));
        }
        let record = t.0.as_ref().expect("the counts stay");
        assert_eq!(
            record.messages.capacity(),
            KEPT_SLOTS,
            "a burst's slots are given back"
        );
        assert_eq!((t.bytes(), t.counts().received), (0, 1000));
        t.push_back(b"one".to_vec());
        t.counts_mut().sent += 1;
        assert_eq!(t.pop_front().as_deref(), Some(&b"one"[..]));
        assert_eq!(
            t.0.as_ref().map(|r| r.messages.capacity()),
            Some(KEPT_SLOTS)
        );
        assert_eq!(
            t.counts(),
            Counts {
                sent: 1,
                received: 1001,
                truncated: 0,
                dropped: 0
            }
        );
        assert_eq!(std::mem::size_of::<Traffic>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn short_and_long_messages_keep_their_order_and_bytes() {
        let mut t = Traffic::default();
        let long = vec![7u8; SHORT + 1];
        let longest_short = vec![9u8; SHORT];
        t.push_copy(b"a");
        t.push_back(long.clone());
        t.push_copy(&longest_short);
        t.push_copy(&long);
        t.push_back(Vec::from(&b"bc"[..]));
        assert_eq!((t.len(), t.bytes()), (5, 1 + 2 * (SHORT + 1) + SHORT + 2));
        assert_eq!(t.pop_front_with(<[u8]>::len), Some(1));
        assert_eq!(t.front(), Some(&long[..]));
        assert_eq!(t.pop_front(), Some(long.clone()));
        assert_eq!(t.pop_front_with(<[u8]>::to_vec), Some(longest_short));
        assert_eq!(t.pop_front(), Some(long));
        assert_eq!(t.pop_front().as_deref(), Some(&b"bc"[..]));
        assert_eq!((t.bytes(), t.counts().received), (0, 5));
        assert!(t.pop_front_with(<[u8]>::len).is_none());
        // A slot holds a short message and its length, or a long one's Vec.
        assert_eq!(std::mem::size_of::<Slot>(), 72);
    }
}
