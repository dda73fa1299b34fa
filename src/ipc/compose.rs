//! Where a stream writer's messages end: a queue's framing.
//!
//! A shell user controls the redirection, not the write(2) calls: bash's
//! `printf 'a\nb\n'` writes line by line, stdio programs write in
//! buffer-sized pieces. So by default (`message`) everything written
//! through one open file description is one message, ended when a
//! descriptor of it is closed (FUSE's FLUSH) or at fsync(2); `line` makes
//! each newline-ended line a message; `write` makes each write(2) one.
//!
//! A message in progress is a [`Composition`], one per file description.
//! It takes its place in the queue ([`Sink::reserve`]) with its first
//! byte, so a full queue blocks the first write of a message, and ending
//! one never waits for room. Its bytes are charged to the memory budget
//! as they come. This module decides; the queue (or any other [`Sink`],
//! such as a datagram socket) stores.

use crate::error::{Error, Result};

/// How a queue's stream writers' bytes become messages
/// (`user.ipcfs.framing`, mount default `--queue-framing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Everything written through one open file description, until a
    /// descriptor of it is closed or fsync(2)ed.
    #[default]
    Message,
    /// Each newline-ended line (newline kept); a last unterminated line
    /// at close.
    Line,
    /// Each write(2).
    Write,
}

impl Framing {
    /// Every framing, by the name the attribute and the option take.
    pub const ALL: [(&'static str, Framing); 3] = [
        ("message", Framing::Message),
        ("line", Framing::Line),
        ("write", Framing::Write),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .expect("every framing has a name")
    }

    /// From its name; `EINVAL` for any other word.
    pub fn parse(text: &str) -> Result<Framing> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, f)| *f)
            .ok_or(Error::InvalidArgument)
    }

    /// Whether writes are gathered into messages that end later (at a
    /// close, or a newline), rather than each write being one.
    pub fn composes(self) -> bool {
        self != Framing::Write
    }
}

/// Where composed messages go.
pub trait Sink {
    /// Takes a place for one new message; false when there is none.
    fn reserve(&mut self) -> bool;
    /// Gives back a place taken by [`Sink::reserve`] (its message was
    /// dropped).
    fn unreserve(&mut self);
    /// Stores a whole message in a place reserved for it. Its bytes were
    /// charged already.
    fn commit(&mut self, message: Vec<u8>);
    /// Charges `bytes` more of a message in progress to the memory cap.
    fn charge(&mut self, bytes: usize) -> Result<()>;
    /// What a stored message costs beyond its bytes (its slot), charged
    /// with its first bytes and given back with them.
    fn overhead(&self) -> usize {
        0
    }
    /// Gives back bytes charged for a message that was dropped.
    fn refund(&mut self, bytes: usize);
    /// Counts a message dropped before it was whole.
    fn dropped(&mut self);
}

/// The message one file description is writing.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum Composition {
    /// None: the next byte starts one.
    #[default]
    Idle,
    /// Begun, with its place reserved and its bytes charged.
    Active(Vec<u8>),
    /// It grew past the largest message and was dropped: writes to it fail
    /// with `EMSGSIZE` until it ends (at a close, or under `line` at the
    /// newline that ends the line).
    Dropped,
}

/// Why feeding a write stopped before all of it went in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A new message needs a place and the sink has none: wait for room.
    Full,
    /// The write fails here.
    Failed(Error),
}

/// What feeding took of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the write that went in (or, under `line`, were discarded
    /// as the rest of a dropped line).
    pub consumed: usize,
    /// `None` when all of it went in.
    pub stop: Option<Stop>,
}

/// Feeds the bytes of one write (or the rest of a parked one) into
/// `state`, under `framing` (`Message` or `Line`), with messages of at
/// most `max` bytes.
pub fn feed(
    framing: Framing,
    state: &mut Composition,
    data: &[u8],
    max: usize,
    sink: &mut impl Sink,
) -> Fed {
    let mut consumed = 0;
    while consumed < data.len() {
        let rest = &data[consumed..];
        // The bytes that belong to the current message: under `line`, up
        // to and including the next newline.
        let (piece, ends) = match framing {
            Framing::Line => match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            },
            _ => (rest, false),
        };
        if let Err(stop) = add(state, piece, ends, max, sink) {
            return Fed {
                consumed,
                stop: Some(stop),
            };
        }
        consumed += piece.len();
    }
    Fed {
        consumed,
        stop: None,
    }
}

/// Adds `piece` to the message in progress; `ends` says the piece ends
/// it (a line's newline). All of the piece goes in, or none.
fn add(
    state: &mut Composition,
    piece: &[u8],
    ends: bool,
    max: usize,
    sink: &mut impl Sink,
) -> std::result::Result<(), Stop> {
    match state {
        Composition::Dropped => {
            if ends {
                // The dropped line's end: it is discarded with it.
                *state = Composition::Idle;
                return Ok(());
            }
            Err(Stop::Failed(Error::MessageTooLong))
        }
        Composition::Idle => {
            if piece.len() > max {
                log::info!("message of over {max} bytes refused: larger than the queue takes");
                sink.dropped();
                *state = if ends {
                    Composition::Idle
                } else {
                    Composition::Dropped
                };
                return Err(Stop::Failed(Error::MessageTooLong));
            }
            if !sink.reserve() {
                return Err(Stop::Full);
            }
            if let Err(e) = sink.charge(sink.overhead() + piece.len()) {
                sink.unreserve();
                return Err(Stop::Failed(e));
            }
            if ends {
                sink.commit(piece.to_vec());
            } else {
                *state = Composition::Active(piece.to_vec());
            }
            Ok(())
        }
        Composition::Active(message) => {
            if message.len() + piece.len() > max {
                log::info!(
                    "message of over {max} bytes dropped: larger than the queue takes \
                     ({} bytes written, {} more refused)",
                    message.len(),
                    piece.len()
                );
                sink.refund(sink.overhead() + message.len());
                sink.unreserve();
                sink.dropped();
                *state = if ends {
                    Composition::Idle
                } else {
                    Composition::Dropped
                };
                return Err(Stop::Failed(Error::MessageTooLong));
            }
            sink.charge(piece.len()).map_err(Stop::Failed)?;
            message.extend_from_slice(piece);
            if ends {
                let Composition::Active(message) = std::mem::take(state) else {
                    unreachable!("matched as active");
                };
                sink.commit(message);
            }
            Ok(())
        }
    }
}

/// Ends the message in progress (a descriptor was closed, or fsync'ed):
/// it is stored whole — unless `killed` says its writer is dying of a
/// signal, whose message is dropped (a writer killed part-way sends
/// nothing). `killed` is asked only when there is a message to end.
pub fn end(state: &mut Composition, sink: &mut impl Sink, killed: impl FnOnce() -> bool) {
    match std::mem::take(state) {
        Composition::Idle | Composition::Dropped => {}
        // A place taken at open that nothing was written to: given back,
        // no message (an empty one would read as an end of file).
        Composition::Active(message) if message.is_empty() => {
            sink.refund(sink.overhead());
            sink.unreserve();
        }
        Composition::Active(message) => {
            if killed() {
                log::info!(
                    "message of {} bytes dropped: its writer was killed before it ended",
                    message.len()
                );
                sink.refund(sink.overhead() + message.len());
                sink.unreserve();
                sink.dropped();
            } else {
                sink.commit(message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink with `places` places and `memory` bytes.
    #[derive(Debug, Default)]
    struct Box {
        places: usize,
        reserved: usize,
        memory: usize,
        charged: usize,
        stored: Vec<Vec<u8>>,
        dropped: usize,
    }

    impl Sink for Box {
        fn reserve(&mut self) -> bool {
            if self.reserved + self.stored.len() >= self.places {
                return false;
            }
            self.reserved += 1;
            true
        }
        fn unreserve(&mut self) {
            self.reserved -= 1;
        }
        fn commit(&mut self, message: Vec<u8>) {
            self.reserved -= 1;
            self.stored.push(message);
        }
        fn charge(&mut self, bytes: usize) -> Result<()> {
            if self.charged + bytes > self.memory {
                return Err(Error::NoSpace);
            }
            self.charged += bytes;
            Ok(())
        }
        fn refund(&mut self, bytes: usize) {
            self.charged -= bytes;
        }
        fn dropped(&mut self) {
            self.dropped += 1;
        }
    }

    fn sink(places: usize) -> Box {
        Box {
            places,
            memory: 1 << 20,
            ..Box::default()
        }
    }

    fn done(consumed: usize) -> Fed {
        Fed {
            consumed,
            stop: None,
        }
    }

    #[test]
    fn names_round_trip() {
        for (name, f) in Framing::ALL {
            assert_eq!(Framing::parse(name), Ok(f));
            assert_eq!(f.name(), name);
        }
        assert_eq!(Framing::parse("lines"), Err(Error::InvalidArgument));
        assert_eq!(Framing::default(), Framing::Message);
    }

    #[test]
    fn a_message_is_every_write_until_it_ends() {
        let mut s = sink(4);
        let mut c = Composition::Idle;
        assert_eq!(
            feed(Framing::Message, &mut c, b"b1\n", 100, &mut s),
            done(3)
        );
        assert_eq!(s.reserved, 1, "the first write took the place");
        assert_eq!(
            feed(Framing::Message, &mut c, b"b2\n", 100, &mut s),
            done(3)
        );
        assert!(s.stored.is_empty(), "nothing is seen before the end");
        end(&mut c, &mut s, || false);
        assert_eq!(s.stored, [b"b1\nb2\n".to_vec()]);
        assert_eq!((s.reserved, &c), (0, &Composition::Idle));
        end(&mut c, &mut s, || panic!("nothing to end: not asked"));
        assert_eq!(
            s.stored.len(),
            1,
            "an open with nothing written sends nothing"
        );
    }

    #[test]
    fn a_full_sink_stops_the_first_write_only() {
        let mut s = sink(1);
        let mut other = Composition::Idle;
        feed(Framing::Message, &mut other, b"x", 100, &mut s);
        let mut c = Composition::Idle;
        let fed = feed(Framing::Message, &mut c, b"y", 100, &mut s);
        assert_eq!(fed.stop, Some(Stop::Full));
        assert_eq!(fed.consumed, 0);
        end(&mut other, &mut s, || false);
        assert_eq!(s.stored.len(), 1, "the place stays taken by the message");
        // The one that began goes on writing whatever the room.
        let mut s = sink(1);
        let mut c = Composition::Idle;
        feed(Framing::Message, &mut c, b"a", 100, &mut s);
        assert_eq!(feed(Framing::Message, &mut c, b"b", 100, &mut s), done(1));
    }

    #[test]
    fn too_long_a_message_is_dropped_whole_until_it_ends() {
        let mut s = sink(4);
        let mut c = Composition::Idle;
        assert_eq!(feed(Framing::Message, &mut c, b"1234", 6, &mut s), done(4));
        let fed = feed(Framing::Message, &mut c, b"567", 6, &mut s);
        assert_eq!(fed.stop, Some(Stop::Failed(Error::MessageTooLong)));
        assert_eq!((s.reserved, s.charged, s.dropped), (0, 0, 1));
        let fed = feed(Framing::Message, &mut c, b"8", 6, &mut s);
        assert_eq!(
            fed.stop,
            Some(Stop::Failed(Error::MessageTooLong)),
            "still dropped"
        );
        end(&mut c, &mut s, || false);
        assert!(s.stored.is_empty());
        assert_eq!(feed(Framing::Message, &mut c, b"ok", 6, &mut s), done(2));
    }

    #[test]
    fn a_killed_writer_sends_nothing() {
        let mut s = sink(4);
        let mut c = Composition::Idle;
        feed(Framing::Message, &mut c, b"half", 100, &mut s);
        end(&mut c, &mut s, || true);
        assert!(s.stored.is_empty());
        assert_eq!((s.reserved, s.charged, s.dropped), (0, 0, 1));
    }

    #[test]
    fn lines_are_messages_and_the_last_one_ends_at_close() {
        let mut s = sink(8);
        let mut c = Composition::Idle;
        assert_eq!(
            feed(Framing::Line, &mut c, b"a\nbb\nc", 100, &mut s),
            done(6)
        );
        assert_eq!(s.stored, [b"a\n".to_vec(), b"bb\n".to_vec()]);
        assert_eq!(feed(Framing::Line, &mut c, b"c\nd", 100, &mut s), done(3));
        assert_eq!(s.stored[2], b"cc\n");
        end(&mut c, &mut s, || false);
        assert_eq!(s.stored[3], b"d");
        assert_eq!((s.reserved, s.charged), (0, 2 + 3 + 2 + 1 + 1));
    }

    #[test]
    fn lines_wait_for_room_one_by_one() {
        let mut s = sink(2);
        let mut c = Composition::Idle;
        let fed = feed(Framing::Line, &mut c, b"1\n2\n3\n", 100, &mut s);
        assert_eq!(fed.consumed, 4);
        assert_eq!(fed.stop, Some(Stop::Full));
        s.stored.clear();
        assert_eq!(feed(Framing::Line, &mut c, b"3\n", 100, &mut s), done(2));
    }

    #[test]
    fn a_dropped_line_is_discarded_through_its_newline() {
        let mut s = sink(8);
        let mut c = Composition::Idle;
        let fed = feed(Framing::Line, &mut c, b"ok\ntoolong", 4, &mut s);
        assert_eq!(fed.consumed, 3);
        assert_eq!(fed.stop, Some(Stop::Failed(Error::MessageTooLong)));
        let fed = feed(Framing::Line, &mut c, b"more", 4, &mut s);
        assert_eq!(fed.stop, Some(Stop::Failed(Error::MessageTooLong)));
        assert_eq!(
            feed(Framing::Line, &mut c, b"end\nnxt\n", 4, &mut s),
            done(8)
        );
        assert_eq!(s.stored, [b"ok\n".to_vec(), b"nxt\n".to_vec()]);
        assert_eq!(s.dropped, 1);
    }

    #[test]
    fn the_memory_cap_fails_the_write_and_keeps_what_was_accepted() {
        let mut s = sink(4);
        s.memory = 5;
        let mut c = Composition::Idle;
        assert_eq!(feed(Framing::Message, &mut c, b"abc", 100, &mut s), done(3));
        let fed = feed(Framing::Message, &mut c, b"def", 100, &mut s);
        assert_eq!(fed.stop, Some(Stop::Failed(Error::NoSpace)));
        end(&mut c, &mut s, || false);
        assert_eq!(s.stored, [b"abc".to_vec()]);
        let mut c = Composition::Idle;
        let fed = feed(Framing::Message, &mut c, b"xyz", 100, &mut s);
        assert_eq!(fed.stop, Some(Stop::Failed(Error::NoSpace)));
        assert_eq!(s.reserved, 0, "no place kept for a message refused");
    }
}
