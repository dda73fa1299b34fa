//! The reactor driven with real descriptors and recording owners.

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

/// An eventfd registered for readable, with the probe that owns it.
fn watched(reactor: &Reactor) -> (OwnedFd, Arc<Probe>, Receiver<(Token, Readiness)>, Token) {
    let fd = eventfd(0);
    let (owner, rx) = probe();
    let token = reactor
        .register(fd.as_fd(), Readiness::READABLE, &owner)
        .unwrap();
    (fd, owner, rx, token)
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
    let (fd, _owner, rx, token) = watched(&reactor);
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
    let (fd, owner, rx, token) = watched(&reactor);
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
    let (fd, owner, rx, token) = watched(&reactor);
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

#[test]
fn a_timer_is_reported_once_when_its_instant_has_come() {
    let _serial = serial();
    let reactor = Reactor::start().unwrap();
    let (owner, rx) = probe();
    let token = reactor.add_timer(&owner).unwrap();
    let at = Instant::now() + Duration::from_millis(30);
    reactor.set_timer(token, Some(at)).unwrap();
    assert_eq!(rx.recv_timeout(WAIT), Ok((token, Readiness::READABLE)));
    assert!(Instant::now() >= at, "reported before its instant");
    // One-shot: unset once reported, until set again.
    barrier(&reactor);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    reactor.set_timer(token, Some(Instant::now())).unwrap();
    assert_eq!(rx.recv_timeout(WAIT), Ok((token, Readiness::READABLE)));
}

#[test]
fn a_timer_set_sooner_than_the_threads_wait_wakes_it() {
    let _serial = serial();
    let reactor = Reactor::start().unwrap();
    let (owner, rx) = probe();
    let (later, sooner) = (
        reactor.add_timer(&owner).unwrap(),
        reactor.add_timer(&owner).unwrap(),
    );
    reactor
        .set_timer(later, Some(Instant::now() + Duration::from_secs(3600)))
        .unwrap();
    // The thread now waits for an hour.
    barrier(&reactor);
    reactor
        .set_timer(sooner, Some(Instant::now() + Duration::from_millis(10)))
        .unwrap();
    assert_eq!(rx.recv_timeout(WAIT), Ok((sooner, Readiness::READABLE)));
}

#[test]
fn unset_and_deregistered_timers_are_never_reported() {
    let _serial = serial();
    let reactor = Reactor::start().unwrap();
    let (owner, rx) = probe();
    let [unset, gone, last] = [(); 3].map(|()| reactor.add_timer(&owner).unwrap());
    let soon = Instant::now() + Duration::from_millis(20);
    reactor.set_timer(unset, Some(soon)).unwrap();
    reactor.set_timer(gone, Some(soon)).unwrap();
    reactor
        .set_timer(last, Some(soon + Duration::from_millis(20)))
        .unwrap();
    reactor.set_timer(unset, None).unwrap();
    assert!(reactor.deregister(gone));
    // The last is due after the other two: when it is reported, they
    // would have been.
    assert_eq!(rx.recv_timeout(WAIT), Ok((last, Readiness::READABLE)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        reactor.set_timer(gone, None).unwrap_err().raw_os_error(),
        Some(libc::ENOENT)
    );
}

#[test]
fn a_timer_set_again_and_again_keeps_the_heap_small() {
    let _serial = serial();
    let reactor = Reactor::start().unwrap();
    let (owner, _rx) = probe();
    let token = reactor.add_timer(&owner).unwrap();
    let start = Instant::now() + Duration::from_secs(3600);
    for i in 0..10_000 {
        reactor
            .set_timer(token, Some(start + Duration::from_millis(i)))
            .unwrap();
    }
    let state = reactor.shared.lock();
    assert_eq!(state.timers_set, 1);
    assert!(
        state.timers.len() <= 2 + HEAP_SLACK,
        "{} instants kept",
        state.timers.len()
    );
}

#[test]
fn a_descriptor_is_not_a_timer() {
    let _serial = serial();
    let reactor = Reactor::start().unwrap();
    let (_fd, _owner, _rx, token) = watched(&reactor);
    let err = reactor.set_timer(token, Some(Instant::now())).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
}
