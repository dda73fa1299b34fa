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

use std::collections::VecDeque;
use std::sync::Arc;

use super::{
    CancelReason, Mode, OpenRequest, Parking, Pollers, Step, StreamObject, Wakeups, WriteDone,
    ready,
};
use crate::error::{Error, Result};
use crate::memory::Account;
use crate::wait::{WaitQueue, WaiterId};

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
    /// Who pays for `data` while it waits.
    payer: Arc<Account>,
}

struct ParkedRead<R> {
    reply: R,
    size: usize,
}

struct ParkedWrite<W> {
    reply: W,
    /// Who pays for its bytes while they wait (its writer's account, else
    /// the pipe's); once in the buffer they are the pipe's.
    payer: Arc<Account>,
    /// The bytes not handed straight to readers when the write arrived.
    data: Vec<u8>,
    /// How many of `data` are in the pipe (or taken by readers) so far.
    done: usize,
    /// Bytes handed straight to waiting readers before it parked.
    handed: usize,
}

impl<W> ParkedWrite<W> {
    /// Bytes of this write that readers have or can have: its count if it
    /// ends now.
    fn written(&self) -> usize {
        self.handed + self.done
    }

    /// The whole write's length: its count once it is all in.
    fn len(&self) -> usize {
        self.handed + self.data.len()
    }

    /// Its answer when it must end before all is in: the count so far, or
    /// `error` when nothing went in.
    fn end_early(&self, error: Error) -> WriteDone {
        match self.written() {
            0 => WriteDone::err(error),
            n => WriteDone::ok(n),
        }
    }
}

pub struct Pipe<P: Parking> {
    buf: VecDeque<u8>,
    capacity: usize,
    budget: Arc<Account>,
    readers: usize,
    writers: usize,
    writer_opens: u64,
    reader_opens: u64,
    read_openers: WaitQueue<P::Open>,
    write_openers: WaitQueue<P::Open>,
    reads: WaitQueue<ParkedRead<P::Read>>,
    writes: WaitQueue<ParkedWrite<P::Write>>,
    /// Writes of the creator, waiting for the pipe's first reader.
    awaiting_reader: WaitQueue<AwaitingWrite<P::Write>>,
    pollers: Pollers<P::Poll>,
    shut_down: bool,
}

pub type PipeWakeups<P> = Wakeups<P, PipeEnd>;

impl<P: Parking> Pipe<P> {
    pub fn new(capacity: usize, budget: Arc<Account>) -> Self {
        Pipe {
            buf: VecDeque::new(),
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

    fn drop_reader(&mut self, wk: &mut PipeWakeups<P>) {
        self.readers -= 1;
        if self.readers == 0 {
            // No reader is left: every parked writer ends with EPIPE and
            // SIGPIPE, keeping the count of what it already handed over.
            for (id, w) in self.writes.drain() {
                w.payer.release(w.data.len() - w.done);
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
                wk.reads.push((id, r.reply, Ok(Vec::new())));
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
            self.buf = VecDeque::new();
        }
    }

    /// Appends bytes, charging them to the pipe's account first. False
    /// (and nothing stored) when no memory is left for them.
    fn put(&mut self, bytes: &[u8]) -> bool {
        if !self.budget.try_reserve(bytes.len()) {
            log::info!(
                "pipe write of {} bytes refused: no memory left",
                bytes.len()
            );
            return false;
        }
        self.buf.extend(bytes);
        true
    }

    /// Takes up to `size` bytes: what the buffer holds, then, straight
    /// from their own bytes, those of parked writers, oldest first (they
    /// come after the buffer's in the stream). A parked writer whose bytes
    /// are all taken is answered. This lets a large read take a large
    /// write whole instead of a buffer's worth at a time.
    fn take(&mut self, size: usize, wk: &mut PipeWakeups<P>) -> Vec<u8> {
        let n = size.min(self.buf.len());
        let mut out = Vec::with_capacity(n);
        let (a, b) = self.buf.as_slices();
        let from_a = n.min(a.len());
        out.extend_from_slice(&a[..from_a]);
        out.extend_from_slice(&b[..n - from_a]);
        self.buf.drain(..n);
        self.budget.release(n);
        if self.buf.is_empty() && self.buf.capacity() > 2 * PIPE_BUF {
            // A drained buffer gives its memory back: a pipe that once
            // held a burst does not keep its high-water mark.
            self.buf = VecDeque::new();
        }
        while out.len() < size {
            let Some(w) = self.writes.front_mut() else {
                break;
            };
            let k = (size - out.len()).min(w.data.len() - w.done);
            out.extend_from_slice(&w.data[w.done..w.done + k]);
            w.done += k;
            // Straight from a parked write's bytes, charged to its payer
            // while it waited.
            w.payer.release(k);
            if w.done < w.data.len() {
                break;
            }
            let (id, w) = self.writes.pop_front().expect("front exists");
            let done = WriteDone::ok(w.len());
            wk.writes.push((id, w.reply, done));
        }
        out
    }

    /// The first reader came: the creator's writes that waited for it go
    /// on, in order, as if they had just arrived.
    fn resume_awaiting(&mut self, wk: &mut PipeWakeups<P>) {
        let waiting: Vec<_> = self.awaiting_reader.drain().collect();
        for (id, w) in waiting {
            w.payer.release(w.data.len());
            if let Step::Done(reply, done) = self.write(id, w.reply, w.end, &w.data, false, wk) {
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
            wk.reads.push((id, r.reply, Ok(data)));
            progressed = true;
        }
        progressed
    }

    fn pump_writers(&mut self, wk: &mut PipeWakeups<P>) -> bool {
        let mut progressed = false;
        while let Some(w) = self.writes.front_mut() {
            let len = w.data.len();
            let remaining = len - w.done;
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
            if !Arc::ptr_eq(&w.payer, &self.budget) {
                if !self.budget.try_reserve(chunk) {
                    break;
                }
                w.payer.release(chunk);
            }
            self.buf.extend(&w.data[w.done..w.done + chunk]);
            w.done += chunk;
            progressed = true;
            if w.done < len {
                break;
            }
            let (id, w) = self.writes.pop_front().expect("front exists");
            let done = WriteDone::ok(w.len());
            wk.writes.push((id, w.reply, done));
        }
        progressed
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
            self.readers += 1;
            self.reader_opens += 1;
            self.writers += 1;
            self.writer_opens += 1;
            Self::complete_openers(&mut self.read_openers, Mode::READ, wk);
            Self::complete_openers(&mut self.write_openers, Mode::WRITE, wk);
            self.resume_awaiting(wk);
            self.notify(wk);
            return Step::Done(waiter, Ok(end));
        }
        if mode.write {
            if self.readers == 0 && nonblock {
                return Step::Done(waiter, Err(Error::NoReader));
            }
            self.writers += 1;
            self.writer_opens += 1;
            Self::complete_openers(&mut self.read_openers, Mode::READ, wk);
            self.notify(wk);
            if self.readers > 0 {
                return Step::Done(waiter, Ok(end));
            }
            if creating {
                end.first_reader = Some(self.reader_opens);
                return Step::Done(waiter, Ok(end));
            }
            if self.shut_down {
                self.writers -= 1;
                return Step::Done(waiter, Err(Error::ShuttingDown));
            }
            self.write_openers.push(id, waiter);
            return Step::Parked;
        }
        self.readers += 1;
        self.reader_opens += 1;
        Self::complete_openers(&mut self.write_openers, Mode::WRITE, wk);
        self.resume_awaiting(wk);
        self.notify(wk);
        if self.writers > 0 || creating {
            return Step::Done(waiter, Ok(end));
        }
        if nonblock {
            end.hup_guard = Some(self.writer_opens);
            return Step::Done(waiter, Ok(end));
        }
        if self.shut_down {
            self.readers -= 1;
            return Step::Done(waiter, Err(Error::ShuttingDown));
        }
        self.read_openers.push(id, waiter);
        Step::Parked
    }

    /// Reads up to `size` bytes.
    fn read(
        &mut self,
        id: WaiterId,
        waiter: P::Read,
        _end: PipeEnd,
        size: usize,
        nonblock: bool,
        wk: &mut PipeWakeups<P>,
    ) -> Step<P::Read, Result<Vec<u8>>> {
        if size == 0 {
            return Step::Done(waiter, Ok(Vec::new()));
        }
        // Bytes of parked writes count too: a write whose bytes could not
        // enter the buffer (its owner's share was full) is read straight.
        if !self.buf.is_empty() || !self.writes.is_empty() {
            let data = self.take(size, wk);
            self.settle(wk);
            self.notify(wk);
            return Step::Done(waiter, Ok(data));
        }
        if self.writers == 0 || self.shut_down {
            return Step::Done(waiter, Ok(Vec::new()));
        }
        if nonblock {
            return Step::Done(waiter, Err(Error::WouldBlock));
        }
        self.reads.push(
            id,
            ParkedRead {
                reply: waiter,
                size,
            },
        );
        Step::Parked
    }

    /// Writes `data`: all of it, or parks until it is all in. Writes of at
    /// most `PIPE_BUF` bytes go in whole or not at all.
    fn write(
        &mut self,
        id: WaiterId,
        waiter: P::Write,
        end: PipeEnd,
        data: &[u8],
        nonblock: bool,
        wk: &mut PipeWakeups<P>,
    ) -> Step<P::Write, WriteDone> {
        let len = data.len();
        if len == 0 {
            return Step::Done(waiter, WriteDone::ok(0));
        }
        if self.shut_down {
            return Step::Done(waiter, WriteDone::err(Error::ShuttingDown));
        }
        if self.readers == 0 && end.first_reader == Some(self.reader_opens) {
            // The creator, before any reader came: it waits for one.
            if nonblock {
                return Step::Done(waiter, WriteDone::err(Error::WouldBlock));
            }
            let Some(payer) = P::charge_parked(&waiter, &self.budget, len) else {
                log::info!("pipe write not parked: no memory left to hold its bytes");
                return Step::Done(waiter, WriteDone::err(Error::NoSpace));
            };
            let data = data.to_vec();
            let waiting = AwaitingWrite {
                reply: waiter,
                end,
                data,
                payer,
            };
            self.awaiting_reader.push(id, waiting);
            return Step::Parked;
        }
        if self.readers == 0 {
            return Step::Done(
                waiter,
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
            wk.handed.push((rid, r.reply, handed..handed + n));
            handed += n;
        }
        let rest = &data[handed..];
        if rest.is_empty() {
            self.notify(wk);
            return Step::Done(waiter, WriteDone::ok(len));
        }
        let atomic = len <= PIPE_BUF;
        // Blocking writers queue behind those already parked, so that data
        // of one writer never overtakes an earlier one's.
        let can_start = nonblock || self.writes.is_empty();
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
        if chunk > 0 && !self.put(&rest[..chunk]) {
            self.notify(wk);
            let done = match handed {
                0 => WriteDone::err(Error::NoSpace),
                n => WriteDone::ok(n),
            };
            return Step::Done(waiter, done);
        }
        if chunk == rest.len() || (nonblock && handed + chunk > 0) {
            self.settle(wk);
            self.notify(wk);
            return Step::Done(waiter, WriteDone::ok(handed + chunk));
        }
        if nonblock {
            return Step::Done(waiter, WriteDone::err(Error::WouldBlock));
        }
        // The bytes a parked write holds are charged while it waits, to
        // its writer: another user's blocked writes into a pipe one may
        // write are theirs to pay for, not the pipe owner's.
        let Some(payer) = P::charge_parked(&waiter, &self.budget, rest.len() - chunk) else {
            log::info!("pipe write not parked: no memory left to hold its bytes");
            self.settle(wk);
            self.notify(wk);
            let done = match handed + chunk {
                0 => WriteDone::err(Error::NoSpace),
                n => WriteDone::ok(n),
            };
            return Step::Done(waiter, done);
        };
        self.writes.push(
            id,
            ParkedWrite {
                reply: waiter,
                payer,
                data: rest.to_vec(),
                done: chunk,
                handed,
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
            wk.reads.push((id, r.reply, why.read_answer()));
        } else if let Some(w) = self.awaiting_reader.remove(id) {
            w.payer.release(w.data.len());
            wk.writes.push((id, w.reply, WriteDone::err(error)));
        } else if let Some(w) = self.writes.remove(id) {
            w.payer.release(w.data.len() - w.done);
            let done = w.end_early(error);
            wk.writes.push((id, w.reply, done));
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
mod tests {
    use super::*;
    use crate::ipc::IoMode;
    use crate::ipc::Plain;
    use crate::memory::MemoryBudget;

    const ANY: PipeEnd = PipeEnd::new(Mode::READ_WRITE);

    fn req(mode: Mode, nonblock: bool, creating: bool) -> OpenRequest {
        OpenRequest {
            mode,
            nonblock,
            io: IoMode::Stream,
            creating,
            opener: 1,
        }
    }

    fn pipe() -> Pipe<Plain> {
        Pipe::new(65536, MemoryBudget::new(1 << 30).account(1))
    }

    fn wk() -> PipeWakeups<Plain> {
        Wakeups::default()
    }

    /// Opens without waiting: readers open non-blocking, writers need a
    /// reader to be there already.
    fn open(p: &mut Pipe<Plain>, mode: Mode) -> PipeEnd {
        match p.open(0, 0, req(mode, mode == Mode::READ, false), &mut wk()) {
            Step::Done(_, Ok(end)) => end,
            other => panic!("open did not finish: {:?}", matches!(other, Step::Parked)),
        }
    }

    fn done_read(step: Step<u32, Result<Vec<u8>>>) -> Result<Vec<u8>> {
        match step {
            Step::Done(_, r) => r,
            Step::Parked => panic!("read parked"),
        }
    }

    fn done_write(step: Step<u32, WriteDone>) -> WriteDone {
        match step {
            Step::Done(_, r) => r,
            Step::Parked => panic!("write parked"),
        }
    }

    #[test]
    fn reader_open_parks_until_a_writer_opens() {
        let mut p = pipe();
        let mut w = wk();
        assert!(matches!(
            p.open(1, 10, req(Mode::READ, false, false), &mut w),
            Step::Parked
        ));
        assert_eq!(p.readers(), 1, "a parked reader counts, as in the kernel");
        assert!(matches!(
            p.open(2, 20, req(Mode::WRITE, false, false), &mut w),
            Step::Done(20, Ok(_))
        ));
        assert_eq!(w.opens.len(), 1);
        assert_eq!(w.opens[0].1, 10);
    }

    #[test]
    fn nonblocking_writer_without_reader_gets_enxio_and_counts_nothing() {
        let mut p = pipe();
        assert!(matches!(
            p.open(1, 1, req(Mode::WRITE, true, false), &mut wk()),
            Step::Done(_, Err(Error::NoReader))
        ));
        assert_eq!(p.writers(), 0);
    }

    #[test]
    fn a_creating_writer_opens_at_once_and_its_write_waits_for_a_reader() {
        let mut p = pipe();
        let end = match p.open(1, 1, req(Mode::WRITE, false, true), &mut wk()) {
            Step::Done(_, Ok(end)) => end,
            _ => panic!("a creating open does not wait"),
        };
        assert_eq!(p.writers(), 1);
        assert_eq!(
            done_write(p.write(2, 2, end, b"hi", true, &mut wk())),
            WriteDone::err(Error::WouldBlock),
            "non-blocking: no reader yet"
        );
        assert!(matches!(
            p.write(3, 3, end, b"hello", false, &mut wk()),
            Step::Parked
        ));
        assert_eq!(p.blocked(), 1);
        let mut w = wk();
        let _reader = p.open(4, 4, req(Mode::READ, false, false), &mut w);
        assert_eq!(w.writes, vec![(3, 3, WriteDone::ok(5))], "the reader came");
        assert_eq!(
            done_read(p.read(5, 5, ANY, 10, false, &mut wk())),
            Ok(b"hello".to_vec())
        );
        // Once a reader has come and gone, no reader is EPIPE again.
        p.release(PipeEnd::new(Mode::READ), &mut wk());
        assert_eq!(
            done_write(p.write(6, 6, end, b"x", false, &mut wk())),
            WriteDone {
                result: Err(Error::BrokenPipe),
                sigpipe: true
            }
        );
    }

    #[test]
    fn a_non_blocking_creating_writer_is_enxio_and_a_waiting_write_is_interrupted() {
        let mut p = pipe();
        assert!(matches!(
            p.open(1, 1, req(Mode::WRITE, true, true), &mut wk()),
            Step::Done(_, Err(Error::NoReader))
        ));
        let end = match p.open(2, 2, req(Mode::WRITE, false, true), &mut wk()) {
            Step::Done(_, Ok(end)) => end,
            _ => panic!("a creating open does not wait"),
        };
        assert!(matches!(
            p.write(3, 3, end, b"x", false, &mut wk()),
            Step::Parked
        ));
        let mut w = wk();
        assert!(p.cancel(3, CancelReason::Interrupted, &mut w));
        assert_eq!(w.writes, vec![(3, 3, WriteDone::err(Error::Interrupted))]);
        assert_eq!((p.blocked(), p.budget.held()), (0, 0));
    }

    #[test]
    fn bytes_flow_and_eof_after_last_writer() {
        let mut p = pipe();
        let r = open(&mut p, Mode::READ_WRITE);
        let w = open(&mut p, Mode::WRITE);
        assert_eq!(
            done_write(p.write(1, 1, ANY, b"hello", false, &mut wk())),
            WriteDone::ok(5)
        );
        assert_eq!(
            done_read(p.read(2, 2, ANY, 3, false, &mut wk())),
            Ok(b"hel".to_vec())
        );
        assert_eq!(
            done_read(p.read(3, 3, ANY, 100, false, &mut wk())),
            Ok(b"lo".to_vec())
        );
        let mut w1 = wk();
        assert!(matches!(
            p.read(4, 4, ANY, 10, false, &mut w1),
            Step::Parked
        ));
        p.release(w, &mut w1);
        assert!(w1.reads.is_empty(), "the O_RDWR end still writes");
        let mut w2 = wk();
        p.release(PipeEnd::new(Mode::WRITE), &mut w2);
        assert_eq!(w2.reads.len(), 1);
        assert_eq!(w2.reads[0].2, Ok(Vec::new()), "end of file");
        let _ = r;
    }

    #[test]
    fn parked_reader_is_served_by_a_write() {
        let mut p = pipe();
        open(&mut p, Mode::READ);
        open(&mut p, Mode::WRITE);
        assert!(matches!(
            p.read(5, 50, ANY, 100, false, &mut wk()),
            Step::Parked
        ));
        let mut w = wk();
        assert_eq!(
            done_write(p.write(6, 60, ANY, b"abc", false, &mut w)),
            WriteDone::ok(3)
        );
        assert!(w.reads.is_empty());
        assert_eq!(w.handed, vec![(5, 50, 0..3)], "all of the write's bytes");
        assert_eq!(p.bytes(), 0);
    }

    #[test]
    fn nonblocking_read_of_empty_pipe_is_eagain() {
        let mut p = pipe();
        open(&mut p, Mode::READ);
        open(&mut p, Mode::WRITE);
        assert_eq!(
            done_read(p.read(1, 1, ANY, 10, true, &mut wk())),
            Err(Error::WouldBlock)
        );
    }

    #[test]
    fn write_without_reader_is_epipe_with_sigpipe() {
        let mut p = pipe();
        let r = open(&mut p, Mode::READ);
        open(&mut p, Mode::WRITE);
        p.release(r, &mut wk());
        assert_eq!(
            done_write(p.write(1, 1, ANY, b"x", false, &mut wk())),
            WriteDone {
                result: Err(Error::BrokenPipe),
                sigpipe: true
            }
        );
    }

    #[test]
    fn small_writes_are_atomic_and_large_ones_park_with_progress() {
        let mut p: Pipe<Plain> = Pipe::new(8192, MemoryBudget::new(1 << 30).account(1));
        open(&mut p, Mode::READ);
        open(&mut p, Mode::WRITE);
        assert_eq!(
            done_write(p.write(1, 1, ANY, &[1; 6000], false, &mut wk())),
            WriteDone::ok(6000)
        );
        // 2192 bytes of room: a 4096-byte write must not go in partly.
        assert!(matches!(
            p.write(2, 2, ANY, &[2; 4096], false, &mut wk()),
            Step::Parked
        ));
        assert_eq!(p.bytes(), 6000);
        assert_eq!(
            done_write(p.write(3, 3, ANY, &[3; 4096], true, &mut wk())),
            WriteDone::err(Error::WouldBlock)
        );
        // A read of 1904 bytes makes room for the parked record exactly.
        let mut w = wk();
        done_read(p.read(4, 4, ANY, 1904, false, &mut w)).unwrap();
        assert_eq!(w.writes.len(), 1);
        assert_eq!(w.writes[0].2, WriteDone::ok(4096));
        assert_eq!(p.bytes(), 8192);
        let all = done_read(p.read(5, 5, ANY, 8192, false, &mut wk())).unwrap();
        assert_eq!(&all[..4096], &[1; 4096][..]);
        assert_eq!(&all[4096..], &[2; 4096][..]);
        // A large write fills what it can and parks with the rest.
        assert!(matches!(
            p.write(6, 6, ANY, &[7; 10000], false, &mut wk()),
            Step::Parked
        ));
        assert_eq!(p.bytes(), 8192);
        let mut w = wk();
        assert_eq!(
            done_read(p.read(7, 7, ANY, 8192, false, &mut w))
                .unwrap()
                .len(),
            8192
        );
        assert_eq!(w.writes.len(), 1);
        assert_eq!(w.writes[0].2, WriteDone::ok(10000));
        assert_eq!(p.bytes(), 1808);
    }

    #[test]
    fn a_large_read_takes_a_parked_writers_bytes_straight() {
        let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
        open(&mut p, Mode::READ);
        open(&mut p, Mode::WRITE);
        let data: Vec<u8> = (0..20000u32).map(|i| i as u8).collect();
        assert!(matches!(
            p.write(1, 1, ANY, &data, false, &mut wk()),
            Step::Parked
        ));
        assert_eq!(p.bytes(), 4096);
        let mut w = wk();
        let got = done_read(p.read(2, 2, ANY, 1 << 20, false, &mut w)).unwrap();
        assert_eq!(got, data, "one read, whole and in order");
        assert_eq!(w.writes.len(), 1);
        assert_eq!(w.writes[0].2, WriteDone::ok(20000));
        assert_eq!(p.bytes(), 0);
        assert_eq!(p.budget.held(), 0);
        // A read smaller than what is parked leaves the rest parked, and an
        // atomic record started by a read is finished without interleaving.
        assert!(matches!(
            p.write(3, 3, ANY, &[7; 6000], false, &mut wk()),
            Step::Parked
        ));
        assert!(matches!(
            p.write(4, 4, ANY, &[9; 3000], false, &mut wk()),
            Step::Parked
        ));
        let mut w = wk();
        let got = done_read(p.read(5, 5, ANY, 7000, false, &mut w)).unwrap();
        assert_eq!(got[..6000], [7; 6000][..]);
        assert_eq!(got[6000..], [9; 1000][..]);
        // The rest of the record fits the buffer: it goes in whole.
        let done: Vec<_> = w.writes.iter().map(|(id, _, d)| (*id, *d)).collect();
        assert_eq!(
            done,
            vec![(3, WriteDone::ok(6000)), (4, WriteDone::ok(3000))]
        );
        let got = done_read(p.read(6, 6, ANY, 7000, false, &mut wk())).unwrap();
        assert_eq!(got, vec![9; 2000]);
    }

    #[test]
    fn a_write_hands_its_bytes_straight_to_waiting_readers() {
        let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
        open(&mut p, Mode::READ);
        open(&mut p, Mode::WRITE);
        assert!(matches!(
            p.read(1, 1, ANY, 3000, false, &mut wk()),
            Step::Parked
        ));
        assert!(matches!(
            p.read(2, 2, ANY, 3000, false, &mut wk()),
            Step::Parked
        ));
        let data: Vec<u8> = (0..10000u32).map(|i| i as u8).collect();
        let mut w = wk();
        // 6000 bytes go to the readers, the other 4000 fit the buffer.
        assert_eq!(
            done_write(p.write(3, 3, ANY, &data, false, &mut w)),
            WriteDone::ok(10000)
        );
        assert!(w.reads.is_empty());
        assert_eq!(w.handed, vec![(1, 1, 0..3000), (2, 2, 3000..6000)]);
        assert_eq!(p.bytes(), 4000);
        assert_eq!(
            done_read(p.read(4, 4, ANY, 8192, false, &mut wk())),
            Ok(data[6000..].to_vec())
        );
        // Interrupted after a hand-over: the count includes it.
        assert!(matches!(
            p.read(5, 5, ANY, 100, false, &mut wk()),
            Step::Parked
        ));
        assert!(matches!(
            p.write(6, 6, ANY, &[1; 9000], false, &mut wk()),
            Step::Parked
        ));
        let mut w = wk();
        assert!(p.cancel(6, CancelReason::Interrupted, &mut w));
        assert_eq!(w.writes[0].2, WriteDone::ok(100 + 4096));
    }

    #[test]
    fn interrupted_writer_reports_what_it_handed_over() {
        let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
        open(&mut p, Mode::READ);
        open(&mut p, Mode::WRITE);
        assert!(matches!(
            p.write(1, 1, ANY, &[0; 5000], false, &mut wk()),
            Step::Parked
        ));
        assert!(matches!(
            p.write(2, 2, ANY, &[0; 100], false, &mut wk()),
            Step::Parked
        ));
        let mut w = wk();
        assert!(p.cancel(2, CancelReason::Interrupted, &mut w));
        assert_eq!(w.writes[0].2, WriteDone::err(Error::Interrupted));
        let mut w = wk();
        assert!(p.cancel(1, CancelReason::Interrupted, &mut w));
        assert_eq!(w.writes[0].2, WriteDone::ok(4096));
        assert!(!p.cancel(1, CancelReason::Interrupted, &mut wk()));
        assert_eq!(p.blocked(), 0);
    }

    #[test]
    fn second_parked_writer_is_cancelled_alone() {
        let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
        open(&mut p, Mode::READ);
        open(&mut p, Mode::WRITE);
        done_write(p.write(1, 1, ANY, &[0; 4096], false, &mut wk()));
        assert!(matches!(
            p.write(2, 2, ANY, &[1; 10], false, &mut wk()),
            Step::Parked
        ));
        assert!(matches!(
            p.write(3, 3, ANY, &[2; 10], false, &mut wk()),
            Step::Parked
        ));
        let mut w = wk();
        assert!(p.cancel(3, CancelReason::Interrupted, &mut w));
        assert_eq!(w.writes.len(), 1);
        assert_eq!(w.writes[0].0, 3);
        assert_eq!(p.blocked(), 1);
    }

    #[test]
    fn interrupted_reader_open_drops_its_count() {
        let mut p = pipe();
        assert!(matches!(
            p.open(1, 1, req(Mode::READ, false, false), &mut wk()),
            Step::Parked
        ));
        let mut w = wk();
        assert!(p.cancel(1, CancelReason::Interrupted, &mut w));
        assert_eq!(w.opens[0].2.unwrap_err(), Error::Interrupted);
        assert_eq!(p.readers(), 0);
    }

    #[test]
    fn last_reader_leaving_ends_parked_writers_with_epipe() {
        let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
        let r = open(&mut p, Mode::READ);
        open(&mut p, Mode::WRITE);
        assert!(matches!(
            p.write(1, 1, ANY, &[0; 6000], false, &mut wk()),
            Step::Parked
        ));
        let mut w = wk();
        p.release(r, &mut w);
        assert_eq!(
            w.writes[0].2,
            WriteDone {
                result: Ok(4096),
                sigpipe: true
            }
        );
    }

    #[test]
    fn memory_cap_gives_enospc_and_keeps_what_was_stored() {
        let mut p: Pipe<Plain> = Pipe::new(65536, MemoryBudget::new(100).account(1));
        open(&mut p, Mode::READ);
        open(&mut p, Mode::WRITE);
        assert_eq!(
            done_write(p.write(1, 1, ANY, &[1; 80], false, &mut wk())),
            WriteDone::ok(80)
        );
        assert_eq!(
            done_write(p.write(2, 2, ANY, &[2; 30], false, &mut wk())),
            WriteDone::err(Error::NoSpace)
        );
        assert_eq!(p.bytes(), 80);
        assert_eq!(
            done_read(p.read(3, 3, ANY, 1000, false, &mut wk())),
            Ok(vec![1; 80])
        );
    }

    #[test]
    fn poll_reports_in_out_hup_and_err() {
        let mut p = pipe();
        let r = match p.open(1, 1, req(Mode::READ, true, false), &mut wk()) {
            Step::Done(_, Ok(end)) => end,
            _ => panic!(),
        };
        assert_eq!(p.poll(r, None), 0, "no POLLHUP before any writer");
        let w = open(&mut p, Mode::WRITE);
        assert_eq!(p.poll(w, None), ready::OUT);
        assert_eq!(p.poll(r, Some((9, 90))), 0);
        let mut wks = wk();
        done_write(p.write(2, 2, ANY, b"x", false, &mut wks));
        assert_eq!(wks.polls, vec![90], "the registered poller is notified");
        assert_eq!(p.poll(r, None), ready::IN);
        p.release(w, &mut wk());
        assert_eq!(p.poll(r, None), ready::IN | ready::HUP);
        let w2 = open(&mut p, Mode::WRITE);
        p.release(r, &mut wk());
        assert_eq!(p.poll(w2, None), ready::OUT | ready::ERR, "no reader left");
    }

    #[test]
    fn capacity_cannot_shrink_below_content() {
        let mut p = pipe();
        open(&mut p, Mode::READ_WRITE);
        done_write(p.write(1, 1, ANY, &[0; 5000], false, &mut wk()));
        assert_eq!(p.set_capacity(4096, &mut wk()), Err(Error::Busy));
        assert_eq!(p.set_capacity(100, &mut wk()), Err(Error::InvalidArgument));
        assert_eq!(p.set_capacity(8192, &mut wk()), Ok(()));
        assert_eq!(p.capacity(), 8192);
    }

    #[test]
    fn data_goes_when_the_last_reader_and_writer_close() {
        let budget = MemoryBudget::new(1 << 30);
        let mut p: Pipe<Plain> = Pipe::new(4096, budget.account(1));
        let both = open(&mut p, Mode::READ_WRITE);
        done_write(p.write(1, 1, ANY, b"OLD", false, &mut wk()));
        assert_eq!(budget.used(), 3);
        p.release(both, &mut wk());
        assert_eq!((p.bytes(), budget.used()), (0, 0));
        // One end still open keeps the data.
        let r = open(&mut p, Mode::READ_WRITE);
        let w = open(&mut p, Mode::WRITE);
        done_write(p.write(2, 2, ANY, b"kept", false, &mut wk()));
        p.release(w, &mut wk());
        assert_eq!(p.bytes(), 4);
        p.release(r, &mut wk());
        assert_eq!(p.bytes(), 0);
    }

    #[test]
    fn a_parked_writes_bytes_are_charged_until_they_leave() {
        let budget = MemoryBudget::new(1 << 20);
        let mut p: Pipe<Plain> = Pipe::new(4096, budget.account(1));
        let _r = open(&mut p, Mode::READ);
        let w = open(&mut p, Mode::WRITE);
        let big = vec![7u8; 10_000];
        assert!(matches!(
            p.write(1, 1, w, &big, false, &mut wk()),
            Step::Parked
        ));
        assert_eq!(budget.used(), 10_000, "4096 in the buffer, the rest parked");
        let mut w1 = wk();
        assert!(p.cancel(1, CancelReason::Interrupted, &mut w1));
        assert_eq!(
            budget.used(),
            4096,
            "the cancelled write's rest is given back"
        );
        // Refused at once when its bytes cannot be held.
        let small = MemoryBudget::new(5000);
        let mut q: Pipe<Plain> = Pipe::new(4096, small.account(1));
        let _r = open(&mut q, Mode::READ);
        let w = open(&mut q, Mode::WRITE);
        assert_eq!(
            done_write(q.write(2, 2, w, &big, false, &mut wk())),
            WriteDone::ok(4096),
            "what fit stays; the writer gets its count"
        );
        assert_eq!(small.used(), 4096);
    }

    #[test]
    fn shut_down_answers_everyone() {
        let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
        assert!(matches!(
            p.open(1, 1, req(Mode::READ, false, false), &mut wk()),
            Step::Parked
        ));
        let mut w = wk();
        p.shut_down(&mut w);
        assert_eq!(w.opens[0].2.unwrap_err(), Error::ShuttingDown);
        assert_eq!(p.blocked(), 0);
    }
}
