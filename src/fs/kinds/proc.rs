//! The `proc/` tree: `proc/self`, and `proc/PID/signal` and `pgsignal`
//! for every live process. Nothing here is stored: each lookup asks the
//! kernel's `/proc`, so a process that exits disappears at once.

use std::sync::{Arc, Mutex};

use crate::caller::Caller;
use crate::caller::proc::{live_process, status as read_status};
use crate::error::{Error, Result};
use crate::fs::Shared;
use crate::fs::attr::{FileType, Meta, OpenStyle};
use crate::fs::kinds::text::slice_at;
use crate::fs::node::{Children, FileKind, LinkKind, Listed, Node, OpenFile, Synthesizer};
use crate::fs::reply::{Call, ParkedOpen, Replies};
use crate::ipc::delivery::{Opened, Target};
use crate::ipc::signal;

/// `proc/` itself.
pub fn root<R: Replies>() -> Node<R> {
    Node::Dir(Children::Synthesized(Arc::new(ProcRoot)))
}

/// The caller's process id (its thread group), for `proc/self`.
fn caller_process(caller: &Caller) -> Result<u32> {
    read_status(caller.pid)
        .map(|s| s.tgid)
        .ok_or(Error::NoProcess)
}

/// Owner and mode of a process's nodes: its real user and group.
fn process_meta(pid: u32, perm: u16) -> Result<Meta> {
    let s = live_process(pid)?;
    Ok(Meta::new(s.real_uid(), s.real_gid(), perm))
}

struct ProcRoot;

/// Offsets in `proc/`: `self` is 3, a process is its id + 16.
const SELF_OFFSET: u64 = 3;
const PID_OFFSET: u64 = 16;

impl<R: Replies> Synthesizer<R> for ProcRoot {
    fn child(&self, name: &[u8], caller: &Caller) -> Result<(Node<R>, Meta)> {
        if name == b"self" {
            let owner = read_status(caller.pid).map_or((0, 0), |s| (s.real_uid(), s.real_gid()));
            let meta = Meta::new(owner.0, owner.1, 0o777);
            return Ok((Node::Link(Arc::new(SelfLink)), meta));
        }
        let pid = std::str::from_utf8(name)
            .ok()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or(Error::NotFound)?;
        let meta = process_meta(pid, 0o555)?;
        let dir = Node::Dir(Children::Synthesized(Arc::new(ProcessDir { pid })));
        Ok((dir, meta))
    }

    fn list(&self, offset: u64) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        if offset < SELF_OFFSET {
            out.push(Listed {
                offset: SELF_OFFSET,
                name: b"self".to_vec(),
                file_type: FileType::Symlink,
            });
        }
        let mut pids: Vec<u32> = std::fs::read_dir("/proc")
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        pids.sort_unstable();
        out.extend(
            pids.into_iter()
                .map(|pid| (pid as u64 + PID_OFFSET, pid))
                .filter(|(off, _)| *off > offset)
                .map(|(offset, pid)| Listed {
                    offset,
                    name: pid.to_string().into_bytes(),
                    file_type: FileType::Directory,
                }),
        );
        Ok(out)
    }
}

/// `proc/self`, a link to the caller's own process.
struct SelfLink;

impl LinkKind for SelfLink {
    fn target(&self, caller: &Caller) -> Result<Vec<u8>> {
        Ok(caller_process(caller)?.to_string().into_bytes())
    }
}

/// `proc/PID/`.
struct ProcessDir {
    pid: u32,
}

const FILES: [(&[u8], bool, u64); 2] = [(b"signal", false, 3), (b"pgsignal", true, 4)];

impl<R: Replies> Synthesizer<R> for ProcessDir {
    fn child(&self, name: &[u8], _caller: &Caller) -> Result<(Node<R>, Meta)> {
        let (_, group, _) = FILES
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or(Error::NotFound)?;
        let target = if *group {
            Target::GroupOf(self.pid)
        } else {
            Target::Process(self.pid)
        };
        // Mode 0666: who may signal is decided by kill(2)'s rule, not by
        // mode bits.
        let meta = process_meta(self.pid, 0o666)?;
        Ok((Node::File(Arc::new(SignalFile { target })), meta))
    }

    fn list(&self, offset: u64) -> Result<Vec<Listed>> {
        live_process(self.pid)?;
        Ok(FILES
            .iter()
            .filter(|(_, _, off)| *off > offset)
            .map(|(name, _, off)| Listed {
                offset: *off,
                name: name.to_vec(),
                file_type: FileType::Regular,
            })
            .collect())
    }
}

/// `proc/PID/signal` or `pgsignal`.
struct SignalFile {
    target: Target,
}

impl SignalFile {
    fn pid(&self) -> u32 {
        match self.target {
            Target::Process(pid) | Target::GroupOf(pid) => pid,
        }
    }
}

impl<R: Replies> FileKind<R> for SignalFile {
    fn size(&self) -> u64 {
        0
    }

    /// The process is held from here on, and, for writing, the opener's
    /// identity taken (delivery::Opened).
    fn open(&self, shared: &Arc<Shared<R>>, call: &Call, parked: ParkedOpen<R>, flags: i32) {
        if let Err(e) = live_process(self.pid()) {
            return R::opened(parked.reply, Err(e));
        }
        let writing = flags & libc::O_ACCMODE != libc::O_RDONLY;
        // An open signal file holds a pidfd, one of the daemon's
        // descriptors: it counts as one of its opener's objects (EMFILE
        // past their --max-objects-per-user), so that no user can take the
        // descriptors everyone's signals and sockets need.
        let counted = match shared.budget.object_account(call.caller.uid, 0) {
            Ok(account) => account,
            Err(e) => return R::opened(parked.reply, Err(e)),
        };
        let opened = match Opened::open(self.target, &call.caller, writing) {
            Ok(o) => o,
            Err(e) => return R::opened(parked.reply, Err(e)),
        };
        let file = Arc::new(OpenSignalFile {
            opened,
            _counted: counted,
            text: Mutex::new(Vec::new()),
        });
        shared.answer_open(parked, file, OpenStyle::Generated);
    }

    /// `echo TERM > proc/PID/signal` truncates first: a no-op.
    fn truncate(&self, size: u64) -> Result<()> {
        if size == 0 {
            Ok(())
        } else {
            Err(Error::NotPermitted)
        }
    }
}

/// An open signal file: what it was opened for, and the text a read at
/// offset 0 last produced (later offsets read on in that same text).
struct OpenSignalFile {
    opened: Opened,
    /// Its place among its opener's objects, given back at its release.
    _counted: Arc<crate::memory::Account>,
    text: Mutex<Vec<u8>>,
}

impl<R: Replies> OpenFile<R> for OpenSignalFile {
    fn read(&self, _call: &Call, reply: R::Read, offset: u64, size: usize, _nonblock: bool) {
        let mut text = crate::locks::lock(&self.text);
        if offset == 0 {
            match self.opened.status() {
                Ok(status) => *text = signal::describe(&status).into_bytes(),
                Err(e) => return R::data(reply, Err(e)),
            }
        }
        R::data(reply, Ok(slice_at(&text, offset, size)));
    }

    /// Signals with the rights of who opened the file, not of the writer.
    fn write(&self, _call: &Call, reply: R::Write, _offset: u64, data: &[u8], _nonblock: bool) {
        R::written(reply, self.opened.deliver(data));
    }
}
