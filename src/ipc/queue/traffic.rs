//! What passed through a queue: its messages, oldest first, their bytes,
//! and how many were sent, received, truncated and dropped.
//!
//! Laid out for the many queues never used (a hundred thousand made and
//! left empty, at scale): one pointer until the first message or loss,
//! where these took seven words in every one of a mount's queues. A
//! queue drained of a burst gives its slots back and keeps its counts.

use std::collections::VecDeque;

/// How many slots a drained queue may keep for its next messages: a
/// steady flow reuses them; a burst's high-water mark is given back.
const KEPT_SLOTS: usize = 64;

#[derive(Default)]
pub struct Traffic(Option<Box<Record>>);

/// Invariant: `bytes` is the sum of the messages' lengths.
#[derive(Default)]
struct Record {
    messages: VecDeque<Vec<u8>>,
    bytes: usize,
    counts: Counts,
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

    pub fn front(&self) -> Option<&Vec<u8>> {
        self.0.as_ref()?.messages.front()
    }

    pub fn push_back(&mut self, message: Vec<u8>) {
        let record = self.record();
        record.bytes += message.len();
        record.messages.push_back(message);
    }

    /// The oldest message, counted as received; a queue drained of more
    /// than [`KEPT_SLOTS`] messages' slots gives them back.
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let record = self.0.as_mut()?;
        let message = record.messages.pop_front()?;
        record.bytes -= message.len();
        record.counts.received += 1;
        if record.messages.is_empty() && record.messages.capacity() > KEPT_SLOTS {
            record.messages = VecDeque::new();
        }
        Some(message)
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
        assert_eq!(t.front(), Some(&0u32.to_le_bytes().to_vec()));
        for i in 0..1000u32 {
            assert_eq!(t.pop_front(), Some(i.to_le_bytes().to_vec()));
        }
        let record = t.0.as_ref().expect("the counts stay");
        assert_eq!(
            record.messages.capacity(),
            0,
            "a burst's slots are given back"
        );
        assert_eq!((t.bytes(), t.counts().received), (0, 1000));
        t.push_back(b"one".to_vec());
        t.counts_mut().sent += 1;
        assert_eq!(t.pop_front().as_deref(), Some(&b"one"[..]));
        assert!(t.0.as_ref().is_some_and(|r| r.messages.capacity() > 0));
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
}
