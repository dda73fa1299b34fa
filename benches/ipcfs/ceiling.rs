//! The FUSE ceiling: a do-nothing filesystem mounted as ipcfs mounts
//! itself, run as a child in the `ceiling` role.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, OpenFlags, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, ReplyXattr, Request, WriteFlags,
};
use ipcfs::limits::IoLimits;

use crate::DISPATCH_THREADS;
use crate::harness::stop_signals;

/// Inodes of the ceiling.
const ROOT: u64 = 1;
const NULL: u64 = 2;
const PING: u64 = 3;
const PONG: u64 = 4;
const WAKE: u64 = 5;
const DIR: u64 = 6;
const KILL: u64 = 7;
const FIRST_DYNAMIC: u64 = 1000;
/// `kill/PID` is inode `FIRST_KILL + PID`: past any name `dir/` makes.
const FIRST_KILL: u64 = 1 << 32;

const FIXED: [(&str, u64, FileType); 6] = [
    ("null", NULL, FileType::RegularFile),
    ("ping", PING, FileType::RegularFile),
    ("pong", PONG, FileType::RegularFile),
    ("wake", WAKE, FileType::RegularFile),
    ("dir", DIR, FileType::Directory),
    ("kill", KILL, FileType::Directory),
];

/// As ipcfs (src/fuse/attr.rs): names cached a second, attributes never.
const ENTRY_TTL: Duration = Duration::from_secs(1);
const ATTR_TTL: Duration = Duration::ZERO;

/// A file whose reads wait for the next write (the least a pipe or queue
/// needs): a write answers the oldest waiting read, or is kept for the next.
#[derive(Default)]
struct Mailbox {
    kept: VecDeque<Vec<u8>>,
    waiting: VecDeque<(ReplyData, usize)>,
}

#[derive(Default)]
struct Names {
    by_name: HashMap<Vec<u8>, u64>,
    by_ino: BTreeMap<u64, Vec<u8>>,
    next: u64,
}

/// The do-nothing filesystem: `null` (writes vanish, reads give zeros),
/// `ping`, `pong` and `wake` (mailboxes), `dir/` (names only) and
/// `kill/PID` (the least a signal file needs: a write is a kill(2) to PID,
/// of signal 0 for a write that starts with "0", else of SIGRTMIN, with
/// nothing parsed, checked or held beyond that). Every
/// file opens as ipcfs's streams do, and reports ipcfs's `st_size`.
struct Ceiling {
    max_write: u32,
    zeros: Vec<u8>,
    owner: (u32, u32),
    boxes: [Mutex<Mailbox>; 3],
    names: Mutex<Names>,
}

/// The open flags ipcfs gives every stream (src/fuse/cell.rs).
fn stream_open_flags() -> FopenFlags {
    FopenFlags::FOPEN_DIRECT_IO
        | FopenFlags::FOPEN_NONSEEKABLE
        | FopenFlags::FOPEN_STREAM
        | FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES
}

impl Ceiling {
    fn new(max_write: usize) -> Ceiling {
        Ceiling {
            max_write: max_write as u32,
            zeros: vec![0; max_write],
            owner: (
                nix::unistd::getuid().as_raw(),
                nix::unistd::getgid().as_raw(),
            ),
            boxes: Default::default(),
            names: Mutex::new(Names {
                next: FIRST_DYNAMIC,
                ..Default::default()
            }),
        }
    }

    fn names(&self) -> MutexGuard<'_, Names> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mailbox(&self, ino: u64) -> Option<MutexGuard<'_, Mailbox>> {
        let i = match ino {
            PING => 0,
            PONG => 1,
            WAKE => 2,
            _ => return None,
        };
        Some(self.boxes[i].lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let kind = match ino {
            ROOT | DIR | KILL => FileType::Directory,
            NULL | PING | PONG | WAKE => FileType::RegularFile,
            i if i > FIRST_KILL => FileType::RegularFile,
            i if self.names().by_ino.contains_key(&i) => FileType::RegularFile,
            _ => return None,
        };
        let dir = kind == FileType::Directory;
        let now = SystemTime::now();
        Some(FileAttr {
            ino: INodeNo(ino),
            size: if dir { 0 } else { self.max_write as u64 },
            blocks: 0,
            atime: now,
            mtime: now,
            ctime: now,
            crtime: now,
            kind,
            perm: if dir { 0o755 } else { 0o666 },
            nlink: if dir { 2 } else { 1 },
            uid: self.owner.0,
            gid: self.owner.1,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }
}

impl Filesystem for Ceiling {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(nearest) = config.set_max_write(self.max_write) {
            let _ = config.set_max_write(nearest);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let ino = match parent.0 {
            ROOT => FIXED
                .iter()
                .find(|f| f.0.as_bytes() == name.as_bytes())
                .map(|f| f.1),
            DIR => self.names().by_name.get(name.as_bytes()).copied(),
            KILL => name
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|pid| *pid > 0)
                .map(|pid| FIRST_KILL + u64::from(pid)),
            _ => None,
        };
        match ino.and_then(|i| self.attr(i)) {
            Some(a) => reply.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, &a, Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: Option<FileHandle>,
        reply: fuser::ReplyAttr,
    ) {
        match self.attr(ino.0) {
            Some(a) => reply.attr(&ATTR_TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.attr(ino.0) {
            Some(_) => reply.opened(FileHandle(0), stream_open_flags()),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let size = size as usize;
        if ino.0 == NULL {
            return reply.data(&self.zeros[..size.min(self.zeros.len())]);
        }
        let Some(mut mailbox) = self.mailbox(ino.0) else {
            return reply.data(&[]);
        };
        match mailbox.kept.pop_front() {
            Some(data) => {
                drop(mailbox);
                reply.data(&data[..data.len().min(size)]);
            }
            None => mailbox.waiting.push_back((reply, size)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if let Some(pid) = ino.0.checked_sub(FIRST_KILL) {
            let signo = if data.starts_with(b"0") {
                0
            } else {
                libc::SIGRTMIN()
            };
            // SAFETY: kill takes integers and has no memory effects.
            if unsafe { libc::kill(pid as libc::pid_t, signo) } != 0 {
                return reply.error(Errno::from_i32(nix::errno::Errno::last_raw()));
            }
            return reply.written(data.len() as u32);
        }
        if let Some(mut mailbox) = self.mailbox(ino.0) {
            match mailbox.waiting.pop_front() {
                Some((reader, size)) => {
                    drop(mailbox);
                    reader.data(&data[..data.len().min(size)]);
                }
                None => mailbox.kept.push_back(data.to_vec()),
            }
        }
        reply.written(data.len() as u32);
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

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut entries: Vec<(u64, u64, FileType, Vec<u8>)> = vec![
            (ino.0, 1, FileType::Directory, b".".to_vec()),
            (ROOT, 2, FileType::Directory, b"..".to_vec()),
        ];
        match ino.0 {
            ROOT => {
                for (i, (name, child, kind)) in FIXED.iter().enumerate() {
                    entries.push((*child, 3 + i as u64, *kind, name.as_bytes().to_vec()));
                }
            }
            KILL => {}
            DIR => {
                // Offsets are inode numbers: stable while others come and go.
                let names = self.names();
                for (child, name) in names.by_ino.range(offset.max(2) + 1..) {
                    entries.push((*child, *child, FileType::RegularFile, name.clone()));
                    if entries.len() > 4096 {
                        break;
                    }
                }
            }
            _ => return reply.error(Errno::ENOTDIR),
        }
        for (child, off, kind, name) in entries {
            if off > offset && reply.add(INodeNo(child), off, kind, OsStr::from_bytes(&name)) {
                break;
            }
        }
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        if parent.0 != DIR {
            return reply.error(Errno::EPERM);
        }
        let ino = {
            let mut names = self.names();
            if names.by_name.contains_key(name.as_bytes()) {
                return reply.error(Errno::EEXIST);
            }
            let ino = names.next;
            names.next += 1;
            names.by_name.insert(name.as_bytes().to_vec(), ino);
            names.by_ino.insert(ino, name.as_bytes().to_vec());
            ino
        };
        match self.attr(ino) {
            Some(a) => reply.created(
                &ATTR_TTL,
                &a,
                Generation(0),
                FileHandle(0),
                stream_open_flags(),
            ),
            None => reply.error(Errno::EIO),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if parent.0 != DIR {
            return reply.error(Errno::EPERM);
        }
        let mut names = self.names();
        match names.by_name.remove(name.as_bytes()) {
            Some(ino) => {
                names.by_ino.remove(&ino);
                drop(names);
                reply.ok();
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let value = match (name.as_bytes(), self.mailbox(ino.0)) {
            (b"user.parked", Some(m)) => m.waiting.len().to_string(),
            _ => return reply.error(Errno::ENODATA),
        };
        if size == 0 {
            reply.size(value.len() as u32);
        } else if (size as usize) < value.len() {
            reply.error(Errno::from_i32(libc::ERANGE));
        } else {
            reply.data(value.as_bytes());
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }
}

/// Mounts the ceiling on `mountpoint` exactly as ipcfs mounts itself as
/// root (ipcfs's own mount code and session settings, its `max_write`),
/// serves until SIGTERM, then unmounts.
pub(crate) fn ceiling_main(mountpoint: &Path) -> Result<(), String> {
    let set = stop_signals();
    // SAFETY: a valid set, before any thread starts.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let pages = IoLimits::plan(nix::unistd::geteuid().is_root());
    pages.apply()?;
    let io = pages.limits;
    let mut config = ipcfs::config::Config::new(mountpoint.to_path_buf());
    config.io = io;
    config.fsname = "ipcfs-ceiling".into();
    let session_config = ipcfs::mount::session_config(&config, DISPATCH_THREADS);
    let (device, mount) = ipcfs::mount::mount_as_root(mountpoint, &config)
        .map_err(|e| format!("mount {}: {e}", mountpoint.display()))?;
    let acl = session_config.acl;
    let session =
        match fuser::Session::from_fd(Ceiling::new(io.max_write()), device, acl, session_config) {
            Ok(s) => s,
            Err(e) => {
                mount.unmount();
                return Err(format!("FUSE handshake: {e}"));
            }
        };
    std::thread::Builder::new()
        .name("ceiling-session".into())
        .spawn(move || session.run())
        .map_err(|e| format!("session thread: {e}"))?;
    let mut sig = 0;
    // SAFETY: a valid set and an int to write.
    unsafe { libc::sigwait(&set, &mut sig) };
    mount.unmount();
    Ok(())
}
