//! Deputy threads: what the daemon does for a caller that may wait on
//! the outside world (a name server, a path on any filesystem, this mount
//! included) runs on a thread of its own, which serves no request and
//! holds no object's lock. The caller stays parked, and interruptible,
//! meanwhile; the deputy hands its result back the way the reactor does.
//!
//! One thread per errand, made when needed: errands are rare (a connect,
//! a bind) and one that never ends (a resolver that never answers) must
//! hold up no other. Their number is capped, in all and for each user,
//! so that a flood of such errands costs threads only up to the cap, and
//! one user's flood leaves the other users deputies.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Deputy threads alive at most: past this, an errand is refused with
/// `EAGAIN` until one ends.
pub const MAX_DEPUTIES: usize = 64;

/// Deputy threads of one user at most, so that one user's errands that
/// never end (a resolver that never answers) leave the others theirs.
pub const MAX_DEPUTIES_PER_USER: usize = 8;

/// Deputy threads alive, by the user they work for.
static ALIVE: Mutex<Option<HashMap<u32, usize>>> = Mutex::new(None);

fn alive() -> std::sync::MutexGuard<'static, Option<HashMap<u32, usize>>> {
    crate::locks::lock(&ALIVE)
}

/// Takes a place for a deputy of `uid`, if one is free.
fn take_place(uid: u32) -> Result<()> {
    let mut guard = alive();
    let counts = guard.get_or_insert_with(HashMap::new);
    let total: usize = counts.values().sum();
    let mine = counts.get(&uid).copied().unwrap_or(0);
    if total >= MAX_DEPUTIES {
        log::warn!("{MAX_DEPUTIES} deputy threads are busy: an errand of uid {uid} is refused");
        return Err(Error::WouldBlock);
    }
    if mine >= MAX_DEPUTIES_PER_USER {
        log::info!(
            "uid {uid} has {MAX_DEPUTIES_PER_USER} errands in progress already: another is refused"
        );
        return Err(Error::WouldBlock);
    }
    counts.insert(uid, mine + 1);
    Ok(())
}

fn give_place(uid: u32) {
    let mut guard = alive();
    if let Some(counts) = guard.as_mut() {
        match counts.get(&uid).copied() {
            Some(n) if n > 1 => {
                counts.insert(uid, n - 1);
            }
            _ => {
                counts.remove(&uid);
            }
        }
    }
}

/// Runs `job` on a new deputy thread, for user `uid` (whose share of the
/// deputies it takes until it ends).
pub fn spawn(uid: u32, job: impl FnOnce() + Send + 'static) -> Result<()> {
    take_place(uid)?;
    /// Gives the place back however the thread ends.
    struct Place(u32);
    impl Drop for Place {
        fn drop(&mut self) {
            give_place(self.0);
        }
    }
    let started = std::thread::Builder::new()
        .name("ipcfs-deputy".into())
        .spawn(move || {
            let _place = Place(uid);
            job();
        });
    started.map(|_| ()).map_err(|e| {
        give_place(uid);
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
        spawn(4242, move || {
            let name = std::thread::current().name().map(str::to_string);
            tx.send(name).unwrap();
        })
        .unwrap();
        let name = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(name.as_deref(), Some("ipcfs-deputy"));
    }

    #[test]
    fn one_user_has_a_share_of_the_deputies() {
        let uid = 4243;
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = std::sync::Arc::new(Mutex::new(hold));
        for _ in 0..MAX_DEPUTIES_PER_USER {
            let hold = hold.clone();
            spawn(uid, move || {
                let _ = hold.lock().unwrap().recv();
            })
            .unwrap();
        }
        assert_eq!(spawn(uid, || {}), Err(Error::WouldBlock), "past its share");
        let (tx, rx) = std::sync::mpsc::channel();
        spawn(uid + 1, move || tx.send(()).unwrap()).expect("another user's errand");
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        drop(release);
    }
}
