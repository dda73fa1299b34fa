//! Keeps what the kernel caches of synthesized entries bounded.
//!
//! A synthesized entry (`proc/PID`, `sockets/tcp/HOST/PORT`) lives in
//! the tree while the kernel holds lookups on it, and the kernel keeps a
//! looked-up dentry until memory runs short: 100,000 `stat`s of distinct
//! dial paths kept 100,000 entries, ~1.4 KB each. So the tree tracks
//! which synthesized entries the kernel holds, by when they were last
//! looked up ([`Recency`]); past [`HELD_SYNTHESIZED`], the least recently
//! used are handed to [`Forgetting`], whose own thread asks the kernel to
//! drop them (FUSE's NOTIFY_INVAL_ENTRY). The kernel then frees the
//! unused dentries and sends FORGET, which frees the entries; one still
//! in use (an open file, a working directory) stays, and a later lookup
//! finds or makes its entry again.
//!
//! Why a thread of its own: the kernel takes the parent directory's lock
//! for the notification, and a caller may hold that lock while a request
//! of it waits for a thread that serves requests.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::mpsc::{self, SyncSender, TrySendError};

use super::attr::Ino;

/// How many synthesized entries the kernel may hold before it is asked
/// to drop the least recently looked up (a few MiB of the daemon's fixed
/// overhead).
pub const HELD_SYNTHESIZED: usize = 4096;

/// How many requests to drop entries may wait for the kernel; past it,
/// the entries stay tracked and are asked for again at the next lookup.
const WAITING: usize = 1024;

/// One entry the kernel is asked to drop: `name` in `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub parent: Ino,
    pub ino: Ino,
    pub name: Vec<u8>,
}

/// The synthesized entries the kernel holds, by last lookup.
#[derive(Debug, Default)]
pub struct Recency {
    /// Lookup stamp to entry; an entry's current stamp is kept with it
    /// (0: not tracked).
    by_use: BTreeMap<u64, Ino>,
    clock: u64,
}

impl Recency {
    /// `ino` was looked up: it is the most recently used. `stamp` is the
    /// one kept with the entry.
    pub fn used(&mut self, ino: Ino, stamp: &mut u64) {
        self.gone(stamp);
        self.clock += 1;
        *stamp = self.clock;
        self.by_use.insert(self.clock, ino);
    }

    /// The entry is no longer held (forgotten, removed, or asked to be
    /// dropped).
    pub fn gone(&mut self, stamp: &mut u64) {
        if *stamp != 0 {
            self.by_use.remove(stamp);
            *stamp = 0;
        }
    }

    /// How many are tracked.
    pub fn count(&self) -> usize {
        self.by_use.len()
    }

    /// The least recently used entry, and its stamp.
    pub fn oldest(&self) -> Option<(u64, Ino)> {
        self.by_use.first_key_value().map(|(s, i)| (*s, *i))
    }
}

/// Where entries to drop go: a thread that tells the kernel, once the
/// FUSE session has started it. Before that (or without a kernel, in
/// tests) nothing is asked.
#[derive(Default)]
pub struct Forgetting {
    tx: OnceLock<SyncSender<Stale>>,
}

/// Tells the kernel to drop one entry.
pub type Teller = Box<dyn FnMut(&Stale) -> std::io::Result<()> + Send>;

impl Forgetting {
    /// Starts the thread that passes each request to `tell`.
    pub fn start(&self, mut tell: Teller) -> std::io::Result<()> {
        let (tx, rx) = mpsc::sync_channel::<Stale>(WAITING);
        std::thread::Builder::new()
            .name("ipcfs-forget".into())
            .spawn(move || {
                for stale in rx {
                    // Refused when the entry is gone already, or the
                    // session is ending: nothing to do either way.
                    if let Err(e) = tell(&stale) {
                        log::debug!("the kernel did not drop entry {}: {e}", stale.ino);
                    }
                }
            })?;
        if self.tx.set(tx).is_err() {
            log::warn!("entry forgetting started twice; the first goes on");
        }
        Ok(())
    }

    /// Hands `stale` to the thread without waiting; false when it is
    /// not started or has too many waiting already.
    pub fn try_ask(&self, stale: Stale) -> bool {
        match self.tx.get().map(|tx| tx.try_send(stale)) {
            Some(Ok(())) => true,
            Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => false,
        }
    }
}
