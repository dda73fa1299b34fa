//! The IPC core: objects as pure state machines, with no knowledge of FUSE.
//!
//! An operation on an object either finishes at once ([`Step::Done`], the
//! caller's reply handed back with its result) or parks the reply inside the
//! object ([`Step::Parked`]). Whatever else the operation finished — parked
//! callers it served, poll handles to notify — is collected in a
//! [`Wakeups`] for the adapter to answer after it lets go of the object.

pub mod bytes;
pub mod channel;
pub mod compose;
pub mod delivery;
pub mod pipe;
pub mod policy;
pub mod queue;
pub mod reception;
pub mod records;
pub mod shm;
pub mod signal;
pub mod socket;
pub mod status;

use crate::error::{Error, Result};
use crate::wait::{WaitQueue, WaiterId};

/// The types an adapter parks. The FUSE adapter uses fuser's reply objects;
/// unit tests use plain values or channels.
pub trait Parking: 'static {
    type Open: Send;
    type Read: Send;
    type Write: Send;
    type Poll: Send;
    /// A flush's reply (close(2) or fsync(2) of a descriptor).
    type Flush: Send;

    /// The uid of a parked write's caller, where the adapter knows it.
    fn writer(_waiter: &Self::Write) -> Option<u32> {
        None
    }

    /// The account a parked write's bytes are charged to while it waits:
    /// its writer's, who holds them in the daemon (`None`: the object's
    /// owner's, as when the writer is not known).
    fn writer_account(_waiter: &Self::Write) -> Option<std::sync::Arc<crate::memory::Account>> {
        None
    }

    /// Reserves a parked write's `bytes` on the account that pays for
    /// them while it waits — its writer's, else `owner`'s; `None` when it
    /// has no room for them (`ENOSPC`).
    fn charge_parked(
        waiter: &Self::Write,
        owner: &std::sync::Arc<crate::memory::Account>,
        bytes: usize,
    ) -> Option<crate::memory::Held> {
        let payer = Self::writer_account(waiter).unwrap_or_else(|| owner.clone());
        payer.hold(bytes)
    }

    /// The bytes a read's reply needs in front of `len` bytes of data in a
    /// pipe, for call `id` to be answered by a splice from that pipe
    /// (see [`socket::splice`]); `None` where replies cannot take a pipe.
    fn splice_header(_id: WaiterId, _len: usize) -> Option<[u8; 16]> {
        None
    }

    /// Keeps `data`, bytes of the write being served, past the call with
    /// no copy (see [`bytes`]); `None` (the default) where the adapter
    /// cannot, and the object copies them.
    fn keep(_data: &[u8]) -> Option<bytes::Shared> {
        None
    }
}

/// Write bytes held past their call are kept rather than copied from
/// this many on: below it a copy costs less than a request buffer held
/// (the adapter keeps few at once).
pub const KEEP_MIN: usize = 32 << 10;

/// `data`, bytes of the write being served, kept past the call if there
/// are [`KEEP_MIN`] of them and the adapter can keep them.
pub fn keep_large<P: Parking>(data: &[u8]) -> Option<bytes::Shared> {
    if data.len() >= KEEP_MIN {
        P::keep(data)
    } else {
        None
    }
}

/// Parks plain ids, for the IPC core's own tests: they look at which
/// waiter got which result.
#[cfg(test)]
pub(crate) struct Plain;

#[cfg(test)]
impl Parking for Plain {
    type Open = u32;
    type Read = u32;
    type Write = u32;
    type Poll = u32;
    type Flush = u32;
}

/// For the core's tests: a read by call `id`, whose reply is the same
/// number (a test that tells them apart sets `waiter` itself).
#[cfg(test)]
pub(crate) fn read_call<E>(id: WaiterId, end: E, size: usize, nonblock: bool) -> ReadCall<u32, E> {
    let waiter = u32::try_from(id).expect("a test's call id fits a reply");
    ReadCall {
        id,
        waiter,
        end,
        size,
        nonblock,
    }
}

/// For the core's tests: a write by call `id`, as [`read_call`].
#[cfg(test)]
pub(crate) fn write_call<E>(
    id: WaiterId,
    end: E,
    data: &[u8],
    nonblock: bool,
) -> WriteCall<'_, u32, E> {
    let waiter = u32::try_from(id).expect("a test's call id fits a reply");
    WriteCall {
        id,
        waiter,
        end,
        data,
        nonblock,
    }
}

/// How a file description was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub read: bool,
    pub write: bool,
}

impl Mode {
    pub const READ: Mode = Mode {
        read: true,
        write: false,
    };
    pub const WRITE: Mode = Mode {
        read: false,
        write: true,
    };
    pub const READ_WRITE: Mode = Mode {
        read: true,
        write: true,
    };

    /// From `open(2)` flags.
    pub fn from_open_flags(flags: i32) -> Mode {
        match flags & libc::O_ACCMODE {
            libc::O_WRONLY => Mode::WRITE,
            libc::O_RDWR => Mode::READ_WRITE,
            _ => Mode::READ,
        }
    }
}

/// The end of a write, as the writer will see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteDone {
    /// Bytes accepted, or why none were.
    pub result: Result<usize>,
    /// The writer must get `SIGPIPE` before its answer (the pipe lost its
    /// last reader), even when some bytes were accepted.
    pub sigpipe: bool,
}

impl WriteDone {
    pub fn ok(bytes: usize) -> Self {
        WriteDone {
            result: Ok(bytes),
            sigpipe: false,
        }
    }

    pub fn err(error: crate::error::Error) -> Self {
        WriteDone {
            result: Err(error),
            sigpipe: false,
        }
    }

    /// A write that stops before all of it went in: its count, as write(2)
    /// answers, or `error` when nothing went in.
    pub fn stopped(accepted: usize, error: crate::error::Error) -> Self {
        match accepted {
            0 => WriteDone::err(error),
            n => WriteDone::ok(n),
        }
    }
}

/// The outcome of one call: finished now, or parked in the object.
#[derive(Debug)]
pub enum Step<W, T> {
    Done(W, T),
    Parked,
}

impl<W, T> Step<W, T> {
    /// The same step, a finished call's answer made by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Step<W, U> {
        match self {
            Step::Done(waiter, answer) => Step::Done(waiter, f(answer)),
            Step::Parked => Step::Parked,
        }
    }
}

/// For the core's tests: most look only at whether a call parked.
#[cfg(test)]
impl<W, T> Step<W, T> {
    pub(crate) fn is_parked(&self) -> bool {
        matches!(self, Step::Parked)
    }
}

/// Parked callers an operation finished and poll handles it made ready.
/// The adapter answers each after releasing the object's lock.
pub struct Wakeups<P: Parking, E> {
    pub opens: Vec<(WaiterId, P::Open, Result<E>)>,
    pub reads: Vec<(WaiterId, P::Read, ReadDone)>,
    pub writes: Vec<(WaiterId, P::Write, WriteDone)>,
    pub flushes: Vec<(WaiterId, P::Flush, Result<()>)>,
    pub polls: Vec<P::Poll>,
    /// The object closed itself (an endpoint whose last descriptor
    /// closed): the adapter's side takes its name away.
    pub closed_itself: bool,
    /// The object left work for after these answers have gone out (a
    /// stream endpoint's send of bytes a write was answered for): the
    /// adapter's side then calls [`StreamObject::after_answers`].
    pub after_answers: bool,
}

impl<P: Parking, E> Default for Wakeups<P, E> {
    fn default() -> Self {
        Wakeups {
            opens: Vec::new(),
            reads: Vec::new(),
            writes: Vec::new(),
            flushes: Vec::new(),
            polls: Vec::new(),
            closed_itself: false,
            after_answers: false,
        }
    }
}

/// How a finished read is answered.
#[derive(Debug)]
pub enum ReadDone {
    /// With these bytes, or this error.
    Data(Result<Vec<u8>>),
    /// With bytes `range` of the data of the write that finished it (only
    /// a write's own wakeups have any): the adapter answers from the
    /// write's buffer, so those bytes are never copied inside the daemon.
    Handed(std::ops::Range<usize>),
    /// (A listening socket's `accept` file.) With a new connection, which
    /// the adapter's side makes an endpoint of before it answers with its
    /// name.
    Accepted(socket::Accepted),
    /// With bytes a stream socket left in a pipe behind the reply's
    /// header: the adapter splices them into the reply.
    Spliced(socket::splice::Spliced),
    /// With these pieces, in order (some of them kept request bytes): the
    /// adapter sends them as one reply, with no copy into one buffer.
    Gathered(bytes::Gathered),
}

impl From<bytes::Gathered> for ReadDone {
    /// One copied piece (or none) is plain data.
    fn from(answer: bytes::Gathered) -> Self {
        if answer.is_one_copy() {
            ReadDone::Data(Ok(answer.into_vec()))
        } else {
            ReadDone::Gathered(answer)
        }
    }
}

impl From<Result<bytes::Gathered>> for ReadDone {
    fn from(answer: Result<bytes::Gathered>) -> Self {
        match answer {
            Ok(gathered) => ReadDone::from(gathered),
            Err(e) => ReadDone::Data(Err(e)),
        }
    }
}

impl From<Result<Vec<u8>>> for ReadDone {
    fn from(answer: Result<Vec<u8>>) -> Self {
        ReadDone::Data(answer)
    }
}

/// For the core's tests: a connection equals no other answer.
#[cfg(test)]
impl PartialEq for ReadDone {
    fn eq(&self, other: &ReadDone) -> bool {
        match (self, other) {
            (ReadDone::Data(a), ReadDone::Data(b)) => a == b,
            (ReadDone::Handed(a), ReadDone::Handed(b)) => a == b,
            (ReadDone::Gathered(a), ReadDone::Gathered(b)) => a.slices() == b.slices(),
            _ => false,
        }
    }
}

/// A write waiting for room, whatever it writes into: its reply, what of
/// it is still to go in (`rest`: [`Unwritten`] bytes for a pipe or an
/// endpoint, whole messages or the rest of a composed one for a queue),
/// its count so far (its answer if it ends now), and the charge of what
/// it holds — its writer's while it waits — which shrinks as its bytes
/// go in and is given back whole however it leaves (`None`: charged to
/// no one).
pub struct ParkedWrite<W, Rest> {
    pub reply: W,
    pub rest: Rest,
    pub accepted: usize,
    pub charge: Option<crate::memory::Held>,
}

impl<W, Rest> ParkedWrite<W, Rest> {
    /// Its answer when it ends before all is in: its count so far, or
    /// `error` when nothing went in.
    pub fn end_early(&self, error: Error) -> WriteDone {
        WriteDone::stopped(self.accepted, error)
    }

    /// `n` of its bytes went in: they count, and their charge as a
    /// parked write goes back (the object charges them its own way).
    pub fn went_in(&mut self, n: usize) {
        self.accepted += n;
        if let Some(charge) = &mut self.charge {
            charge.give_back(n);
        }
    }
}

/// The bytes of a write not in yet: `data[at..]`.
pub struct Unwritten {
    pub data: bytes::Bytes,
    pub at: usize,
}

impl Unwritten {
    pub fn left(&self) -> &[u8] {
        &self.data[self.at..]
    }
}

/// A read waiting for data: its reply, how many bytes it asked for, and
/// the file description it reads through where the object keeps state
/// per description (a queue's or an endpoint's reception; `()` for a
/// pipe).
pub struct ParkedRead<R, E = ()> {
    pub reply: R,
    pub size: usize,
    pub end: E,
}

impl<P: Parking, E> Wakeups<P, E> {
    /// Answers the oldest of the parked `reads` (there is one) with
    /// `answer`; its id.
    pub fn serve_front_read<ReadEnd>(
        &mut self,
        reads: &mut WaitQueue<ParkedRead<P::Read, ReadEnd>>,
        answer: impl Into<ReadDone>,
    ) -> WaiterId {
        let (id, r) = reads.pop_front().expect("front exists");
        self.reads.push((id, r.reply, answer.into()));
        id
    }

    /// The oldest of the parked `writes` (there is one) is all in: it is
    /// answered with its count.
    pub fn finish_front_write<Rest>(
        &mut self,
        writes: &mut WaitQueue<ParkedWrite<P::Write, Rest>>,
    ) {
        let (id, w) = writes.pop_front().expect("front exists");
        self.writes.push((id, w.reply, WriteDone::ok(w.accepted)));
    }

    /// Answers a parked read taken out for `why`.
    pub fn read_cancelled(&mut self, id: WaiterId, reply: P::Read, why: CancelReason) {
        self.reads
            .push((id, reply, ReadDone::Data(why.read_answer())));
    }

    /// Answers a parked write taken out for `why`: its count, if any of it
    /// went in.
    pub fn write_cancelled<Rest>(
        &mut self,
        id: WaiterId,
        w: ParkedWrite<P::Write, Rest>,
        why: CancelReason,
    ) {
        let done = w.end_early(why.error());
        self.writes.push((id, w.reply, done));
    }

    pub fn is_empty(&self) -> bool {
        self.opens.is_empty()
            && self.reads.is_empty()
            && self.writes.is_empty()
            && self.flushes.is_empty()
            && self.polls.is_empty()
            && !self.closed_itself
            && !self.after_answers
    }
}

/// Why a parked caller is taken out before it was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// Its caller has a signal pending.
    Interrupted,
    /// The daemon is unmounting.
    ShuttingDown,
    /// Its caller has as many calls waiting as it may
    /// (`--max-waiting-per-user`).
    TooManyWaiting,
}

impl CancelReason {
    /// What a cancelled open or write is answered with.
    pub fn error(self) -> Error {
        match self {
            CancelReason::Interrupted => Error::Interrupted,
            CancelReason::ShuttingDown => Error::ShuttingDown,
            CancelReason::TooManyWaiting => Error::WouldBlock,
        }
    }

    /// What a cancelled read is answered with: unmounting, a reader sees
    /// end of file.
    pub fn read_answer(self) -> Result<Vec<u8>> {
        match self {
            CancelReason::Interrupted => Err(Error::Interrupted),
            CancelReason::ShuttingDown => Ok(Vec::new()),
            CancelReason::TooManyWaiting => Err(Error::WouldBlock),
        }
    }
}

/// How a file description's reads and writes carry messages, chosen at
/// open by its flags (the queue's framing decides where a stream-mode
/// writer's messages end: compose.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    /// The default, for shell tools: the queue's framing makes messages of
    /// the writes; a read returns (the rest of) one message, then end of
    /// file marks its end.
    Stream,
    /// `O_DIRECT`: each read returns one whole message.
    Packet,
    /// `O_DIRECT` with `O_DSYNC` (or `O_SYNC`, which includes it): writes
    /// and reads carry many whole messages as records (see records.rs).
    Batch,
}

impl IoMode {
    /// From `open(2)` flags. `O_DSYNC` alone changes nothing: it only
    /// selects batch mode on top of packet mode.
    pub fn from_open_flags(flags: i32) -> IoMode {
        match (flags & libc::O_DIRECT != 0, flags & libc::O_DSYNC != 0) {
            (true, true) => IoMode::Batch,
            (true, false) => IoMode::Packet,
            (false, _) => IoMode::Stream,
        }
    }
}

/// What an open asks for, as far as the core cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenRequest {
    pub mode: Mode,
    /// `O_NONBLOCK`: fail with `EAGAIN`/`ENXIO` instead of waiting.
    pub nonblock: bool,
    /// How reads and writes carry messages, where the object has them.
    pub io: IoMode,
    /// This open made the object (`O_CREAT` of a new name).
    pub creating: bool,
    /// `O_EXCL` with `creating`: the name must be new. Only a shared
    /// queue (kept in a store) needs it, whose name may have been made
    /// on another host that this daemon has not heard from yet.
    pub exclusive: bool,
    /// The user who opens: what it holds through this open (a queue's
    /// messages in progress) counts against that user's share.
    pub opener: u32,
}

impl OpenRequest {
    /// From `open(2)` flags; `creating` is whether this open made the
    /// object, `opener` the uid of who opens.
    pub fn from_open_flags(flags: i32, creating: bool, opener: u32) -> OpenRequest {
        OpenRequest {
            mode: Mode::from_open_flags(flags),
            nonblock: flags & libc::O_NONBLOCK != 0,
            io: IoMode::from_open_flags(flags),
            creating,
            exclusive: creating && flags & libc::O_EXCL != 0,
            opener,
        }
    }
}

/// One read(2) as the adapter hands it to an object: the call's id (what
/// an interrupt or the unmount names it by), the reply it parks if it
/// waits, the file description it reads through, how many bytes it asks
/// for, and whether it may wait (`O_NONBLOCK`). One bundle, so that every
/// stream kind and every helper a read passes through takes the same
/// shape and hands it on whole.
pub struct ReadCall<R, E> {
    pub id: WaiterId,
    pub waiter: R,
    pub end: E,
    pub size: usize,
    pub nonblock: bool,
}

impl<R, E> ReadCall<R, E> {
    /// Parks the call in `reads` under its id, to be answered when data
    /// comes (or it is taken out).
    pub fn park_in(self, reads: &mut WaitQueue<ParkedRead<R, E>>) {
        let parked = ParkedRead {
            reply: self.waiter,
            size: self.size,
            end: self.end,
        };
        reads.push(self.id, parked);
    }
}

/// One write(2) as the adapter hands it to an object: as [`ReadCall`],
/// with the bytes written instead of a size. The bytes are the caller's,
/// lent for the call: an object that parks the write keeps a copy of
/// what it has not taken.
pub struct WriteCall<'a, W, E> {
    pub id: WaiterId,
    pub waiter: W,
    pub end: E,
    pub data: &'a [u8],
    pub nonblock: bool,
}

/// An object whose files are byte streams: opened, read, written, polled
/// and released, with calls that may park. Pipes and queues implement it;
/// the adapter drives every one of them through this one interface.
pub trait StreamObject<P: Parking>: Send + 'static {
    /// One open file description's state as the object keeps it.
    type End: Copy + Send + Sync + 'static;

    /// Whether a large write is answered before the reads it finished
    /// and the work it left for after its answers, and woken writers
    /// before woken readers, where the adapter keeps write bytes
    /// ([`Parking::keep`]): the writer's next write then comes in while
    /// the readers' copies (a socket's send) run. It pays where that next
    /// write's bytes wait with no copy (a pipe's, kept); a small write's
    /// next one would be copied in where a parked reader could have taken
    /// it straight, so objects answer readers first (but see
    /// [`StreamObject::caller_first`]).
    const WRITERS_FIRST: bool = false;

    /// Whether a call through `end` is answered before the calls it
    /// finished, at any size and on every transport. Where a write's
    /// messages are stored before any reader takes them and a read's
    /// answer is its own copy (a queue's), nothing is lost by it, and a
    /// caller that moves many messages a call goes on to its next call
    /// while the answers of the calls it woke are sent: in batch mode the
    /// sender's next write overlaps the receiver's answer (perf: a tenth
    /// more messages a second, 1 -> 1). One message a call goes after:
    /// there the woken reader's answer is what a round trip waits for.
    fn caller_first(_end: Self::End) -> bool {
        false
    }

    fn open(
        &mut self,
        id: WaiterId,
        waiter: P::Open,
        req: OpenRequest,
        wk: &mut Wakeups<P, Self::End>,
    ) -> Step<P::Open, Result<Self::End>>;

    fn read(
        &mut self,
        call: ReadCall<P::Read, Self::End>,
        wk: &mut Wakeups<P, Self::End>,
    ) -> Step<P::Read, Result<Vec<u8>>>;

    /// A read as the adapter makes it: answered as [`read`] answers, or in
    /// another way an object has (a socket's bytes left in a pipe).
    ///
    /// [`read`]: StreamObject::read
    fn read_done(
        &mut self,
        call: ReadCall<P::Read, Self::End>,
        wk: &mut Wakeups<P, Self::End>,
    ) -> Step<P::Read, ReadDone> {
        self.read(call, wk).map(ReadDone::from)
    }

    fn write(
        &mut self,
        call: WriteCall<'_, P::Write, Self::End>,
        wk: &mut Wakeups<P, Self::End>,
    ) -> Step<P::Write, WriteDone>;

    fn release(&mut self, end: Self::End, wk: &mut Wakeups<P, Self::End>);

    /// The work a call left for after its answers went out, when it set
    /// `wk.after_answers`: done there, on the same thread, the caller it
    /// answered goes on meanwhile.
    fn after_answers(&mut self, _wk: &mut Wakeups<P, Self::End>) {}

    /// Whether the object must outlive its callers now: it still has to
    /// send bytes it told a writer went in (a stream endpoint's backlog),
    /// whose descriptors may all be closed. The adapter's side holds it
    /// alive until this is false again, and shuts it down at unmount.
    fn must_outlive_callers(&self) -> bool {
        false
    }

    /// The descriptors and reactor registrations the object let go of
    /// since it was last asked (a socket closed, a connect that failed, a
    /// socket whose last bytes went). The adapter asks after every call,
    /// under the same hold of the object's lock, and drops them and their
    /// registrations once the lock is released.
    fn take_retired(&mut self) -> Vec<(Option<crate::reactor::Token>, std::os::fd::OwnedFd)> {
        Vec::new()
    }

    /// A descriptor of `end` was closed (FUSE's FLUSH, which close(2)
    /// waits for) or fsync'ed: what it wrote so far is complete. `killed`
    /// tells whether the caller is dying of a signal; it reads `/proc`, so
    /// it is asked only when the answer matters. An object that must wait
    /// before what was written counts as complete (a message stored by a
    /// server) parks `waiter` and answers it through `wk.flushes`.
    fn flush(
        &mut self,
        _id: WaiterId,
        waiter: P::Flush,
        _end: Self::End,
        _killed: &mut dyn FnMut() -> bool,
        _wk: &mut Wakeups<P, Self::End>,
    ) -> Step<P::Flush, Result<()>> {
        Step::Done(waiter, Ok(()))
    }

    /// Takes parked call `id` out. False if it is not parked here.
    fn cancel(&mut self, id: WaiterId, why: CancelReason, wk: &mut Wakeups<P, Self::End>) -> bool;

    /// Every call parked here, oldest first per wait queue.
    fn parked(&self) -> Vec<WaiterId>;

    /// From now on, no call parks: each is answered at once instead.
    /// Pollers are told, since readiness changes with it.
    fn stop_parking(&mut self, wk: &mut Wakeups<P, Self::End>);

    /// Answers every parked call for unmount; nothing parks afterwards.
    fn shut_down(&mut self, wk: &mut Wakeups<P, Self::End>) {
        for id in self.parked() {
            self.cancel(id, CancelReason::ShuttingDown, wk);
        }
        self.stop_parking(wk);
    }

    /// Readiness (`ready::*` bits); with a poll handle, it is kept and
    /// notified at the next change.
    fn poll(&mut self, end: Self::End, notify: Option<(u64, P::Poll)>) -> u32;

    /// When the object next has something to do by itself (a delayed
    /// message falls due); `None` when nothing. Its holder keeps a timer
    /// for it: no thread sleeps.
    fn next_deadline(&self) -> Option<std::time::Instant> {
        None
    }

    /// Its deadline came: it does what is due at `now`.
    fn deadline(&mut self, _now: std::time::Instant, _wk: &mut Wakeups<P, Self::End>) {}

    /// The user whose call the object serves from now until
    /// `serving(None)` (its holder says so around each call): what the
    /// object asks of others meanwhile is for that user (a shared queue's
    /// store serves users in turn). Objects that ask no one ignore it.
    fn serving(&mut self, _user: Option<u32>) {}
}

/// Poll handles waiting for an object's next change, one per file
/// description (the kernel's handle `kh`), notified and dropped together.
pub struct Pollers<T>(Vec<(u64, T)>);

impl<T> Default for Pollers<T> {
    fn default() -> Self {
        Pollers(Vec::new())
    }
}

impl<T> Pollers<T> {
    /// Keeps `handle` for the next change; a newer handle of the same file
    /// description replaces the older.
    pub fn register(&mut self, kh: u64, handle: T) {
        match self.0.iter_mut().find(|(k, _)| *k == kh) {
            Some(slot) => slot.1 = handle,
            None => self.0.push((kh, handle)),
        }
    }

    /// Whether no handle is kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Hands every kept handle over to be notified.
    pub fn notify_into(&mut self, out: &mut Vec<T>) {
        out.extend(self.0.drain(..).map(|(_, p)| p));
    }
}

/// Readiness bits as `poll(2)` reports them.
pub mod ready {
    pub const IN: u32 = (libc::POLLIN | libc::POLLRDNORM) as u32;
    pub const OUT: u32 = (libc::POLLOUT | libc::POLLWRNORM) as u32;
    pub const HUP: u32 = libc::POLLHUP as u32;
    pub const ERR: u32 = libc::POLLERR as u32;
}
