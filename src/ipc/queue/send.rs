//! The sending half of a queue: a write's messages queued whole — at once,
//! or as room comes for a parked writer — and, under `message` and `line`
//! framing, the queue as the [`Sink`] of compose.rs ([`Composer`]).

use std::borrow::Cow;

use super::{IoMode, Queue, QueueEnd, QueueWakeups};
use crate::error::{Error, Result};
use crate::ipc::compose::{self, Composition, Framing, Sink, Stop};
use crate::ipc::records;
use crate::ipc::{ParkedWrite, Parking, Step, WriteCall, WriteDone};
use crate::memory::MESSAGE_OVERHEAD;

/// A write waiting for room: its bytes are its writer's to pay for while
/// they wait (else the queue owner's); queued, they are the owner's.
pub(super) type QueueWrite<W> = ParkedWrite<W, Pending>;

/// What of a parked write is not in yet.
pub(super) enum Pending {
    /// Whole messages (`write` framing, packet and batch modes), oldest
    /// first: the bytes of the write from the first of them on, in one
    /// copy (not one per message); each takes `overhead` bytes of the
    /// write beyond its own (a batch record's length field).
    Messages {
        rest: Unqueued,
        /// The uid that opened the description written through.
        writer: u32,
    },
    /// The rest of a write to a message in progress (`message` and `line`
    /// framings), which waits for a place for its next message.
    Bytes { end: QueueEnd, data: Vec<u8> },
}

impl Pending {
    /// The uid that opened the description the write goes through.
    pub(super) fn writer(&self) -> u32 {
        match self {
            Pending::Bytes { end, .. } => end.opener,
            Pending::Messages { writer, .. } => *writer,
        }
    }
}

/// A parked write's whole messages not yet queued. Invariant: `data[at..]`
/// is whole records (`overhead` is a record's length field), or one whole
/// message (`overhead` 0) until it is taken.
#[derive(Default)]
pub(super) struct Unqueued {
    data: Vec<u8>,
    at: usize,
    overhead: usize,
}

impl Unqueued {
    /// A copy of `records`: whole ones, each with a length field of
    /// `overhead` bytes, or one whole message (`overhead` 0).
    fn of(records: &[u8], overhead: usize) -> Unqueued {
        Unqueued {
            data: records.to_vec(),
            at: 0,
            overhead,
        }
    }

    fn is_empty(&self) -> bool {
        self.at == self.data.len()
    }

    /// Takes the next message out: a record's bytes, or the one message
    /// itself (moved, not copied).
    fn take_next(&mut self) -> Cow<'_, [u8]> {
        if self.overhead == 0 {
            self.at = 0;
            return Cow::Owned(std::mem::take(&mut self.data));
        }
        let next = records::message_at(&self.data, self.at).expect("whole records");
        self.at = next.end;
        Cow::Borrowed(&self.data[next])
    }
}

impl<P: Parking> Queue<P> {
    /// A write (see `StreamObject::write`).
    pub(super) fn send(
        &mut self,
        call: WriteCall<'_, P::Write, QueueEnd>,
        wk: &mut QueueWakeups<P>,
    ) -> Step<P::Write, WriteDone> {
        if call.end.composes() {
            if self.shut_down {
                return Step::Done(call.waiter, WriteDone::err(Error::ShuttingDown));
            }
            return self.write_composed(call, wk);
        }
        let (messages, overhead) = if call.end.io == IoMode::Batch {
            match records::parse(call.data, self.max_message_size()) {
                Ok(messages) => (messages, records::HEADER),
                Err(e) => return Step::Done(call.waiter, WriteDone::err(e)),
            }
        } else {
            if call.data.len() > self.max_message_size() {
                log::info!(
                    "queue write of {} bytes refused: the largest message is {} bytes",
                    call.data.len(),
                    self.max_message_size()
                );
                return Step::Done(call.waiter, WriteDone::err(Error::MessageTooLong));
            }
            if call.data.is_empty() {
                // An empty message would read as an end of file: none is queued.
                return Step::Done(call.waiter, WriteDone::ok(0));
            }
            (vec![call.data], 0)
        };
        if self.shut_down {
            return Step::Done(call.waiter, WriteDone::err(Error::ShuttingDown));
        }
        let mut accepted = 0;
        let mut capped = false;
        // Writers already waiting in turn go first, so that no message
        // overtakes theirs.
        let behind = self.waiting_in_turn();
        let mut prepaid = if behind { 0 } else { self.prepay(&messages) };
        let mut rest = messages.iter().copied().peekable();
        while !behind && !self.full() {
            let Some(message) = rest.peek() else {
                break;
            };
            let charge = message.len() + MESSAGE_OVERHEAD;
            let queued = if prepaid >= charge {
                prepaid -= charge;
                Ok(self.enqueue_charged(Cow::Borrowed(message)))
            } else {
                self.enqueue(Cow::Borrowed(message))
            };
            match queued {
                Ok(len) => accepted += len + overhead,
                Err(e) if accepted == 0 => return Step::Done(call.waiter, WriteDone::err(e)),
                // The memory cap in mid-batch: what went in stays, and the
                // writer gets its count.
                Err(_) => {
                    capped = true;
                    break;
                }
            }
            rest.next();
        }
        // A channel's duplicates may have taken places the prepaid
        // messages were counted in.
        self.budget.release(prepaid);
        if rest.peek().is_none() || capped || (call.nonblock && accepted > 0) {
            self.settle(wk);
            self.notify(wk);
            return Step::Done(call.waiter, WriteDone::ok(accepted));
        }
        // A writer past its share of places does not wait in write(2)
        // either (see write_composed): the queue may be full of its own
        // messages in progress.
        if call.nonblock {
            return Step::Done(call.waiter, WriteDone::err(Error::WouldBlock));
        }
        if self.past_share(call.end.opener) {
            self.log_past_share(call.end.opener);
            if accepted > 0 {
                self.settle(wk);
                self.notify(wk);
            }
            return Step::Done(call.waiter, WriteDone::stopped(accepted, Error::WouldBlock));
        }
        // The messages left span the write from `accepted` on, each with
        // its length field.
        let (count, bytes) = rest.fold((0, 0), |(n, b), m| (n + 1, b + m.len()));
        let spanned = &call.data[accepted..accepted + bytes + count * overhead];
        let writer = call.end.opener;
        let pending = Pending::Messages {
            rest: Unqueued::of(spanned, overhead),
            writer,
        };
        // The bytes a parked write holds are charged while it waits, to
        // its writer.
        let Some(charge) = P::charge_parked(&call.waiter, &self.budget, bytes) else {
            log::info!("queue write not parked: no memory left to hold its bytes");
            let done = WriteDone::stopped(accepted, Error::NoSpace);
            if accepted > 0 {
                self.settle(wk);
                self.notify(wk);
            }
            return Step::Done(call.waiter, done);
        };
        self.in_use().writes.push(
            call.id,
            ParkedWrite {
                reply: call.waiter,
                rest: pending,
                accepted,
                charge: Some(charge),
            },
        );
        if accepted > 0 {
            self.settle(wk);
            self.notify(wk);
        }
        Step::Parked
    }

    /// Moves the oldest parked write on while there is room: one message,
    /// or as much of a composed write as goes in. Returns whether it is
    /// finished, and the error that finished it early.
    pub(super) fn advance_front_writer(&mut self) -> (bool, Option<Error>) {
        let front = self.in_use().writes.front_mut().expect("a parked write");
        let none = Pending::Messages {
            rest: Unqueued::default(),
            writer: 0,
        };
        match std::mem::replace(&mut front.rest, none) {
            Pending::Messages { mut rest, writer } => {
                let overhead = rest.overhead;
                let message = rest.take_next();
                // Its charge as a parked write's bytes (its writer's)
                // becomes its charge as a queued message's (the owner's).
                if let Some(charge) = &mut front.charge {
                    charge.give_back(message.len());
                }
                let queued = self.enqueue(message);
                let w = self.in_use().writes.front_mut().expect("still the front");
                match queued {
                    Ok(len) => {
                        w.accepted += len + overhead;
                        let finished = rest.is_empty();
                        w.rest = Pending::Messages { rest, writer };
                        (finished, None)
                    }
                    // The rest's charge goes with the write, answered now.
                    Err(e) => (true, Some(e)),
                }
            }
            Pending::Bytes { end, data } => {
                // Fed bytes are charged as a message in progress's (its
                // opener's, then the owner's when whole); what is left is
                // charged again as the parked write's (its writer's).
                if let Some(charge) = &mut front.charge {
                    charge.give_back(data.len());
                }
                let fed = self.feed(end, &data);
                let rest = data.len() - fed.consumed;
                let w = self.in_use().writes.front_mut().expect("still the front");
                let held = matches!(fed.stop, Some(Stop::Full))
                    && w.charge.as_mut().is_none_or(|c| c.grow(rest));
                w.accepted += fed.consumed;
                match fed.stop {
                    None => (true, None),
                    Some(Stop::Failed(e)) => (true, Some(e)),
                    Some(Stop::Full) if !held => (true, Some(Error::NoSpace)),
                    Some(Stop::Full) => {
                        let data = data[fed.consumed..].to_vec();
                        w.rest = Pending::Bytes { end, data };
                        (false, None)
                    }
                }
            }
        }
    }

    /// Feeds bytes of a write into its description's message in progress.
    fn feed(&mut self, end: QueueEnd, data: &[u8]) -> compose::Fed {
        let mut state = (self.in_use().compositions.remove(&end.id)).unwrap_or_default();
        let max = self.max_message_size();
        let sink = &mut Composer::new(self, end.opener);
        let fed = compose::feed(end.framing, &mut state, data, max, sink);
        if state != Composition::Idle {
            self.in_use().compositions.insert(end.id, state);
        }
        fed
    }

    /// Ends the message in progress of `end`, if any (see compose::end).
    pub(super) fn end_message(&mut self, end: QueueEnd, killed: &mut dyn FnMut() -> bool) {
        let composition = (self.in_use.as_mut()).and_then(|u| u.compositions.remove(&end.id));
        if let Some(mut state) = composition {
            compose::end(&mut state, &mut Composer::new(self, end.opener), killed);
        }
    }

    /// Queues a whole message, charging its bytes and its slot to the
    /// queue's owner (a parked write's message was its writer's until
    /// now: the caller gave that charge back).
    fn enqueue(&mut self, message: Cow<'_, [u8]>) -> Result<usize> {
        let len = message.len();
        if !self.budget.try_reserve(len + MESSAGE_OVERHEAD) {
            log::info!("queue message of {len} bytes refused: no memory left for it");
            return Err(Error::NoSpace);
        }
        Ok(self.enqueue_charged(message))
    }

    /// Queues a whole message whose bytes and slot are charged already:
    /// a borrowed one is copied (with no allocation of its own if short).
    fn enqueue_charged(&mut self, message: Cow<'_, [u8]>) -> usize {
        let len = message.len();
        self.traffic.counts_mut().sent += 1;
        self.transmit(message);
        len
    }

    /// Charges the owner, in one change of the account, for as many of a
    /// write's first messages as the queue has places for now. Returns
    /// the bytes charged: 0 when they do not all fit, and they are then
    /// charged one by one, and the one refused is logged.
    fn prepay(&self, messages: &[&[u8]]) -> usize {
        let charge: usize = (messages.iter().take(self.free_places()))
            .map(|m| m.len() + MESSAGE_OVERHEAD)
            .sum();
        if charge > 0 && self.budget.try_reserve_quietly(charge) {
            charge
        } else {
            0
        }
    }

    /// How many of `data`'s first bytes continue the message `end` has
    /// in progress (none if it has none): all of them under `message`, up
    /// to the next newline under `line`.
    fn continuing(&self, end: QueueEnd, data: &[u8]) -> usize {
        match self.composition(end) {
            None | Some(Composition::Idle) => 0,
            Some(_) if end.framing == Framing::Line => data
                .iter()
                .position(|b| *b == b'\n')
                .map_or(data.len(), |i| i + 1),
            Some(_) => data.len(),
        }
    }

    /// A write under `message` or `line` framing: fed into its
    /// description's message in progress, parking (or `EAGAIN`) only when
    /// a new message needs a place and there is none.
    fn write_composed(
        &mut self,
        call: WriteCall<'_, P::Write, QueueEnd>,
        wk: &mut QueueWakeups<P>,
    ) -> Step<P::Write, WriteDone> {
        // Writers already waiting in turn go first, so that no new
        // message overtakes theirs. But bytes that continue this
        // description's message in progress take no new place and go in
        // at once: behind a writer that waits for the very place this
        // message holds, they would wait for ever.
        let fed = if !self.waiting_in_turn() {
            self.feed(call.end, call.data)
        } else {
            let continuing = self.continuing(call.end, call.data);
            let mut fed = self.feed(call.end, &call.data[..continuing]);
            if fed.stop.is_none() && continuing < call.data.len() {
                fed.stop = Some(Stop::Full);
            }
            fed
        };
        if fed.consumed > 0 {
            self.settle(wk);
            self.notify(wk);
        }
        let accepted = fed.consumed;
        let early = |e| WriteDone::stopped(accepted, e);
        // A writer past its share never waits in write(2): the kernel holds
        // the file's lock for a write that waits, every other writer of the
        // queue would wait behind it where no signal reaches, and only this
        // writer could end the wait (places.rs).
        let past_share = fed.stop == Some(Stop::Full) && self.past_share(call.end.opener);
        if past_share {
            self.log_past_share(call.end.opener);
        }
        match fed.stop {
            None => Step::Done(call.waiter, WriteDone::ok(accepted)),
            Some(Stop::Failed(e)) => Step::Done(call.waiter, early(e)),
            Some(Stop::Full) if call.nonblock || past_share => {
                Step::Done(call.waiter, early(Error::WouldBlock))
            }
            Some(Stop::Full) => {
                let Some(charge) =
                    P::charge_parked(&call.waiter, &self.budget, call.data.len() - accepted)
                else {
                    log::info!("queue write not parked: no memory left to hold its bytes");
                    return Step::Done(call.waiter, early(Error::NoSpace));
                };
                let data = call.data[accepted..].to_vec();
                let pending = Pending::Bytes {
                    end: call.end,
                    data,
                };
                let w = ParkedWrite {
                    reply: call.waiter,
                    rest: pending,
                    accepted,
                    charge: Some(charge),
                };
                self.in_use().writes.push(call.id, w);
                Step::Parked
            }
        }
    }
}

/// The queue as the place one description's composed messages go: their
/// places and charges are its opener's until they are whole (places.rs).
pub(super) struct Composer<'q, P: Parking> {
    queue: &'q mut Queue<P>,
    opener: u32,
}

impl<'q, P: Parking> Composer<'q, P> {
    pub(super) fn new(queue: &'q mut Queue<P>, opener: u32) -> Self {
        Composer { queue, opener }
    }
}

impl<P: Parking> Sink for Composer<'_, P> {
    fn reserve(&mut self) -> bool {
        if !self.queue.room_for(self.opener) {
            return false;
        }
        self.queue.hold_place(self.opener);
        true
    }

    fn unreserve(&mut self) {
        self.queue.free_place(self.opener);
    }

    /// Whole, the message and its slot are the queue's: their charge
    /// moves from its writer to the owner (see Account::transfer).
    fn commit(&mut self, message: Vec<u8>) {
        let charged = message.len() + MESSAGE_OVERHEAD;
        self.queue
            .payer(self.opener)
            .transfer(&self.queue.budget, charged);
        self.queue.free_place(self.opener);
        self.queue.traffic.counts_mut().sent += 1;
        self.queue.transmit(Cow::Owned(message));
    }

    fn charge(&mut self, bytes: usize) -> Result<()> {
        if self.queue.payer(self.opener).try_reserve(bytes) {
            return Ok(());
        }
        log::info!("queue message refused: no memory left for it");
        Err(Error::NoSpace)
    }

    fn overhead(&self) -> usize {
        MESSAGE_OVERHEAD
    }

    fn refund(&mut self, bytes: usize) {
        self.queue.payer(self.opener).release(bytes);
    }

    fn dropped(&mut self) {
        self.queue.traffic.counts_mut().dropped += 1;
    }
}
