//! Where a stream-mode reader is in the message (a queue's) or datagram
//! (an endpoint's) it received: the first read takes one and returns as
//! much as fits, the next reads return the rest, and the read after the
//! last piece returns end of file; the read after that receives anew.
//! What is kept between reads is charged until the reception ends (read
//! to its end, or its file description closed).

use crate::memory::Held;

/// One file description's reception.
#[derive(Debug, Default)]
pub enum Reception {
    /// None: the next read receives.
    #[default]
    Idle,
    /// Being read: the message, how far, and its charge while it waits
    /// for the next reads (`None`: charged to no one).
    Partial {
        message: Vec<u8>,
        at: usize,
        _charge: Option<Held>,
    },
    /// Read to its end: the next read returns end of file.
    Drained,
}

impl Reception {
    /// Starts on a received `message`: its first `size` bytes now; the
    /// rest is kept, with `charge`, for the next reads.
    pub fn start(&mut self, message: Vec<u8>, size: usize, charge: Option<Held>) -> Vec<u8> {
        *self = Reception::Partial {
            message,
            at: 0,
            _charge: charge,
        };
        self.read_on(size).unwrap_or_default()
    }

    /// A read of `size` bytes from the message in hand: its next piece,
    /// or end of file (empty) after its last; `None` when there is none
    /// and the read must receive.
    pub fn read_on(&mut self, size: usize) -> Option<Vec<u8>> {
        match self {
            Reception::Idle => None,
            Reception::Drained => {
                *self = Reception::Idle;
                Some(Vec::new())
            }
            Reception::Partial { message, at, .. } => {
                let n = size.min(message.len() - *at);
                let piece = message[*at..*at + n].to_vec();
                *at += n;
                if *at == message.len() {
                    *self = Reception::Drained;
                }
                Some(piece)
            }
        }
    }

    /// Whether a read would return something now without receiving: a
    /// piece, or the end of file after the last (poll's `POLLIN`).
    pub fn mid_message(&self) -> bool {
        !matches!(self, Reception::Idle)
    }

    /// The bytes of the message in hand not read yet (what a close drops).
    pub fn unread(&self) -> usize {
        match self {
            Reception::Partial { message, at, .. } => message.len() - at,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBudget;

    #[test]
    fn pieces_then_end_of_file_then_idle() {
        let budget = MemoryBudget::new(100);
        let account = budget.account(1);
        let mut r = Reception::default();
        assert_eq!(r.read_on(4), None);
        let charge = account.hold(10);
        assert_eq!(r.start(b"0123456789".to_vec(), 4, charge), b"0123");
        assert_eq!(budget.used(), 10, "kept, and charged");
        assert!(r.mid_message());
        assert_eq!(r.unread(), 6);
        assert_eq!(r.read_on(4), Some(b"4567".to_vec()));
        assert_eq!(r.read_on(4), Some(b"89".to_vec()));
        assert_eq!(budget.used(), 0, "given back at its end");
        assert_eq!(r.read_on(4), Some(Vec::new()), "end of file");
        assert_eq!(r.read_on(4), None, "then a new message");
        assert!(!r.mid_message());
        // A message that fits is read at once, and its end comes next.
        assert_eq!(r.start(b"ab".to_vec(), 4, None), b"ab");
        assert_eq!(r.read_on(4), Some(Vec::new()));
    }
}
