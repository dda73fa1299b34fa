//! Noticing that a parked caller got a signal.
//!
//! The kernel tells the daemon with FUSE_INTERRUPT, which the vendored
//! fuser passes on ([`Registry::interrupt`]): the parked call is cancelled
//! and its object answers it with `EINTR` (or, for a write that already
//! handed bytes over, with their count). Until the daemon answers, the
//! caller cannot even die, so a second way stands behind the first: the
//! [`Watcher`] looks at `/proc/<tid>/status` of every parked caller once
//! per [`SWEEP_INTERVAL`] and cancels the call of any caller with a signal
//! pending that it does not block. It is cheap because it is rare; the
//! kernel's interrupts are what make a blocked caller end at once, and the
//! sweep logs whenever it ends a call, since that means one was missed.
//!
//! Registration protocol (why there is no stale entry): a call is
//! registered while its object's lock is held, right after the object parked
//! it, and deregistered by whoever answers it after the answer. Both happen
//! in the object's lock order, so a deregistration never comes before its
//! registration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::caller::Caller;
use crate::caller::proc::signal_pending;
use crate::ipc::CancelReason;
use crate::wait::WaiterId;

/// Something that holds parked calls and can take one out.
pub trait Cancel: Send + Sync {
    /// Answers the parked call `id` for `why`. False if it is not parked.
    fn cancel(&self, id: WaiterId, why: CancelReason) -> bool;
}

struct Parked {
    tid: u32,
    uid: u32,
    target: Arc<dyn Cancel>,
}

/// How many calls one user may have parked at once, and who is not
/// limited (root, and the mount's owner).
#[derive(Debug, Clone, Copy)]
pub struct WaitLimit {
    pub per_user: usize,
    pub unlimited: [u32; 2],
}

impl WaitLimit {
    pub const NONE: WaitLimit = WaitLimit {
        per_user: usize::MAX,
        unlimited: [0, 0],
    };

    fn applies_to(&self, uid: u32) -> bool {
        !self.unlimited.contains(&uid)
    }
}

/// What became of a call that parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// It waits.
    Parked,
    /// Its caller was interrupted already: cancel it for that.
    Interrupted,
    /// Its caller has as many calls waiting as it may: cancel it for
    /// that. It was not recorded.
    TooMany,
}

/// Every parked call of the daemon, with its caller's thread id, and the
/// interrupts that came for calls not parked (yet).
pub struct Registry {
    state: Mutex<State>,
    limit: WaitLimit,
}

#[derive(Default)]
struct State {
    parked: HashMap<WaiterId, Parked>,
    /// How many calls each limited user has parked.
    waiting: HashMap<u32, usize>,
    /// Interrupts for calls that were not parked when they came: the call
    /// may still be on its way to parking on another dispatch thread.
    early: HashMap<WaiterId, Instant>,
}

/// How long an interrupt for a call that is not parked is remembered. A
/// call parks within microseconds of arriving or never does.
const EARLY_INTERRUPT_MEMORY: Duration = Duration::from_secs(2);

impl Registry {
    pub fn new(limit: WaitLimit) -> Arc<Self> {
        Arc::new(Registry {
            state: Mutex::default(),
            limit,
        })
    }

    /// Records a call of `caller` that just parked. Unless it is
    /// [`Registered::Parked`], the caller of `register` must cancel it
    /// for what it says (once it has let go of the object's lock).
    #[must_use]
    pub fn register(&self, id: WaiterId, caller: &Caller, target: Arc<dyn Cancel>) -> Registered {
        let mut state = self.lock();
        if self.limit.applies_to(caller.uid) {
            let waiting = state.waiting.entry(caller.uid).or_default();
            if *waiting >= self.limit.per_user {
                log::warn!(
                    "uid {} has {} calls waiting, as many as it may \
                     (--max-waiting-per-user): one more fails with EAGAIN",
                    caller.uid,
                    *waiting
                );
                return Registered::TooMany;
            }
            *waiting += 1;
        }
        let (tid, uid) = (caller.pid, caller.uid);
        state.parked.insert(id, Parked { tid, uid, target });
        match state.early.remove(&id) {
            Some(_) => Registered::Interrupted,
            None => Registered::Parked,
        }
    }

    /// Takes out every call of `ids` (answered, or cancelled), in one
    /// hold of the lock: a call that woke many parked calls takes it once.
    pub fn deregister_all(&self, ids: impl IntoIterator<Item = WaiterId>) {
        let mut ids = ids.into_iter().peekable();
        if ids.peek().is_none() {
            return;
        }
        let mut state = self.lock();
        for id in ids {
            let Some(parked) = state.parked.remove(&id) else {
                continue;
            };
            if let Some(n) = state.waiting.get_mut(&parked.uid) {
                *n -= 1;
                if *n == 0 {
                    state.waiting.remove(&parked.uid);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lock().parked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn snapshot(&self) -> Vec<(WaiterId, u32, Arc<dyn Cancel>)> {
        self.lock()
            .parked
            .iter()
            .map(|(id, p)| (*id, p.tid, p.target.clone()))
            .collect()
    }

    /// Cancels every parked call whose caller has a signal pending.
    /// Returns how many were cancelled.
    pub fn sweep(&self) -> usize {
        let mut cancelled = 0;
        for (id, tid, target) in self.snapshot() {
            if signal_pending(tid) && target.cancel(id, CancelReason::Interrupted) {
                log::info!("parked call {id} of thread {tid} ended by the /proc sweep");
                cancelled += 1;
            }
        }
        cancelled
    }

    /// The kernel says call `id` was interrupted (FUSE_INTERRUPT). A parked
    /// call is cancelled now; one not parked yet is remembered, and
    /// cancelled as it parks. True if a parked call was cancelled.
    pub fn interrupt(&self, id: WaiterId) -> bool {
        let target = {
            let mut state = self.lock();
            match state.parked.get(&id) {
                Some(p) => Some(p.target.clone()),
                None => {
                    let now = Instant::now();
                    state
                        .early
                        .retain(|_, at| now.duration_since(*at) < EARLY_INTERRUPT_MEMORY);
                    state.early.insert(id, now);
                    None
                }
            }
        };
        target.is_some_and(|t| t.cancel(id, CancelReason::Interrupted))
    }

    /// Answers every parked call for unmount.
    pub fn cancel_all(&self) -> usize {
        let mut cancelled = 0;
        for (id, _, target) in self.snapshot() {
            if target.cancel(id, CancelReason::ShuttingDown) {
                cancelled += 1;
            }
        }
        cancelled
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::locks::lock(&self.state)
    }
}

/// The thread that sweeps the registry.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How often the watcher checks parked callers. It only stands behind the
/// kernel's interrupts, so it is slow: at about 10 us a check, 10,000
/// parked callers cost 2% of a core.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

impl Watcher {
    pub fn spawn(registry: Arc<Registry>) -> std::io::Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ipcfs-interrupts".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    if !registry.is_empty() {
                        registry.sweep();
                    }
                    // Woken early by `drop`, so that unmount does not wait.
                    std::thread::park_timeout(SWEEP_INTERVAL);
                }
            })?;
        Ok(Watcher {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorder(Mutex<Vec<(WaiterId, CancelReason)>>);
    impl Cancel for Recorder {
        fn cancel(&self, id: WaiterId, why: CancelReason) -> bool {
            self.0.lock().unwrap().push((id, why));
            true
        }
    }

    /// A caller of `uid` whose thread is `tid`.
    fn caller(uid: u32, tid: u32) -> Caller {
        Caller {
            uid,
            gid: uid,
            pid: tid,
        }
    }

    #[test]
    fn an_interrupt_before_parking_is_kept_for_the_call() {
        let registry = Registry::new(WaitLimit::NONE);
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        assert!(!registry.interrupt(7), "nothing parked to cancel yet");
        assert_eq!(
            registry.register(7, &caller(0, 1), recorder.clone()),
            Registered::Interrupted,
            "interrupted first"
        );
        let parked = registry.register(8, &caller(0, 1), recorder.clone());
        assert_eq!(parked, Registered::Parked);
        assert!(registry.interrupt(8));
        assert_eq!(
            *recorder.0.lock().unwrap(),
            vec![(8, CancelReason::Interrupted)]
        );
    }

    #[test]
    fn sweep_cancels_only_signalled_callers() {
        let registry = Registry::new(WaitLimit::NONE);
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let me = unsafe { libc::gettid() } as u32;
        let one = registry.register(1, &caller(0, me), recorder.clone());
        let two = registry.register(2, &caller(0, u32::MAX - 1), recorder.clone());
        assert_eq!([one, two], [Registered::Parked; 2]);
        assert_eq!(registry.sweep(), 1);
        assert_eq!(
            *recorder.0.lock().unwrap(),
            vec![(2, CancelReason::Interrupted)]
        );
        registry.deregister_all([2]);
        assert_eq!(registry.cancel_all(), 1);
        assert_eq!(
            recorder.0.lock().unwrap()[1],
            (1, CancelReason::ShuttingDown)
        );
    }

    #[test]
    fn a_user_waits_in_as_many_calls_as_it_may_and_others_are_not_held() {
        let registry = Registry::new(WaitLimit {
            per_user: 2,
            unlimited: [0, 500],
        });
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let park = |id, uid| registry.register(id, &caller(uid, 1), recorder.clone());
        assert_eq!([park(1, 1000), park(2, 1000)], [Registered::Parked; 2]);
        assert_eq!(park(3, 1000), Registered::TooMany);
        assert_eq!(park(4, 1001), Registered::Parked, "another user");
        for id in 5..10 {
            assert_eq!(park(id, 0), Registered::Parked, "root");
            assert_eq!(park(id + 10, 500), Registered::Parked, "the owner");
        }
        registry.deregister_all([3]);
        assert_eq!(park(6, 1000), Registered::TooMany, "3 never waited");
        registry.deregister_all([1]);
        assert_eq!(park(7, 1000), Registered::Parked, "1 was answered");
    }

    #[test]
    fn calls_answered_together_leave_together() {
        let registry = Registry::new(WaitLimit {
            per_user: 3,
            unlimited: [0, 500],
        });
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let park = |id, uid| registry.register(id, &caller(uid, 1), recorder.clone());
        for id in 1..=3 {
            assert_eq!(park(id, 1000), Registered::Parked);
        }
        assert_eq!(park(4, 1001), Registered::Parked, "another user");
        assert_eq!(park(5, 1000), Registered::TooMany);
        // An id never parked (answered at once) is passed over.
        registry.deregister_all([1, 2, 99, 4]);
        assert_eq!(registry.len(), 1, "3 still waits");
        assert_eq!([park(6, 1000), park(7, 1000)], [Registered::Parked; 2]);
        assert_eq!(park(8, 1000), Registered::TooMany, "3, 6 and 7 wait");
        registry.deregister_all(std::iter::empty());
        assert_eq!(registry.len(), 3);
    }
}
