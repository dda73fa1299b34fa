//! A message queue: a message goes in whole (compose.rs says where a
//! stream writer's messages end), and each receive takes one message.
//!
//! Two ways to read, chosen at open:
//! - stream mode (the default, for shell tools): the first read on an open
//!   file description receives the oldest message and returns as much of it
//!   as fits; further reads return the rest; when the message is used up a
//!   read returns 0 (end of file), and the read after that receives the
//!   next message. So `cat q` receives exactly one message.
//! - packet mode (`O_DIRECT`): every read returns one whole message; a
//!   buffer too small for it gets `EMSGSIZE` and the message stays queued.
//! - batch mode (`O_DIRECT|O_DSYNC`, for programs past the per-call
//!   ceiling): a write carries many messages as records, a read returns as
//!   many whole messages as fit, as records (records.rs).
//!
//! Invariants, true between any two calls:
//! - parked reads exist only while no message is queued;
//! - parked writes and opens exist only while the queue is full, or their
//!   writer holds its share of places in messages in progress
//!   (places.rs); those waiting for room keep their order;
//! - a queue is full when its messages and the places reserved by
//!   messages in progress (one per composing file description) reach
//!   `max_messages`;
//! - the places a user other than the owner holds in messages in
//!   progress are at most half the queue's (places.rs);
//! - every queued byte and its slot's overhead is charged to the queue
//!   owner's account; a received message a stream reader keeps
//!   (reception.rs) to the reader's (the owner's own, if the owner
//!   reads); a message in progress, its slot included, to the account of
//!   the user who opened its description (places.rs) until it is whole;
//!   a parked write's bytes to its writer's (send.rs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

mod in_use;
mod places;
mod remote;
mod send;
pub mod store;
mod traffic;
mod transit;

pub use self::remote::{RemoteCounters, RemoteQueue, STORED_PLACE, StoredBytes, StoredCharge};

use super::compose::{Composition, Framing};
use super::reception::Reception;
use super::records::{self, record_len};
use super::{
    CancelReason, IoMode, Mode, OpenRequest, Parking, ReadCall, Step, StreamObject, Wakeups,
    WriteCall, WriteDone, ready,
};
use crate::error::{Error, Result};
use crate::memory::{Account, Held, MESSAGE_OVERHEAD};
use crate::wait::WaiterId;

/// One open file description of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEnd {
    /// Key of this description's receive state.
    id: u64,
    pub mode: Mode,
    pub io: IoMode,
    /// The queue's framing when this description was opened: where its
    /// stream-mode messages end.
    pub framing: Framing,
    /// The uid that opened it: its messages in progress hold places of
    /// that user's share (places.rs).
    pub opener: u32,
}

impl QueueEnd {
    /// The description `req` opens, as description `id` of a queue whose
    /// framing is now `framing`.
    fn opened(id: u64, req: OpenRequest, framing: Framing) -> QueueEnd {
        QueueEnd {
            id,
            mode: req.mode,
            io: req.io,
            framing,
            opener: req.opener,
        }
    }

    /// Whether this description's writes gather into messages that end
    /// later (a close, a newline) rather than each being one.
    fn composes(&self) -> bool {
        self.io == IoMode::Stream && self.framing.composes()
    }
}

/// Laid out for the many queues that sit idle: their settings here; their
/// messages and counters behind one pointer, made with the first message
/// (`traffic.rs`); and what only an open or waited-on queue has
/// in `InUse` (in_use.rs), boxed, made on first need and dropped when
/// empty.
pub struct Queue<P: Parking> {
    /// Its messages and the counts of what passed (traffic.rs).
    traffic: traffic::Traffic,
    /// At most 2³² − 1 ([`max_messages`]).
    max_messages: u32,
    /// At most the mount's largest message (limits.rs: under 256 MiB),
    /// which every setter checks: u32 keeps a queue small.
    max_message_size: u32,
    budget: Arc<Account>,
    next_end: u64,
    /// Where the stream writers opened from now on end their messages.
    framing: Framing,
    shut_down: bool,
    /// The faults between writers and readers (labs), and the messages
    /// they delay or hold back; `None` while the channel is perfect.
    transit: Option<Box<transit::Transit>>,
    /// Open descriptions and their state, parked calls and poll handles;
    /// `None` while there are none (in_use.rs).
    in_use: Option<Box<in_use::InUse<P>>>,
}

pub type QueueWakeups<P> = Wakeups<P, QueueEnd>;

/// `n` as a queue's `max_messages`, in memory or shared: 1 to 2³² − 1,
/// else `EINVAL` (u32 keeps a queue in memory small).
pub fn max_messages(n: usize) -> Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or(Error::InvalidArgument)
}

/// A stream-mode read of a description that is mid-message: the rest of
/// it, or the end of file after it. `None` when it must receive.
fn continue_reception(
    receptions: &mut HashMap<u64, Reception>,
    end: QueueEnd,
    size: usize,
) -> Option<Vec<u8>> {
    if end.io != IoMode::Stream {
        return None;
    }
    receptions.get_mut(&end.id)?.read_on(size)
}

/// What a read gets without receiving a message: the rest of the one its
/// description is in, or nothing for a stream read of no bytes.
fn read_at_once(
    receptions: &mut HashMap<u64, Reception>,
    end: QueueEnd,
    size: usize,
) -> Option<Vec<u8>> {
    continue_reception(receptions, end, size)
        .or_else(|| (end.io == IoMode::Stream && size == 0).then(Vec::new))
}

/// A queue's counters, as xattrs and `status` show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounters {
    pub messages: usize,
    pub bytes: usize,
    pub sent: u64,
    pub received: u64,
    pub truncated: u64,
    pub dropped: u64,
    pub readers: usize,
    pub writers: usize,
    pub blocked: usize,
}

impl<P: Parking> Queue<P> {
    pub fn new(
        max_messages: usize,
        max_message_size: usize,
        framing: Framing,
        budget: Arc<Account>,
    ) -> Self {
        Queue {
            traffic: Default::default(),
            max_messages: u32::try_from(max_messages).unwrap_or(u32::MAX),
            max_message_size: u32::try_from(max_message_size).unwrap_or(u32::MAX),
            budget,
            next_end: 0,
            framing,
            shut_down: false,
            transit: None,
            in_use: None,
        }
    }

    pub fn counters(&self) -> QueueCounters {
        let passed = self.traffic.counts();
        QueueCounters {
            messages: self.traffic.len(),
            bytes: self.traffic.bytes(),
            sent: passed.sent,
            received: passed.received,
            truncated: passed.truncated,
            dropped: passed.dropped,
            readers: self.in_use_now().map_or(0, |u| u.readers),
            writers: self.in_use_now().map_or(0, |u| u.writers),
            blocked: self.in_use_now().map_or(0, |u| u.blocked()),
        }
    }

    pub fn max_messages(&self) -> usize {
        self.max_messages as usize
    }

    pub fn max_message_size(&self) -> usize {
        self.max_message_size as usize
    }

    /// Sets how many messages the queue holds. Lowering it below what is
    /// queued keeps those messages; writers wait until it drains.
    pub fn set_max_messages(&mut self, n: usize, wk: &mut QueueWakeups<P>) -> Result<()> {
        self.max_messages = max_messages(n)?;
        self.settle(wk);
        self.notify(wk);
        self.rest_when_idle();
        Ok(())
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Sets the framing of the stream writers opened from now on; those
    /// open keep theirs.
    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    /// Sets the largest message, at most `cap` (the mount's: see
    /// limits.rs). Messages already queued stay.
    pub fn set_max_message_size(&mut self, n: usize, cap: usize) -> Result<()> {
        match u32::try_from(n) {
            Ok(n) if (1..=cap).contains(&(n as usize)) => self.max_message_size = n,
            _ => return Err(Error::InvalidArgument),
        }
        Ok(())
    }

    /// Full: its messages, the places of messages in progress and the
    /// messages the channel still carries reach `max_messages`.
    /// Reserves a place for the first message of `end`, an open for
    /// writing, charged to its opener as a message in progress with no
    /// bytes yet (see compose::end). Without memory for it, the open goes
    /// on without one: its first write will find a place as any other.
    fn take_place(&mut self, end: QueueEnd) {
        self.hold_place(end.opener);
        if self.payer(end.opener).try_reserve(MESSAGE_OVERHEAD) {
            (self.in_use().compositions).insert(end.id, Composition::Active(Vec::new()));
        } else {
            self.free_place(end.opener);
        }
    }

    fn full(&self) -> bool {
        self.free_places() == 0
    }

    /// Places no message, queued, in progress or carried, holds.
    fn free_places(&self) -> usize {
        (self.max_messages()).saturating_sub(self.traffic.len() + self.reserved() + self.carried())
    }

    /// Takes the oldest message out. Its slot's overhead is given back;
    /// its bytes stay charged until they leave the daemon (see
    /// [`Queue::delivered`]; a stream reader keeps the message, and its
    /// charge, until it has read it all).
    fn pop_message(&mut self) -> Vec<u8> {
        let message = self.traffic.pop_front().expect("a message is queued");
        self.budget.release(MESSAGE_OVERHEAD);
        message
    }

    /// Gives back the charge of `bytes` of received messages that left.
    fn delivered(&self, bytes: usize) {
        self.budget.release(bytes);
    }

    /// The charge of a message of `len` bytes a stream read of `size`
    /// bytes through `end` receives. One longer than the read stays with
    /// its reader for the next reads, and is its reader's to pay for (a
    /// reader that kept one byte's read of each message could otherwise
    /// hold, at the owner's expense, far more than the queue's
    /// `max_messages`): `ENOSPC`, and the message stays queued, past the
    /// reader's share. The owner keeps the charge the message has.
    fn reception_charge(&self, end: QueueEnd, len: usize, size: usize) -> Result<Option<Held>> {
        if len <= size {
            return Ok(None);
        }
        if end.opener == self.budget.uid() {
            return Ok(Some(self.budget.adopt(len)));
        }
        match self.budget.of_user(end.opener).hold(len) {
            Some(held) => Ok(Some(held)),
            None => {
                log::info!(
                    "queue read refused: uid {} has no room left to keep a message of {len} bytes",
                    end.opener
                );
                Err(Error::NoSpace)
            }
        }
    }

    /// Hands `message`'s first bytes to a stream-mode reader and keeps the
    /// rest for its next reads, with `charge` (see reception_charge). The
    /// queue's charge for it goes, unless the owner keeps it as its own.
    fn start_reception(
        &mut self,
        end: QueueEnd,
        message: Vec<u8>,
        size: usize,
        charge: Option<Held>,
    ) -> Vec<u8> {
        let adopted = charge.is_some() && end.opener == self.budget.uid();
        if !adopted {
            self.delivered(message.len());
        }
        let reception = self.in_use().receptions.entry(end.id).or_default();
        reception.start(message, size, charge)
    }

    /// A stream-mode read of a description that is mid-message: the rest
    /// of it, or the end of file after it. `None` when it must receive.
    fn continue_reception(&mut self, end: QueueEnd, size: usize) -> Option<Vec<u8>> {
        continue_reception(&mut self.in_use.as_mut()?.receptions, end, size)
    }

    /// Serves parked readers and writers until neither can progress.
    fn settle(&mut self, wk: &mut QueueWakeups<P>) {
        loop {
            self.end_writes_past_share(wk);
            let mut progressed = false;
            while let Some(front) = self.in_use_now().and_then(|u| u.reads.front()) {
                let (end, size) = (front.end, front.size);
                // A reader of a description that is mid-message (another
                // read of it took one meanwhile) goes on with that one.
                let result = match self.continue_reception(end, size) {
                    Some(data) => Ok(data),
                    None if self.traffic.is_empty() => break,
                    None => self.receive(end, size),
                };
                wk.serve_front_read(&mut self.in_use().reads, result);
                progressed = true;
            }
            // Opens and writes waiting for a place take them in the order
            // they came, passing those that wait for their writer's share
            // (places.rs).
            while !self.full() {
                let Some(in_use) = self.in_use_now() else {
                    break;
                };
                let opener =
                    (in_use.place_openers).first_id_where(|(_, end)| !self.past_share(end.opener));
                let write = (in_use.writes).first_id_where(|w| !self.waits_for_share(w));
                let opener_first = match (opener, write) {
                    (None, None) => break,
                    (Some(o), Some(w)) => o < w,
                    (o, _) => o.is_some(),
                };
                if opener_first {
                    let id = opener.expect("an opener goes first");
                    let parked = self.in_use().place_openers.remove(id);
                    let (waiter, end) = parked.expect("it is parked");
                    self.take_place(end);
                    self.in_use().writers += 1;
                    wk.opens.push((id, waiter, Ok(end)));
                } else {
                    // Those it passes wait for their share: the order of
                    // those waiting for room is kept.
                    (self.in_use().writes).to_front(write.expect("a write goes first"));
                    let (finished, error) = self.advance_front_writer();
                    if finished {
                        let front = self.in_use().writes.pop_front();
                        let (id, w) = front.expect("front exists");
                        let done = match error {
                            Some(e) => w.end_early(e),
                            None => WriteDone::ok(w.accepted),
                        };
                        wk.writes.push((id, w.reply, done));
                    }
                }
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    /// A parked write whose writer has come to hold its share (its opens
    /// took places meanwhile) waits no more: see write_composed.
    fn end_writes_past_share(&mut self, wk: &mut QueueWakeups<P>) {
        if !self.anyone_past_share() {
            return;
        }
        while let Some(id) = self
            .in_use_now()
            .and_then(|u| u.writes.first_id_where(|w| self.waits_for_share(w)))
        {
            let w = self.in_use().writes.remove(id).expect("it is parked");
            self.log_past_share(w.rest.writer());
            let done = w.end_early(Error::WouldBlock);
            wk.writes.push((id, w.reply, done));
        }
    }

    /// Receives for a read of `size` bytes while a message is queued: the
    /// start of one (stream), one whole (packet) or as many whole as fit
    /// (batch). Too small a buffer for a whole message is `EMSGSIZE`, and
    /// the message stays queued.
    fn receive(&mut self, end: QueueEnd, size: usize) -> Result<Vec<u8>> {
        let front = self.traffic.front().expect("a message is queued");
        match end.io {
            IoMode::Stream => {
                let charge = self.reception_charge(end, front.len(), size)?;
                let message = self.pop_message();
                Ok(self.start_reception(end, message, size, charge))
            }
            IoMode::Packet if front.len() > size => {
                log::debug!(
                    "packet read of {size} bytes refused: next message has {}",
                    front.len()
                );
                Err(Error::MessageTooLong)
            }
            IoMode::Packet => {
                let message = self.pop_message();
                self.delivered(message.len());
                Ok(message)
            }
            IoMode::Batch if record_len(front) > size => {
                log::debug!(
                    "batch read of {size} bytes refused: next message has {}, {} as a record",
                    front.len(),
                    record_len(front)
                );
                Err(Error::MessageTooLong)
            }
            IoMode::Batch => {
                let mut out =
                    Vec::with_capacity(size.min(self.traffic.bytes() + 4 * self.traffic.len()));
                // The messages' slots and bytes are given back together,
                // in one change of the account for the whole read.
                let mut freed = 0;
                while self
                    .traffic
                    .front()
                    .is_some_and(|m| out.len() + record_len(m) <= size)
                {
                    let len = self.traffic.pop_front_with(|message| {
                        records::append(&mut out, message);
                        message.len()
                    });
                    freed += len.expect("a message is queued") + MESSAGE_OVERHEAD;
                }
                self.budget.release(freed);
                Ok(out)
            }
        }
    }

    fn notify(&mut self, wk: &mut QueueWakeups<P>) {
        if let Some(in_use) = &mut self.in_use {
            in_use.pollers.notify_into(&mut wk.polls);
        }
    }
}

impl<P: Parking> StreamObject<P> for Queue<P> {
    type End = QueueEnd;

    /// A queue's messages are stored before a reader takes them, and its
    /// reads answer with their own bytes: batch mode's callers go first.
    fn caller_first(end: QueueEnd) -> bool {
        end.io == IoMode::Batch
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.next_arrival()
    }

    fn deadline(&mut self, now: Instant, wk: &mut QueueWakeups<P>) {
        self.arrivals(now, wk);
    }

    /// Opening a queue never waits: a queue has no partner to wait for.
    fn open(
        &mut self,
        id: WaiterId,
        waiter: P::Open,
        req: OpenRequest,
        _wk: &mut QueueWakeups<P>,
    ) -> Step<P::Open, Result<QueueEnd>> {
        self.next_end += 1;
        let end = QueueEnd::opened(self.next_end, req, self.framing);
        if req.mode.read {
            self.in_use().readers += 1;
            self.in_use().receptions.insert(end.id, Reception::Idle);
        }
        if req.mode.write && !req.mode.read && end.composes() && !req.nonblock && !self.shut_down {
            // A writer's open takes its first message's place, waiting here
            // for one if the queue is full: so its writes never wait. A
            // write that waits holds the file's lock in the kernel, and the
            // truncation of the next `>` open of the queue would wait for
            // it where no signal reaches (state D); an open holds no lock.
            if self.room_for(end.opener) && !self.waiting_in_turn() {
                self.take_place(end);
            } else {
                if self.past_share(end.opener) {
                    self.log_past_share(end.opener);
                }
                self.in_use().place_openers.push(id, (waiter, end));
                return Step::Parked;
            }
        }
        if req.mode.write {
            self.in_use().writers += 1;
        }
        Step::Done(waiter, Ok(end))
    }

    fn read(
        &mut self,
        call: ReadCall<P::Read, QueueEnd>,
        wk: &mut QueueWakeups<P>,
    ) -> Step<P::Read, Result<Vec<u8>>> {
        // A reader's description has its receive state: the queue is in
        // use while it is open.
        if let Some(data) = read_at_once(&mut self.in_use().receptions, call.end, call.size) {
            return Step::Done(call.waiter, Ok(data));
        }
        if !self.traffic.is_empty() {
            let result = self.receive(call.end, call.size);
            if result.is_ok() {
                self.settle(wk);
                self.notify(wk);
            }
            return Step::Done(call.waiter, result);
        }
        if self.shut_down {
            return Step::Done(call.waiter, Ok(Vec::new()));
        }
        if call.nonblock {
            return Step::Done(call.waiter, Err(Error::WouldBlock));
        }
        call.park_in(&mut self.in_use().reads);
        Step::Parked
    }

    /// Under `message` and `line` framing, feeds the write into its
    /// description's message in progress (`write_composed`). Otherwise
    /// queues the write's message, or in batch mode its messages in order:
    /// as many as there is room for now, then (blocking) parks with the
    /// rest until all are in. Each message goes in whole; another writer's
    /// messages may come between two of a batch, never inside one.
    fn write(
        &mut self,
        call: WriteCall<'_, P::Write, QueueEnd>,
        wk: &mut QueueWakeups<P>,
    ) -> Step<P::Write, WriteDone> {
        self.send(call, wk)
    }

    fn release(&mut self, end: QueueEnd, wk: &mut QueueWakeups<P>) {
        if end.mode.read {
            self.in_use().readers -= 1;
            let reception = self.in_use().receptions.remove(&end.id);
            if reception.is_some_and(|r| r.unread() > 0) {
                // The unread rest of a received message is dropped, and its
                // charge with it.
                self.traffic.counts_mut().truncated += 1;
            }
        }
        if end.mode.write {
            self.in_use().writers -= 1;
            // A close always comes with a flush first; this ends a message
            // only if none did.
            self.end_message(end, &mut || false);
            self.settle(wk);
        }
        self.notify(wk);
        self.rest_when_idle();
    }

    /// A descriptor of `end` was closed, or fsync'ed: its message in
    /// progress is whole (or dropped, if `killed` says its writer is
    /// dying of a signal). It is answered at once.
    fn flush(
        &mut self,
        _id: WaiterId,
        waiter: P::Flush,
        end: QueueEnd,
        killed: &mut dyn FnMut() -> bool,
        wk: &mut QueueWakeups<P>,
    ) -> Step<P::Flush, Result<()>> {
        match self.composition(end) {
            None => return Step::Done(waiter, Ok(())),
            // Nothing written yet: a shell's `>` closes its first
            // descriptor after dup2, before the command writes; the place
            // taken at open stays for the message to come (the release
            // gives it back if none does).
            Some(Composition::Active(message)) if message.is_empty() => {
                return Step::Done(waiter, Ok(()));
            }
            _ => {}
        }
        self.end_message(end, killed);
        self.settle(wk);
        self.notify(wk);
        self.rest_when_idle();
        Step::Done(waiter, Ok(()))
    }

    fn cancel(&mut self, id: WaiterId, why: CancelReason, wk: &mut QueueWakeups<P>) -> bool {
        let Some(in_use) = &mut self.in_use else {
            return false;
        };
        if let Some((waiter, _)) = in_use.place_openers.remove(id) {
            wk.opens.push((id, waiter, Err(why.error())));
            // Writes behind it may go now.
            self.settle(wk);
        } else if let Some(r) = in_use.reads.remove(id) {
            wk.read_cancelled(id, r.reply, why);
        } else if let Some(w) = in_use.writes.remove(id) {
            wk.write_cancelled(id, w, why);
            // The cancelled writer may have held back those behind it.
            self.settle(wk);
        } else {
            return false;
        }
        self.notify(wk);
        self.rest_when_idle();
        true
    }

    fn parked(&self) -> Vec<WaiterId> {
        let Some(in_use) = self.in_use_now() else {
            return Vec::new();
        };
        let mut ids = in_use.reads.ids();
        ids.extend(in_use.writes.ids());
        ids.extend(in_use.place_openers.ids());
        ids
    }

    fn stop_parking(&mut self, wk: &mut QueueWakeups<P>) {
        self.shut_down = true;
        self.notify(wk);
    }

    fn poll(&mut self, end: QueueEnd, notify: Option<(u64, P::Poll)>) -> u32 {
        let mut mask = 0;
        if end.mode.read {
            let reception = self.in_use_now().and_then(|u| u.receptions.get(&end.id));
            let mid_message = reception.is_some_and(Reception::mid_message);
            if (mid_message && end.io == IoMode::Stream) || !self.traffic.is_empty() {
                mask |= ready::IN;
            }
        }
        // A description with a message in progress has its place: its
        // writes never wait for room.
        let has_place = matches!(self.composition(end), Some(Composition::Active(_)));
        let room = match end.composes() {
            true => self.room_for(end.opener),
            false => !self.full(),
        };
        if end.mode.write && (room || has_place) && !self.waiting_in_turn() {
            mask |= ready::OUT;
        }
        if let Some((kh, handle)) = notify {
            self.in_use().pollers.register(kh, handle);
        }
        mask
    }
}

#[cfg(test)]
mod tests;
