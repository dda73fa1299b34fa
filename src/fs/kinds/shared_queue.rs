//! A queue kept in a store shared by several mounts (`--queue-store`):
//! the core's [`RemoteQueue`] in a cell, the store's answers routed back
//! to it, and the names of `queues/` kept as the store has them.
//!
//! Names: a queue made here (`touch`) is made in the store; one made by
//! another mount appears here when the store says so (its change, or the
//! look taken after every reconnect). A removal goes both ways alike. A
//! queue made here while the store is out of reach is made there when it
//! is reached again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::error::{Error, Result};
use crate::fs::Shared;
use crate::fs::attr::{Ino, Meta, Time};
use crate::fs::cell::{Cell, truncate_stream};
use crate::fs::forgetting::{Forgetting, Stale};
use crate::fs::node::{AttributeNames, FileKind, Node};
use crate::fs::reply::{Call, FsParking, ParkedOpen, Replies};
use crate::fs::tree::{self, Tree};
use crate::fs::xattr;
use crate::ipc::StreamObject;
use crate::ipc::channel::{Faults, status_column};
use crate::ipc::compose::Framing;
use crate::ipc::queue::store::{Change, Counts, QueueSettings, Store, StoreOp};
use crate::ipc::queue::{RemoteQueue, StoredCharge};
use crate::ipc::status::StatusRow;
use crate::memory::Account;
use crate::remote::{Incarnation, Listener, RedisStore, StoredQueue};

/// A shared queue's attributes: its settings (the same on every mount)
/// and counters (`messages` the queue's, the others this mount's; the
/// channel's, what it did to the messages taken here).
pub const ATTRIBUTES: AttributeNames = AttributeNames {
    settings: crate::ipc::channel::with_fault_settings![
        "max_messages",
        "max_message_size",
        "framing",
    ],
    counters: crate::ipc::channel::with_channel_counters![
        "messages", "bytes", "sent", "received", "dropped", "readers", "writers", "blocked",
    ],
};

type SharedCell<R> = Cell<RemoteQueue<FsParking<R>>, R>;

pub struct SharedQueueKind<R: Replies> {
    cell: Arc<SharedCell<R>>,
    store: Arc<RedisStore>,
    made: Arc<Incarnation>,
    /// `st_size`: the mount's largest write (see attr.rs).
    size: u64,
}

/// The store as one queue's cell sees it: each step asked under the
/// queue's name, for the user the queue says, each answer handed to the
/// cell as served for that same user (what the answer leads the queue to
/// ask is that user's doing: ipc/queue/remote/users.rs).
struct CellStore<R: Replies> {
    store: Arc<RedisStore>,
    name: Vec<u8>,
    made: Arc<Incarnation>,
    cell: OnceLock<Weak<SharedCell<R>>>,
}

impl<R: Replies> Store for CellStore<R> {
    fn send(&self, seq: u64, user: u32, op: StoreOp) {
        let cell = self.cell.get().cloned().unwrap_or_default();
        let done = Box::new(move |result| {
            if let Some(cell) = cell.upgrade() {
                cell.update(|q, wk| {
                    q.serving(Some(user));
                    q.stored(seq, result, wk)
                });
            }
        });
        self.store.ask(user, &self.name, &self.made, op, done);
    }
}

/// A queue as the store has it, or as this mount makes it.
struct Shown<'a> {
    name: &'a [u8],
    made: String,
    settings: QueueSettings,
    counts: Counts,
    /// Made here: the store has not yet said whether it is this mount's
    /// queue or one another mount made first.
    creating: bool,
}

/// A shared queue's node.
fn node<R: Replies>(
    shared: &Arc<Shared<R>>,
    store: &Arc<RedisStore>,
    q: Shown,
    account: Arc<Account>,
) -> Node<R> {
    let c = &shared.config;
    let made = match q.creating {
        true => Incarnation::proposed(q.made),
        false => Incarnation::known(q.made),
    };
    let seam = Arc::new(CellStore::<R> {
        store: store.clone(),
        name: q.name.to_vec(),
        made: made.clone(),
        cell: OnceLock::new(),
    });
    let mut queue = RemoteQueue::new(
        seam.clone(),
        q.settings,
        q.counts.messages,
        StoredCharge::new(&store.usage, account.uid(), q.name.len(), q.counts),
        account,
    );
    if q.creating {
        queue.await_creation();
    }
    let cell = Cell::new(queue, shared.clone());
    let _ = seam.cell.set(Arc::downgrade(&cell));
    Node::File(Arc::new(SharedQueueKind {
        cell,
        store: store.clone(),
        made,
        size: c.io.max_write() as u64,
    }))
}

/// The maker of `queues/` files with a store: a queue of the mount's
/// default settings, made in the store once named (`FileKind::named`).
pub fn make<R: Replies>(
    shared: &Arc<Shared<R>>,
    name: &[u8],
    account: Arc<Account>,
) -> Result<Node<R>> {
    let store = shared.queue_store.as_ref().ok_or(Error::NotSupported)?;
    if !store.usage.may_make(account.uid(), name.len()) {
        return Err(Error::NoSpace);
    }
    let settings = QueueSettings {
        max_messages: shared.config.queue_max_messages,
        max_message_size: shared.config.queue_max_message_size,
        framing: shared.config.queue_framing,
        faults: shared.config.faults,
    };
    let shown = Shown {
        name,
        made: store.new_incarnation(),
        settings,
        counts: Counts::default(),
        creating: true,
    };
    Ok(node(shared, store, shown, account))
}

impl<R: Replies> FileKind<R> for SharedQueueKind<R> {
    fn size(&self) -> u64 {
        self.size
    }

    fn open(&self, _shared: &Arc<Shared<R>>, call: &Call, parked: ParkedOpen<R>, flags: i32) {
        self.cell.open_with_flags(call, parked, flags);
    }

    fn truncate(&self, size: u64) -> Result<()> {
        truncate_stream(size)
    }

    fn attribute_names(&self) -> AttributeNames {
        ATTRIBUTES
    }

    fn attribute(&self, field: &str) -> Result<String> {
        let q = self.cell.lock();
        let (s, c) = (q.settings(), q.counters());
        Ok(match field {
            "max_messages" => s.max_messages.to_string(),
            "max_message_size" => s.max_message_size.to_string(),
            "framing" => q.framing().name().to_string(),
            "messages" => c.messages.to_string(),
            "bytes" => c.bytes.to_string(),
            "sent" => c.sent.to_string(),
            "received" => c.received.to_string(),
            "dropped" => c.dropped.to_string(),
            "readers" => c.readers.to_string(),
            "writers" => c.writers.to_string(),
            "blocked" => c.blocked.to_string(),
            other => match (s.faults.get(other), q.channel_counters().get(other)) {
                (Some(setting), _) => setting,
                (_, Some(count)) => count.to_string(),
                _ => return Err(Error::NoAttribute),
            },
        })
    }

    fn set_attribute(&self, field: &str, value: &str) -> Result<()> {
        match field {
            "max_messages" => {
                let n = xattr::number(value)?;
                self.cell.update(|q, wk| q.set_max_messages(n, wk))
            }
            "max_message_size" => {
                let n = xattr::number(value)?;
                let cap = self.cell.shared().config.io.max_message();
                self.cell.update(|q, _| q.set_max_message_size(n, cap))
            }
            "framing" => {
                let framing = Framing::parse(value)?;
                self.cell.update(|q, _| q.set_framing(framing))
            }
            f if Faults::SETTINGS.contains(&f) => self.cell.update(|q, _| q.set_fault(f, value)),
            _ => Err(Error::NotSupported),
        }
    }

    fn status(&self, row: StatusRow) -> Option<StatusRow> {
        let q = self.cell.lock();
        let c = q.counters();
        Some(StatusRow {
            kind: "queue",
            bytes: Some(c.bytes),
            messages: Some(c.messages),
            framing: Some(q.framing().name()),
            readers: Some(c.readers),
            writers: Some(c.writers),
            blocked: Some(c.blocked),
            channel: status_column(q.settings().faults, q.channel_counters()),
            ..row
        })
    }

    fn shut_down(&self) {
        self.cell.shut_down();
    }

    fn named(&self, name: &[u8], meta: &Meta) {
        let settings = self.cell.lock().settings();
        let queue = StoredQueue {
            name: name.to_vec(),
            made: self.made.get(),
            settings,
            uid: meta.uid,
            gid: meta.gid,
            mode: u32::from(meta.perm),
            counts: Counts::default(),
        };
        let cell = Arc::downgrade(&self.cell);
        let done = Box::new(move |created| {
            if let Some(cell) = cell.upgrade() {
                cell.update(|q, wk| q.created(created, wk));
            }
        });
        self.store.create(queue, self.made.clone(), done);
    }

    fn owner_changed(&self, name: &[u8], meta: &Meta) {
        let changes = [
            ("uid", meta.uid.to_string()),
            ("gid", meta.gid.to_string()),
            ("mode", meta.perm.to_string()),
        ];
        for (field, value) in changes {
            let done = Box::new(move |result: Result<crate::ipc::queue::store::Stored>| {
                if let Err(e) = result {
                    log::warn!("shared queue: its {field} not changed in the store: {e}");
                }
            });
            let op = StoreOp::Set { field, value };
            // For the owner it now has: the caller of chown or chmod is
            // not known here.
            self.store.ask(meta.uid, name, &self.made, op, done);
        }
    }

    fn unnamed(&self, name: &[u8]) {
        let owner = self.cell.lock().owner();
        self.store.remove(owner, name, self.made.get());
        self.store_changed(Change::Removed);
    }

    fn renamable(&self) -> bool {
        false
    }

    fn store_changed(&self, change: Change) {
        self.cell.update(|q, wk| q.changed(change, wk));
    }

    fn incarnation(&self) -> Option<(String, bool)> {
        Some((self.made.get(), self.made.is_settled()))
    }
}

/// What keeps `queues/` as the store has it: told of every change by the
/// store's listener thread (never a thread that serves the filesystem).
pub struct SharedQueues<R: Replies> {
    shared: Weak<Shared<R>>,
    tree: Weak<Mutex<Tree<Node<R>>>>,
    store: Arc<RedisStore>,
    /// Asks the kernel to drop the names other mounts removed: an entry
    /// the kernel keeps cached keeps its node, and the node its owner's
    /// charge, until the kernel forgets it.
    forgetting: Arc<Forgetting>,
}

/// Loads the store's queues into `queues/` and starts listening for
/// changes. At mount, before the filesystem serves: a store out of reach
/// is logged, and its queues appear once it is reached.
pub fn share<R: Replies>(
    shared: &Arc<Shared<R>>,
    tree: &Arc<Mutex<Tree<Node<R>>>>,
    store: &Arc<RedisStore>,
    forgetting: &Arc<Forgetting>,
) -> Result<()> {
    let queues = Arc::new(SharedQueues {
        shared: Arc::downgrade(shared),
        tree: Arc::downgrade(tree),
        store: store.clone(),
        forgetting: forgetting.clone(),
    });
    match store.load(None) {
        Ok(stored) => queues.adopt(stored, true),
        Err(e) => {
            log::warn!("queue store not reached at mount ({e}): its queues appear once it is")
        }
    }
    store.listen(queues)
}

impl<R: Replies> SharedQueues<R> {
    /// The inode of `queues/`.
    fn dir(tree: &Tree<Node<R>>) -> Option<Ino> {
        tree.child(tree::ROOT, b"queues").map(|e| e.ino)
    }

    /// Makes the nodes of the store's queues this mount does not have;
    /// with `all` (every queue of the store), takes away the shared
    /// queues the store no longer has (those made here while it was out
    /// of reach excepted).
    fn adopt(&self, stored: Vec<StoredQueue>, all: bool) {
        let (Some(shared), Some(tree)) = (self.shared.upgrade(), self.tree.upgrade()) else {
            return;
        };
        let names: HashSet<Vec<u8>> = stored.iter().map(|q| q.name.clone()).collect();
        let mut tree = crate::fs::lock(&tree);
        let Some(dir) = Self::dir(&tree) else {
            return;
        };
        // Told they are removed once the tree is let go: their cells are
        // not locked under the tree's lock.
        let mut removed = Vec::new();
        for q in stored {
            if let Some(e) = tree.child(dir, &q.name) {
                let ino = e.ino;
                let incarnation = match &e.node {
                    Node::File(kind) => kind.incarnation(),
                    _ => None,
                };
                match incarnation {
                    // Known (or being made here: its create's answer
                    // says which queue it is): its owner and mode as the
                    // store has them.
                    Some((made, settled)) if made == q.made || !settled => {
                        let e = tree.get_mut(ino).expect("a child exists");
                        (e.meta.uid, e.meta.gid) = (q.uid, q.gid);
                        e.meta.perm = (q.mode & 0o7777) as u16;
                        continue;
                    }
                    // Removed and made again while this mount did not hear.
                    _ => removed.extend(self.take_away(&mut tree, dir, &q.name)),
                }
            }
            let account = shared.budget.account(q.uid);
            let shown = Shown {
                name: &q.name,
                made: q.made.clone(),
                settings: q.settings,
                counts: q.counts,
                creating: false,
            };
            let node = node(&shared, &self.store, shown, account);
            let meta = Meta::new(q.uid, q.gid, q.mode as u16);
            if let Err(e) = tree.create(dir, &q.name, meta, node) {
                log::info!(
                    "shared queue {} not shown: {e}",
                    String::from_utf8_lossy(&q.name)
                );
            }
        }
        if all {
            let gone: Vec<Vec<u8>> = tree
                .list(dir, 0)
                .map(|e| e.name.to_vec())
                .filter(|n| !names.contains(n) && !self.store.is_unstored(n))
                .collect();
            for name in gone {
                removed.extend(self.take_away(&mut tree, dir, &name));
            }
        }
        drop(tree);
        for kind in removed {
            kind.store_changed(Change::Removed);
        }
    }

    /// Takes queue `name` out of `queues/`: the store no longer has it.
    /// The caller tells the queue (`Change::Removed`: its descriptors fail
    /// `EIDRM` from now on) once it lets the tree go.
    fn take_away(
        &self,
        tree: &mut Tree<Node<R>>,
        dir: Ino,
        name: &[u8],
    ) -> Option<Arc<dyn FileKind<R>>> {
        let (ino, kind) = match tree.child(dir, name) {
            Some(e) => match &e.node {
                Node::File(kind) => (e.ino, Some(kind.clone())),
                _ => (e.ino, None),
            },
            None => return None,
        };
        tree.remove_name(dir, name);
        let stale = Stale {
            parent: dir,
            ino,
            name: name.to_vec(),
        };
        if !self.forgetting.try_ask(stale) {
            log::debug!("the kernel was not asked to drop a removed queue's name");
        }
        kind
    }

    /// The file kind of queue `name`, if this mount shows it.
    fn kind(&self, name: &[u8]) -> Option<Arc<dyn FileKind<R>>> {
        let tree = self.tree.upgrade()?;
        let tree = crate::fs::lock(&tree);
        let dir = Self::dir(&tree)?;
        match &tree.child(dir, name)?.node {
            Node::File(kind) => Some(kind.clone()),
            _ => None,
        }
    }

    /// Sets the owner, group or mode of queue `name` as the store says.
    fn set_owner(&self, name: &[u8], field: &str, n: u32) {
        let Some(tree) = self.tree.upgrade() else {
            return;
        };
        let mut tree = crate::fs::lock(&tree);
        let Some(ino) = Self::dir(&tree)
            .and_then(|dir| tree.child(dir, name))
            .map(|e| e.ino)
        else {
            return;
        };
        let Some(e) = tree.get_mut(ino) else {
            return;
        };
        match field {
            "uid" => {
                e.meta.uid = n;
                if let Some(account) = &e.charge {
                    account.set_owner(n);
                }
            }
            "gid" => e.meta.gid = n,
            _ => e.meta.perm = (n & 0o7777) as u16,
        }
        e.meta.ctime = Time::now();
    }

    fn look_again(&self) {
        match self.store.load(None) {
            Ok(stored) => self.adopt(stored, true),
            Err(e) => log::info!("queue store: queues not listed: {e}"),
        }
    }
}

impl<R: Replies> Listener for SharedQueues<R> {
    /// Reads that queue alone: a mount with thousands of queues does not
    /// read them all at each one made.
    fn created(&self, name: &[u8], made: &str) {
        let known = self.kind(name).and_then(|kind| kind.incarnation());
        if known.is_some_and(|(known, settled)| known == made || !settled) {
            return;
        }
        match self.store.load(Some(&[name.to_vec()])) {
            Ok(stored) => self.adopt(stored, false),
            Err(e) => log::info!("queue store: a new queue not read: {e}"),
        }
    }

    fn removed(&self, name: &[u8], made: &str) {
        let Some(tree) = self.tree.upgrade() else {
            return;
        };
        let mut tree = crate::fs::lock(&tree);
        let Some(dir) = Self::dir(&tree) else {
            return;
        };
        let shown = match tree.child(dir, name).map(|e| &e.node) {
            Some(Node::File(kind)) => kind.incarnation(),
            _ => None,
        };
        // Another queue now has the name here: it stays.
        if shown.is_some_and(|(shown, _)| shown == made) {
            let kind = self.take_away(&mut tree, dir, name);
            drop(tree);
            if let Some(kind) = kind {
                kind.store_changed(Change::Removed);
            }
        }
    }

    fn changed(&self, name: &[u8], change: Change) {
        // Owner, group and mode are the name's, in the tree; the rest the
        // queue's.
        if let Change::Set { field, value } = &change {
            if let ("uid" | "gid" | "mode", Ok(n)) = (field.as_str(), value.parse::<u32>()) {
                self.set_owner(name, field, n);
                // A new owner pays for the queue in the server too.
                if let ("uid", Some(kind)) = (field.as_str(), self.kind(name)) {
                    kind.store_changed(change);
                }
                return;
            }
        }
        if let Some(kind) = self.kind(name) {
            kind.store_changed(change);
        }
    }

    fn reconnected(&self) {
        self.store.create_unstored();
        self.look_again();
        let Some(tree) = self.tree.upgrade() else {
            return;
        };
        let kinds: Vec<Arc<dyn FileKind<R>>> = {
            let tree = crate::fs::lock(&tree);
            let Some(dir) = Self::dir(&tree) else {
                return;
            };
            tree.list(dir, 0)
                .filter_map(|e| match &e.node {
                    Node::File(kind) => Some(kind.clone()),
                    _ => None,
                })
                .collect()
        };
        for kind in kinds {
            kind.store_changed(Change::Reconnected);
        }
    }
}
