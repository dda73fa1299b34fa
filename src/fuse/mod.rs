//! The FUSE adapter: each method decodes its request, calls the fs layer
//! and replies — or hands the reply to the fs layer, which answers it
//! when the call finishes. No filesystem or IPC logic lives here.

pub mod reply;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::SystemTime;

use fuser::{
    AccessFlags, Errno, FileHandle, Filesystem, Generation, INodeNo, InitFlags, KernelConfig,
    LockOwner, OpenFlags, PollEvents, PollFlags, PollNotifier, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen, ReplyPoll, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use self::reply::{
    ATTR_TTL, At, DataReply, ENTRY_TTL, FlushReply, FuseReplies, OpenReply, Paths, WriteReply,
    file_attr, file_type, log_error,
};
use crate::caller::Caller;
use crate::config::{Config, ShmMode};
use crate::error::{Error, Result};
use crate::fs::attr::FileType;
use crate::fs::reply::Call;
use crate::fs::{AttrChange, Fs, ReadAt, RenameFlags as FsRenameFlags, SetHow, TimeSet};
use std::fmt::Display;

/// The filesystem as the daemon runs it: the fs layer with fuser's replies.
pub type Core = Fs<FuseReplies>;

impl Fs<FuseReplies> {
    /// The filesystem, owned by the user who mounts it.
    pub fn for_mount(config: Config) -> std::io::Result<Arc<Core>> {
        let owner = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        Ok(Arc::new(Fs::new(config, owner)?))
    }

    /// Starts asking the kernel, through `notifier`, to drop the
    /// synthesized entries past the tree's bound (fs/forgetting.rs).
    pub fn start_forgetting(&self, notifier: fuser::Notifier) -> std::io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        self.forgetting.start(Box::new(move |stale| {
            let name = std::ffi::OsStr::from_bytes(&stale.name);
            notifier.inval_entry(INodeNo(stale.parent), name)
        }))
    }
}

/// The `fuser::Filesystem` of ipcfs: a thin handle on the shared [`Core`].
pub struct IpcFs {
    core: Arc<Core>,
    /// Names an inode in log lines by its path in the mount.
    paths: Paths,
}

impl IpcFs {
    pub fn new(core: Arc<Core>) -> Self {
        let weak = Arc::downgrade(&core);
        let paths: Paths = Arc::new(move |ino| match weak.upgrade() {
            Some(core) => core.path_of(ino),
            None => format!("inode {ino}"),
        });
        IpcFs { core, paths }
    }

    /// Where a call on `ino` is made, for its failure's log line.
    fn at(&self, ino: INodeNo) -> At {
        At::new(&self.paths, ino.0)
    }

    /// Where a call on `name` in `parent` is made.
    fn named<'a>(&self, parent: INodeNo, name: &'a OsStr) -> Named<'a> {
        Named(self.at(parent), name)
    }
}

/// A name in a directory, for log lines: `pipes/x`.
struct Named<'a>(At, &'a OsStr);

impl std::fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = self.0.to_string();
        let name = self.1.to_string_lossy();
        match dir.as_str() {
            "." => f.write_str(&name),
            _ => write!(f, "{dir}/{name}"),
        }
    }
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
        pid: req.pid(),
    }
}

/// Marks the serving thread with the caller whose request it serves, so
/// that the log's rate limit counts that caller's lines apart.
fn serving(req: &Request) -> crate::logging::Serving {
    crate::logging::serving(req.uid())
}

fn call(req: &Request) -> Call {
    Call {
        id: req.unique().0,
        caller: caller(req),
    }
}

fn time_set(t: TimeOrNow) -> TimeSet {
    match t {
        TimeOrNow::SpecificTime(t) => TimeSet::At(t),
        TimeOrNow::Now => TimeSet::Now,
    }
}

fn reply_empty(op: &str, at: &dyn Display, result: Result<()>, reply: ReplyEmpty) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(log_error(op, at, e)),
    }
}

fn reply_attr(op: &str, at: &dyn Display, result: Result<crate::fs::attr::Attr>, reply: ReplyAttr) {
    match result {
        Ok(a) => reply.attr(&ATTR_TTL, &file_attr(&a)),
        Err(e) => reply.error(log_error(op, at, e)),
    }
}

/// An xattr value or list: its size when asked with 0, `ERANGE` when the
/// caller's buffer is too small.
fn reply_xattr(op: &str, at: &dyn Display, result: Result<Vec<u8>>, size: u32, reply: ReplyXattr) {
    match result {
        Ok(value) if size == 0 => reply.size(value.len() as u32),
        Ok(value) if (size as usize) < value.len() => reply.error(log_error(op, at, Error::Range)),
        Ok(value) => reply.data(&value),
        Err(e) => reply.error(log_error(op, at, e)),
    }
}

impl IpcFs {
    /// Asks the kernel for passthrough, for `shm/` files, where it can
    /// serve them: the mode allows it, the daemon may register backing
    /// files (`CAP_SYS_ADMIN`: as root) and the kernel offers it. Never
    /// with the writeback cache, which makes every backing open fail.
    fn shm_passthrough(&self, config: &mut KernelConfig) -> bool {
        let why_not = if self.core.shared.config.shm_mode == ShmMode::Cached {
            Some("--shm-mode cached".to_string())
        } else if !nix::unistd::geteuid().is_root() {
            Some("the daemon is not root".to_string())
        } else if let Err(e) = config.add_capabilities(InitFlags::FUSE_PASSTHROUGH) {
            Some(format!("the kernel lacks it ({e:?})"))
        } else if let Err(e) = config.set_max_stack_depth(1) {
            Some(format!("stack depth 1 refused (nearest {e})"))
        } else {
            None
        };
        match why_not {
            None => {
                log::info!("shm files: mappings pass through to memory files (FUSE passthrough)");
                true
            }
            Some(why) => {
                log::info!("shm files: served through the page cache: {why}");
                false
            }
        }
    }
}

impl Filesystem for IpcFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let max_write = self.core.shared.config.io.max_write() as u32;
        if let Err(nearest) = config.set_max_write(max_write) {
            log::warn!("max_write {max_write} refused, using {nearest}");
            let _ = config.set_max_write(nearest);
        }
        let passthrough = self.shm_passthrough(config);
        self.core.shared.set_passthrough(passthrough);
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let _log = serving(req);
        match self.core.lookup(&caller(req), parent.0, name.as_bytes()) {
            Ok(found) => {
                let entry_ttl = if found.cacheable { ENTRY_TTL } else { ATTR_TTL };
                let attr = file_attr(&found.attr);
                reply.entry_with_ttls(&ATTR_TTL, &entry_ttl, &attr, Generation(0))
            }
            Err(e) => reply.error(log_error("lookup", &self.named(parent, name), e)),
        }
    }

    fn interrupt(&self, _req: &Request, unique: fuser::RequestId) {
        if self.core.interrupt(unique.0) {
            log::debug!("request {} interrupted by a signal", unique.0);
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.core.forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let _log = serving(req);
        let result = self.core.getattr(&caller(req), ino.0);
        reply_attr("getattr", &self.at(ino), result, reply);
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
        let _log = serving(req);
        let change = AttrChange {
            mode,
            uid,
            gid,
            size,
            atime: atime.map(time_set),
            mtime: mtime.map(time_set),
        };
        let result = self.core.setattr(&caller(req), ino.0, change);
        reply_attr("setattr", &self.at(ino), result, reply);
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
        let _log = serving(req);
        let perm = (mode & !umask & 0o7777) as u16;
        let made = match mode & libc::S_IFMT {
            libc::S_IFREG => Ok(FileType::Regular),
            libc::S_IFIFO => Ok(FileType::NamedPipe),
            // Devices and sockets nodes are no kind of ours.
            _ => Err(Error::NotPermitted),
        }
        .and_then(|t| {
            self.core
                .mknod(&caller(req), parent.0, name.as_bytes(), perm, t)
        });
        match made {
            Ok(a) => reply.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(log_error("mknod", &self.named(parent, name), e)),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let _log = serving(req);
        let perm = (mode & !umask & 0o7777) as u16;
        match self
            .core
            .mkdir(&caller(req), parent.0, name.as_bytes(), perm)
        {
            Ok(a) => reply.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(log_error("mkdir", &self.named(parent, name), e)),
        }
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let _log = serving(req);
        let result = self.core.unlink(&caller(req), parent.0, name.as_bytes());
        reply_empty("unlink", &self.named(parent, name), result, reply);
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let _log = serving(req);
        let result = self.core.rmdir(&caller(req), parent.0, name.as_bytes());
        reply_empty("rmdir", &self.named(parent, name), result, reply);
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        _target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        let _log = serving(req);
        let at = self.named(parent, link_name);
        reply.error(log_error("symlink", &at, Error::NotPermitted));
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let _log = serving(req);
        reply.error(log_error("link", &self.at(ino), Error::NotPermitted));
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        let _log = serving(req);
        use fuser::RenameFlags as F;
        let flags = if flags.intersects(F::RENAME_EXCHANGE | F::RENAME_WHITEOUT) {
            FsRenameFlags::Other
        } else if flags.contains(F::RENAME_NOREPLACE) {
            FsRenameFlags::NoReplace
        } else {
            FsRenameFlags::Plain
        };
        let result = self.core.rename(
            &caller(req),
            (parent.0, name.as_bytes()),
            (newparent.0, newname.as_bytes()),
            flags,
        );
        reply_empty("rename", &self.named(parent, name), result, reply);
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let _log = serving(req);
        self.core.open(
            &call(req),
            ino.0,
            flags.0,
            OpenReply::Open(reply, self.at(ino)),
        );
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        let _log = serving(req);
        match self.core.readlink(&caller(req), ino.0) {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(log_error("readlink", &self.at(ino), e)),
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
        let _log = serving(req);
        let perm = (mode & !umask & 0o7777) as u16;
        if mode & libc::S_IFMT != libc::S_IFREG {
            let at = self.named(parent, name);
            return reply.error(log_error("create", &at, Error::NotPermitted));
        }
        let reply = OpenReply::Create(reply, self.at(parent));
        self.core
            .create(&call(req), parent.0, name.as_bytes(), perm, flags, reply);
    }

    fn read(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        flags: OpenFlags,
        lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let _log = serving(req);
        // The kernel names the reading task's lock owner on the reads a
        // caller makes (direct I/O) and on none of those that fill its
        // page cache (read-ahead and page faults, which serve splice,
        // sendfile and private mappings).
        let at = ReadAt {
            offset,
            size: size as usize,
            nonblock: flags.0 & libc::O_NONBLOCK != 0,
            via_page_cache: lock_owner.is_none(),
        };
        let reply = DataReply(reply, self.at(ino));
        self.core.read(&call(req), fh.0, at, reply);
    }

    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let _log = serving(req);
        let nonblock = flags.0 & libc::O_NONBLOCK != 0;
        let reply = WriteReply(reply, self.at(ino));
        self.core
            .write(&call(req), fh.0, offset, data, nonblock, reply);
    }

    fn flush(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let _log = serving(req);
        // FLUSH is one of the kernel's "force" requests: close(2) waits for
        // its answer uninterruptibly (a signal only sends an INTERRUPT, and
        // not even SIGKILL ends the wait), so whoever parks a flush must
        // answer it within a bounded time.
        let reply = FlushReply(reply, "flush", self.at(ino));
        self.core.flush(&call(req), fh.0, reply);
    }

    fn release(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let _log = serving(req);
        self.core.release(fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let _log = serving(req);
        // What was written so far is complete: for a stream file, as at a
        // close (the fs layer serves both as a flush).
        let reply = FlushReply(reply, "fsync", self.at(ino));
        self.core.flush(&call(req), fh.0, reply);
    }

    fn fallocate(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let _log = serving(req);
        let result = self.core.allocate(ino.0, offset, length, mode);
        reply_empty("fallocate", &self.at(ino), result, reply);
    }

    fn lseek(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        let _log = serving(req);
        let offset = u64::try_from(offset).unwrap_or(u64::MAX);
        match self.core.seek_data(ino.0, offset, whence) {
            Ok(at) => reply.offset(at as i64),
            Err(e) => reply.error(log_error("lseek", &self.at(ino), e)),
        }
    }

    fn readdir(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let _log = serving(req);
        let result = self.core.readdir(&caller(req), ino.0, offset, |e| {
            let name = OsStr::from_bytes(e.name);
            reply.add(INodeNo(e.ino), e.offset, file_type(e.file_type), name)
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(log_error("readdir", &self.at(ino), e)),
        }
    }

    fn statfs(&self, req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let _log = serving(req);
        let u = self.core.statfs();
        let (block, names, frsize) = (4096, 255, 4096);
        reply.statfs(
            u.blocks,
            u.free_blocks,
            u.free_blocks,
            u.total_files(),
            u.free_files,
            block,
            names,
            frsize,
        );
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let _log = serving(req);
        let name = name.to_string_lossy();
        let how = if flags & libc::XATTR_CREATE != 0 {
            SetHow::Create
        } else if flags & libc::XATTR_REPLACE != 0 {
            SetHow::Replace
        } else {
            SetHow::Any
        };
        let result = self
            .core
            .setxattr_how(&caller(req), ino.0, &name, value, how);
        reply_empty("setxattr", &self.at(ino), result, reply);
    }

    fn getxattr(&self, req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let _log = serving(req);
        let name = name.to_string_lossy();
        let result = self.core.getxattr(ino.0, &name);
        reply_xattr("getxattr", &self.at(ino), result, size, reply);
    }

    fn listxattr(&self, req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let _log = serving(req);
        let result = self.core.listxattr(ino.0);
        reply_xattr("listxattr", &self.at(ino), result, size, reply);
    }

    fn removexattr(&self, req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let _log = serving(req);
        let name = name.to_string_lossy();
        let result = self.core.removexattr(ino.0, &name);
        reply_empty("removexattr", &self.at(ino), result, reply);
    }

    fn access(&self, req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        let _log = serving(req);
        // Without --allow-other only the mounting user reaches the mount;
        // with it, the kernel checks mode bits itself (default_permissions).
        reply.ok();
    }

    fn ioctl(
        &self,
        req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: fuser::IoctlFlags,
        cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: fuser::ReplyIoctl,
    ) {
        let _log = serving(req);
        // No ioctl is supported: programs asking whether a file is a
        // terminal (TCGETS, as Python's open() does) get ENOTTY.
        log::trace!("ioctl {cmd:#x}: not supported");
        reply.error(Errno::from_i32(Error::NotATerminal.errno()));
    }

    fn poll(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        ph: PollNotifier,
        _events: PollEvents,
        flags: PollFlags,
        reply: ReplyPoll,
    ) {
        let _log = serving(req);
        let notify = flags
            .contains(PollFlags::FUSE_POLL_SCHEDULE_NOTIFY)
            .then(|| (ph.handle().0, ph));
        match self.core.poll(fh.0, notify) {
            Ok(mask) => reply.poll(PollEvents::from_bits_truncate(mask)),
            Err(e) => reply.error(log_error("poll", &self.at(ino), e)),
        }
    }
}
