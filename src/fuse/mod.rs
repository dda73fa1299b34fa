//! The FUSE adapter: decodes each request, calls the core, and replies —
//! or, when the core parks the call, leaves the reply with the object.
//! No IPC logic lives here.

pub mod attr;
pub mod cell;
pub mod handles;
pub mod proc;
pub mod xattr;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use fuser::{
    AccessFlags, Errno, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, OpenFlags, PollEvents, PollFlags, PollNotifier, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyPoll, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use self::attr::{ATTR_TTL, ENTRY_TTL, entry_attr, fixed_attr};
use self::cell::{CallId, Cell, FuseParking, OpenReply, ParkedOpen, StreamCell};
use self::handles::{Handle, HandleKind, HandleTable, ProcFile};
use self::proc::ProcNode;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::interrupt::Registry;
use crate::ipc::namespace::{Caller, Dir, Entry, Ino, Meta, Namespace, RenameMode, fixed};
use crate::ipc::pipe::Pipe;
use crate::ipc::queue::Queue;
use crate::ipc::status::{README, StatusRow, render};
use crate::ipc::{Framing, Mode, OpenRequest, ready};
use crate::memory::MemoryBudget;

pub type PipeCell = Cell<Pipe<FuseParking>>;
pub type QueueCell = Cell<Queue<FuseParking>>;

/// What a name in an object directory stands for.
#[derive(Clone)]
pub enum Object {
    /// A pipe served by the daemon (`touch`, `>`, `open(O_CREAT)`).
    Pipe(Arc<PipeCell>),
    /// A FIFO node made by `mkfifo`: the kernel serves its data itself.
    KernelFifo,
    /// A message queue.
    Queue(Arc<QueueCell>),
}

impl Object {
    /// The object's cell, for objects whose data the daemon serves.
    fn stream(&self) -> Option<Arc<dyn StreamCell>> {
        match self {
            Object::Pipe(p) => Some(p.clone()),
            Object::Queue(q) => Some(q.clone()),
            Object::KernelFifo => None,
        }
    }
}

/// State shared by the adapter, the objects and the interrupt watcher.
pub struct Shared {
    pub registry: Arc<Registry>,
    pub handles: HandleTable,
    pub budget: Arc<MemoryBudget>,
    /// Set at unmount: no call parks from then on.
    pub shutting_down: AtomicBool,
}

/// The filesystem's state, shared between fuser's dispatch threads and the
/// daemon's main thread (which shuts it down).
pub struct Core {
    pub shared: Arc<Shared>,
    names: Mutex<Namespace<Object>>,
    config: Config,
    /// uid and gid of the user who mounted: owner of the fixed tree.
    owner: (u32, u32),
}

impl Core {
    pub fn new(config: Config) -> Arc<Core> {
        let shared = Arc::new(Shared {
            registry: Registry::new(),
            handles: HandleTable::default(),
            budget: MemoryBudget::new(config.max_memory),
            shutting_down: AtomicBool::new(false),
        });
        Arc::new(Core {
            shared,
            names: Mutex::new(Namespace::new()),
            config,
            owner: (
                nix::unistd::getuid().as_raw(),
                nix::unistd::getgid().as_raw(),
            ),
        })
    }

    fn names(&self) -> MutexGuard<'_, Namespace<Object>> {
        // Namespace operations validate before they mutate; a panic cannot
        // leave it half-changed, so a poisoned lock is still usable.
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers every parked caller (readers see end of file, writers and
    /// openers `ESHUTDOWN`) and keeps any later call from parking.
    pub fn shut_down(&self) -> usize {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        let parked = self.shared.registry.len();
        let cells: Vec<Arc<dyn StreamCell>> = self
            .names()
            .all()
            .filter_map(|e| e.object.stream())
            .collect();
        for cell in cells {
            cell.shut_down();
        }
        // Pipes whose names and inodes are gone but whose handles are open.
        self.shared.registry.cancel_all();
        parked
    }

    /// Attributes of an object entry.
    fn attr(&self, entry: &Entry<Object>) -> fuser::FileAttr {
        entry_attr(entry, self.config.io.max_write() as u64)
    }

    /// Parked calls right now.
    pub fn parked(&self) -> usize {
        self.shared.registry.len()
    }

    /// A new object for a node of type `file_type` (`S_IFREG`, `S_IFIFO`)
    /// in `dir`; `EPERM` for a kind that directory does not hold.
    fn new_object(&self, dir: Dir, file_type: u32) -> Result<Object> {
        let c = &self.config;
        let budget = self.shared.budget.clone();
        let object = match (dir, file_type) {
            (Dir::Pipes, libc::S_IFREG) => Object::Pipe(Cell::new(
                Pipe::new(c.pipe_capacity, budget),
                self.shared.clone(),
            )),
            (Dir::Pipes, libc::S_IFIFO) => return Ok(Object::KernelFifo),
            (Dir::Queues, libc::S_IFREG) => {
                let queue = Queue::new(
                    c.queue_max_messages,
                    c.queue_max_message_size,
                    c.io.max_message(),
                    budget,
                );
                Object::Queue(Cell::new(queue, self.shared.clone()))
            }
            // Shared memory and sockets are not in this version.
            _ => return Err(Error::NotPermitted),
        };
        if self.shared.shutting_down.load(Ordering::SeqCst) {
            if let Some(cell) = object.stream() {
                cell.shut_down();
            }
        }
        Ok(object)
    }

    fn status_text(&self) -> String {
        let names = self.names();
        let mut rows: Vec<StatusRow> = Dir::ALL
            .iter()
            .flat_map(|d| names.list(*d, 0))
            .map(status_row)
            .collect();
        rows.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        render(&rows)
    }
}

fn status_row(e: &Entry<Object>) -> StatusRow {
    let name = format!(
        "{}/{}",
        e.dir.name(),
        String::from_utf8_lossy(&e.name).into_owned()
    );
    let base = StatusRow {
        kind: "fifo",
        name,
        uid: e.meta.uid,
        gid: e.meta.gid,
        perm: e.meta.perm,
        bytes: None,
        messages: None,
        readers: None,
        writers: None,
        blocked: None,
        served_by: "kernel",
    };
    match &e.object {
        Object::KernelFifo => base,
        Object::Queue(cell) => {
            let c = cell.lock().counters();
            StatusRow {
                kind: "queue",
                bytes: Some(c.bytes),
                messages: Some(c.messages),
                readers: Some(c.readers),
                writers: Some(c.writers),
                blocked: Some(c.blocked),
                served_by: "daemon",
                ..base
            }
        }
        Object::Pipe(cell) => {
            let p = cell.lock();
            StatusRow {
                kind: "pipe",
                bytes: Some(p.bytes()),
                readers: Some(p.readers()),
                writers: Some(p.writers()),
                blocked: Some(p.blocked()),
                served_by: "daemon",
                ..base
            }
        }
    }
}

/// Logs a failed call once, at the boundary, and gives its errno. Errors
/// that programs meet in normal use (a name that is not there, a
/// non-blocking call that would block, an interrupted wait) log at debug.
pub fn log_error(op: &str, e: Error) -> Errno {
    match e {
        Error::NotFound | Error::WouldBlock | Error::Interrupted | Error::NoAttribute => {
            log::debug!("{op}: {e}")
        }
        _ => log::info!("{op}: {e}"),
    }
    Errno::from_i32(e.errno())
}

/// `size` bytes of `text` from `offset`, or fewer at its end.
fn slice_at(text: &[u8], offset: u64, size: u32) -> &[u8] {
    let start = (offset as usize).min(text.len());
    let end = start.saturating_add(size as usize).min(text.len());
    &text[start..end]
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
        pid: req.pid(),
    }
}

fn call_id(req: &Request) -> CallId {
    CallId {
        id: req.unique().0,
        tid: req.pid(),
    }
}

fn fixed_child(name: &[u8]) -> Option<Ino> {
    Some(match name {
        b"README" => fixed::README,
        b"status" => fixed::STATUS,
        b"pipes" => fixed::PIPES,
        b"queues" => fixed::QUEUES,
        b"shm" => fixed::SHM,
        b"sockets" => fixed::SOCKETS,
        b"proc" => fixed::PROC,
        _ => return None,
    })
}

const ROOT_LISTING: [(&str, Ino, FileType); 7] = [
    ("README", fixed::README, FileType::RegularFile),
    ("status", fixed::STATUS, FileType::RegularFile),
    ("pipes", fixed::PIPES, FileType::Directory),
    ("queues", fixed::QUEUES, FileType::Directory),
    ("shm", fixed::SHM, FileType::Directory),
    ("sockets", fixed::SOCKETS, FileType::Directory),
    ("proc", fixed::PROC, FileType::Directory),
];

/// Supplementary groups of a process, for `chown` to a group.
fn supplementary_groups(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Groups:")).map(|g| {
                g.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// Whether a lookup's answer gives the kernel a reference to the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reference {
    Kernel,
    None,
}

/// What a `setattr` asks to change.
struct AttrChange {
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    size: Option<u64>,
    atime: Option<TimeOrNow>,
    mtime: Option<TimeOrNow>,
}

/// The `fuser::Filesystem` of ipcfs: a thin handle on the shared [`Core`].
pub struct IpcFs {
    core: Arc<Core>,
}

impl IpcFs {
    pub fn new(core: Arc<Core>) -> Self {
        IpcFs { core }
    }

    fn attr_of(&self, ino: Ino, caller: &Caller) -> Result<fuser::FileAttr> {
        if let Some(a) = fixed_attr(ino, self.core.owner, README.len()) {
            return Ok(a);
        }
        if let Some(node) = ProcNode::decode(ino) {
            return proc::node_attr(node, caller);
        }
        let names = self.core.names();
        names
            .get(ino)
            .map(|e| self.core.attr(e))
            .ok_or(Error::NotFound)
    }

    /// Finds `name` in `parent`. With `Reference::Kernel` the answer goes
    /// to the kernel as a lookup reply, so the entry's lookup count grows
    /// (under the same lock, so that the entry cannot go in between); a
    /// mere check (mkdir, rmdir) must not count one, or the entry of a
    /// removed name would never be freed.
    fn lookup_inner(
        &self,
        parent: Ino,
        name: &[u8],
        caller: &Caller,
        reference: Reference,
    ) -> Result<fuser::FileAttr> {
        if parent == fixed::ROOT {
            let ino = fixed_child(name).ok_or(Error::NotFound)?;
            return self.attr_of(ino, caller);
        }
        if parent == fixed::PROC || ProcNode::decode(parent).is_some() {
            return proc::lookup(parent, name, caller);
        }
        if let Some(dir) = Dir::from_ino(parent) {
            let mut names = self.core.names();
            let ino = names.lookup(dir, name).ok_or(Error::NotFound)?.ino;
            if reference == Reference::Kernel {
                names.add_lookup(ino);
            }
            return Ok(self.core.attr(names.get(ino).expect("just looked up")));
        }
        Err(Error::NotDirectory)
    }

    /// Makes a new entry in an object directory and counts the kernel's
    /// reference to it.
    fn make_entry(
        &self,
        req: &Request,
        parent: Ino,
        name: &[u8],
        perm: u16,
        file_type: u32,
    ) -> Result<fuser::FileAttr> {
        // The root and proc/ never take new files.
        let dir = Dir::from_ino(parent).ok_or(Error::NotPermitted)?;
        let object = self.core.new_object(dir, file_type)?;
        let meta = Meta::new(req.uid(), req.gid(), perm);
        let mut names = self.core.names();
        let ino = names.create(dir, name, meta, object)?;
        names.add_lookup(ino);
        let entry = names.get(ino).expect("just created");
        log::debug!(
            "created {}/{} (inode {ino}) for uid {}",
            dir.name(),
            String::from_utf8_lossy(name),
            req.uid()
        );
        Ok(self.core.attr(entry))
    }

    fn setattr_inner(
        &self,
        req: &Request,
        ino: Ino,
        change: AttrChange,
    ) -> Result<fuser::FileAttr> {
        let AttrChange {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        } = change;
        if fixed_attr(ino, self.core.owner, 0).is_some() {
            return Err(Error::NotPermitted);
        }
        let who = caller(req);
        if let Some(node) = ProcNode::decode(ino) {
            // `echo TERM > proc/PID/signal` truncates first: a no-op.
            let only_truncation =
                mode.is_none() && uid.is_none() && gid.is_none() && size.is_none_or(|s| s == 0);
            if !only_truncation || matches!(node, ProcNode::Dir(_) | ProcNode::SelfLink) {
                return Err(Error::NotPermitted);
            }
            return proc::node_attr(node, &who);
        }
        let mut names = self.core.names();
        let entry = names.get_mut(ino).ok_or(Error::NotFound)?;
        let is_owner = who.is_root() || who.uid == entry.meta.uid;
        if let Some(size) = size {
            // O_TRUNC and truncate(…, 0) of a pipe do nothing; any other
            // size is meaningless for a stream.
            if size != 0 {
                return Err(Error::InvalidArgument);
            }
        }
        if mode.is_some() && !is_owner {
            return Err(Error::NotPermitted);
        }
        if let Some(new_uid) = uid {
            if new_uid != entry.meta.uid && !who.is_root() {
                return Err(Error::NotPermitted);
            }
        }
        if let Some(new_gid) = gid {
            let allowed = who.is_root()
                || new_gid == entry.meta.gid
                || (is_owner
                    && (new_gid == who.gid || supplementary_groups(who.pid).contains(&new_gid)));
            if !allowed {
                return Err(Error::NotPermitted);
            }
        }
        let specific = |t: &Option<TimeOrNow>| matches!(t, Some(TimeOrNow::SpecificTime(_)));
        if (specific(&atime) || specific(&mtime)) && !is_owner {
            return Err(Error::NotPermitted);
        }
        let now = SystemTime::now();
        let resolve = |t: TimeOrNow| match t {
            TimeOrNow::SpecificTime(t) => t,
            TimeOrNow::Now => now,
        };
        let m = &mut entry.meta;
        if let Some(mode) = mode {
            m.perm = (mode & 0o7777) as u16;
        }
        if let Some(uid) = uid {
            m.uid = uid;
        }
        if let Some(gid) = gid {
            m.gid = gid;
        }
        if let Some(t) = atime {
            m.atime = resolve(t);
        }
        if let Some(t) = mtime {
            m.mtime = resolve(t);
        }
        m.ctime = now;
        Ok(self.core.attr(entry))
    }

    fn open_object(&self, req: &Request, ino: Ino, flags: i32, reply: OpenReply) {
        let object = self.core.names().get(ino).map(|e| e.object.stream());
        match object {
            None => reply.error(log_error("open", Error::NotFound)),
            // The kernel serves FIFO nodes itself and never sends their opens.
            Some(None) => reply.error(log_error("open", Error::NotPermitted)),
            Some(Some(cell)) => {
                let request = OpenRequest {
                    mode: Mode::from_open_flags(flags),
                    nonblock: flags & libc::O_NONBLOCK != 0,
                    framing: Framing::from_open_flags(flags),
                    creating: matches!(reply, OpenReply::Create(..)),
                };
                cell.open(call_id(req), ParkedOpen { reply, ino }, request);
            }
        }
    }

    fn xattr_reply(value: &[u8], size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(value.len() as u32);
        } else if (size as usize) < value.len() {
            reply.error(log_error("getxattr", Error::Range));
        } else {
            reply.data(value);
        }
    }

    fn with_object<T>(&self, ino: Ino, f: impl FnOnce(&Entry<Object>) -> Result<T>) -> Result<T> {
        let names = self.core.names();
        match names.get(ino) {
            Some(e) => f(e),
            None if fixed_attr(ino, self.core.owner, 0).is_some() => Err(Error::NoAttribute),
            None if ProcNode::decode(ino).is_some() => Err(Error::NoAttribute),
            None => Err(Error::NotFound),
        }
    }
}

impl Filesystem for IpcFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let max_write = self.core.config.io.max_write() as u32;
        if let Err(nearest) = config.set_max_write(max_write) {
            log::warn!("max_write {max_write} refused, using {nearest}");
            let _ = config.set_max_write(nearest);
        }
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        // Processes come and go, and proc/self differs per caller: names
        // under proc/ are never cached.
        let in_proc = parent.0 == fixed::PROC || ProcNode::decode(parent.0).is_some();
        let entry_ttl = if in_proc { ATTR_TTL } else { ENTRY_TTL };
        match self.lookup_inner(parent.0, name.as_bytes(), &caller(req), Reference::Kernel) {
            Ok(attr) => reply.entry_with_ttls(&ATTR_TTL, &entry_ttl, &attr, Generation(0)),
            Err(e) => reply.error(log_error("lookup", e)),
        }
    }

    fn interrupt(&self, _req: &Request, unique: fuser::RequestId) {
        if self.core.shared.registry.interrupt(unique.0) {
            log::debug!("request {} interrupted by a signal", unique.0);
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.core.names().forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr_of(ino.0, &caller(req)) {
            Ok(attr) => reply.attr(&ATTR_TTL, &attr),
            Err(e) => reply.error(log_error("getattr", e)),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let change = AttrChange {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        };
        match self.setattr_inner(req, ino.0, change) {
            Ok(attr) => reply.attr(&ATTR_TTL, &attr),
            Err(e) => reply.error(log_error("setattr", e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let perm = (mode & !umask & 0o7777) as u16;
        match self.make_entry(req, parent.0, name.as_bytes(), perm, mode & libc::S_IFMT) {
            Ok(attr) => reply.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, &attr, Generation(0)),
            Err(e) => reply.error(log_error("mknod", e)),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let exists = self
            .lookup_inner(parent.0, name.as_bytes(), &caller(req), Reference::None)
            .is_ok();
        let e = if exists {
            Error::Exists
        } else {
            Error::NotPermitted
        };
        reply.error(log_error("mkdir", e));
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let result = match Dir::from_ino(parent.0) {
            Some(dir) => self.core.names().unlink(dir, name.as_bytes(), &caller(req)),
            None => Err(Error::NotPermitted),
        };
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(log_error("unlink", e)),
        }
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let e = match self.lookup_inner(parent.0, name.as_bytes(), &caller(req), Reference::None) {
            Ok(a) if a.kind == FileType::Directory => Error::NotPermitted,
            Ok(_) => Error::NotDirectory,
            Err(e) => e,
        };
        reply.error(log_error("rmdir", e));
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        reply.error(log_error("symlink", Error::NotPermitted));
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(log_error("link", Error::NotPermitted));
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let result = (|| {
            let (Some(from), Some(to)) = (Dir::from_ino(parent.0), Dir::from_ino(newparent.0))
            else {
                return Err(Error::NotPermitted);
            };
            if flags.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
                return Err(Error::InvalidArgument);
            }
            let mode = if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                RenameMode::NoReplace
            } else {
                RenameMode::Replace
            };
            self.core.names().rename(
                (from, name.as_bytes()),
                (to, newname.as_bytes()),
                mode,
                &caller(req),
            )
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(log_error("rename", e)),
        }
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let flags = flags.0;
        match ino.0 {
            fixed::README | fixed::STATUS => {
                if Mode::from_open_flags(flags).write {
                    return reply.error(log_error("open", Error::AccessDenied));
                }
                let text = if ino.0 == fixed::README {
                    README.as_bytes().to_vec()
                } else {
                    self.core.status_text().into_bytes()
                };
                let fh = self.core.shared.handles.insert(Handle {
                    ino: ino.0,
                    kind: HandleKind::Text(text),
                });
                reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO);
            }
            other => match ProcNode::decode(other) {
                Some(node @ (ProcNode::Signal(_) | ProcNode::GroupSignal(_))) => {
                    match proc::node_attr(node, &caller(req)) {
                        Ok(_) => {
                            let fh = self.core.shared.handles.insert(Handle {
                                ino: other,
                                kind: HandleKind::Proc(ProcFile {
                                    node,
                                    text: Mutex::new(Vec::new()),
                                }),
                            });
                            reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO);
                        }
                        Err(e) => reply.error(log_error("open", e)),
                    }
                }
                Some(_) => reply.error(log_error("open", Error::IsDirectory)),
                None => self.open_object(req, other, flags, OpenReply::Open(reply)),
            },
        }
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        let result = match ProcNode::decode(ino.0) {
            Some(node) => proc::read_link(node, &caller(req)),
            None => Err(Error::InvalidArgument),
        };
        match result {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(log_error("readlink", e)),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let perm = (mode & !umask & 0o7777) as u16;
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(log_error("create", Error::NotPermitted));
        }
        match self.make_entry(req, parent.0, name.as_bytes(), perm, libc::S_IFREG) {
            Ok(attr) => {
                let ino = attr.ino.0;
                self.open_object(req, ino, flags, OpenReply::Create(reply, Box::new(attr)));
            }
            Err(e) => reply.error(log_error("create", e)),
        }
    }

    fn read(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(handle) = self.core.shared.handles.get(fh.0) else {
            return reply.error(log_error("read", Error::BadHandle));
        };
        match &handle.kind {
            HandleKind::Text(text) => reply.data(slice_at(text, offset, size)),
            HandleKind::Proc(file) => {
                let mut text = file.text.lock().unwrap_or_else(|e| e.into_inner());
                if offset == 0 {
                    match proc::read_state(file.node) {
                        Ok(fresh) => *text = fresh,
                        Err(e) => return reply.error(log_error("read", e)),
                    }
                }
                reply.data(slice_at(&text, offset, size));
            }
            // The kernel refuses reads of a file not opened for reading.
            HandleKind::Stream(file) => {
                // The kernel splits a read larger than max_read into pieces
                // and asks for the next piece only after the previous one
                // came back full; the pieces after the first carry the
                // offset of the bytes already read (stream files always
                // read at 0). Such a piece must not wait: the caller has
                // data in hand, and a pipe or queue returns what it has.
                let continuation = offset > 0;
                let nonblock = flags.0 & libc::O_NONBLOCK != 0 || continuation;
                file.read(call_id(req), reply, size as usize, nonblock);
            }
        }
    }

    fn write(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let Some(handle) = self.core.shared.handles.get(fh.0) else {
            return reply.error(log_error("write", Error::BadHandle));
        };
        match &handle.kind {
            HandleKind::Stream(file) => {
                let nonblock = flags.0 & libc::O_NONBLOCK != 0;
                file.write(call_id(req), reply, data, nonblock);
            }
            HandleKind::Proc(file) => match proc::write(file.node, data, &caller(req)) {
                Ok(n) => reply.written(n as u32),
                Err(e) => reply.error(log_error("write", e)),
            },
            HandleKind::Text(_) => reply.error(log_error("write", Error::BadHandle)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if let Some(handle) = self.core.shared.handles.remove(fh.0) {
            if let HandleKind::Stream(file) = &handle.kind {
                file.release();
            }
        }
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let ino = ino.0;
        let mut entries: proc::DirEntries = Vec::new();
        // Offsets: 1 and 2 for "." and ".."; fixed children by position;
        // objects by inode number (stable while others come and go).
        if offset < 1 {
            entries.push((ino, 1, FileType::Directory, b".".to_vec()));
        }
        if offset < 2 {
            entries.push((fixed::ROOT, 2, FileType::Directory, b"..".to_vec()));
        }
        if ino == fixed::ROOT {
            for (i, (name, child, kind)) in ROOT_LISTING.iter().enumerate() {
                let off = 3 + i as u64;
                if off > offset {
                    entries.push((*child, off, *kind, name.as_bytes().to_vec()));
                }
            }
        } else if let Some(dir) = Dir::from_ino(ino) {
            // Objects go straight into the reply, which holds a few hundred:
            // collecting every remaining entry first made listing a large
            // directory take time in the square of its size.
            for (child, off, kind, name) in entries.drain(..) {
                if reply.add(INodeNo(child), off, kind, OsStr::from_bytes(&name)) {
                    return reply.ok();
                }
            }
            let names = self.core.names();
            for e in names.list(dir, offset.max(2)) {
                let kind = match e.object {
                    Object::Pipe(_) | Object::Queue(_) => FileType::RegularFile,
                    Object::KernelFifo => FileType::NamedPipe,
                };
                if reply.add(INodeNo(e.ino), e.ino, kind, OsStr::from_bytes(&e.name)) {
                    break;
                }
            }
        } else if ino == fixed::PROC {
            entries.extend(proc::list_root(offset));
        } else if let Some(ProcNode::Dir(pid)) = ProcNode::decode(ino) {
            match proc::list_process(pid, offset) {
                Ok(list) => entries.extend(list),
                Err(e) => return reply.error(log_error("readdir", e)),
            }
        } else {
            return reply.error(log_error("readdir", Error::NotDirectory));
        }
        for (child, off, kind, name) in entries {
            if reply.add(INodeNo(child), off, kind, OsStr::from_bytes(&name)) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let budget = &self.core.shared.budget;
        let block = 4096u64;
        let blocks = budget.limit() as u64 / block;
        let free = (budget.limit() - budget.used()) as u64 / block;
        let files: usize = Dir::ALL.iter().map(|d| self.core.names().count(*d)).sum();
        reply.statfs(
            blocks,
            free,
            free,
            files as u64,
            u32::MAX as u64,
            4096,
            255,
            4096,
        );
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let who = caller(req);
        let name = name.to_string_lossy();
        let result = self.with_object(ino.0, |e| {
            let may_change = who.is_root() || who.uid == e.meta.uid;
            Ok((may_change, e.object.clone()))
        });
        // The value is applied outside the namespace lock: setting a pipe's
        // capacity can wake parked writers.
        let result = result.and_then(|(may, object)| xattr::set(&object, &name, value, may));
        match result {
            Ok(()) => reply.ok(),
            Err(Error::NoAttribute) => reply.error(log_error("setxattr", Error::NotSupported)),
            Err(e) => reply.error(log_error("setxattr", e)),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let name = name.to_string_lossy();
        let object = self.with_object(ino.0, |e| Ok(e.object.clone()));
        match object.and_then(|o| xattr::get(&o, &name)) {
            Ok(value) => Self::xattr_reply(value.as_bytes(), size, reply),
            Err(e) => reply.error(log_error("getxattr", e)),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let list = match self.with_object(ino.0, |e| Ok(xattr::list(&e.object))) {
            Ok(list) => list,
            Err(Error::NoAttribute) => Vec::new(),
            Err(e) => return reply.error(log_error("listxattr", e)),
        };
        Self::xattr_reply(&list, size, reply);
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_string_lossy();
        match self.with_object(ino.0, |e| xattr::remove(&e.object, &name)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(log_error("removexattr", e)),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // Without --allow-other only the mounting user reaches the mount;
        // with it, the kernel checks mode bits itself (default_permissions).
        reply.ok();
    }

    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: fuser::IoctlFlags,
        cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: fuser::ReplyIoctl,
    ) {
        // No ioctl is supported: programs asking whether a file is a
        // terminal (TCGETS, as Python's open() does) get ENOTTY.
        log::trace!("ioctl {cmd:#x}: not supported");
        reply.error(Errno::ENOTTY);
    }

    fn poll(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        ph: PollNotifier,
        _events: PollEvents,
        flags: PollFlags,
        reply: ReplyPoll,
    ) {
        let Some(handle) = self.core.shared.handles.get(fh.0) else {
            return reply.error(log_error("poll", Error::BadHandle));
        };
        let mask = match &handle.kind {
            HandleKind::Text(_) | HandleKind::Proc(_) => ready::IN | ready::OUT,
            HandleKind::Stream(file) => {
                let notify = flags
                    .contains(PollFlags::FUSE_POLL_SCHEDULE_NOTIFY)
                    .then(|| (ph.handle().0, ph));
                file.poll(notify)
            }
        };
        reply.poll(PollEvents::from_bits_truncate(mask));
    }
}
