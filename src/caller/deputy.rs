//! Deputy threads: what the daemon does for a caller that may wait on
//! the outside world (a name server, a path on any filesystem, this mount
//! included) runs on a thread of its own, which serves no request and
//! holds no object's lock. The caller stays parked, and interruptible,
//! meanwhile; the deputy hands its result back the way the reactor does.
//!
//! One thread per errand, made when needed: errands are rare (a connect,
//! a bind) and one that never ends (a resolver that never answers) must
//! hold up no other. Their number is capped, so that a flood of such
//! errands costs threads only up to the cap.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

/// Deputy threads alive at most: past this, an errand is refused with
/// `EAGAIN` until one ends.
pub const MAX_DEPUTIES: usize = 64;

static ALIVE: AtomicUsize = AtomicUsize::new(0);

/// Runs `job` on a new deputy thread.
pub fn spawn(job: impl FnOnce() + Send + 'static) -> Result<()> {
    if ALIVE.fetch_add(1, Ordering::AcqRel) >= MAX_DEPUTIES {
        ALIVE.fetch_sub(1, Ordering::AcqRel);
        log::warn!("{MAX_DEPUTIES} deputy threads are busy already: an errand is refused");
        return Err(Error::WouldBlock);
    }
    /// Counts the thread out however it ends.
    struct Alive;
    impl Drop for Alive {
        fn drop(&mut self) {
            ALIVE.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let started = std::thread::Builder::new()
        .name("ipcfs-deputy".into())
        .spawn(move || {
            let _alive = Alive;
            job();
        });
    started.map(|_| ()).map_err(|e| {
        ALIVE.fetch_sub(1, Ordering::AcqRel);
        log::warn!("cannot start a deputy thread: {e}");
        Error::WouldBlock
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_runs_on_a_thread_of_its_own() {
        let (tx, rx) = std::sync::mpsc::channel();
        spawn(move || {
            let name = std::thread::current().name().map(str::to_string);
            tx.send(name).unwrap();
        })
        .unwrap();
        let name = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(name.as_deref(), Some("ipcfs-deputy"));
    }
}
