//! A named pipe served by the daemon: POSIX FIFO semantics (pipe(7),
//! fifo(7)) as a state machine.
//!
//! Invariants, true between any two calls:
//! - parked reads exist only while the buffer is empty;
//! - parked writes exist only while the oldest of them cannot make
//!   progress (not enough room for it);
//! - `readers`/`writers` count open file descriptions, including openers
//!   still parked, as the kernel's `pipe->readers`/`pipe->writers` do;
//! - every byte in `buf`, and every byte a parked write has not put in
//!   yet, is charged to the pipe owner's account.

use std::sync::Arc;

use super::bytes::{Bytes, Gathered, Shared};
use super::{
    CancelReason, Mode, OpenRequest, ParkedRead, ParkedWrite, Parking, Pollers, ReadCall, ReadDone,
    Step, StreamObject, Unwritten, Wakeups, WriteCall, WriteDone, keep_large, ready,
};
use crate::error::{Error, Result};
use crate::memory::{Account, Held};
use crate::wait::{WaitQueue, WaiterId};

mod chunks;

/// Writes of at most this many bytes are atomic (never interleaved).
pub const PIPE_BUF: usize = 4096;
/// Bounds of a pipe's capacity (`user.ipcfs.capacity`).
pub const MIN_CAPACITY: usize = 4096;
pub const MAX_CAPACITY: usize = 16 << 20;

/// One open file description's view of a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeEnd {
    pub mode: Mode,
    /// For a reader opened with `O_NONBLOCK` while no writer was there: the
    /// writer-open count at that moment. Until a writer opens, such a reader
    /// does not see `POLLHUP` (the kernel's `f_version` rule).
    hup_guard: Option<u64>,
    /// For the writer whose open made the pipe, with no reader there: the
    /// reader-open count at that moment. Until a reader opens, its writes
    /// wait for one instead of failing with `EPIPE` (see [`Pipe::open`]).
    first_reader: Option<u64>,
}

impl PipeEnd {
    pub const fn new(mode: Mode) -> Self {
        PipeEnd {
            mode,
            hup_guard: None,
            first_reader: None,
        }
    }
}

/// A write of the pipe's creator that waits for the first reader: the
/// whole write, its charge held until it goes on.
struct AwaitingWrite<W> {
    reply: W,
    end: PipeEnd,
    data: Vec<u8>,
    /// `data`'s charge while it waits (its writer's).
    _charge: Held,
}

/// A write waiting for room: the bytes handed straight to readers when
/// it came count in `accepted`; `rest` holds the others.
type PipeWrite<W> = ParkedWrite<W, Unwritten>;

pub struct Pipe<P: Parking> {
    /// Its bytes, in the chunks they came in (chunks.rs).
    buf: chunks::Chunks,
    capacity: usize,
    budget: Arc<Account>,
    readers: usize,
    writers: usize,
    writer_opens: u64,
    reader_opens: u64,
    read_openers: WaitQueue<P::Open>,
    write_openers: WaitQueue<P::Open>,
    reads: WaitQueue<ParkedRead<P::Read>>,
    writes: WaitQueue<PipeWrite<P::Write>>,
    /// Writes of the creator, waiting for the pipe's first reader.
    awaiting_reader: WaitQueue<AwaitingWrite<P::Write>>,
    pollers: Pollers<P::Poll>,
    shut_down: bool,
}

pub type PipeWakeups<P> = Wakeups<P, PipeEnd>;

impl<P: Parking> Pipe<P> {
    pub fn new(capacity: usize, budget: Arc<Account>) -> Self {
        Pipe {
            buf: chunks::Chunks::default(),
            capacity,
            budget,
            readers: 0,
            writers: 0,
            writer_opens: 0,
            reader_opens: 0,
            read_openers: WaitQueue::new(),
            write_openers: WaitQueue::new(),
            reads: WaitQueue::new(),
            writes: WaitQueue::new(),
            awaiting_reader: WaitQueue::new(),
            pollers: Pollers::default(),
            shut_down: false,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn readers(&self) -> usize {
        self.readers
    }

    pub fn writers(&self) -> usize {
        self.writers
    }

    /// Callers parked in this pipe: opens, reads and writes.
    pub fn blocked(&self) -> usize {
        self.read_openers.len()
            + self.write_openers.len()
            + self.reads.len()
            + self.writes.len()
            + self.awaiting_reader.len()
    }

    fn room(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }

    /// A partner opened: every parked opener of the other end goes on, as
    /// the kernel's `wait_for_partner` does on a counter change.
    fn complete_openers(queue: &mut WaitQueue<P::Open>, mode: Mode, wk: &mut PipeWakeups<P>) {
        for (id, waiter) in queue.drain() {
            wk.opens.push((id, waiter, Ok(PipeEnd::new(mode))));
        }
    }

    /// A reader opened: it counts, and the writers that waited for one go
    /// on — those parked in open, then the creator's writes.
    fn reader_came(&mut self, wk: &mut PipeWakeups<P>) {
        self.readers += 1;
        self.reader_opens += 1;
        Self::complete_openers(&mut self.write_openers, Mode::WRITE, wk);
        self.resume_awaiting(wk);
    }

    /// A writer opened: it counts, and the readers parked in open go on.
    fn writer_came(&mut self, wk: &mut PipeWakeups<P>) {
        self.writers += 1;
        self.writer_opens += 1;
        Self::complete_openers(&mut self.read_openers, Mode::READ, wk);
    }

    /// Parks an open of the `mode` end, already counted, until a partner
    /// opens (the kernel's `wait_for_partner`); once nothing parks, it
    /// fails instead and its count goes back.
    fn wait_for_partner(
        &mut self,
        id: WaiterId,
        waiter: P::Open,
        mode: Mode,
    ) -> Step<P::Open, Result<PipeEnd>> {
        let (count, openers) = match mode.read {
            true => (&mut self.readers, &mut self.read_openers),
            false => (&mut self.writers, &mut self.write_openers),
        };
        if self.shut_down {
            *count -= 1;
            return Step::Done(waiter, Err(Error::ShuttingDown));
        }
        openers.push(id, waiter);
        Step::Parked
    }

    fn drop_reader(&mut self, wk: &mut PipeWakeups<P>) {
        self.readers -= 1;
        if self.readers == 0 {
            // No reader is left: every parked writer ends with EPIPE and
            // SIGPIPE, keeping the count of what it already handed over.
            for (id, w) in self.writes.drain() {
                let done = WriteDone {
                    sigpipe: true,
                    ..w.end_early(Error::BrokenPipe)
                };
                wk.writes.push((id, w.reply, done));
            }
        }
        self.discard_if_unused();
    }

    fn drop_writer(&mut self, wk: &mut PipeWakeups<P>) {
        self.writers -= 1;
        if self.writers == 0 {
            // Parked readers exist only on an empty buffer: end of file.
            for (id, r) in self.reads.drain() {
                wk.reads.push((id, r.reply, ReadDone::Data(Ok(Vec::new()))));
            }
        }
        self.discard_if_unused();
    }

    /// With no reader and no writer left, the data goes, as a FIFO's does
    /// when its last descriptor closes (pipe(7)); its memory goes back.
    fn discard_if_unused(&mut self) {
        if self.readers == 0 && self.writers == 0 && !self.buf.is_empty() {
            log::debug!(
                "pipe closed by all: {} unread bytes discarded",
                self.buf.len()
            );
            self.budget.release(self.buf.len());
            self.buf.clear();
        }
    }

    /// Appends bytes, charging them to the pipe's account first: `kept`,
    /// the same bytes kept from the caller's request, if it has them,
    /// else a copy. False (and nothing stored) when no memory is left for
    /// them.
    fn put(&mut self, bytes: &[u8], kept: Option<Shared>) -> bool {
        if !self.budget.try_reserve(bytes.len()) {
            log::info!(
                "pipe write of {} bytes refused: no memory left",
                bytes.len()
            );
            return false;
        }
        match kept {
            Some(kept) => self.buf.push_whole(Bytes::Shared(kept)),
            None => self.buf.push(bytes),
        }
        true
    }

    /// Takes up to `size` bytes: what the buffer holds, then, straight
    /// from their own bytes, those of parked writers, oldest first (they
    /// come after the buffer's in the stream). A parked writer whose bytes
    /// are all taken is answered. This lets a large read take a large
    /// write whole instead of a buffer's worth at a time. Kept request
    /// bytes go into the answer as pieces of their own, uncopied.
    fn take(&mut self, size: usize, wk: &mut PipeWakeups<P>) -> Gathered {
        let mut out = Gathered::default();
        let n = self.buf.take_into(&mut out, size);
        self.budget.release(n);
        while out.len() < size {
            let Some(w) = self.writes.front_mut() else {
                break;
            };
            let at = w.rest.at;
            let k = (size - out.len()).min(w.rest.left().len());
            out.push_part(&w.rest.data, at..at + k);
            w.rest.at += k;
            // Straight from a parked write's bytes: their charge as such
            // goes back.
            w.went_in(k);
            if !w.rest.left().is_empty() {
                break;
            }
            wk.finish_front_write(&mut self.writes);
        }
        out
    }

    /// The first reader came: the creator's writes that waited for it go
    /// on, in order, as if they had just arrived.
    fn resume_awaiting(&mut self, wk: &mut PipeWakeups<P>) {
        let waiting: Vec<_> = self.awaiting_reader.drain().collect();
        for (id, w) in waiting {
            let AwaitingWrite {
                reply, end, data, ..
            } = w;
            let call = WriteCall {
                id,
                waiter: reply,
                end,
                data: &data,
                nonblock: false,
            };
            if let Step::Done(reply, done) = self.write(call, wk) {
                wk.writes.push((id, reply, done));
            }
        }
    }

    /// Serves parked readers and writers until neither can progress.
    fn settle(&mut self, wk: &mut PipeWakeups<P>) {
        loop {
            let served = self.serve_readers(wk);
            let pumped = self.pump_writers(wk);
            if !served && !pumped {
                break;
            }
        }
    }

    fn serve_readers(&mut self, wk: &mut PipeWakeups<P>) -> bool {
        let mut progressed = false;
        while !self.buf.is_empty() {
            let Some((id, r)) = self.reads.pop_front() else {
                break;
            };
            let data = self.take(r.size, wk);
            wk.reads.push((id, r.reply, ReadDone::from(data)));
            progressed = true;
        }
        progressed
    }

    fn pump_writers(&mut self, wk: &mut PipeWakeups<P>) -> bool {
        let mut progressed = false;
        while let Some(w) = self.writes.front_mut() {
            let len = w.rest.data.len();
            let remaining = w.rest.left().len();
            let room = self.capacity.saturating_sub(self.buf.len());
            // An atomic write goes in whole (what is left of it, if a read
            // took its start straight from it); a large one in pieces.
            let chunk = if len <= PIPE_BUF {
                if room < remaining {
                    break;
                }
                remaining
            } else {
                room.min(remaining)
            };
            if chunk == 0 {
                break;
            }
            // Into the buffer, its bytes become the pipe's: charged to its
            // owner now, given back to the writer that paid while they
            // waited. With no memory left in the owner's share they wait on.
            if let Some(charge) = &mut w.charge
                && !charge.move_to(&self.budget, chunk)
            {
                break;
            }
            let at = w.rest.at;
            if at == 0 && chunk == len {
                // All of it, as it was held: in whole, with no copy.
                self.buf.push_whole(std::mem::take(&mut w.rest.data));
            } else {
                self.buf.push_part(&w.rest.data, at..at + chunk);
                w.rest.at += chunk;
            }
            w.accepted += chunk;
            progressed = true;
            if !w.rest.left().is_empty() {
                break;
            }
            wk.finish_front_write(&mut self.writes);
        }
        progressed
    }

    /// A read of up to `size` bytes (see [`StreamObject::read_done`]).
    fn read_gathered(
        &mut self,
        call: ReadCall<P::Read, PipeEnd>,
        wk: &mut PipeWakeups<P>,
    ) -> Step<P::Read, Result<Gathered>> {
        if call.size == 0 {
            return Step::Done(call.waiter, Ok(Gathered::default()));
        }
        // Bytes of parked writes count too: a write whose bytes could not
        // enter the buffer (its owner's share was full) is read straight.
        if !self.buf.is_empty() || !self.writes.is_empty() {
            let data = self.take(call.size, wk);
            self.settle(wk);
            self.notify(wk);
            return Step::Done(call.waiter, Ok(data));
        }
        if self.writers == 0 || self.shut_down {
            return Step::Done(call.waiter, Ok(Gathered::default()));
        }
        if call.nonblock {
            return Step::Done(call.waiter, Err(Error::WouldBlock));
        }
        // A pipe keeps no state per description that a read needs: its
        // parked reads carry no end.
        let parked = ParkedRead {
            reply: call.waiter,
            size: call.size,
            end: (),
        };
        self.reads.push(call.id, parked);
        Step::Parked
    }

    /// Sets the capacity. Shrinking below the bytes held is `EBUSY`, as
    /// `F_SETPIPE_SZ`.
    pub fn set_capacity(&mut self, capacity: usize, wk: &mut PipeWakeups<P>) -> Result<()> {
        if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
            return Err(Error::InvalidArgument);
        }
        if capacity < self.buf.len() {
            return Err(Error::Busy);
        }
        self.capacity = capacity;
        self.settle(wk);
        self.notify(wk);
        Ok(())
    }

    fn notify(&mut self, wk: &mut PipeWakeups<P>) {
        self.pollers.notify_into(&mut wk.polls);
    }
}

impl<P: Parking> StreamObject<P> for Pipe<P> {
    type End = PipeEnd;

    const WRITERS_FIRST: bool = true;

    /// Opens an end. `creating` is the open that made the pipe: none can
    /// have a partner yet, and it must not wait in open (a creating open
    /// holds its directory's lock in the kernel, so every other name made
    /// there would wait behind it, uninterruptibly). A creating writer
    /// opens at once, and its writes wait for the first reader instead
    /// (as its open would have, for a FIFO); with `O_NONBLOCK` it fails
    /// with `ENXIO`, as a FIFO's, and the pipe stays. A creating reader
    /// opens at once, as before any writer.
    fn open(
        &mut self,
        id: WaiterId,
        waiter: P::Open,
        req: OpenRequest,
        wk: &mut PipeWakeups<P>,
    ) -> Step<P::Open, Result<PipeEnd>> {
        let OpenRequest {
            mode,
            nonblock,
            creating,
            ..
        } = req;
        let mut end = PipeEnd::new(mode);
        if mode.read && mode.write {
            // O_RDWR: both ends at once, never blocks (fifo(7)).
            self.writer_came(wk);
            self.reader_came(wk);
            self.notify(wk);
            return Step::Done(waiter, Ok(end));
        }
        if mode.write {
            if self.readers == 0 && nonblock {
                return Step::Done(waiter, Err(Error::NoReader));
            }
            self.writer_came(wk);
            self.notify(wk);
            if self.readers > 0 {
                return Step::Done(waiter, Ok(end));
            }
            if creating {
                end.first_reader = Some(self.reader_opens);
                return Step::Done(waiter, Ok(end));
            }
            return self.wait_for_partner(id, waiter, Mode::WRITE);
        }
        self.reader_came(wk);
        self.notify(wk);
        if self.writers > 0 || creating {
            return Step::Done(waiter, Ok(end));
        }
        if nonblock {
            end.hup_guard = Some(self.writer_opens);
            return Step::Done(waiter, Ok(end));
        }
        self.wait_for_partner(id, waiter, Mode::READ)
    }

    /// Reads up to `size` bytes, in one buffer.
    fn read(
        &mut self,
        call: ReadCall<P::Read, PipeEnd>,
        wk: &mut PipeWakeups<P>,
    ) -> Step<P::Read, Result<Vec<u8>>> {
        self.read_gathered(call, wk)
            .map(|answer| answer.map(Gathered::into_vec))
    }

    /// Reads up to `size` bytes, kept request bytes among them as they
    /// are.
    fn read_done(
        &mut self,
        call: ReadCall<P::Read, PipeEnd>,
        wk: &mut PipeWakeups<P>,
    ) -> Step<P::Read, ReadDone> {
        self.read_gathered(call, wk).map(ReadDone::from)
    }

    /// Writes `data`: all of it, or parks until it is all in. Writes of at
    /// most `PIPE_BUF` bytes go in whole or not at all.
    fn write(
        &mut self,
        call: WriteCall<'_, P::Write, PipeEnd>,
        wk: &mut PipeWakeups<P>,
    ) -> Step<P::Write, WriteDone> {
        let len = call.data.len();
        if len == 0 {
            return Step::Done(call.waiter, WriteDone::ok(0));
        }
        if self.shut_down {
            return Step::Done(call.waiter, WriteDone::err(Error::ShuttingDown));
        }
        if self.readers == 0 && call.end.first_reader == Some(self.reader_opens) {
            // The creator, before any reader came: it waits for one.
            if call.nonblock {
                return Step::Done(call.waiter, WriteDone::err(Error::WouldBlock));
            }
            let Some(charge) = P::charge_parked(&call.waiter, &self.budget, len) else {
                log::info!("pipe write not parked: no memory left to hold its bytes");
                return Step::Done(call.waiter, WriteDone::err(Error::NoSpace));
            };
            let waiting = AwaitingWrite {
                reply: call.waiter,
                end: call.end,
                data: call.data.to_vec(),
                _charge: charge,
            };
            self.awaiting_reader.push(call.id, waiting);
            return Step::Parked;
        }
        if self.readers == 0 {
            return Step::Done(
                call.waiter,
                WriteDone {
                    result: Err(Error::BrokenPipe),
                    sigpipe: true,
                },
            );
        }
        // Readers already waiting (so the buffer is empty and no writer is
        // parked) take their bytes straight from this write's own buffer:
        // the daemon copies none of them.
        let mut handed = 0;
        while handed < len {
            let Some((rid, r)) = self.reads.pop_front() else {
                break;
            };
            let n = r.size.min(len - handed);
            wk.reads
                .push((rid, r.reply, ReadDone::Handed(handed..handed + n)));
            handed += n;
        }
        let rest = &call.data[handed..];
        if rest.is_empty() {
            self.notify(wk);
            return Step::Done(call.waiter, WriteDone::ok(len));
        }
        let atomic = len <= PIPE_BUF;
        // Blocking writers queue behind those already parked, so that data
        // of one writer never overtakes an earlier one's.
        let can_start = call.nonblock || self.writes.is_empty();
        let chunk = if !can_start {
            0
        } else if atomic {
            // Whatever readers did not take goes in whole; after a hand-over
            // the buffer is empty, so it always fits.
            if self.room() >= rest.len() {
                rest.len()
            } else {
                0
            }
        } else {
            self.room().min(rest.len())
        };
        // What stays in the pipe, or waits to go in, is kept from the
        // caller's request rather than copied, where the adapter can.
        let parks = chunk < rest.len() && !call.nonblock;
        let kept = match (chunk, parks) {
            (_, true) => keep_large::<P>(rest),
            (0, false) => None,
            (_, false) => keep_large::<P>(&rest[..chunk]),
        };
        let kept_chunk = kept.as_ref().map(|k| k.slice(0..chunk));
        if chunk > 0 && !self.put(&rest[..chunk], kept_chunk) {
            self.notify(wk);
            let done = WriteDone::stopped(handed, Error::NoSpace);
            return Step::Done(call.waiter, done);
        }
        if chunk == rest.len() || (call.nonblock && handed + chunk > 0) {
            self.settle(wk);
            self.notify(wk);
            return Step::Done(call.waiter, WriteDone::ok(handed + chunk));
        }
        if call.nonblock {
            return Step::Done(call.waiter, WriteDone::err(Error::WouldBlock));
        }
        // The bytes a parked write holds are charged while it waits, to
        // its writer: another user's blocked writes into a pipe one may
        // write are theirs to pay for, not the pipe owner's.
        let Some(charge) = P::charge_parked(&call.waiter, &self.budget, rest.len() - chunk) else {
            log::info!("pipe write not parked: no memory left to hold its bytes");
            self.settle(wk);
            self.notify(wk);
            let done = WriteDone::stopped(handed + chunk, Error::NoSpace);
            return Step::Done(call.waiter, done);
        };
        self.writes.push(
            call.id,
            ParkedWrite {
                reply: call.waiter,
                rest: Unwritten {
                    data: Bytes::keep_or_copy(rest, kept),
                    at: chunk,
                },
                accepted: handed + chunk,
                charge: Some(charge),
            },
        );
        if chunk > 0 || handed > 0 {
            self.settle(wk);
            self.notify(wk);
        }
        Step::Parked
    }

    /// Closes an end opened earlier.
    fn release(&mut self, end: PipeEnd, wk: &mut PipeWakeups<P>) {
        if end.mode.read {
            self.drop_reader(wk);
        }
        if end.mode.write {
            self.drop_writer(wk);
        }
        self.notify(wk);
    }

    /// Takes a parked caller out because its caller got a signal or the
    /// daemon is unmounting. False if `id` is not parked here.
    fn cancel(&mut self, id: WaiterId, why: CancelReason, wk: &mut PipeWakeups<P>) -> bool {
        let error = why.error();
        if let Some(waiter) = self.read_openers.remove(id) {
            wk.opens.push((id, waiter, Err(error)));
            self.drop_reader(wk);
        } else if let Some(waiter) = self.write_openers.remove(id) {
            wk.opens.push((id, waiter, Err(error)));
            self.drop_writer(wk);
        } else if let Some(r) = self.reads.remove(id) {
            wk.read_cancelled(id, r.reply, why);
        } else if let Some(w) = self.awaiting_reader.remove(id) {
            wk.writes.push((id, w.reply, WriteDone::err(error)));
        } else if let Some(w) = self.writes.remove(id) {
            wk.write_cancelled(id, w, why);
            // The cancelled writer may have been the one at the front.
            self.settle(wk);
        } else {
            return false;
        }
        self.notify(wk);
        true
    }

    fn parked(&self) -> Vec<WaiterId> {
        let mut ids = self.read_openers.ids();
        ids.extend(self.write_openers.ids());
        ids.extend(self.reads.ids());
        ids.extend(self.writes.ids());
        ids.extend(self.awaiting_reader.ids());
        ids
    }

    fn stop_parking(&mut self, wk: &mut PipeWakeups<P>) {
        self.shut_down = true;
        self.notify(wk);
    }

    /// Readiness for this end, as `pipe_poll` computes it; with a poll
    /// handle, it is kept and notified at the next change.
    fn poll(&mut self, end: PipeEnd, notify: Option<(u64, P::Poll)>) -> u32 {
        let mut mask = 0;
        if end.mode.read {
            if !self.buf.is_empty() {
                mask |= ready::IN;
            }
            if self.writers == 0 && end.hup_guard != Some(self.writer_opens) {
                mask |= ready::HUP;
            }
        }
        if end.mode.write {
            if self.room() >= PIPE_BUF.min(self.capacity) && self.writes.is_empty() {
                mask |= ready::OUT;
            }
            if self.readers == 0 {
                mask |= ready::ERR;
            }
        }
        if let Some((kh, handle)) = notify {
            self.pollers.register(kh, handle);
        }
        mask
    }
}

impl<P: Parking> Drop for Pipe<P> {
    fn drop(&mut self) {
        self.budget.release(self.buf.len());
    }
}

#[cfg(test)]
mod tests;
