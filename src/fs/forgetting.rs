//! Keeps what the kernel caches of synthesized entries bounded.
//!
//! A synthesized entry (`proc/PID`, `sockets/tcp/HOST/PORT`) lives in
//! the tree while the kernel holds lookups on it, and the kernel keeps a
//! looked-up dentry until memory runs short: 100,000 `stat`s of distinct
//! dial paths kept 100,000 entries, ~1.4 KB each. So each entry is
//! charged to the user whose lookup made it ([`ENTRY_COST`], against
//! that user's share: a lookup past it fails with `ENOSPC`), and the tree
//! tracks which synthesized entries the kernel holds, per user, by when
//! they were last looked up ([`Recency`]); past [`HELD_SYNTHESIZED`] of a
//! user's, that user's least recently used are handed to [`Forgetting`],
//! whose own thread asks the kernel to drop them (FUSE's
//! NOTIFY_INVAL_ENTRY). The kernel then frees the unused dentries and
//! sends FORGET, which frees the entries and their charges; one still in
//! use (an open file, an `O_PATH` descriptor, a working directory) stays,
//! charged, and a later lookup finds or makes its entry again.
//!
//! Why a thread of its own: the kernel takes the parent directory's lock
//! for the notification, and a caller may hold that lock while a request
//! of it waits for a thread that serves requests.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::sync::mpsc::{self, SyncSender, TrySendError};

use super::attr::Ino;

/// How many synthesized entries the kernel may hold for one user's
/// lookups before it is asked to drop that user's least recently looked
/// up (fewer when half the user's share holds fewer).
pub const HELD_SYNTHESIZED: usize = 1024;

/// What a synthesized entry costs the daemon (its record, its name, its
/// node), rounded up, charged to the user whose lookup made it while the
/// kernel holds it (measured: about 600 bytes).
pub const ENTRY_COST: usize = 1024;

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

/// The synthesized entries the kernel holds, by the user whose lookup
/// made each (who pays for it) and by last lookup: each user's oldest go
/// first when that user holds too many, so one user's lookups never make
/// the kernel drop another's names (a working directory, say).
#[derive(Debug, Default)]
pub struct Recency {
    /// Per user, lookup stamp to entry; an entry's current stamp is kept
    /// with it (0: not tracked).
    by_use: HashMap<u32, BTreeMap<u64, Ino>>,
    clock: u64,
}

impl Recency {
    /// `ino`, made by `uid`, was looked up: it is that user's most
    /// recently used. `stamp` is the one kept with the entry.
    pub fn used(&mut self, uid: u32, ino: Ino, stamp: &mut u64) {
        self.gone(uid, stamp);
        self.clock += 1;
        *stamp = self.clock;
        self.by_use.entry(uid).or_default().insert(self.clock, ino);
    }

    /// The entry of `uid` is no longer held (forgotten, removed, or asked
    /// to be dropped).
    pub fn gone(&mut self, uid: u32, stamp: &mut u64) {
        if *stamp == 0 {
            return;
        }
        if let Some(mine) = self.by_use.get_mut(&uid) {
            mine.remove(stamp);
            if mine.is_empty() {
                self.by_use.remove(&uid);
            }
        }
        *stamp = 0;
    }

    /// How many of `uid`'s are tracked.
    pub fn count(&self, uid: u32) -> usize {
        self.by_use.get(&uid).map_or(0, BTreeMap::len)
    }

    /// `uid`'s least recently used entry, and its stamp.
    pub fn oldest(&self, uid: u32) -> Option<(u64, Ino)> {
        let mine = self.by_use.get(&uid)?;
        mine.first_key_value().map(|(s, i)| (*s, *i))
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
