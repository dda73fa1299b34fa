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

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::ops::{BitOr, BitOrAssign};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{JoinHandle, ThreadId};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// An eventfd, watched level-triggered, written once by shutdown.
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
}

#[derive(Default)]
struct Slot {
    generation: u32,
    entry: Option<Entry>,
}

struct Entry {
    /// Borrowed from the owner, who keeps it open while registered.
    fd: RawFd,
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
        let token = state.insert(Entry { fd, owner })?;
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
        let fd = state.entry(token).ok_or_else(not_registered)?.fd;
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
        if let Err(e) = self.shared.ctl(libc::EPOLL_CTL_DEL, entry.fd, 0, 0) {
            // Closed before deregistering: nothing left to watch, and the
            // generation check keeps any late report from its owner.
            log::debug!("reactor: fd {} of {token:?} was gone: {e}", entry.fd);
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
            if let Err(e) = (&self.waker).write(&1u64.to_ne_bytes()) {
                log::debug!("reactor: cannot wake the thread: {e}");
            }
        }
    }

    /// The reactor thread.
    fn run(&self) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        loop {
            // SAFETY: the kernel writes at most BATCH events into `events`.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    BATCH as libc::c_int,
                    -1,
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
                if data == WAKER || !self.dispatch(Token(data), Readiness::from_epoll(bits)) {
                    log::debug!("reactor: shut down");
                    return;
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
            if let Some(entry) = state.remove(token) {
                let _ = self.ctl(libc::EPOLL_CTL_DEL, entry.fd, 0, 0);
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
        let reused = state
            .entries()
            .any(|e| e.fd == entry.fd && e.owner.strong_count() > 0);
        if !reused {
            let _ = self.ctl(libc::EPOLL_CTL_DEL, entry.fd, 0, 0);
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
            .map(|e| e.fd)
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
            if let Some(entry) = state.remove(*token) {
                if !live.contains(&entry.fd) {
                    let _ = self.ctl(libc::EPOLL_CTL_DEL, entry.fd, 0, 0);
                }
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
        slot.entry.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
    use std::time::Duration;

    const WAIT: Duration = Duration::from_secs(5);

    /// Reactor tests run one at a time, so that the thread count of
    /// `a_thousand_registrations_are_served_by_one_thread` sees no other
    /// test's reactor thread. A failed test must not fail the others.
    fn serial() -> MutexGuard<'static, ()> {
        static LOCK: Mutex<()> = Mutex::new(());
        crate::locks::lock(&LOCK)
    }

    /// An owner that reports every call on a channel.
    struct Probe(Sender<(Token, Readiness)>);

    impl Ready for Probe {
        fn ready(&self, token: Token, events: Readiness) {
            let _ = self.0.send((token, events));
        }
    }

    fn probe() -> (Arc<Probe>, Receiver<(Token, Readiness)>) {
        let (tx, rx) = mpsc::channel();
        (Arc::new(Probe(tx)), rx)
    }

    fn eventfd(initial: u32) -> OwnedFd {
        // SAFETY: a plain system call whose result is checked and owned.
        let fd = os_result(unsafe { libc::eventfd(initial, libc::EFD_CLOEXEC) }).unwrap();
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    fn bump(fd: &OwnedFd) {
        let mut file = File::from(fd.try_clone().unwrap());
        file.write_all(&1u64.to_ne_bytes()).unwrap();
    }

    /// Returns once every report the kernel had for this reactor before
    /// the call has been dispatched: a descriptor that is ready already is
    /// registered, and its report is queued behind those (epoll's ready
    /// list is in order of readiness, and the one thread calls in order).
    /// So an event that has not arrived by then was never reported.
    fn barrier(reactor: &Reactor) {
        let fd = eventfd(1);
        let (owner, rx) = probe();
        let token = reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        assert_eq!(rx.recv_timeout(WAIT).unwrap().0, token);
        assert!(reactor.deregister(token));
    }

    #[test]
    fn reactor_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Reactor>();
        check::<Arc<Reactor>>();
    }

    #[test]
    fn readiness_bits_combine_and_print() {
        let r = Readiness::READABLE | Readiness::HANGUP;
        assert!(r.contains(Readiness::READABLE) && r.intersects(Readiness::HANGUP));
        assert!(!r.contains(Readiness::READABLE | Readiness::WRITABLE));
        assert_eq!(format!("{r:?}"), "READABLE | HANGUP");
        assert_eq!(format!("{:?}", Readiness::EMPTY), "EMPTY");
        let hup = Readiness::from_epoll((libc::EPOLLHUP | libc::EPOLLERR) as u32);
        assert_eq!(hup, Readiness::HANGUP | Readiness::ERROR);
    }

    #[test]
    fn readable_fires_after_a_write_on_the_other_end() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        let (owner, rx) = probe();
        let token = reactor
            .register(a.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        barrier(&reactor);
        assert_eq!(
            rx.try_recv(),
            Err(TryRecvError::Empty),
            "nothing to read yet"
        );
        b.write_all(b"x").unwrap();
        let (got, events) = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(got, token);
        assert!(events.contains(Readiness::READABLE), "{events:?}");
        assert!(!events.contains(Readiness::WRITABLE), "not asked for");
    }

    #[test]
    fn one_shot_does_not_fire_again_until_rearmed() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let fd = eventfd(0);
        let (owner, rx) = probe();
        let token = reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        bump(&fd);
        assert_eq!(rx.recv_timeout(WAIT).unwrap().0, token);
        // Still readable (never read), and written again: level- or
        // edge-triggered would both report it now.
        bump(&fd);
        barrier(&reactor);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        reactor.modify(token, Readiness::READABLE).unwrap();
        let (got, events) = rx.recv_timeout(WAIT).unwrap();
        assert_eq!((got, events), (token, Readiness::READABLE));
    }

    #[test]
    fn writable_fires_on_a_fresh_socket() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let (a, _b) = UnixStream::pair().unwrap();
        let (owner, rx) = probe();
        let token = reactor
            .register(a.as_fd(), Readiness::WRITABLE, &owner)
            .unwrap();
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), (token, Readiness::WRITABLE));
    }

    #[test]
    fn hangup_when_the_peer_closes() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let (owner, rx) = probe();
        let token = reactor
            .register(a.as_fd(), Readiness::HANGUP, &owner)
            .unwrap();
        barrier(&reactor);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "peer still there");
        drop(b);
        let (got, events) = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(got, token);
        assert!(events.contains(Readiness::HANGUP), "{events:?}");
    }

    #[test]
    fn deregister_stops_events() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let fd = eventfd(0);
        let (owner, rx) = probe();
        let token = reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        assert_eq!(reactor.len(), 1);
        assert!(reactor.deregister(token));
        assert!(!reactor.deregister(token), "only once");
        let e = reactor.modify(token, Readiness::READABLE).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert!(reactor.is_empty());
        bump(&fd);
        barrier(&reactor);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        // Out of epoll too: the same descriptor registers again, under a
        // new token, and the old token stays dead.
        let again = reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        assert_ne!(again, token);
        assert_eq!(rx.recv_timeout(WAIT).unwrap().0, again);
        assert!(!reactor.deregister(token));
    }

    /// Re-arms itself twice from inside `ready`, holding its own lock as an
    /// endpoint would, then deregisters itself there.
    struct Rearming {
        reactor: Weak<Reactor>,
        calls: Mutex<u32>,
        tx: Sender<(u32, bool)>,
    }

    impl Ready for Rearming {
        fn ready(&self, token: Token, _: Readiness) {
            let reactor = self.reactor.upgrade().unwrap();
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            let ok = if *calls < 3 {
                reactor.modify(token, Readiness::READABLE).is_ok()
            } else {
                reactor.deregister(token)
            };
            let _ = self.tx.send((*calls, ok));
        }
    }

    #[test]
    fn a_callback_rearms_and_deregisters_itself_from_inside_ready() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let fd = eventfd(1);
        let (tx, rx) = mpsc::channel();
        let owner = Arc::new(Rearming {
            reactor: Arc::downgrade(&reactor),
            calls: Mutex::new(0),
            tx,
        });
        reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        for n in 1..=3 {
            assert_eq!(rx.recv_timeout(WAIT).unwrap(), (n, true));
        }
        bump(&fd);
        barrier(&reactor);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(reactor.is_empty());
    }

    #[test]
    fn a_dropped_owner_is_cleaned_up() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let fd = eventfd(0);
        let (owner, rx) = probe();
        reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        drop(owner);
        assert_eq!(reactor.len(), 1, "not noticed yet");
        bump(&fd);
        barrier(&reactor);
        assert_eq!(reactor.len(), 0);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        // Taken out of epoll as well: the descriptor registers again.
        let (owner, rx) = probe();
        let token = reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        assert_eq!(rx.recv_timeout(WAIT).unwrap().0, token);
    }

    #[test]
    fn dead_owners_that_never_fire_are_swept_as_the_table_grows() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let fds: Vec<OwnedFd> = (0..SWEEP_MIN).map(|_| eventfd(0)).collect();
        for fd in &fds {
            let (owner, _rx) = probe();
            reactor
                .register(fd.as_fd(), Readiness::READABLE, &owner)
                .unwrap();
        }
        assert_eq!(reactor.len(), SWEEP_MIN);
        let fd = eventfd(1);
        let (owner, rx) = probe();
        let token = reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        assert_eq!(reactor.len(), 1);
        assert_eq!(rx.recv_timeout(WAIT).unwrap().0, token);
        // The swept descriptors left epoll: they register again.
        let (owner, _rx) = probe();
        reactor
            .register(fds[0].as_fd(), Readiness::READABLE, &owner)
            .unwrap();
    }

    /// Blocks inside `ready` until told to go on.
    struct Slow {
        entered: Sender<()>,
        go: Mutex<Receiver<()>>,
        finished: AtomicBool,
    }

    impl Ready for Slow {
        fn ready(&self, _: Token, _: Readiness) {
            let _ = self.entered.send(());
            let _ = self.go.lock().unwrap().recv_timeout(WAIT);
            self.finished.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn deregister_waits_for_a_call_in_flight() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let fd = eventfd(1);
        let (entered_tx, entered) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let owner = Arc::new(Slow {
            entered: entered_tx,
            go: Mutex::new(go_rx),
            finished: AtomicBool::new(false),
        });
        let token = reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        entered.recv_timeout(WAIT).unwrap();
        let other = std::thread::spawn({
            let (reactor, owner) = (reactor.clone(), owner.clone());
            move || {
                assert!(reactor.deregister(token));
                owner.finished.load(Ordering::SeqCst)
            }
        });
        // The registration leaves the table as `deregister` starts, under
        // the lock it then waits on: from here, a correct `deregister` is
        // waiting and a wrong one has returned.
        let since = std::time::Instant::now();
        while !reactor.is_empty() {
            assert!(since.elapsed() < WAIT, "deregister never started");
            std::thread::yield_now();
        }
        go.send(()).unwrap();
        assert!(other.join().unwrap(), "deregister returned during ready");
    }

    struct Panicking;

    impl Ready for Panicking {
        fn ready(&self, _: Token, _: Readiness) {
            panic!("an owner's bug");
        }
    }

    #[test]
    fn a_panicking_owner_loses_its_registration_and_the_reactor_goes_on() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let fd = eventfd(1);
        let owner = Arc::new(Panicking);
        reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        barrier(&reactor);
        assert!(reactor.is_empty());
    }

    #[test]
    fn shutdown_joins_the_thread_and_is_idempotent() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let fd = eventfd(0);
        let (owner, rx) = probe();
        let token = reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        reactor.shutdown();
        assert!(reactor.thread.lock().unwrap().is_none(), "joined");
        reactor.shutdown();
        let e = reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ESHUTDOWN));
        let e = reactor.modify(token, Readiness::READABLE).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ESHUTDOWN));
        bump(&fd);
        assert!(reactor.deregister(token), "still possible");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        // Drop shuts down too: the thread held the shared state, and it is
        // gone once the drop returns.
        let reactor = Reactor::start().unwrap();
        let shared = Arc::downgrade(&reactor.shared);
        drop(reactor);
        assert!(shared.upgrade().is_none(), "thread ended");
    }

    /// Shuts its reactor down from inside `ready`.
    struct Stopper(Weak<Reactor>, Sender<()>);

    impl Ready for Stopper {
        fn ready(&self, _: Token, _: Readiness) {
            self.0.upgrade().unwrap().shutdown();
            let _ = self.1.send(());
        }
    }

    #[test]
    fn shutdown_from_inside_ready_does_not_deadlock() {
        let _serial = serial();
        let reactor = Reactor::start().unwrap();
        let fd = eventfd(1);
        let (tx, rx) = mpsc::channel();
        let owner = Arc::new(Stopper(Arc::downgrade(&reactor), tx));
        reactor
            .register(fd.as_fd(), Readiness::READABLE, &owner)
            .unwrap();
        rx.recv_timeout(WAIT).unwrap();
        reactor.shutdown();
        assert!(reactor.thread.lock().unwrap().is_none(), "joined");
    }

    /// Thread ids of the tasks of this process named like the reactor.
    fn reactor_threads() -> HashSet<i32> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|e| {
                let e = e.ok()?;
                let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
                let tid = e.file_name().to_str()?.parse().ok()?;
                (comm.trim_end() == "ipcfs-reactor").then_some(tid)
            })
            .collect()
    }

    /// Reports the thread it is called on.
    struct Where(Sender<(Token, i32)>);

    impl Ready for Where {
        fn ready(&self, token: Token, _: Readiness) {
            // SAFETY: gettid has no memory effects.
            let _ = self.0.send((token, unsafe { libc::gettid() }));
        }
    }

    #[test]
    fn a_thousand_registrations_are_served_by_one_thread() {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        const N: usize = 1000;
        let _serial = serial();
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let wanted = (N as u64 + 256).min(hard);
        if soft < wanted {
            setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).unwrap();
        }
        let before = reactor_threads();
        let reactor = Reactor::start().unwrap();
        let (tx, rx) = mpsc::channel();
        let owner = Arc::new(Where(tx));
        let fds: Vec<OwnedFd> = (0..N).map(|_| eventfd(1)).collect();
        let mut tokens = HashSet::new();
        for fd in &fds {
            let token = reactor
                .register(fd.as_fd(), Readiness::READABLE, &owner)
                .unwrap();
            tokens.insert(token);
        }
        assert_eq!(reactor.len(), N);
        let mut tids = HashSet::new();
        for _ in 0..N {
            let (token, tid) = rx.recv_timeout(WAIT).unwrap();
            assert!(tokens.remove(&token), "each token once");
            tids.insert(tid);
        }
        // Counted once the thread has run: it names itself as it starts.
        // Other tests (the fs layer's) may start reactors of their own
        // meanwhile, so the check is that one new reactor thread made
        // every call, not that no other appeared.
        let started: HashSet<i32> = reactor_threads().difference(&before).copied().collect();
        assert_eq!(tids.len(), 1, "every call on one thread: {tids:?}");
        assert!(
            tids.is_subset(&started),
            "a new reactor thread: {started:?}"
        );
    }
}
