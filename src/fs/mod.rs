//! The filesystem's operations, in plain types: every FUSE request but
//! the decoding and the reply. Unit-tested without a mount (`tests/`).
//!
//! Calls that finish at once return a `Result`. Calls that may wait
//! (open, read, write, flush) take the adapter's reply object and answer it
//! through [`Replies`] — now, or later from the call that lets them
//! finish. Nothing here blocks a thread on an IPC wait.
//!
//! Lock order: the tree's lock, then an object's lock (status rows and
//! attributes read objects under the tree's lock); an object's lock is
//! never held while the tree's is taken.

pub mod attr;
pub mod cell;
mod child_order;
mod entry_map;
mod entry_name;
pub mod forgetting;
pub mod handles;
pub mod kinds;
mod name_index;
mod names;

pub(crate) use self::names::insert_object_dir;
pub mod node;
pub mod reply;
mod timer;
pub mod tree;
pub mod xattr;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use self::attr::{Attr, FileType, Ino, Meta, OpenStyle, Time};
use self::forgetting::{ENTRY_COST, Forgetting, HELD_SYNTHESIZED};
use self::handles::HandleTable;
use self::kinds::text::TextFile;
use self::node::{Children, FileKind, Node, ObjectDir, OpenFile};
use self::reply::{Call, Opened, ParkedOpen, Reference, Replies};
use self::tree::{Entry, Tree};
use crate::caller::{Caller, proc};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::interrupt::{Registry, WaitLimit};
use crate::ipc::policy;
use crate::ipc::status::README;
use crate::memory::MemoryBudget;
use crate::reactor::Reactor;

/// State shared by the fs layer, the objects' cells and the interrupt
/// watcher.
pub struct Shared<R: Replies> {
    pub registry: Arc<Registry>,
    pub handles: HandleTable<R>,
    pub budget: Arc<MemoryBudget>,
    pub config: Config,
    /// The one thread that watches descriptors (sockets) for the objects
    /// that own them.
    pub reactor: Arc<Reactor>,
    /// Where `queues/` lives when not in this daemon (`--queue-store`).
    pub queue_store: Option<Arc<crate::remote::RedisStore>>,
    /// Set at unmount: no call parks from then on.
    shutting_down: AtomicBool,
    /// Entries whose create's open failed: the kernel holds no reference
    /// to them, though one was counted (`Reference`); forgotten at the
    /// tree's next use.
    pub unreferenced: Arc<Mutex<Vec<Ino>>>,
    /// Whether `shm/` files are opened with passthrough (their mappings
    /// map the memory file): set when the kernel agreed to it at init,
    /// cleared if registering a file with it ever fails.
    passthrough: AtomicBool,
    /// Objects that must outlive their callers (a stream endpoint still
    /// sending bytes it told a writer went in, its descriptors closed),
    /// held here by their cells' addresses until they need not; unmount
    /// shuts them down.
    outliving: Mutex<std::collections::HashMap<usize, Arc<dyn Outlives>>>,
}

/// A cell the mount holds alive (see [`Shared::hold`]).
pub trait Outlives: Send + Sync {
    /// Ends what it does by itself, for unmount.
    fn shut_down(&self);
}

impl<R: Replies> Shared<R> {
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub fn passthrough(&self) -> bool {
        self.passthrough.load(Ordering::SeqCst)
    }

    /// Holds `cell` (at address `key`) alive until [`Shared::let_go`].
    /// False, holding nothing, once the daemon shuts down: unmount takes
    /// the held cells under the same lock after it set the flag, so a cell
    /// is either taken by it or told to shut down itself.
    pub fn hold(&self, key: usize, cell: Arc<dyn Outlives>) -> bool {
        let mut held = crate::locks::lock(&self.outliving);
        if self.is_shutting_down() {
            return false;
        }
        held.insert(key, cell);
        true
    }

    /// What [`Shared::hold`] held at `key`, given back for the caller to
    /// drop (outside any lock of that cell's).
    pub fn let_go(&self, key: usize) -> Option<Arc<dyn Outlives>> {
        crate::locks::lock(&self.outliving).remove(&key)
    }

    /// Says whether `shm/` files are to be opened with passthrough.
    pub fn set_passthrough(&self, on: bool) {
        self.passthrough.store(on, Ordering::SeqCst);
    }

    /// Installs `file` as a new open file description of `parked`'s node
    /// and answers the open with its handle.
    pub fn answer_open(&self, parked: ParkedOpen<R>, file: Arc<dyn OpenFile<R>>, style: OpenStyle) {
        let (reply, opened) = self.install(parked, file, style);
        R::opened(reply, Ok(opened));
    }

    /// As [`Shared::answer_open`], for an open the kernel serves from
    /// `backing` (passthrough).
    pub fn answer_open_backed(
        &self,
        parked: ParkedOpen<R>,
        file: Arc<dyn OpenFile<R>>,
        style: OpenStyle,
        backing: &R::Backing,
    ) {
        let (reply, opened) = self.install(parked, file, style);
        R::opened_with_backing(reply, opened, backing);
    }

    /// Puts `file` in the handle table: the reply to answer, and what.
    fn install(
        &self,
        parked: ParkedOpen<R>,
        file: Arc<dyn OpenFile<R>>,
        style: OpenStyle,
    ) -> (R::Open, Opened) {
        let fh = self.handles.insert(parked.ino, file, style);
        parked.reference.keep();
        let opened = Opened {
            fh,
            style,
            created: parked.created,
        };
        (parked.reply, opened)
    }
}

/// A name's answer to `lookup`: its attributes, and whether the kernel
/// may cache the name (not under `proc/`, where processes come and go and
/// `self` differs per caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub attr: Attr,
    pub cacheable: bool,
}

/// A time `setattr` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSet {
    Now,
    At(SystemTime),
}

/// What a `setattr` asks to change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttrChange {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeSet>,
    pub mtime: Option<TimeSet>,
}

impl AttrChange {
    /// A chmod and nothing else.
    fn is_mode_only(&self) -> bool {
        self.mode.is_some()
            && self.uid.is_none()
            && self.gid.is_none()
            && self.size.is_none()
            && self.atime.is_none()
            && self.mtime.is_none()
    }
}

/// setxattr(2)'s flags: `XATTR_CREATE` fails on a name that exists,
/// `XATTR_REPLACE` on one that does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetHow {
    Any,
    Create,
    Replace,
}

/// `renameat2(2)`'s flags that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameFlags {
    Plain,
    NoReplace,
    /// `RENAME_EXCHANGE` or `RENAME_WHITEOUT`: not supported (`EINVAL`).
    Other,
}

/// Where and how a `read` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAt {
    pub offset: u64,
    pub size: usize,
    pub nonblock: bool,
    /// The kernel fills its page cache (see [`Fs::read`]).
    pub via_page_cache: bool,
}

/// One directory entry as `readdir` hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry<'a> {
    pub ino: Ino,
    /// The cookie to resume after this entry.
    pub offset: u64,
    pub file_type: FileType,
    pub name: &'a [u8],
}

/// What `statfs` reports: blocks of 4 KiB from the memory cap, and files
/// (objects) in use and free, whose sum is the total, so that `df -i`
/// shows what is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub blocks: u64,
    pub free_blocks: u64,
    pub files: u64,
    pub free_files: u64,
}

impl Usage {
    /// Objects the mount could hold: those made and those free.
    pub fn total_files(&self) -> u64 {
        self.files + self.free_files
    }
}

/// The free objects `statfs` reports: no fixed limit but memory.
pub const FREE_FILES: u64 = u32::MAX as u64;

pub struct Fs<R: Replies> {
    pub shared: Arc<Shared<R>>,
    tree: Arc<Mutex<Tree<Node<R>>>>,
    /// Asks the kernel to drop synthesized entries it no longer uses
    /// (forgetting.rs); started by the FUSE session.
    pub forgetting: Arc<Forgetting>,
}

pub(crate) fn lock<R: Replies>(tree: &Mutex<Tree<Node<R>>>) -> MutexGuard<'_, Tree<Node<R>>> {
    crate::locks::lock(tree)
}

impl<R: Replies> Fs<R> {
    /// The filesystem with its fixed tree, owned by `owner` (uid, gid):
    /// `README`, `status`, the object directories and `proc/`. It starts
    /// the reactor's thread; [`Fs::shut_down`] stops it.
    pub fn new(config: Config, owner: (u32, u32)) -> std::io::Result<Fs<R>> {
        let waiting = WaitLimit {
            per_user: config.max_waiting_per_user,
            unlimited: [0, owner.0],
        };
        let queue_store = match &config.queue_store {
            Some(q) => Some(
                crate::remote::RedisStore::start(
                    crate::remote::store_config(q)?,
                    config.user_limits().bytes,
                )
                .map_err(|e| std::io::Error::from_raw_os_error(e.errno()))?,
            ),
            None => None,
        };
        let shared = Arc::new(Shared {
            queue_store,
            registry: Registry::new(waiting),
            handles: HandleTable::default(),
            budget: MemoryBudget::with_user_limits(config.max_memory, config.user_limits()),
            config,
            reactor: Reactor::start()?,
            shutting_down: AtomicBool::new(false),
            unreferenced: Arc::default(),
            passthrough: AtomicBool::new(false),
            outliving: Mutex::default(),
        });
        let (uid, gid) = owner;
        let meta = |perm| Meta::new(uid, gid, perm);
        let tree = Arc::new(Mutex::new(Tree::new(
            Node::Dir(Children::Fixed),
            meta(0o755),
        )));
        {
            let weak = Arc::downgrade(&tree);
            let mut t = lock(&tree);
            let root = tree::ROOT;
            t.insert_fixed(root, "README", meta(0o444), TextFile::fixed(README));
            let status = TextFile::generated(move || kinds::status::text(&weak).into_bytes());
            t.insert_fixed(root, "status", meta(0o444), status);
            for dir in kinds::object_dirs(&shared.config) {
                let name = dir.name;
                t.insert_fixed(root, name, meta(0o1777), Node::Dir(Children::Listed(dir)));
            }
            t.insert_fixed(root, "proc", meta(0o555), kinds::proc::root());
        }
        let forgetting = Arc::new(Forgetting::default());
        if let Some(store) = &shared.queue_store {
            kinds::shared_queue::share(&shared, &tree, store, &forgetting)
                .map_err(|e| std::io::Error::from_raw_os_error(e.errno()))?;
        }
        Ok(Fs {
            shared,
            tree,
            forgetting,
        })
    }

    /// The tree, with the references of failed creates forgotten first.
    fn tree(&self) -> MutexGuard<'_, Tree<Node<R>>> {
        let mut tree = lock(&self.tree);
        let unreferenced = std::mem::take(&mut *crate::locks::lock(&self.shared.unreferenced));
        for ino in unreferenced {
            tree.forget(ino, 1);
        }
        tree
    }

    /// Parked calls right now.
    pub fn parked(&self) -> usize {
        self.shared.registry.len()
    }

    /// Answers every parked call (readers see end of file, writers and
    /// openers `ESHUTDOWN`) and keeps any later call from parking.
    pub fn shut_down(&self) -> usize {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        // No new backlog from now on: the ones there are now are handed to
        // the kernel below (a dial file's cell is not in the tree, and
        // could otherwise make one at any time until the daemon exits).
        crate::ipc::socket::sys::stop_answering_early();
        let parked = self.shared.registry.len();
        let nodes: Vec<Node<R>> = self.tree().all().map(|e| e.node.clone()).collect();
        for node in nodes {
            match node {
                Node::File(file) => file.shut_down(),
                Node::Dir(Children::Object(object)) => object.shut_down(),
                _ => {}
            }
        }
        // Objects that outlive their callers, named or not (a dial file's
        // connection still sending, its descriptors closed or not).
        let outliving: Vec<Arc<dyn Outlives>> = crate::locks::lock(&self.shared.outliving)
            .drain()
            .map(|(_, cell)| cell)
            .collect();
        for cell in outliving {
            cell.shut_down();
        }
        // Objects whose names and inodes are gone but whose handles are open.
        self.shared.registry.cancel_all();
        self.shared.reactor.shutdown();
        parked
    }

    /// An object made while the daemon began to shut down may have been
    /// made after its cell looked at the flag and put in the tree after
    /// `shut_down` collected the objects: it is shut down here, so that
    /// nothing parks in it. (The tree's lock orders the two: whichever
    /// takes it second sees the other's work.)
    fn shut_down_if_late(&self, tree: &Tree<Node<R>>, ino: Ino) {
        if !self.shared.is_shutting_down() {
            return;
        }
        match tree.get(ino).map(|e| &e.node) {
            Some(Node::File(file)) => file.shut_down(),
            Some(Node::Dir(Children::Object(object))) => object.shut_down(),
            _ => {}
        }
    }

    /// The kernel says call `id` was interrupted.
    pub fn interrupt(&self, id: u64) -> bool {
        self.shared.registry.interrupt(id)
    }

    fn attr(&self, e: &Entry<Node<R>>, caller: &Caller) -> Result<Attr> {
        let size = match &e.node {
            Node::File(f) => f.size(),
            Node::Link(l) => l.target(caller)?.len() as u64,
            Node::Dir(_) => 0,
        };
        Ok(Attr {
            ino: e.ino,
            file_type: e.node.file_type(),
            size,
            meta: e.meta,
        })
    }

    /// How `parent` makes its children, if it is a directory.
    fn children_of(&self, parent: Ino) -> Result<Children<R>> {
        match self.tree().get(parent).map(|e| &e.node) {
            Some(Node::Dir(children)) => Ok(children.clone()),
            Some(_) => Err(Error::NotDirectory),
            None => Err(Error::NotFound),
        }
    }

    /// Finds `name` in `parent`. With `reference` the answer goes to the
    /// kernel, so the entry's lookup count grows (under the same lock, so
    /// that the entry cannot go in between); a mere check (mkdir, rmdir)
    /// must not count one, or the entry of a removed name would never be
    /// freed.
    fn find(&self, caller: &Caller, parent: Ino, name: &[u8], reference: bool) -> Result<Found> {
        let synth = match self.children_of(parent)? {
            Children::Synthesized(synth) => synth,
            children => {
                let mut tree = self.tree();
                if let Some(ino) = tree.child(parent, name).map(|e| e.ino) {
                    if reference {
                        tree.add_lookup(ino);
                    }
                    let entry = tree.get(ino).expect("just found");
                    // An object directory (an endpoint) can lose its name
                    // by itself (an autoclose connection): the kernel must
                    // ask again rather than keep the name.
                    let cacheable = !matches!(entry.node, Node::Dir(Children::Object(_)));
                    let attr = self.attr(entry, caller)?;
                    return Ok(Found { attr, cacheable });
                }
                // Not stored: a name the directory reserves, if any.
                match children {
                    Children::Listed(dir) => dir.reserved.clone().ok_or(Error::NotFound)?,
                    _ => return Err(Error::NotFound),
                }
            }
        };
        // Asked outside the tree's lock: it may read /proc.
        let made = synth.child(name, caller);
        let mut tree = self.tree();
        let (node, meta) = match made {
            Ok(made) => made,
            Err(e) => {
                tree.prune(parent, |n| n != name);
                return Err(e);
            }
        };
        // A name the kernel will hold is charged to the user whose lookup
        // made it, from its share (forgetting.rs).
        let known = tree.child(parent, name).map(|e| e.ino);
        let cost = match known.is_some_and(|ino| tree.has_maker(ino)) || !reference {
            true => None,
            false => match self.shared.budget.account(caller.uid).hold(ENTRY_COST) {
                Some(cost) => Some(cost),
                None => {
                    log::info!("lookup of a made-up name refused: no memory left for its entry");
                    return Err(Error::NoSpace);
                }
            },
        };
        let ino = tree.synthesized(parent, name, meta, node);
        if reference {
            if let Some(cost) = cost {
                tree.set_maker(ino, caller.uid, cost);
            }
            tree.add_lookup(ino);
            // At most half the user's share, so that the names the kernel
            // has yet to forget leave room for new ones.
            let share = self.shared.budget.user_limits().bytes;
            let keep = HELD_SYNTHESIZED.min(share / ENTRY_COST / 2);
            let mut ask = |stale| self.forgetting.try_ask(stale);
            tree.drop_stale(caller.uid, keep, &mut ask);
        }
        let attr = self.attr(tree.get(ino).expect("just made"), caller)?;
        Ok(Found {
            attr,
            cacheable: false,
        })
    }

    /// Whether `name` is one a directory keeps for itself (`sockets/tcp`).
    fn reserved(dir: &ObjectDir<R>, name: &[u8], caller: &Caller) -> bool {
        dir.reserved
            .as_ref()
            .is_some_and(|r| r.child(name, caller).is_ok())
    }

    pub fn lookup(&self, caller: &Caller, parent: Ino, name: &[u8]) -> Result<Found> {
        self.find(caller, parent, name, true)
    }

    pub fn forget(&self, ino: Ino, n: u64) {
        self.tree().forget(ino, n);
    }

    /// Attributes of `ino`; a synthesized node is asked again, so that a
    /// process that is gone is gone.
    pub fn getattr(&self, caller: &Caller, ino: Ino) -> Result<Attr> {
        let (parent, name) = {
            let tree = self.tree();
            let e = tree.get(ino).ok_or(Error::NotFound)?;
            (e.parent, e.name.clone())
        };
        if ino != tree::ROOT {
            if let Children::Synthesized(synth) = self.children_of(parent)? {
                let (node, meta) = synth.child(&name, caller)?;
                let mut tree = self.tree();
                if let Some(e) = tree.get_mut(ino) {
                    e.node = node;
                    e.meta = meta;
                }
            }
        }
        let tree = self.tree();
        self.attr(tree.get(ino).ok_or(Error::NotFound)?, caller)
    }

    /// Whether users made `ino` (it lives in an object directory), and so
    /// own it.
    /// Whether `ino` is a file of an object directory (an endpoint's).
    fn in_object_dir(tree: &Tree<Node<R>>, ino: Ino) -> bool {
        tree.get(ino)
            .and_then(|e| tree.get(e.parent))
            .is_some_and(|p| matches!(p.node, Node::Dir(Children::Object(_))))
    }

    fn made_by_users(&self, tree: &Tree<Node<R>>, ino: Ino) -> bool {
        tree.get(ino)
            .and_then(|e| tree.get(e.parent))
            .is_some_and(|p| matches!(p.node, Node::Dir(Children::Listed(_))))
            && ino != tree::ROOT
    }

    pub fn setattr(&self, caller: &Caller, ino: Ino, change: AttrChange) -> Result<Attr> {
        let mut tree = self.tree();
        if Self::in_object_dir(&tree, ino) && change.is_mode_only() {
            // An endpoint's files are its owner's to share: chmod, by the
            // owner or root, and nothing else.
            let e = tree.get_mut(ino).ok_or(Error::NotFound)?;
            if !policy::may_change_mode(caller, e.meta.uid) {
                return Err(Error::NotPermitted);
            }
            e.meta.perm = (change.mode.unwrap_or(0) & 0o7777) as u16;
            e.meta.ctime = Time::now();
            let e = tree.get(ino).expect("just changed");
            return self.attr(e, caller);
        }
        if !self.made_by_users(&tree, ino) {
            // The daemon's own files take only the truncation of an
            // `O_TRUNC` open, and only where it means something
            // (`echo TERM > proc/PID/signal`).
            let e = tree.get(ino).ok_or(Error::NotFound)?;
            let only_truncation = change.mode.is_none()
                && change.uid.is_none()
                && change.gid.is_none()
                && change.size.is_none_or(|s| s == 0);
            let file = e.node.file().filter(|_| only_truncation);
            file.ok_or(Error::NotPermitted)?
                .truncate(change.size.unwrap_or(0))?;
            drop(tree);
            return self.getattr(caller, ino);
        }
        let e = tree.get_mut(ino).ok_or(Error::NotFound)?;
        let owner = (e.meta.uid, e.meta.gid);
        if let (Some(size), Some(file)) = (change.size, e.node.file()) {
            file.truncate(size)?;
        }
        if change.mode.is_some() && !policy::may_change_mode(caller, owner.0) {
            return Err(Error::NotPermitted);
        }
        if let Some(uid) = change.uid {
            if !policy::may_change_owner(caller, owner.0, uid) {
                return Err(Error::NotPermitted);
            }
        }
        if let Some(gid) = change.gid {
            let groups = || {
                proc::status(caller.pid)
                    .map(|s| s.groups)
                    .unwrap_or_default()
            };
            if !policy::may_change_group(caller, owner, gid, groups) {
                return Err(Error::NotPermitted);
            }
        }
        let explicit = |t: Option<TimeSet>| matches!(t, Some(TimeSet::At(_)));
        let explicit = explicit(change.atime) || explicit(change.mtime);
        if !policy::may_set_times(caller, owner.0, explicit) {
            return Err(Error::NotPermitted);
        }
        let now = Time::now();
        let resolve = |t: TimeSet| match t {
            TimeSet::At(t) => Time::from(t),
            TimeSet::Now => now,
        };
        let m = &mut e.meta;
        if let Some(mode) = change.mode {
            m.perm = (mode & 0o7777) as u16;
        }
        if let Some(uid) = change.uid {
            m.uid = uid;
            if let Some(account) = &e.charge {
                account.set_owner(uid);
            }
        }
        if let Some(gid) = change.gid {
            m.gid = gid;
        }
        if let Some(t) = change.atime {
            m.atime = resolve(t);
        }
        if let Some(t) = change.mtime {
            m.mtime = resolve(t);
        }
        m.ctime = now;
        let e = tree.get(ino).expect("just changed");
        let owner_changed = change.mode.is_some() || change.uid.is_some() || change.gid.is_some();
        if let (true, Some(file)) = (owner_changed, e.node.file()) {
            file.owner_changed(&e.name, &e.meta);
        }
        self.attr(e, caller)
    }

    pub fn readlink(&self, caller: &Caller, ino: Ino) -> Result<Vec<u8>> {
        let link = match self.tree().get(ino).map(|e| &e.node) {
            Some(Node::Link(l)) => l.clone(),
            Some(_) => return Err(Error::InvalidArgument),
            None => return Err(Error::NotFound),
        };
        link.target(caller)
    }

    /// Opens `ino`; the reply is sent now or when the open finishes.
    pub fn open(&self, call: &Call, ino: Ino, flags: i32, reply: R::Open) {
        let parked = ParkedOpen {
            reply,
            ino,
            created: None,
            reference: Reference::none(),
        };
        self.open_parked(call, parked, flags);
    }

    fn open_parked(&self, call: &Call, parked: ParkedOpen<R>, flags: i32) {
        let node = self.tree().get(parked.ino).map(|e| e.node.clone());
        match node {
            Some(Node::File(file)) => file.open(&self.shared, call, parked, flags),
            Some(_) => R::opened(parked.reply, Err(Error::IsDirectory)),
            None => R::opened(parked.reply, Err(Error::NotFound)),
        }
    }

    /// Reads from `fh`. `via_page_cache` says the kernel asks to fill its
    /// page cache (read-ahead, a page fault) rather than for the caller's
    /// read itself: that is how it serves splice(2), sendfile(2) and
    /// private mappings of every file, even a direct-I/O one.
    pub fn read(&self, call: &Call, fh: u64, at: ReadAt, reply: R::Read) {
        let Some(h) = self.shared.handles.get(fh) else {
            return R::data(reply, Err(Error::BadHandle));
        };
        if at.via_page_cache && h.style == OpenStyle::Stream {
            // A stream's read takes its data out: a page-cache read would
            // take bytes from the stream to park them in pages at some
            // offset — lost, or handed out twice — and a page-cache read
            // left waiting holds a page lock that makes the next writer
            // wait where no signal reaches it. Refused at once, with the
            // errno splice(2) gives for a file that cannot splice: callers
            // (pv, sendfile users, cat) fall back to read(2).
            log::info!(
                "a read of a stream file through the page cache (splice, sendfile or \
                 a private mapping) refused: use read(2)"
            );
            return R::data(reply, Err(Error::InvalidArgument));
        }
        h.file.read(call, reply, at.offset, at.size, at.nonblock)
    }

    pub fn write(
        &self,
        call: &Call,
        fh: u64,
        offset: u64,
        data: &[u8],
        nonblock: bool,
        reply: R::Write,
    ) {
        match self.shared.handles.get(fh) {
            Some(h) => h.file.write(call, reply, offset, data, nonblock),
            None => R::written(reply, Err(Error::BadHandle)),
        }
    }

    pub fn poll(&self, fh: u64, notify: Option<(u64, R::Poll)>) -> Result<u32> {
        let h = self.shared.handles.get(fh).ok_or(Error::BadHandle)?;
        Ok(h.file.poll(notify))
    }

    /// A descriptor of `fh` was closed, or `fh` was fsync'ed.
    pub fn flush(&self, call: &Call, fh: u64, reply: R::Flush) {
        match self.shared.handles.get(fh) {
            Some(h) => h.file.flush(call, reply),
            None => R::flushed(reply, Err(Error::BadHandle)),
        }
    }

    pub fn release(&self, fh: u64) {
        if let Some(h) = self.shared.handles.remove(fh) {
            h.file.release();
        }
    }

    /// `fallocate(2)` of `ino`.
    pub fn allocate(&self, ino: Ino, offset: u64, length: u64, mode: i32) -> Result<()> {
        let node = self.tree().get(ino).map(|e| e.node.clone());
        match node {
            Some(Node::File(file)) => file.allocate(offset, length, mode),
            Some(_) => Err(Error::IsDirectory),
            None => Err(Error::NotFound),
        }
    }

    /// The path of `ino` in the mount, for logs.
    pub fn path_of(&self, ino: Ino) -> String {
        self.tree().path(ino)
    }

    /// `lseek(2)` with `SEEK_DATA` or `SEEK_HOLE`.
    pub fn seek_data(&self, ino: Ino, offset: u64, whence: i32) -> Result<u64> {
        let node = self.tree().get(ino).map(|e| e.node.clone());
        match node {
            Some(Node::File(file)) => file.seek_data(offset, whence),
            Some(_) => Err(Error::IsDirectory),
            None => Err(Error::NotFound),
        }
    }

    pub fn statfs(&self) -> Usage {
        let budget = &self.shared.budget;
        let block = 4096u64;
        let tree = self.tree();
        let files = tree
            .list(tree::ROOT, 0)
            .filter(|d| matches!(d.node, Node::Dir(Children::Listed(_))))
            .map(|d| tree.count(d.ino))
            .sum::<usize>();
        Usage {
            blocks: budget.limit() as u64 / block,
            free_blocks: (budget.limit() - budget.used()) as u64 / block,
            files: files as u64,
            free_files: FREE_FILES,
        }
    }

    /// The file kind of `ino`, for its attributes: `NoAttribute` for a
    /// node that has none (a directory, a link).
    fn file_kind(&self, ino: Ino) -> Result<(Arc<dyn FileKind<R>>, u32)> {
        let tree = self.tree();
        let e = tree.get(ino).ok_or(Error::NotFound)?;
        let file = e.node.file().ok_or(Error::NoAttribute)?;
        Ok((file.clone(), e.meta.uid))
    }

    pub fn getxattr(&self, ino: Ino, name: &str) -> Result<Vec<u8>> {
        let (kind, _) = self.file_kind(ino)?;
        xattr::get(kind.as_ref(), name)
    }

    pub fn listxattr(&self, ino: Ino) -> Result<Vec<u8>> {
        match self.file_kind(ino) {
            Ok((kind, _)) => Ok(xattr::list(kind.as_ref())),
            Err(Error::NoAttribute) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Sets a setting. The value is applied outside the tree's lock:
    /// setting a pipe's capacity can wake parked writers.
    pub fn setxattr(&self, caller: &Caller, ino: Ino, name: &str, value: &[u8]) -> Result<()> {
        self.setxattr_how(caller, ino, name, value, SetHow::Any)
    }

    /// setxattr(2) with its flags.
    pub fn setxattr_how(
        &self,
        caller: &Caller,
        ino: Ino,
        name: &str,
        value: &[u8],
        how: SetHow,
    ) -> Result<()> {
        let (kind, owner) = match self.file_kind(ino) {
            Ok(found) => found,
            // No attribute exists here: XATTR_REPLACE finds none to
            // replace, and any other set is of a name we do not store.
            Err(Error::NoAttribute) if how == SetHow::Replace => return Err(Error::NoAttribute),
            Err(Error::NoAttribute) => return Err(Error::NotSupported),
            Err(e) => return Err(e),
        };
        let exists = xattr::get(kind.as_ref(), name).is_ok();
        match how {
            SetHow::Create if exists => return Err(Error::Exists),
            SetHow::Replace if !exists => return Err(Error::NoAttribute),
            _ => {}
        }
        let may_change = policy::may_change_mode(caller, owner);
        xattr::set(kind.as_ref(), name, value, may_change)
    }

    pub fn removexattr(&self, ino: Ino, name: &str) -> Result<()> {
        let (kind, _) = self.file_kind(ino)?;
        xattr::remove(kind.as_ref(), name)
    }
}
