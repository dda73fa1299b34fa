//! A stream object as the fs layer holds it: the core state machine behind
//! its own lock, plus the code that answers what the state machine
//! finished. One generic cell serves every stream kind through
//! [`StreamObject`].
//!
//! Lock order: an object's lock, then the registry's lock (a parked call
//! is registered while the object is locked). Replies are sent, handles
//! installed and calls deregistered only after the object's lock is
//! released; so are the descriptors and reactor registrations the object
//! let go of dropped, after the replies (see [`Retired`]).

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use once_cell::race::OnceBox;

use super::attr::OpenStyle;
use super::node::OpenFile;
use super::reply::{Call, FsParking, ParkedOpen, Payer, Replies, WriteReply};
use super::timer::DeadlineTimer;
use super::{Outlives, Shared};
use crate::caller::proc::killed_by_signal;
use crate::error::Result;
use crate::interrupt::{Cancel, Registered};
use crate::ipc::signal::send_sigpipe;
use crate::ipc::socket::Accepted;
use crate::ipc::{
    CancelReason, KEEP_MIN, OpenRequest, ReadCall, ReadDone, Step, StreamObject, Wakeups,
    WriteCall, WriteDone,
};
use crate::reactor::{Readiness, Ready, Token};
use crate::wait::WaiterId;

type CellWakeups<T, R> = Wakeups<FsParking<R>, <T as StreamObject<FsParking<R>>>::End>;

/// The descriptors and reactor registrations an object let go of in one
/// call (`StreamObject::take_retired`), taken under its lock by the same
/// hold that ran the call, and dropped once the lock is released and the
/// call's answers sent: a registration is dropped through the reactor,
/// which may wait for a report that waits for the object's lock.
struct Retired(Vec<(Option<Token>, OwnedFd)>);

/// What a cell does with a connection its object accepted: makes it an
/// endpoint in the tree and gives the name the reader is answered with.
pub type Adopter = Box<dyn Fn(Accepted) -> Result<Vec<u8>> + Send + Sync>;

/// Laid out for the many objects that never have a deadline, an adopter
/// or a close of their own (a queue): what only some cells use is in
/// one box, made when first set (`Extras`), behind one word.
pub struct Cell<T, R: Replies> {
    object: Mutex<T>,
    shared: Arc<Shared<R>>,
    /// This cell itself, for the handles that finished opens install.
    me: Weak<Cell<T, R>>,
    extras: OnceBox<Extras<T, R>>,
}

/// What some cells have, each set once.
struct Extras<T, R: Replies> {
    /// Set for a socket endpoint's cell; called after the object's lock is
    /// released, so it may take the tree's.
    adopter: OnceLock<Adopter>,
    /// What the cell does when its object closed itself (takes its name
    /// away); called after the object's lock is released.
    on_closed: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// Armed for the object's next deadline, after every call; made with
    /// the first deadline.
    timer: OnceLock<CellTimer<T, R>>,
    /// Whether the mount holds the cell alive for its object (see
    /// [`Cell::hold_while_needed`]); changed under the object's lock.
    held: AtomicBool,
}

/// A cell's timer and what it calls back.
struct CellTimer<T, R: Replies> {
    deadline: DeadlineTimer,
    alarm: Arc<Alarm<T, R>>,
}

impl<T: StreamObject<FsParking<R>>, R: Replies> Cell<T, R> {
    /// A new cell. One made while the daemon shuts down is shut down at
    /// once, so that nothing parks in it.
    pub fn new(object: T, shared: Arc<Shared<R>>) -> Arc<Self> {
        let cell = Arc::new_cyclic(|me| Cell {
            object: Mutex::new(object),
            me: me.clone(),
            extras: OnceBox::new(),
            shared,
        });
        if cell.shared.is_shutting_down() {
            cell.shut_down();
        }
        cell
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        crate::locks::lock(&self.object)
    }

    /// Runs a change that may finish parked calls (a new setting, say) and
    /// answers them. It serves no caller: a change that serves one says
    /// so itself (`StreamObject::serving`), for itself alone.
    pub fn update<X>(&self, change: impl FnOnce(&mut T, &mut CellWakeups<T, R>) -> X) -> X {
        let mut wk = Wakeups::default();
        let (result, (let_go, retired)) = {
            let mut object = self.lock();
            let result = change(&mut object, &mut wk);
            (result, self.end_of_call(&mut object, &mut wk))
        };
        drop(let_go);
        self.deliver(wk, &[]);
        self.drop_retired(retired);
        result
    }

    /// What every hold of the object's lock that ran a call does before it
    /// lets go: no caller is served any more, the timer is set for the
    /// next deadline, the cell is held or let go as the object now needs
    /// (`hold_while_needed`), and what the object retired is taken. Both
    /// are dropped once the lock is released: what was let go at once,
    /// what was retired after the call's answers.
    fn end_of_call(
        &self,
        object: &mut T,
        wk: &mut CellWakeups<T, R>,
    ) -> (Option<Arc<dyn Outlives>>, Retired) {
        object.serving(None);
        self.arm(object);
        let let_go = self.hold_while_needed(object, wk);
        (let_go, Retired(object.take_retired()))
    }

    /// Has the mount hold the cell alive while its object must outlive its
    /// callers, and let go once it need not (`must_outlive_callers`).
    /// Under the object's lock, so that holding follows the object's own
    /// order of changes. Returns what was let go, to be dropped after the
    /// lock (it may be the cell's last reference but the caller's). Once
    /// the daemon shuts down, an object that comes to need it is shut down
    /// at once instead, as unmount does with the held ones.
    fn hold_while_needed(
        &self,
        object: &mut T,
        wk: &mut CellWakeups<T, R>,
    ) -> Option<Arc<dyn Outlives>> {
        let needed = object.must_outlive_callers();
        let held = self
            .extras
            .get()
            .is_some_and(|e| e.held.load(Ordering::Relaxed));
        let key = self as *const Self as usize;
        match (needed, held) {
            (true, false) => {
                if self.shared.hold(key, self.this()) {
                    self.extras().held.store(true, Ordering::Relaxed);
                } else {
                    object.shut_down(wk);
                }
                None
            }
            (false, true) => {
                self.extras().held.store(false, Ordering::Relaxed);
                self.shared.let_go(key)
            }
            _ => None,
        }
    }

    /// Drops what the object let go of, its registrations first: called
    /// with the object's lock released.
    fn drop_retired(&self, Retired(retired): Retired) {
        for (token, fd) in retired {
            if let Some(token) = token {
                self.shared.reactor.deregister(token);
            }
            drop(fd);
        }
    }

    /// What only some cells have, made empty on first need.
    fn extras(&self) -> &Extras<T, R> {
        self.extras.get_or_init(|| {
            Box::new(Extras {
                adopter: OnceLock::new(),
                on_closed: OnceLock::new(),
                timer: OnceLock::new(),
                held: AtomicBool::new(false),
            })
        })
    }

    /// The cell's timer, if it ever had a deadline.
    fn timer(&self) -> Option<&CellTimer<T, R>> {
        self.extras.get()?.timer.get()
    }

    /// Sets the timer for the object's next deadline, under its lock.
    fn arm(&self, object: &T) {
        let due = object.next_deadline();
        if due.is_none() && self.timer().is_none() {
            return;
        }
        let timer = self.extras().timer.get_or_init(|| CellTimer {
            deadline: DeadlineTimer::new(self.shared.reactor.clone()),
            alarm: Arc::new(Alarm {
                cell: self.me.clone(),
            }),
        });
        timer.deadline.set(due, &timer.alarm);
    }

    /// Sets what the cell does with accepted connections (once).
    pub fn set_adopter(&self, adopter: Adopter) {
        let _ = self.extras().adopter.set(adopter);
    }

    /// This cell as its holders share it: for a cell that is itself a
    /// node (a queue's), reached through `&self`.
    pub fn this(&self) -> Arc<Self> {
        self.me.upgrade().expect("a cell outlives its own calls")
    }

    /// The mount's shared state.
    pub fn shared(&self) -> &Arc<Shared<R>> {
        &self.shared
    }

    /// The reactor that watches the object's descriptors.
    pub fn reactor(&self) -> &Arc<crate::reactor::Reactor> {
        &self.shared.reactor
    }

    /// Sets what the cell does when its object closes itself (once).
    pub fn set_on_closed(&self, on_closed: Box<dyn Fn() + Send + Sync>) {
        let _ = self.extras().on_closed.set(on_closed);
    }

    /// Makes an accepted connection an endpoint: its name and a newline.
    pub fn adopt(&self, accepted: Accepted) -> Result<Vec<u8>> {
        match self.extras.get().and_then(|e| e.adopter.get()) {
            Some(adopt) => adopt(accepted),
            None => Err(crate::error::Error::InvalidArgument),
        }
    }

    /// Answers every parked call for unmount.
    pub fn shut_down(&self) {
        self.update(|o, wk| o.shut_down(wk));
    }

    /// Runs one core call; registers it with the interrupt watcher if it
    /// parked, then answers what the call finished. `input` is the call's
    /// own data (a write's bytes), which reads it finished may be answered
    /// from.
    pub fn run<W, X>(
        self: &Arc<Self>,
        call: &Call,
        input: &[u8],
        op: impl FnOnce(&mut T, &mut CellWakeups<T, R>) -> Step<W, X>,
    ) -> Option<(W, X)> {
        self.run_answering(call, input, op, None::<fn(W, X)>)
    }

    /// As [`Cell::run`], for a write, whose own answer (`answer`) goes
    /// before those of the reads it finished: the writer goes on to its
    /// next write while the readers' copies run (the reads' bytes stay
    /// valid: `input` outlives every answer).
    pub fn run_write<W, X>(
        self: &Arc<Self>,
        call: &Call,
        input: &[u8],
        op: impl FnOnce(&mut T, &mut CellWakeups<T, R>) -> Step<W, X>,
        answer: impl FnOnce(W, X),
    ) {
        self.run_answering(call, input, op, Some(answer));
    }

    /// Whether writers are answered before readers: where the object asks
    /// for it and the adapter keeps write bytes.
    fn writers_first() -> bool {
        T::WRITERS_FIRST && R::keeps_writes()
    }

    /// Runs a core call; answers it with `first`, if given, before the
    /// calls it finished, else hands its answer back. The work the object
    /// left for after its answers (`after_answers`) runs last: after the
    /// call's own answer only when `first` gave it.
    fn run_answering<W, X>(
        self: &Arc<Self>,
        call: &Call,
        input: &[u8],
        op: impl FnOnce(&mut T, &mut CellWakeups<T, R>) -> Step<W, X>,
        first: Option<impl FnOnce(W, X)>,
    ) -> Option<(W, X)> {
        let mut wk = Wakeups::default();
        let mut registered = Registered::Parked;
        let (step, (let_go, retired)) = {
            let mut object = self.lock();
            object.serving(Some(call.caller.uid));
            let step = op(&mut object, &mut wk);
            let ended = self.end_of_call(&mut object, &mut wk);
            if let Step::Parked = step {
                registered = self.shared.registry.register(
                    call.id,
                    &call.caller,
                    self.clone() as Arc<dyn Cancel>,
                );
            }
            (step, ended)
        };
        drop(let_go);
        let step = match (step, first) {
            (Step::Done(w, x), Some(answer)) => {
                answer(w, x);
                Step::Parked
            }
            (step, _) => step,
        };
        let after_answers = wk.after_answers;
        self.deliver(wk, input);
        self.drop_retired(retired);
        if after_answers {
            self.update(|o, wk| o.after_answers(wk));
        }
        match registered {
            Registered::Parked => {}
            // The kernel's interrupt overtook the call on its way to parking.
            Registered::Interrupted => {
                self.cancel(call.id, CancelReason::Interrupted);
            }
            Registered::TooMany => {
                self.cancel(call.id, CancelReason::TooManyWaiting);
            }
        }
        match step {
            Step::Done(w, x) => Some((w, x)),
            Step::Parked => None,
        }
    }

    pub fn open(self: &Arc<Self>, call: &Call, parked: ParkedOpen<R>, req: OpenRequest) {
        self.open_with(call, |o, wk| o.open(call.id, parked, req, wk));
    }

    /// An open(2) of the object's file with `flags` by `call`'s caller
    /// (creating the object, for the open of a create).
    pub fn open_with_flags(self: &Arc<Self>, call: &Call, parked: ParkedOpen<R>, flags: i32) {
        let creating = parked.created.is_some();
        let req = OpenRequest::from_open_flags(flags, creating, call.caller.uid);
        self.open(call, parked, req);
    }

    /// An open that the object finishes its own way (a dial file's open,
    /// which waits for its connect).
    pub fn open_with(
        self: &Arc<Self>,
        call: &Call,
        op: impl FnOnce(&mut T, &mut CellWakeups<T, R>) -> Step<ParkedOpen<R>, Result<T::End>>,
    ) {
        if let Some((w, result)) = self.run(call, &[], op) {
            self.finish_open(w, result);
        }
    }

    fn finish_open(&self, parked: ParkedOpen<R>, result: Result<T::End>) {
        let end = match result {
            Ok(end) => end,
            Err(e) => return R::opened(parked.reply, Err(e)),
        };
        // The cell is alive: this method runs on it.
        let file = Arc::new(StreamFile {
            cell: self.this(),
            end,
        });
        self.shared.answer_open(parked, file, OpenStyle::Stream);
    }

    /// Answers a read the core finished; `input` is the data of the call
    /// that finished it (see `run`).
    fn answer_read(&self, reply: R::Read, done: ReadDone, input: &[u8]) {
        match done {
            ReadDone::Data(result) => R::data(reply, result.as_deref().map_err(|&e| e)),
            ReadDone::Handed(range) => R::data(reply, Ok(&input[range])),
            ReadDone::Accepted(accepted) => {
                R::data(reply, self.adopt(accepted).as_deref().map_err(|&e| e))
            }
            ReadDone::Spliced(bytes) => R::spliced(reply, bytes),
            ReadDone::Gathered(pieces) => R::gathered(reply, pieces),
        }
    }

    /// Answers every call the core finished, after the lock is released;
    /// `input` is the data of the call that finished them (see `run`).
    fn deliver(&self, wk: CellWakeups<T, R>, input: &[u8]) {
        if wk.is_empty() {
            return;
        }
        // Every call answered here was parked: all leave the registry in
        // one hold of its lock, however many one call woke.
        self.shared.registry.deregister_all(
            (wk.opens.iter().map(|o| o.0))
                .chain(wk.writes.iter().map(|w| w.0))
                .chain(wk.reads.iter().map(|r| r.0))
                .chain(wk.flushes.iter().map(|f| f.0)),
        );
        for (_, parked, result) in wk.opens {
            self.finish_open(parked, result);
        }
        // Writers before readers where that pays (`WRITERS_FIRST`): a
        // writer told its bytes are in goes on to its next write while
        // the readers' copies run.
        let (first, last) = if Self::writers_first() {
            (wk.writes, Vec::new())
        } else {
            (Vec::new(), wk.writes)
        };
        answer_writes::<R>(first);
        for (_, reply, done) in wk.reads {
            self.answer_read(reply, done, input);
        }
        answer_writes::<R>(last);
        for (_, reply, result) in wk.flushes {
            R::flushed(reply, result);
        }
        for poller in wk.polls {
            R::notify(poller);
        }
        if wk.closed_itself {
            if let Some(on_closed) = self.extras.get().and_then(|e| e.on_closed.get()) {
                on_closed();
            }
        }
    }
}

/// What a cell's timer calls: its object's deadline came. Holds the
/// cell weakly, as the reactor holds it.
struct Alarm<T, R: Replies> {
    cell: Weak<Cell<T, R>>,
}

impl<T: StreamObject<FsParking<R>>, R: Replies> Ready for Alarm<T, R> {
    fn ready(&self, _token: Token, _events: Readiness) {
        if let Some(cell) = self.cell.upgrade() {
            if let Some(timer) = cell.timer() {
                timer.deadline.fired();
            }
            cell.update(|o, wk| o.deadline(std::time::Instant::now(), wk));
        }
    }
}

impl<T: StreamObject<FsParking<R>>, R: Replies> Outlives for Cell<T, R> {
    fn shut_down(&self) {
        Cell::shut_down(self);
    }
}

impl<T: StreamObject<FsParking<R>>, R: Replies> Cancel for Cell<T, R> {
    fn cancel(&self, id: WaiterId, why: CancelReason) -> bool {
        self.update(|o, wk| o.cancel(id, why, wk))
    }
}

/// An open file description of a stream object.
struct StreamFile<T: StreamObject<FsParking<R>>, R: Replies> {
    cell: Arc<Cell<T, R>>,
    end: T::End,
}

impl<T: StreamObject<FsParking<R>>, R: Replies> OpenFile<R> for StreamFile<T, R> {
    fn read(&self, call: &Call, reply: R::Read, offset: u64, size: usize, nonblock: bool) {
        // The kernel splits a read larger than max_read into pieces and
        // asks for the next piece only after the previous one came back
        // full; the pieces after the first carry the offset of the bytes
        // already read (stream files always read at 0). Such a piece must
        // not wait: the caller has data in hand, and a pipe or queue
        // returns what it has.
        let read = ReadCall {
            id: call.id,
            waiter: reply,
            end: self.end,
            size,
            nonblock: nonblock || offset > 0,
        };
        let op = |o: &mut T, wk: &mut CellWakeups<T, R>| o.read_done(read, wk);
        let answer = |reply, done| self.cell.answer_read(reply, done, &[]);
        if T::caller_first(self.end) {
            self.cell.run_answering(call, &[], op, Some(answer));
        } else if let Some((reply, done)) = self.cell.run(call, &[], op) {
            answer(reply, done);
        }
    }

    fn write(&self, call: &Call, reply: R::Write, _offset: u64, data: &[u8], nonblock: bool) {
        let waiter = WriteReply {
            reply,
            tid: call.caller.pid,
            payer: Some(Payer {
                budget: self.cell.shared.budget.clone(),
                uid: call.caller.uid,
            }),
        };
        let write = WriteCall {
            id: call.id,
            waiter,
            end: self.end,
            data,
            nonblock,
        };
        let op = |o: &mut T, wk: &mut CellWakeups<T, R>| o.write(write, wk);
        if T::caller_first(self.end) || (data.len() >= KEEP_MIN && Cell::<T, R>::writers_first()) {
            self.cell.run_write(call, data, op, finish_write::<R>);
        } else if let Some((w, done)) = self.cell.run(call, data, op) {
            finish_write::<R>(w, done);
        }
    }

    fn poll(&self, notify: Option<(u64, R::Poll)>) -> u32 {
        self.cell.lock().poll(self.end, notify)
    }

    fn flush(&self, call: &Call, reply: R::Flush) {
        let tid = call.caller.pid;
        let mut killed = || killed_by_signal(tid);
        let end = self.end;
        // A flush that parks is registered as a parked read or write is,
        // so that an interrupt or the unmount reaches it.
        if let Some((reply, result)) = self.cell.run(call, &[], |o, wk| {
            o.flush(call.id, reply, end, &mut killed, wk)
        }) {
            R::flushed(reply, result);
        }
    }

    fn release(&self) {
        self.cell.update(|o, wk| o.release(self.end, wk));
    }
}

/// Answers the writes a core call finished (out of the registry already).
fn answer_writes<R: Replies>(
    writes: impl IntoIterator<Item = (WaiterId, WriteReply<R::Write>, WriteDone)>,
) {
    for (_, w, done) in writes {
        finish_write::<R>(w, done);
    }
}

/// Answers a write the core finished, with `SIGPIPE` first where it asks.
pub fn finish_write<R: Replies>(w: WriteReply<R::Write>, done: WriteDone) {
    if done.sigpipe {
        send_sigpipe(w.tid);
    }
    R::written(w.reply, done.result);
}

/// `O_TRUNC` and `truncate(…, 0)` of a stream file do nothing; any other
/// size is meaningless for one.
pub fn truncate_stream(size: u64) -> Result<()> {
    if size == 0 {
        Ok(())
    } else {
        Err(crate::error::Error::InvalidArgument)
    }
}
