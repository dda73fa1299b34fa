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
    target: Arc<dyn Cancel>,
}

/// Every parked call of the daemon, with its caller's thread id, and the
/// interrupts that came for calls not parked (yet).
#[derive(Default)]
pub struct Registry {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    parked: HashMap<WaiterId, Parked>,
    /// Interrupts for calls that were not parked when they came: the call
    /// may still be on its way to parking on another dispatch thread.
    early: HashMap<WaiterId, Instant>,
}

/// How long an interrupt for a call that is not parked is remembered. A
/// call parks within microseconds of arriving or never does.
const EARLY_INTERRUPT_MEMORY: Duration = Duration::from_secs(2);

impl Registry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records a call that just parked. True if its caller was already
    /// interrupted: the caller of `register` must then cancel it (once it
    /// has let go of the object's lock).
    #[must_use]
    pub fn register(&self, id: WaiterId, tid: u32, target: Arc<dyn Cancel>) -> bool {
        let mut state = self.lock();
        state.parked.insert(id, Parked { tid, target });
        state.early.remove(&id).is_some()
    }

    pub fn deregister(&self, id: WaiterId) {
        self.lock().parked.remove(&id);
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
        // A panic while holding this lock cannot leave the maps half-updated
        // (each operation is an insert or a remove), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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

    #[test]
    fn an_interrupt_before_parking_is_kept_for_the_call() {
        let registry = Registry::new();
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        assert!(!registry.interrupt(7), "nothing parked to cancel yet");
        assert!(
            registry.register(7, 1, recorder.clone()),
            "interrupted first"
        );
        assert!(!registry.register(8, 1, recorder.clone()));
        assert!(registry.interrupt(8));
        assert_eq!(
            *recorder.0.lock().unwrap(),
            vec![(8, CancelReason::Interrupted)]
        );
    }

    #[test]
    fn sweep_cancels_only_signalled_callers() {
        let registry = Registry::new();
        let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
        let me = unsafe { libc::gettid() } as u32;
        assert!(!registry.register(1, me, recorder.clone()));
        assert!(!registry.register(2, u32::MAX - 1, recorder.clone()));
        assert_eq!(registry.sweep(), 1);
        assert_eq!(
            *recorder.0.lock().unwrap(),
            vec![(2, CancelReason::Interrupted)]
        );
        registry.deregister(2);
        assert_eq!(registry.cancel_all(), 1);
        assert_eq!(
            recorder.0.lock().unwrap()[1],
            (1, CancelReason::ShuttingDown)
        );
    }
}
