//! A queue shared by the daemons of several hosts: its messages are kept
//! in a store (store.rs; Redis: `src/remote/`), not in this daemon. The
//! same files and rules as a queue in memory (mod.rs), but every message
//! that goes in or out is a step of the store, answered later from the
//! store's thread ([`RemoteQueue::stored`]); the caller's reply is parked
//! meanwhile, on no thread.
//!
//! What differs from a queue in memory, and why:
//! - A write, or the close that ends a message, is answered only when the
//!   store says the message is in: then it is in for every host. A store
//!   out of reach fails it with `ECOMM`, and nothing of it went in.
//! - Full is the store's count: its messages and the places messages in
//!   progress hold, on every host, reach `max_messages`. A writer's open
//!   holds a place in the store for its first message, as in memory, so
//!   that the close that ends it never waits for room.
//! - A read that finds nothing here has the store take one message for
//!   it; one taken that no reader here receives (its reader was
//!   interrupted, or a packet read too small for it) goes back to the
//!   front. Parked readers and writers are served again when any daemon
//!   says a message went in or out ([`RemoteQueue::changed`]).
//! - A create made here is answered when the store says whether this
//!   mount made the queue or another mount made the name first (then an
//!   exclusive create is `EEXIST`, as on one host, and any other
//!   `ESTALE`, which the kernel answers by opening the queue afresh, its
//!   access checked).
//! - A queue removed by any mount takes its messages with it: every
//!   descriptor of it fails `EIDRM` from then on, and never reaches a
//!   queue made later under the same name (the store checks which queue
//!   a step is for).
//! - Channel faults act where messages are taken, not sent
//!   (remote/channel.rs).
//!
//! Invariants, true between any two calls:
//! - at most one take is in flight, and one only while a read waits;
//! - a message taken is held here only while a read waits for it (a
//!   copy the channel made excepted: it waits for the next read);
//! - the calls waiting for room keep their order, and no new call goes
//!   before them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use super::QueueEnd;
use super::store::{Change, Counts, Created, Place, QueueSettings, Store, StoreOp, Stored};
use crate::error::{Error, Result};
use crate::ipc::channel::{ChannelCounters, Faults};
use crate::ipc::compose::Framing;
use crate::ipc::reception::Reception;
use crate::ipc::records::{self, record_len};
use crate::ipc::{
    CancelReason, IoMode, OpenRequest, ParkedRead, Parking, Pollers, ReadCall, ReadDone, Step,
    StreamObject, Wakeups, WriteCall, WriteDone, ready,
};
use crate::memory::{Account, Held};
use crate::wait::{WaitQueue, WaiterId};

pub type RemoteWakeups<P> = Wakeups<P, QueueEnd>;

/// How long a receipt waits for the next take to carry it.
const ACK_DELAY: std::time::Duration = std::time::Duration::from_millis(2);
/// The most messages one take asks for.
const MOST_TAKEN: usize = 64;
/// How long a failed take or receipt waits before it is asked again
/// (sooner if the store says it is reached again).
const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(1);

/// The message in progress of one description (`message` framing): its
/// bytes so far, charged to its opener, and the place it holds in the
/// store (`None` once used, until the next message takes one).
#[derive(Default)]
struct Composing {
    bytes: Vec<u8>,
    place: Option<Place>,
    charge: Option<Held>,
}

/// The whole messages of one write on their way to the store.
struct Outgoing {
    messages: VecDeque<Vec<u8>>,
    /// What each counts for in the write's answer: its bytes of this
    /// write (a batch record's header included; under `line` framing, not
    /// the bytes earlier writes left in progress).
    counts: VecDeque<usize>,
    /// The place the first message holds (the line in progress of a
    /// `line` framing writer, whose open took it); used once.
    place: Option<Place>,
    /// Under `line` framing, the write's last line, unfinished: its
    /// description's message in progress once the lines before are in.
    rest: Option<(QueueEnd, Vec<u8>)>,
}

/// A message taken from the store that no reader here has received yet,
/// charged to the queue's owner while it is here. `id` acknowledges it;
/// a copy the channel made (a duplicate) has none.
struct Taken {
    id: Option<String>,
    message: Vec<u8>,
    _charge: Held,
}

/// A call that waits on the store: for the answer to its step or, after
/// the store said the queue is full, for room.
enum Asking<P: Parking> {
    /// An open for writing, getting the place of its first message.
    Open {
        reply: P::Open,
        end: QueueEnd,
        place: Place,
    },
    /// A write of whole messages (packet or batch mode, `write` and
    /// `line` framing); `went` bytes of it are in.
    Write {
        reply: P::Write,
        out: Outgoing,
        went: usize,
        nonblock: bool,
        _charge: Held,
    },
    /// A write that starts a message in progress, getting its place.
    Start {
        reply: P::Write,
        end: QueueEnd,
        data: Vec<u8>,
        place: Place,
        nonblock: bool,
    },
    /// A close that ends a message: answered when the message is in.
    Flush { reply: P::Flush, message: Composing },
}

/// When a call's step was asked, and what it may add to the server,
/// counted until its answer (usage.rs).
struct Asked {
    /// The count of room changes then.
    room_changes: u64,
    _sending: Sending,
}

/// What a step in flight was for.
enum InFlight<P: Parking> {
    /// A call's step.
    Call(WaiterId, Asking<P>, Asked),
    /// A call answered before its step's answer came (interrupted, or the
    /// daemon unmounting): a place it got is given back. What it may add
    /// counts until then.
    Orphan {
        place: Option<Place>,
        _sending: Sending,
    },
    /// A take, carrying these acknowledgements: asked again if it fails.
    Take(Vec<String>),
    /// Acknowledgements: asked again if they fail (a message received but
    /// not acknowledged would go to another reader after the reclaim).
    Acks(Vec<String>),
    /// A step nobody waits for (an acknowledgement, a setting): only a
    /// failure is logged.
    Quiet(&'static str),
}

pub struct RemoteQueue<P: Parking> {
    store: Arc<dyn Store>,
    /// Whom the steps asked now are for (users.rs).
    users: Users,
    settings: QueueSettings,
    /// The owner's account: taken messages are charged to it while here.
    budget: Arc<Account>,
    /// Its messages' bytes in the store, counted for its owner: a write
    /// past the owner's share fails `ENOSPC`.
    stored: StoredCharge,
    /// How many messages the queue holds, as the store last said.
    known: usize,
    next_end: u64,
    next_seq: u64,
    next_place: u64,
    readers: usize,
    writers: usize,
    receptions: HashMap<u64, Reception>,
    composing: HashMap<u64, Composing>,
    reads: WaitQueue<ParkedRead<P::Read, QueueEnd>>,
    /// Reads among `reads` that asked not to wait: answered `EAGAIN` when
    /// a take finds the queue empty.
    nonblocking: HashSet<WaiterId>,
    taking: bool,
    /// Messages put by any daemon, counted as their changes come.
    puts: u64,
    /// The store said it had nothing to take, and no message was put
    /// since: no take is asked until one is (or the retry below).
    take_blocked: bool,
    /// `puts` when the take in flight was asked.
    take_asked_at: u64,
    /// When a message another daemon took may be claimed: a take is
    /// tried again then, if a read still waits (no change announces it).
    retry_take: Option<Instant>,
    taken: VecDeque<Taken>,
    /// Messages received here not yet acknowledged: carried by the next
    /// take, or sent alone at `ack_due`.
    unacked: Vec<String>,
    ack_due: Option<Instant>,
    /// The mean length of the messages received lately: how many a batch
    /// read's buffer may take at once.
    mean_len: usize,
    steps: HashMap<u64, InFlight<P>>,
    for_room: WaitQueue<Asking<P>>,
    /// Opens whose user holds its share of places: each user's in order,
    /// apart from those above (share.rs).
    for_share: ShareWaiters<Asking<P>>,
    /// The step of the call at the front of `for_room` asked again.
    retrying: Option<u64>,
    /// Changes that may have made room (a message or place went out, a
    /// setting changed, a reconnect), counted as they come.
    room_changes: u64,
    /// The front of `for_room` was told the queue is full, and no room
    /// change came since it asked: it is not asked again until one does.
    room_blocked: bool,
    pollers: Pollers<P::Poll>,
    sent: u64,
    received: u64,
    dropped: u64,
    shut_down: bool,
    /// Made here, and the store has not yet said by whom: the create's
    /// open waits in `creating_opens` for that answer.
    creating: bool,
    creating_opens: WaitQueue<(P::Open, OpenRequest)>,
    /// The store answered this mount's create: another mount had made
    /// the name first. Kept, as the answer may come before the create's
    /// open reaches the queue.
    made_elsewhere: bool,
    /// The store no longer has the queue: every call fails `EIDRM`.
    removed: bool,
    /// The faults of the channel between the store and the readers here
    /// (labs); `None` while it has always been perfect.
    channel: Option<Box<ReadChannel>>,
    /// Calls interrupted while their step was in flight (they are
    /// answered when it is): one its answer would park again is answered
    /// `EINTR` instead, as the kernel sends its interrupt only once.
    interrupted: HashSet<WaiterId>,
}

/// A shared queue's counters: `messages` is the queue's (every host's),
/// as the store last said; the others are this daemon's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteCounters {
    pub messages: usize,
    /// Bytes this daemon holds for the queue: messages in progress and
    /// messages taken for its readers.
    pub bytes: usize,
    pub sent: u64,
    pub received: u64,
    pub dropped: u64,
    pub readers: usize,
    pub writers: usize,
    pub blocked: usize,
}

impl<P: Parking> RemoteQueue<P> {
    /// A shared queue with `settings`, holding `messages` now.
    /// `stored` counts its bytes in the store for its owner (the owner
    /// of `budget`).
    pub fn new(
        store: Arc<dyn Store>,
        settings: QueueSettings,
        messages: usize,
        stored: StoredCharge,
        budget: Arc<Account>,
    ) -> Self {
        RemoteQueue {
            store,
            users: Users::default(),
            settings,
            budget,
            known: messages,
            stored,
            next_end: 0,
            next_seq: 0,
            next_place: 0,
            readers: 0,
            writers: 0,
            receptions: HashMap::new(),
            composing: HashMap::new(),
            reads: WaitQueue::new(),
            nonblocking: HashSet::new(),
            taking: false,
            puts: 0,
            take_blocked: false,
            take_asked_at: 0,
            retry_take: None,
            taken: VecDeque::new(),
            unacked: Vec::new(),
            ack_due: None,
            mean_len: 64,
            steps: HashMap::new(),
            for_room: WaitQueue::new(),
            for_share: ShareWaiters::default(),
            retrying: None,
            room_changes: 0,
            room_blocked: false,
            pollers: Pollers::default(),
            sent: 0,
            received: 0,
            dropped: 0,
            shut_down: false,
            creating: false,
            creating_opens: WaitQueue::new(),
            made_elsewhere: false,
            removed: false,
            channel: (!settings.faults.is_perfect())
                .then(|| Box::new(ReadChannel::new(settings.faults))),
            interrupted: HashSet::new(),
        }
    }

    /// The queue is being made on this mount: the open of its create
    /// waits for the store's answer ([`RemoteQueue::created`]).
    pub fn await_creation(&mut self) {
        self.creating = true;
    }

    /// The store's answer to the create made on this mount: the queue is
    /// the one made here, or one another mount made first (with its
    /// settings, and its owner and mode, which the store's worker has put
    /// in the tree by now), which the create does not open itself (see
    /// `open`).
    /// A store out of reach lets the create go on: the queue is made
    /// there when it is reached.
    pub fn created(&mut self, result: Result<Created>, wk: &mut RemoteWakeups<P>) {
        self.creating = false;
        if let Ok(Created::Found { settings, counts }) = result {
            self.settings = settings;
            self.store_says(counts);
            self.made_elsewhere = true;
        }
        while let Some((id, (waiter, req))) = self.creating_opens.pop_front() {
            if let Step::Done(waiter, result) = self.open(id, waiter, req, wk) {
                wk.opens.push((id, waiter, result));
            }
        }
        self.notify(wk);
    }

    /// The store says the queue holds `counts`: its owner's count here
    /// follows, unless the queue is gone (it counts nothing then, whatever
    /// a late word says).
    fn store_says(&mut self, counts: Counts) {
        self.known = counts.messages;
        if !self.removed {
            self.stored.set(self.budget.uid(), counts);
        }
    }

    /// The store no longer has the queue (removed by a mount, or found
    /// gone by a step): every parked call is answered `EIDRM`, and every
    /// call from now on; messages taken for readers here go with it.
    fn gone(&mut self, wk: &mut RemoteWakeups<P>) {
        if self.removed {
            return;
        }
        self.removed = true;
        self.stored.release();
        log::info!("shared queue removed: its descriptors fail EIDRM from now on");
        while let Some((id, r)) = self.reads.pop_front() {
            wk.reads
                .push((id, r.reply, ReadDone::Data(Err(Error::Removed))));
        }
        self.nonblocking.clear();
        while let Some((id, asking)) = self.for_room.pop_front() {
            self.answer(id, asking, Err(Error::Removed), wk);
        }
        for (id, asking) in self.for_share.take_all() {
            self.answer(id, asking, Err(Error::Removed), wk);
        }
        while let Some((id, (waiter, _))) = self.creating_opens.pop_front() {
            wk.opens.push((id, waiter, Err(Error::Removed)));
        }
        self.taken.clear();
        if let Some(channel) = &mut self.channel {
            channel.drain();
        }
        self.unacked.clear();
        self.ack_due = None;
        self.retry_take = None;
        for c in self.composing.values_mut() {
            c.place = None;
        }
        self.notify(wk);
    }

    /// What any daemon (this one included) said changed in the queue.
    pub fn changed(&mut self, change: Change, wk: &mut RemoteWakeups<P>) {
        match change {
            Change::Put(counts) => {
                self.store_says(counts);
                self.puts += 1;
                self.take_blocked = false;
            }
            Change::Took(counts) => {
                self.store_says(counts);
                self.room_changed();
            }
            Change::Held(counts) => self.store_says(counts),
            Change::Set { field, value } => {
                self.room_changed();
                let n = value.parse::<usize>().ok().filter(|n| *n > 0);
                let framing = Framing::parse(&value).ok();
                match (field.as_str(), n, framing) {
                    ("max_messages", Some(n), _) => self.settings.max_messages = n,
                    ("max_message_size", Some(n), _) => self.settings.max_message_size = n,
                    ("framing", _, Some(framing)) => self.settings.framing = framing,
                    // A chown: the new owner pays, here and in the server
                    // (an account of a queue made here has it already).
                    ("uid", ..) => {
                        if let (Ok(uid), false) = (value.parse::<u32>(), self.removed) {
                            self.budget.set_owner(uid);
                            self.stored.follow(uid);
                        }
                    }
                    (fault, ..) if Faults::SETTINGS.contains(&fault) => {
                        self.fault_changed(fault, &value)
                    }
                    _ => log::debug!("shared queue: setting {field}={value} ignored"),
                }
            }
            Change::Reconnected => {
                self.room_changed();
                self.take_blocked = false;
            }
            Change::Removed => self.gone(wk),
        }
        if !self.removed {
            // Any change may be a place of a user past its share ended.
            for (id, asking) in self.for_share.due() {
                self.ask_now(id, asking);
            }
        }
        self.retry_for_room();
        self.want_take();
        self.notify(wk);
    }

    /// The store's answer to step `seq`.
    pub fn stored(&mut self, seq: u64, result: Result<Stored>, wk: &mut RemoteWakeups<P>) {
        let Some(step) = self.steps.remove(&seq) else {
            return;
        };
        let retried = self.retrying == Some(seq);
        if retried {
            self.retrying = None;
        }
        let result = match result {
            Err(Error::NotFound) => {
                self.gone(wk);
                Err(Error::Removed)
            }
            result => result,
        };
        match step {
            InFlight::Take(acks) => {
                self.taking = false;
                if result.is_err() {
                    self.unacked.extend(acks);
                }
                self.took(result, wk);
            }
            // Receipts of a queue gone need no storing: its messages went
            // with it.
            InFlight::Acks(_) if self.removed => {}
            InFlight::Acks(ids) => {
                if let Err(e) = result {
                    log::info!(
                        "shared queue: {} receipts not stored ({e}): sent again",
                        ids.len()
                    );
                    self.unacked.extend(ids);
                    self.ack_due = Some(Instant::now() + RETRY_AFTER_FAILURE);
                }
            }
            InFlight::Quiet(what) => {
                if let Err(e) = result {
                    log::info!("shared queue: {what} not stored: {e}");
                }
            }
            InFlight::Orphan { place, .. } => {
                if let (Some(place), Ok(Stored::Reserved(true))) = (place, &result) {
                    self.quiet("place given back", StoreOp::Release { place });
                }
            }
            InFlight::Call(id, asking, asked) => {
                // A call that waited for room stays parked while the store
                // is out of reach: it asks again when it is reached.
                let unreachable = matches!(result, Err(Error::StoreUnreachable));
                if retried && unreachable && Self::may_wait(&asking) && !self.shut_down {
                    self.wait_for_room(id, asking, self.room_changes);
                } else {
                    self.answered(id, asking, asked.room_changes, result, wk);
                }
                if self.interrupted.remove(&id) {
                    let waiting = self.for_room.remove(id);
                    if let Some(asking) = waiting.or_else(|| self.for_share.remove(id)) {
                        self.answer(id, asking, Err(Error::Interrupted), wk);
                    }
                }
            }
        }
        self.retry_for_room();
        self.want_take();
        self.acknowledge_soon();
        self.notify(wk);
    }

    fn send(&mut self, op: StoreOp, step: InFlight<P>) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        let user = self.user_of(&step);
        self.steps.insert(seq, step);
        self.store.send(seq, user, op);
        seq
    }

    fn quiet(&mut self, what: &'static str, op: StoreOp) {
        self.send(op, InFlight::Quiet(what));
    }

    fn notify(&mut self, wk: &mut RemoteWakeups<P>) {
        self.pollers.notify_into(&mut wk.polls);
    }
}

impl<P: Parking> StreamObject<P> for RemoteQueue<P> {
    type End = QueueEnd;

    fn serving(&mut self, user: Option<u32>) {
        self.users.serving = user;
    }

    fn next_deadline(&self) -> Option<Instant> {
        let retry = self.retry_take.filter(|_| !self.reads.is_empty());
        let arrival = self.channel.as_ref().and_then(|c| c.next_deadline());
        [retry, self.ack_due, arrival].into_iter().flatten().min()
    }

    fn deadline(&mut self, now: Instant, wk: &mut RemoteWakeups<P>) {
        if let Some(channel) = &mut self.channel {
            let due = channel.due(now, &self.budget);
            if !due.is_empty() {
                self.taken.extend(due);
                self.serve_reads(wk);
                self.acknowledge_soon();
                self.notify(wk);
            }
        }
        if self.retry_take.is_some_and(|at| at <= now) {
            self.retry_take = None;
            self.take_blocked = false;
            self.want_take();
            self.notify(wk);
        }
        if self.ack_due.is_some_and(|at| at <= now) {
            self.acknowledge();
        }
    }

    /// An open for writing under `message` framing gets a place for its
    /// first message from the store, waiting (interruptibly) while the
    /// queue is full; with `O_NONBLOCK` it goes on without one.
    fn open(
        &mut self,
        id: WaiterId,
        waiter: P::Open,
        req: OpenRequest,
        wk: &mut RemoteWakeups<P>,
    ) -> Step<P::Open, Result<QueueEnd>> {
        if self.removed {
            return Step::Done(waiter, Err(Error::Removed));
        }
        if req.creating && self.creating {
            self.creating_opens.push(id, (waiter, req));
            return Step::Parked;
        }
        if req.creating && self.made_elsewhere {
            // The queue is another's, made first on another mount, and
            // the kernel checked no access for this create: `ESTALE`
            // makes it look the name up again and open the queue as any
            // open, checking access itself (`EEXIST` there with O_EXCL).
            log::info!("a create found the queue made first on another mount: the kernel opens it");
            let error = if req.exclusive {
                Error::Exists
            } else {
                Error::Stale
            };
            return Step::Done(waiter, Err(error));
        }
        self.next_end += 1;
        let end = QueueEnd::opened(self.next_end, req, self.settings.framing);
        if req.mode.read {
            self.readers += 1;
            self.receptions.insert(end.id, Reception::Idle);
        }
        let composes = req.mode.write && end.composes();
        if composes && !req.mode.read && !req.nonblock && !self.shut_down {
            let place = self.new_place(end.opener);
            let asking = Asking::Open {
                reply: waiter,
                end,
                place,
            };
            self.ask(id, asking, wk);
            return Step::Parked;
        }
        if req.mode.write {
            self.writers += 1;
        }
        Step::Done(waiter, Ok(end))
    }

    fn read(
        &mut self,
        call: ReadCall<P::Read, QueueEnd>,
        _wk: &mut RemoteWakeups<P>,
    ) -> Step<P::Read, Result<Vec<u8>>> {
        if let Some(data) = super::read_at_once(&mut self.receptions, call.end, call.size) {
            return Step::Done(call.waiter, Ok(data));
        }
        if self.removed {
            return Step::Done(call.waiter, Err(Error::Removed));
        }
        if self.shut_down {
            return Step::Done(call.waiter, Ok(Vec::new()));
        }
        // A copy the channel made (a duplicate) stays here after the
        // reads that waited were served: no read waits before this one.
        if !self.taken.is_empty() && self.reads.is_empty() {
            let result = self.receive(call.end, call.size);
            self.acknowledge_soon();
            return Step::Done(call.waiter, result);
        }
        // A read that may not wait asks the store too (the store, not what
        // this daemon last heard, says whether a message is there), unless
        // the store said it is empty and no message was put since.
        if call.nonblock && self.take_blocked && self.taken.is_empty() {
            return Step::Done(call.waiter, Err(Error::WouldBlock));
        }
        if call.nonblock {
            self.nonblocking.insert(call.id);
        }
        call.park_in(&mut self.reads);
        self.want_take();
        Step::Parked
    }

    /// A write under `message` framing adds to its description's message
    /// in progress (getting a place first for a new message); under
    /// `line` framing, the lines it ends go to the store and its last
    /// line stays in progress; in packet and batch modes and under
    /// `write` framing its messages go to the store. A write whose
    /// messages go to the store is answered when they are in.
    fn write(
        &mut self,
        call: WriteCall<'_, P::Write, QueueEnd>,
        wk: &mut RemoteWakeups<P>,
    ) -> Step<P::Write, WriteDone> {
        if self.shut_down {
            return Step::Done(call.waiter, WriteDone::err(Error::ShuttingDown));
        }
        if self.removed {
            return Step::Done(call.waiter, WriteDone::err(Error::Removed));
        }
        if call.data.is_empty() {
            return Step::Done(call.waiter, WriteDone::ok(0));
        }
        let lines = call.end.composes() && call.end.framing == Framing::Line;
        if call.end.composes() && !(lines && call.data.contains(&b'\n')) {
            // A line already begun goes on without a place (its place, if
            // it had one, went with an earlier line).
            let in_progress = self.composing.get(&call.end.id);
            let has_place = in_progress.is_some_and(|c| c.place.is_some());
            let begun = lines && in_progress.is_some_and(|c| !c.bytes.is_empty());
            if has_place || begun {
                return Step::Done(call.waiter, self.compose(call.end, call.data));
            }
            if !self.stored.fits(self.budget.uid(), 1, call.data.len()) {
                return Step::Done(call.waiter, WriteDone::err(Error::NoSpace));
            }
            let place = self.new_place(call.end.opener);
            let asking = Asking::Start {
                reply: call.waiter,
                end: call.end,
                data: call.data.to_vec(),
                place,
                nonblock: call.nonblock,
            };
            self.ask(call.id, asking, wk);
            return Step::Parked;
        }
        let out = match lines {
            true => self.lines(call.end, call.data),
            false => self.whole_messages(call.end, call.data),
        };
        let out = match out {
            Ok(out) => out,
            Err(e) => return Step::Done(call.waiter, WriteDone::err(e)),
        };
        let (count, bytes) = (out.messages.len(), out.messages.iter().map(Vec::len).sum());
        if !self.stored.fits(self.budget.uid(), count, bytes) {
            return Step::Done(call.waiter, WriteDone::err(Error::NoSpace));
        }
        // Its bytes are its writer's to pay for while they wait.
        let Some(charge) = P::charge_parked(&call.waiter, &self.budget, call.data.len()) else {
            log::info!("queue write refused: no memory left to hold its bytes");
            return Step::Done(call.waiter, WriteDone::err(Error::NoSpace));
        };
        let asking = Asking::Write {
            reply: call.waiter,
            out,
            went: 0,
            nonblock: call.nonblock,
            _charge: charge,
        };
        self.ask(call.id, asking, wk);
        Step::Parked
    }

    fn release(&mut self, end: QueueEnd, wk: &mut RemoteWakeups<P>) {
        // A place it gives back is for its opener (users.rs).
        self.serving(Some(end.opener));
        if end.mode.read {
            self.readers -= 1;
            self.receptions.remove(&end.id);
        }
        if end.mode.write {
            self.writers = self.writers.saturating_sub(1);
            if let Some(c) = self.composing.remove(&end.id) {
                if let Some(place) = c.place {
                    self.quiet("place given back", StoreOp::Release { place });
                }
            }
        }
        self.notify(wk);
    }

    /// The close of a writer ends its message: answered when the store
    /// has it, in the place its description holds. A writer dying of a
    /// signal sends nothing.
    fn flush(
        &mut self,
        id: WaiterId,
        waiter: P::Flush,
        end: QueueEnd,
        killed: &mut dyn FnMut() -> bool,
        wk: &mut RemoteWakeups<P>,
    ) -> Step<P::Flush, Result<()>> {
        let Some(c) = self.composing.get_mut(&end.id) else {
            return Step::Done(waiter, Ok(()));
        };
        if c.bytes.is_empty() {
            return Step::Done(waiter, Ok(()));
        }
        if self.removed {
            log::info!("queue message dropped at close: the queue was removed");
            c.bytes = Vec::new();
            c.charge = None;
            self.dropped += 1;
            return Step::Done(waiter, Err(Error::Removed));
        }
        if killed() {
            log::info!("queue message dropped: its writer was killed before it ended");
            c.bytes = Vec::new();
            c.charge = None;
            self.dropped += 1;
            return Step::Done(waiter, Ok(()));
        }
        let message = Composing {
            bytes: std::mem::take(&mut c.bytes),
            place: c.place.take(),
            charge: c.charge.take(),
        };
        let asking = Asking::Flush {
            reply: waiter,
            message,
        };
        // A close never waits behind writers waiting for room: its message
        // has its place (or, expired, is refused at once).
        self.ask_now(id, asking);
        self.notify(wk);
        Step::Parked
    }

    fn cancel(&mut self, id: WaiterId, why: CancelReason, wk: &mut RemoteWakeups<P>) -> bool {
        if let Some(r) = self.reads.remove(id) {
            self.nonblocking.remove(&id);
            wk.read_cancelled(id, r.reply, why);
        } else if let Some(asking) = self.for_room.remove(id) {
            self.answer(id, asking, Err(why.error()), wk);
        } else if let Some(asking) = self.for_share.remove(id) {
            self.answer(id, asking, Err(why.error()), wk);
        } else if let Some((waiter, _)) = self.creating_opens.remove(id) {
            wk.opens.push((id, waiter, Err(why.error())));
        } else if let Some(seq) = self.step_of(id) {
            // A step in flight is answered within the store's timeout; only
            // an open (which holds no lock) or an unmount answers it first.
            let is_open = matches!(
                self.steps.get(&seq),
                Some(InFlight::Call(_, Asking::Open { .. }, _))
            );
            if !is_open && why != CancelReason::ShuttingDown {
                self.interrupted.insert(id);
                return false;
            }
            let Some(InFlight::Call(_, asking, asked)) = self.steps.remove(&seq) else {
                return false;
            };
            let place = match &asking {
                Asking::Open { place, .. } | Asking::Start { place, .. } => Some(*place),
                _ => None,
            };
            let orphan = InFlight::Orphan {
                place,
                _sending: asked._sending,
            };
            self.steps.insert(seq, orphan);
            self.answer(id, asking, Err(why.error()), wk);
        } else {
            return false;
        }
        self.notify(wk);
        true
    }

    fn parked(&self) -> Vec<WaiterId> {
        let mut ids = self.reads.ids();
        ids.extend(self.for_room.ids());
        ids.extend(self.for_share.ids());
        ids.extend(self.creating_opens.ids());
        ids.extend(self.steps.values().filter_map(|s| match s {
            InFlight::Call(id, ..) => Some(*id),
            _ => None,
        }));
        ids
    }

    fn stop_parking(&mut self, wk: &mut RemoteWakeups<P>) {
        self.shut_down = true;
        self.acknowledge();
        let carried = self.channel.as_mut().map(|c| c.drain()).unwrap_or_default();
        let taken = std::mem::take(&mut self.taken)
            .into_iter()
            .filter_map(|t| t.id);
        for id in taken.chain(carried) {
            self.quiet("message given back", StoreOp::GiveBack { id });
        }
        self.notify(wk);
    }

    /// Readable when a message is here or the store last said it holds
    /// one; writable while it last said there is room.
    /// A removed queue is ready both ways, with an error: its calls fail
    /// `EIDRM` at once.
    fn poll(&mut self, end: QueueEnd, notify: Option<(u64, P::Poll)>) -> u32 {
        let mut mask = 0;
        if self.removed {
            mask |= ready::ERR;
            if end.mode.read {
                mask |= ready::IN;
            }
            if end.mode.write {
                mask |= ready::OUT;
            }
        } else if end.mode.read {
            let mid_message = self
                .receptions
                .get(&end.id)
                .is_some_and(Reception::mid_message);
            if (mid_message && end.io == IoMode::Stream) || !self.taken.is_empty() || self.known > 0
            {
                mask |= ready::IN;
            }
        }
        if end.mode.write && !self.removed && self.known < self.settings.max_messages {
            mask |= ready::OUT;
        }
        if let Some((kh, handle)) = notify {
            self.pollers.register(kh, handle);
        }
        mask
    }
}

impl<P: Parking> RemoteQueue<P> {
    /// The step in flight a call waits on.
    fn step_of(&self, id: WaiterId) -> Option<u64> {
        self.steps.iter().find_map(|(seq, s)| match s {
            InFlight::Call(call, ..) if *call == id => Some(*seq),
            _ => None,
        })
    }
}

mod asking;
mod channel;
mod settings;
mod share;
mod taking;
mod usage;
mod users;

use channel::ReadChannel;
use share::ShareWaiters;
use usage::Sending;
pub use usage::{STORED_PLACE, StoredBytes, StoredCharge};
use users::Users;

#[cfg(test)]
mod tests;
