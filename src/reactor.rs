//! The reactor: one thread that waits on every descriptor the daemon
//! watches and calls back into the object that owns it.
//!
//! Socket endpoints hold real descriptors (a connected socket, a listener),
//! but no FUSE dispatch thread ever blocks on one: a call that cannot go on
//! parks its reply in the object, as everywhere else, and the object
//! registers its descriptor here. When the kernel reports the descriptor
//! ready, the reactor thread calls [`Ready::ready`] on the owner, which does
//! its non-blocking I/O and wakes its parked callers in the usual order:
//! lock the object, change its state and collect its wakeups, release the
//! lock, then answer them.
//!
//! # One-shot registrations
//!
//! Every registration is `EPOLLONESHOT`: after one report it is disarmed
//! in the kernel until its owner re-arms it with [`Reactor::modify`]. This
//! is chosen over level-triggered (which reports an unread socket over and
//! over, though nobody is waiting for its data) and over edge-triggered
//! (which reports every arrival of bytes, wanted or not, and obliges the
//! owner to drain the descriptor at every report or lose the next edge):
//!
//! - An owner arms its descriptor only while it has a parked caller that
//!   needs the event, so an idle connection costs nothing, not even a
//!   wake-up of the reactor thread.
//! - Arming tests readiness at once (the kernel polls the file on
//!   `EPOLL_CTL_MOD`), so no event is lost between "read said `EAGAIN`" and
//!   "armed": the owner simply arms after parking, under its own lock.
//! - At most one report per registration is ever queued, which bounds what
//!   a stale registration can cost (see "Owners are held weakly" below).
//!
//! Hang-up and error are reported whenever a registration is armed,
//! whatever its interest, because the kernel always reports them.
//!
//! # Timers
//!
//! A registration may be a timer instead of a descriptor
//! ([`Reactor::add_timer`]): set for an instant ([`Reactor::set_timer`]),
//! it is reported once, as readable, when that instant has come, and is
//! then unset until set again — one-shot, as descriptors are. The due
//! timers are kept in a heap whose earliest instant is the timeout of the
//! thread's `epoll_wait`, so a delayed object costs no descriptor; a timer
//! set earlier than the thread's wait wakes it through its eventfd.
//!
//! # Invariants
//!
//! - **The owner owns the descriptor.** The reactor never closes it and
//!   never reads or writes it. The owner keeps it open until
//!   [`Reactor::deregister`] returns, and only then closes it. (Closing
//!   first risks a registration that outlives its descriptor number: the
//!   kernel keeps watching a file that is still open elsewhere.)
//! - **Lock order: the owner's lock, then the reactor's.** The reactor's
//!   lock is never held while `ready` runs, nor while an owner is dropped,
//!   so an owner may call [`register`](Reactor::register),
//!   [`modify`](Reactor::modify) and [`deregister`](Reactor::deregister) from
//!   inside `ready`, holding its own lock or not.
//! - **Nothing arrives after deregistration.** Once `deregister(token)`
//!   returns, `ready` for that token is not running and is never called
//!   again. Events the kernel reported before are dropped because each
//!   token carries a generation that is checked under the lock just before
//!   the call; a call already running is waited for (unless `deregister`
//!   is called from inside `ready`, on the reactor thread, where the only
//!   call running is the caller's own). So: never call `deregister` from
//!   another thread while holding a lock that `ready` takes. Take the
//!   descriptor and token out of the object under its lock, release it,
//!   deregister, close: the same order as answering wakeups.
//! - **Owners are held weakly.** A registration never keeps its owner
//!   alive. A dead owner's registration is removed when an event for it
//!   arrives and, for descriptors that never fire again, by a sweep when
//!   the table would grow, so a dropped endpoint leaks nothing.
//! - **Errors never panic.** A failing descriptor is logged (at debug) and
//!   its registration dropped; a panic inside `ready` is caught, and that
//!   registration dropped, so one faulty owner does not stop the others.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::{BitOr, BitOrAssign};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{JoinHandle, ThreadId};
use std::time::Instant;

/// The object behind a registration. Called on the reactor thread, with no
/// lock of the reactor's held; it must not block (it takes its own lock,
/// does non-blocking I/O, re-arms if it still has parked callers, releases
/// its lock and answers them).
pub trait Ready: Send + Sync {
    /// `token`'s descriptor reported `events`. The registration is now
    /// disarmed until [`Reactor::modify`] re-arms it.
    fn ready(&self, token: Token, events: Readiness);
}

/// Names one registration. The low half is a slot in the reactor's table,
/// the high half that slot's generation, bumped at each removal, so that a
/// report meant for an earlier registration in the same slot is recognized
/// (a token comes back only after 2^32 removals from its slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(u64);

impl Token {
    fn new(index: u32, generation: u32) -> Token {
        Token((u64::from(generation) << 32) | u64::from(index))
    }

    fn index(self) -> usize {
        self.0 as u32 as usize
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// What a registration waits for, and what a report says. The same bits
/// serve both: as interest, [`HANGUP`](Self::HANGUP) asks to hear when the
/// peer shuts down its sending side (`EPOLLRDHUP`); a full hang-up and
/// [`ERROR`](Self::ERROR) are reported whatever the interest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Readiness(u8);

impl Readiness {
    pub const EMPTY: Readiness = Readiness(0);
    /// Data (or end of file, or a connection to accept) can be read.
    pub const READABLE: Readiness = Readiness(1);
    /// A write would not block.
    pub const WRITABLE: Readiness = Readiness(2);
    /// The peer hung up, at least its sending side.
    pub const HANGUP: Readiness = Readiness(4);
    /// The descriptor has an error pending (`SO_ERROR`).
    pub const ERROR: Readiness = Readiness(8);

    pub const fn contains(self, other: Readiness) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn intersects(self, other: Readiness) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The epoll interest bits, one-shot.
    fn to_epoll(self) -> u32 {
        let mut bits = libc::EPOLLONESHOT as u32;
        if self.contains(Self::READABLE) {
            bits |= libc::EPOLLIN as u32;
        }
        if self.contains(Self::WRITABLE) {
            bits |= libc::EPOLLOUT as u32;
        }
        if self.contains(Self::HANGUP) {
            bits |= libc::EPOLLRDHUP as u32;
        }
        bits
    }

    fn from_epoll(bits: u32) -> Readiness {
        let has = |b: libc::c_int| bits & b as u32 != 0;
        let mut r = Readiness::EMPTY;
        if has(libc::EPOLLIN | libc::EPOLLPRI) {
            r |= Self::READABLE;
        }
        if has(libc::EPOLLOUT) {
            r |= Self::WRITABLE;
        }
        if has(libc::EPOLLHUP | libc::EPOLLRDHUP) {
            r |= Self::HANGUP;
        }
        if has(libc::EPOLLERR) {
            r |= Self::ERROR;
        }
        r
    }
}

impl BitOr for Readiness {
    type Output = Readiness;
    fn bitor(self, other: Readiness) -> Readiness {
        Readiness(self.0 | other.0)
    }
}

impl BitOrAssign for Readiness {
    fn bitor_assign(&mut self, other: Readiness) {
        self.0 |= other.0;
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::READABLE, "READABLE"),
            (Self::WRITABLE, "WRITABLE"),
            (Self::HANGUP, "HANGUP"),
            (Self::ERROR, "ERROR"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(bit, _)| self.contains(*bit))
            .map(|(_, name)| *name)
            .collect();
        if set.is_empty() {
            f.write_str("EMPTY")
        } else {
            f.write_str(&set.join(" | "))
        }
    }
}

/// The epoll data of the internal eventfd. No token has it: that would
/// take a slot index of `u32::MAX`, and the table stops short of it.
const WAKER: u64 = u64::MAX;
/// The heap of timers is rebuilt from the table once it holds this many
/// more instants than there are timers set (each `set_timer` pushes one;
/// the ones overtaken are dropped only when they come to the top).
const HEAP_SLACK: usize = 64;
/// Reports taken from the kernel per `epoll_wait`.
const BATCH: usize = 256;
/// The table is not swept for dead owners before it has this many slots.
const SWEEP_MIN: usize = 64;

/// The reactor: its thread, and the table of registrations the thread and
/// every caller share. `Send + Sync`; use it through an `Arc`.
pub struct Reactor {
    shared: Arc<Shared>,
    /// Taken by the first shutdown that can wait for the thread.
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

struct Shared {
    epoll: OwnedFd,
    /// An eventfd, watched level-triggered, written by shutdown and by a
    /// timer set earlier than the thread's wait; the thread drains it.
    waker: File,
    state: Mutex<State>,
    /// Notified whenever a call to `ready` has ended.
    call_ended: Condvar,
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Registrations held, dead owners not yet noticed included.
    len: usize,
    /// The table is swept once it has this many slots and no free one.
    sweep_at: usize,
    /// The registration whose `ready` the thread is running.
    calling: Option<Token>,
    shut: bool,
    /// When each timer set is due (with instants of timers set again or
    /// deregistered since, which are passed over).
    timers: BinaryHeap<Reverse<(Instant, Token)>>,
    /// Timers set.
    timers_set: usize,
    /// Until when the thread waits, if it waits for a timer; a timer due
    /// sooner must wake it.
    sleeping_until: Option<Instant>,
}

#[derive(Default)]
struct Slot {
    generation: u32,
    entry: Option<Entry>,
}

struct Entry {
    /// Borrowed from the owner, who keeps it open while registered;
    /// `None` for a timer.
    fd: Option<RawFd>,
    /// A timer's instant, while it is set.
    due: Option<Instant>,
    owner: Weak<dyn Ready>,
}

fn os_result(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn shut_down() -> io::Error {
    io::Error::from_raw_os_error(libc::ESHUTDOWN)
}

fn not_registered() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

impl Reactor {
    /// Creates the epoll instance and starts the thread "ipcfs-reactor".
    pub fn start() -> io::Result<Arc<Reactor>> {
        // SAFETY (both): plain system calls; each new descriptor is checked
        // and owned at once.
        let epoll = os_result(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        let flags = libc::EFD_CLOEXEC | libc::EFD_NONBLOCK;
        let waker = os_result(unsafe { libc::eventfd(0, flags) })?;
        let waker = unsafe { OwnedFd::from_raw_fd(waker) };
        let shared = Arc::new(Shared {
            epoll,
            waker: File::from(waker),
            state: Mutex::new(State {
                sweep_at: SWEEP_MIN,
                ..State::default()
            }),
            call_ended: Condvar::new(),
        });
        shared.ctl(
            libc::EPOLL_CTL_ADD,
            shared.waker.as_raw_fd(),
            libc::EPOLLIN as u32,
            WAKER,
        )?;
        let thread = std::thread::Builder::new()
            .name("ipcfs-reactor".into())
            .spawn({
                let shared = shared.clone();
                move || shared.run()
            })?;
        Ok(Arc::new(Reactor {
            shared,
            thread_id: thread.thread().id(),
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// Watches `fd` for `interest` (armed at once) on behalf of `owner`,
    /// which is held weakly. Taking an `Arc` ensures the owner is alive
    /// already: a registration made inside `Arc::new_cyclic` would look
    /// dead to an early event and be removed.
    ///
    /// One registration per descriptor: registering it twice fails with
    /// `EEXIST`. After shutdown, fails with `ESHUTDOWN`.
    pub fn register<O: Ready + 'static>(
        &self,
        fd: BorrowedFd<'_>,
        interest: Readiness,
        owner: &Arc<O>,
    ) -> io::Result<Token> {
        let owner: Weak<dyn Ready> = Arc::downgrade(owner) as Weak<O>;
        let fd = fd.as_raw_fd();
        let mut state = self.shared.lock();
        if state.shut {
            return Err(shut_down());
        }
        if state.free.is_empty() && state.slots.len() >= state.sweep_at {
            self.shared.sweep(&mut state);
        }
        let token = state.insert(Entry {
            fd: Some(fd),
            due: None,
            owner,
        })?;
        // Added under the lock, after the entry: an event that fires at
        // once finds it (with one-shot, a dropped event would be lost).
        if let Err(e) = self
            .shared
            .ctl(libc::EPOLL_CTL_ADD, fd, interest.to_epoll(), token.0)
        {
            state.remove(token);
            return Err(e);
        }
        log::trace!("reactor: fd {fd} registered as {token:?} for {interest:?}");
        Ok(token)
    }

    /// A timer on behalf of `owner` (held weakly), not set: see
    /// [`set_timer`](Self::set_timer). Deregistered as a descriptor is.
    pub fn add_timer<O: Ready + 'static>(&self, owner: &Arc<O>) -> io::Result<Token> {
        let owner: Weak<dyn Ready> = Arc::downgrade(owner) as Weak<O>;
        let mut state = self.shared.lock();
        if state.shut {
            return Err(shut_down());
        }
        if state.free.is_empty() && state.slots.len() >= state.sweep_at {
            self.shared.sweep(&mut state);
        }
        state.insert(Entry {
            fd: None,
            due: None,
            owner,
        })
    }

    /// Sets timer `token` to be reported (readable) once at `at`, or
    /// unsets it (`None`). An instant already past is reported at once.
    /// `ENOENT` if `token` is not a timer registered here, `ESHUTDOWN`
    /// after shutdown.
    pub fn set_timer(&self, token: Token, at: Option<Instant>) -> io::Result<()> {
        let mut state = self.shared.lock();
        if state.shut {
            return Err(shut_down());
        }
        let entry = state.entry_mut(token).filter(|e| e.fd.is_none());
        let entry = entry.ok_or_else(not_registered)?;
        let was_set = std::mem::replace(&mut entry.due, at).is_some();
        state.timers_set = state.timers_set + usize::from(at.is_some()) - usize::from(was_set);
        let Some(at) = at else {
            return Ok(());
        };
        state.timers.push(Reverse((at, token)));
        if state.timers.len() > 2 * state.timers_set + HEAP_SLACK {
            state.rebuild_timers();
        }
        if state.sleeping_until.is_none_or(|until| at < until) {
            // The thread waits past it (or for descriptors only).
            state.sleeping_until = Some(at);
            drop(state);
            self.shared.wake();
        }
        Ok(())
    }

    /// Re-arms `token` for `interest` (or changes it while armed). Ready
    /// at once if the descriptor already is. `ENOENT` if `token` is not
    /// registered, `ESHUTDOWN` after shutdown. If the kernel refuses (the
    /// descriptor was closed before deregistering), the registration is
    /// dropped and the error returned.
    pub fn modify(&self, token: Token, interest: Readiness) -> io::Result<()> {
        let mut state = self.shared.lock();
        if state.shut {
            return Err(shut_down());
        }
        let fd = state.entry(token).and_then(|e| e.fd);
        let fd = fd.ok_or_else(not_registered)?;
        self.shared
            .ctl(libc::EPOLL_CTL_MOD, fd, interest.to_epoll(), token.0)
            .inspect_err(|e| {
                log::debug!("reactor: cannot re-arm fd {fd} ({token:?}), dropped: {e}");
                state.remove(token);
            })
    }

    /// Stops watching `token`'s descriptor. When it returns, `ready` for
    /// `token` is not running (a call in progress on the reactor thread is
    /// waited for, unless this is that call) and will not be called again;
    /// the owner may close the descriptor. False if `token` was not
    /// registered (already deregistered, or dropped after an error).
    ///
    /// From another thread than the reactor's, do not call it while
    /// holding a lock that `ready` takes: it may wait for that `ready`.
    pub fn deregister(&self, token: Token) -> bool {
        let mut state = self.shared.lock();
        let Some(entry) = state.remove(token) else {
            return false;
        };
        if let Some(fd) = entry.fd {
            if let Err(e) = self.shared.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0) {
                // Closed before deregistering: nothing left to watch, and
                // the generation check keeps any late report from its owner.
                log::debug!("reactor: fd {fd} of {token:?} was gone: {e}");
            }
        }
        if !self.on_reactor_thread() {
            while state.calling == Some(token) {
                state = self
                    .shared
                    .call_ended
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
        log::trace!("reactor: {token:?} deregistered");
        true
    }

    /// Registrations held (including those of dead owners not yet noticed).
    pub fn len(&self) -> usize {
        self.shared.lock().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the thread and waits for it; from then on `register` and
    /// `modify` fail with `ESHUTDOWN` and no `ready` is called. Idempotent;
    /// also done on drop. Called from inside `ready`, it cannot wait for
    /// its own thread: the thread stops when that call returns.
    /// Registrations stay in the table, so `deregister` still works.
    pub fn shutdown(&self) {
        self.shared.stop();
        if self.on_reactor_thread() {
            return;
        }
        // Held while joining, so that a concurrent shutdown also returns
        // only once the thread has ended.
        let mut thread = crate::locks::lock(&self.thread);
        if let Some(handle) = thread.take() {
            if handle.join().is_err() {
                log::debug!("reactor: the thread had panicked");
            }
        }
    }

    fn on_reactor_thread(&self) -> bool {
        std::thread::current().id() == self.thread_id
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.shared.stop();
        let handle = crate::locks::get_mut(&mut self.thread).take();
        // The last reference can go inside a `ready` call (an owner that
        // held it was dropped there): then the thread is left to end alone.
        if let Some(handle) = handle.filter(|_| !self.on_reactor_thread()) {
            if handle.join().is_err() {
                log::debug!("reactor: the thread had panicked");
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        crate::locks::lock(&self.state)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: data };
        // SAFETY: epoll_ctl only reads `event`; a bad `fd` is an error.
        os_result(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) }).map(drop)
    }

    /// Marks the reactor shut and wakes the thread (once).
    fn stop(&self) {
        let first = !std::mem::replace(&mut self.lock().shut, true);
        if first {
            self.wake();
        }
    }

    /// Makes the thread's `epoll_wait` return (its eventfd turns readable).
    fn wake(&self) {
        if let Err(e) = (&self.waker).write(&1u64.to_ne_bytes()) {
            log::debug!("reactor: cannot wake the thread: {e}");
        }
    }

    /// The reactor thread.
    fn run(&self) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        loop {
            let timeout = self.fire_due_timers();
            // SAFETY: the kernel writes at most BATCH events into `events`.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    BATCH as libc::c_int,
                    timeout,
                )
            };
            let n = match os_result(n) {
                Ok(n) => n as usize,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("reactor: epoll_wait failed, stopping: {e}");
                    self.lock().shut = true;
                    return;
                }
            };
            for event in &events[..n] {
                // Copied out: the struct is packed on some targets.
                let (bits, data) = (event.events, event.u64);
                let going_on = match data {
                    WAKER => self.woken(),
                    _ => self.dispatch(Token(data), Readiness::from_epoll(bits)),
                };
                if !going_on {
                    log::debug!("reactor: shut down");
                    return;
                }
            }
        }
    }

    /// The eventfd said to look again: drained, so that it is quiet until
    /// written again. False once the reactor is shut down.
    fn woken(&self) -> bool {
        let mut count = [0u8; 8];
        // Non-blocking: nothing to read only if another wake took it.
        let _ = (&self.waker).read(&mut count);
        !self.lock().shut
    }

    /// Reports every timer due by now to its owner, and returns how long
    /// the thread may wait for descriptors before the next one is due, in
    /// milliseconds rounded up (-1: no timer is set).
    fn fire_due_timers(&self) -> libc::c_int {
        loop {
            let due = {
                let mut state = self.lock();
                let now = Instant::now();
                let due = state.take_due_timers(now);
                if due.is_empty() {
                    state.sleeping_until = state.next_timer();
                    let Some(until) = state.sleeping_until else {
                        return -1;
                    };
                    let wait = until.saturating_duration_since(now);
                    let ms = wait.as_nanos().div_ceil(1_000_000);
                    return libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX);
                }
                due
            };
            for token in due {
                if !self.dispatch(token, Readiness::READABLE) {
                    return 0;
                }
            }
        }
    }

    /// Calls the owner of `token` if it is still registered and alive.
    /// False once the reactor is shut down.
    fn dispatch(&self, token: Token, events: Readiness) -> bool {
        let owner = {
            let mut state = self.lock();
            if state.shut {
                return false;
            }
            let Some(entry) = state.entry(token) else {
                // Deregistered since the kernel reported it.
                log::trace!("reactor: {events:?} for gone {token:?} dropped");
                return true;
            };
            let Some(owner) = entry.owner.upgrade() else {
                log::debug!("reactor: owner of {token:?} is gone, registration dropped");
                self.forget_dead(&mut state, token);
                return true;
            };
            state.calling = Some(token);
            owner
        };
        log::trace!("reactor: {events:?} for {token:?}");
        let outcome = catch_unwind(AssertUnwindSafe(|| owner.ready(token, events)));
        // Dropped before the lock is taken again: it may be the last
        // reference, and the owner's drop may deregister.
        drop(owner);
        let mut state = self.lock();
        state.calling = None;
        if outcome.is_err() {
            log::debug!("reactor: owner of {token:?} panicked, registration dropped");
            if let Some(fd) = state.remove(token).and_then(|e| e.fd) {
                let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
        }
        drop(state);
        self.call_ended.notify_all();
        true
    }

    /// Removes the registration of a dead owner. Its descriptor number may
    /// have been closed and reused by now, so it is taken out of epoll only
    /// if no live registration has the same number; otherwise the kernel
    /// already dropped it (a closed file leaves epoll) or it fires at most
    /// once more (one-shot) and the generation check discards that report.
    fn forget_dead(&self, state: &mut State, token: Token) {
        let Some(entry) = state.remove(token) else {
            return;
        };
        let Some(fd) = entry.fd else {
            return;
        };
        let reused = state
            .entries()
            .any(|e| e.fd == Some(fd) && e.owner.strong_count() > 0);
        if !reused {
            let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
        }
    }

    /// Removes every registration whose owner is gone. Run before the table
    /// grows, and then only once it has doubled since the last sweep, so it
    /// costs O(1) per registration and the table stays within twice its
    /// peak of live registrations.
    fn sweep(&self, state: &mut State) {
        let live: HashSet<RawFd> = state
            .entries()
            .filter(|e| e.owner.strong_count() > 0)
            .filter_map(|e| e.fd)
            .collect();
        let dead: Vec<Token> = state
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.entry
                    .as_ref()
                    .is_some_and(|e| e.owner.strong_count() == 0)
            })
            .map(|(i, s)| Token::new(i as u32, s.generation))
            .collect();
        for token in &dead {
            let fd = state.remove(*token).and_then(|e| e.fd);
            if let Some(fd) = fd.filter(|fd| !live.contains(fd)) {
                let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
        }
        if !dead.is_empty() {
            log::debug!("reactor: swept {} registrations of dead owners", dead.len());
        }
        state.sweep_at = (2 * state.len).max(SWEEP_MIN);
    }
}

impl State {
    fn entry(&self, token: Token) -> Option<&Entry> {
        let slot = self.slots.get(token.index())?;
        (slot.generation == token.generation())
            .then_some(slot.entry.as_ref())
            .flatten()
    }

    fn entry_mut(&mut self, token: Token) -> Option<&mut Entry> {
        let slot = self.slots.get_mut(token.index())?;
        (slot.generation == token.generation())
            .then_some(slot.entry.as_mut())
            .flatten()
    }

    /// Takes out the timers due by `now`, unsetting them, in order.
    fn take_due_timers(&mut self, now: Instant) -> Vec<Token> {
        let mut due = Vec::new();
        while let Some(&Reverse((at, token))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            // Passed over if set again or deregistered since.
            if let Some(entry) = self.entry_mut(token).filter(|e| e.due == Some(at)) {
                entry.due = None;
                self.timers_set -= 1;
                due.push(token);
            }
        }
        due
    }

    /// When the earliest timer set is due; instants overtaken on the way
    /// are dropped.
    fn next_timer(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, token))) = self.timers.peek() {
            if self.entry(token).is_some_and(|e| e.due == Some(at)) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// The heap of instants, made again from the timers set.
    fn rebuild_timers(&mut self) {
        let set = self.slots.iter().enumerate().filter_map(|(i, slot)| {
            let at = slot.entry.as_ref()?.due?;
            Some(Reverse((at, Token::new(i as u32, slot.generation))))
        });
        self.timers = set.collect();
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().filter_map(|s| s.entry.as_ref())
    }

    fn insert(&mut self, entry: Entry) -> io::Result<Token> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|i| *i < u32::MAX)
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOSPC))?;
                self.slots.push(Slot::default());
                index
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.entry = Some(entry);
        self.len += 1;
        Ok(Token::new(index, slot.generation))
    }

    /// Takes `token`'s entry out and retires the token for good.
    fn remove(&mut self, token: Token) -> Option<Entry> {
        self.entry(token)?;
        let slot = &mut self.slots[token.index()];
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(token.index() as u32);
        self.len -= 1;
        let entry = slot.entry.take();
        if entry.as_ref().is_some_and(|e| e.due.is_some()) {
            self.timers_set -= 1;
        }
        entry
    }
}

#[cfg(test)]
mod tests;
