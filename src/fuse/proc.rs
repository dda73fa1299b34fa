//! The `proc/` tree: `proc/self`, and `proc/PID/signal` and `pgsignal`
//! for every live process. Nothing here is stored: each lookup asks the
//! kernel's `/proc`, so a process that exits disappears at once.

use fuser::{FileAttr, FileType};

use super::attr::attr;

use crate::error::{Error, Result};
use crate::ipc::namespace::{Caller, Ino, fixed};
use crate::ipc::signal::{
    self, Creds, Ids, ProcStatus, ProcessHandle, SignalSpec, may_signal, parse_request, read_status,
};

/// Directory entries as `readdir` hands them out: inode, offset of the
/// next entry, type and name.
pub type DirEntries = Vec<(Ino, u64, FileType, Vec<u8>)>;

/// Inodes of `proc/PID/...` are `BASE + pid * 4 + kind`.
const BASE: Ino = 1 << 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcNode {
    /// `proc/self`, a link to the caller's own process.
    SelfLink,
    /// `proc/PID/`.
    Dir(u32),
    /// `proc/PID/signal`.
    Signal(u32),
    /// `proc/PID/pgsignal`: the same, to PID's process group.
    GroupSignal(u32),
}

impl ProcNode {
    pub fn decode(ino: Ino) -> Option<ProcNode> {
        if ino == fixed::PROC_SELF {
            return Some(ProcNode::SelfLink);
        }
        let rel = ino.checked_sub(BASE)?;
        let pid = u32::try_from(rel / 4).ok()?;
        match rel % 4 {
            0 => Some(ProcNode::Dir(pid)),
            1 => Some(ProcNode::Signal(pid)),
            2 => Some(ProcNode::GroupSignal(pid)),
            _ => None,
        }
    }

    pub fn ino(self) -> Ino {
        match self {
            ProcNode::SelfLink => fixed::PROC_SELF,
            ProcNode::Dir(pid) => BASE + pid as Ino * 4,
            ProcNode::Signal(pid) => BASE + pid as Ino * 4 + 1,
            ProcNode::GroupSignal(pid) => BASE + pid as Ino * 4 + 2,
        }
    }

    fn pid(self) -> Option<u32> {
        match self {
            ProcNode::SelfLink => None,
            ProcNode::Dir(p) | ProcNode::Signal(p) | ProcNode::GroupSignal(p) => Some(p),
        }
    }
}

/// A live process (not a thread of one) with this id.
fn live_process(pid: u32) -> Result<ProcStatus> {
    match read_status(pid) {
        Some(s) if s.tgid == pid => Ok(s),
        _ => Err(Error::NotFound),
    }
}

/// The caller's process id (its thread group), for `proc/self`.
fn caller_process(caller: &Caller) -> Result<u32> {
    read_status(caller.pid)
        .map(|s| s.tgid)
        .ok_or(Error::NoProcess)
}

/// Attributes of a proc node. The files of a process are owned by the
/// process's real user and group; `signal` and `pgsignal` are mode 0666,
/// because who may signal is decided by kill(2)'s rule, not by mode bits.
pub fn node_attr(node: ProcNode, caller: &Caller) -> Result<FileAttr> {
    if node == ProcNode::SelfLink {
        let target = caller_process(caller)?.to_string();
        let owner = read_status(caller.pid).map_or((0, 0), |s| (s.creds.real_uid, s.real_gid));
        return Ok(attr(
            node.ino(),
            FileType::Symlink,
            0o777,
            owner.0,
            owner.1,
            target.len() as u64,
        ));
    }
    let pid = node.pid().expect("not the self link");
    let s = live_process(pid)?;
    let (uid, gid) = (s.creds.real_uid, s.real_gid);
    Ok(match node {
        ProcNode::Dir(_) => attr(node.ino(), FileType::Directory, 0o555, uid, gid, 0),
        _ => attr(node.ino(), FileType::RegularFile, 0o666, uid, gid, 0),
    })
}

/// Looks a name up in `proc/` or in `proc/PID/`.
pub fn lookup(parent: Ino, name: &[u8], caller: &Caller) -> Result<FileAttr> {
    let node = if parent == fixed::PROC {
        match name {
            b"self" => ProcNode::SelfLink,
            _ => {
                let pid = std::str::from_utf8(name)
                    .ok()
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|n| n.parse::<u32>().ok())
                    .ok_or(Error::NotFound)?;
                ProcNode::Dir(pid)
            }
        }
    } else {
        match (ProcNode::decode(parent), name) {
            (Some(ProcNode::Dir(pid)), b"signal") => ProcNode::Signal(pid),
            (Some(ProcNode::Dir(pid)), b"pgsignal") => ProcNode::GroupSignal(pid),
            (Some(ProcNode::Dir(_)), _) => return Err(Error::NotFound),
            _ => return Err(Error::NotDirectory),
        }
    };
    node_attr(node, caller)
}

/// The entries of `proc/` (after `.` and `..`): `self` and every live
/// process, with stable offsets (`self` is 3, a process is its id + 16).
pub fn list_root(offset: u64) -> DirEntries {
    let mut out = Vec::new();
    if offset < 3 {
        out.push((fixed::PROC_SELF, 3, FileType::Symlink, b"self".to_vec()));
    }
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    for pid in pids {
        let off = pid as u64 + 16;
        if off > offset {
            let name = pid.to_string().into_bytes();
            out.push((ProcNode::Dir(pid).ino(), off, FileType::Directory, name));
        }
    }
    out
}

/// The entries of `proc/PID/` (after `.` and `..`).
pub fn list_process(pid: u32, offset: u64) -> Result<DirEntries> {
    live_process(pid)?;
    let all = [
        (
            ProcNode::Signal(pid).ino(),
            3,
            FileType::RegularFile,
            b"signal".to_vec(),
        ),
        (
            ProcNode::GroupSignal(pid).ino(),
            4,
            FileType::RegularFile,
            b"pgsignal".to_vec(),
        ),
    ];
    Ok(all.into_iter().filter(|e| e.1 > offset).collect())
}

/// What `readlink proc/self` gives the caller.
pub fn read_link(node: ProcNode, caller: &Caller) -> Result<Vec<u8>> {
    match node {
        ProcNode::SelfLink => Ok(caller_process(caller)?.to_string().into_bytes()),
        _ => Err(Error::InvalidArgument),
    }
}

/// The text of `proc/PID/signal` (and `pgsignal`): PID's pending,
/// blocked, ignored and caught signals, read fresh from the kernel.
pub fn read_state(node: ProcNode) -> Result<Vec<u8>> {
    let pid = node.pid().ok_or(Error::InvalidArgument)?;
    Ok(signal::describe(&live_process(pid)?).into_bytes())
}

/// Delivers what was written to `proc/PID/signal` or `pgsignal`, after
/// checking the whole write and the caller's right to signal each target.
pub fn write(node: ProcNode, data: &[u8], caller: &Caller) -> Result<usize> {
    let specs = parse_request(data).inspect_err(|_| {
        log::info!(
            "signal request {:?} refused: not a signal name or number",
            String::from_utf8_lossy(data).trim_end()
        )
    })?;
    let mut sender = Sender::new(caller.pid)?;
    let (pid, group) = match node {
        ProcNode::Signal(pid) => (pid, false),
        ProcNode::GroupSignal(pid) => (pid, true),
        _ => return Err(Error::InvalidArgument),
    };
    let candidates = if group {
        let pgid = signal::process_group(pid).ok_or(Error::NoProcess)?;
        signal::group_members(pgid)
    } else {
        vec![pid]
    };
    let mut allowed = Vec::new();
    let mut refused = 0;
    for target in candidates {
        // Open the pidfd first, then check the process it holds: if the
        // pid was reused in between, the pidfd's process is gone and the
        // send fails rather than hitting the newcomer.
        let Ok(handle) = ProcessHandle::open(target) else {
            continue;
        };
        let creds = match handle.ids() {
            Some(ids) => ids.creds,
            None => match live_process(target) {
                Ok(status) => status.creds,
                Err(_) => continue,
            },
        };
        if specs.iter().all(|s| sender.may_signal(&creds, target, s)) {
            allowed.push(handle);
        } else {
            refused += 1;
        }
    }
    if allowed.is_empty() {
        let e = if refused > 0 {
            Error::NotPermitted
        } else {
            Error::NoProcess
        };
        log::info!(
            "uid {} may not signal {}{pid}: {e}",
            sender.ids.creds.real_uid,
            if group { "the process group of " } else { "" }
        );
        return Err(e);
    }
    for spec in &specs {
        for handle in &allowed {
            handle.send(*spec, sender.ids.tgid, sender.ids.creds.real_uid)?;
        }
        log::debug!(
            "uid {} sent {} to {} process(es) of {pid}",
            sender.ids.creds.real_uid,
            signal::signal_name(spec.signo),
            allowed.len()
        );
    }
    Ok(data.len())
}

/// The writer of a signal request, as kill(2)'s rule needs it: its ids
/// at once, through a pidfd of its thread where the kernel can say them
/// (no `/proc` read), and its capabilities only when its ids alone do not
/// allow a signal (from `/proc/TID/status`, which costs more).
struct Sender {
    tid: u32,
    ids: Ids,
    /// `/proc/TID/status`, once read.
    status: Option<ProcStatus>,
}

impl Sender {
    fn new(tid: u32) -> Result<Sender> {
        if let Some(ids) = ProcessHandle::open_thread(tid).ok().and_then(|h| h.ids()) {
            return Ok(Sender {
                tid,
                ids,
                status: None,
            });
        }
        let status = read_status(tid).ok_or(Error::NoProcess)?;
        Ok(Sender {
            tid,
            ids: Ids {
                tgid: status.tgid,
                creds: status.creds,
            },
            status: Some(status),
        })
    }

    /// kill(2)'s rule, including its exception: SIGCONT may go to any
    /// process of the sender's session. The uid rule first, from the ids
    /// in hand; CAP_KILL and the session only when it refuses.
    fn may_signal(&mut self, target: &Creds, target_pid: u32, spec: &SignalSpec) -> bool {
        if may_signal(&self.ids.creds, target) {
            return true;
        }
        if self.status.is_none() {
            self.status = read_status(self.tid);
        }
        let cap_kill = self.status.as_ref().is_some_and(|s| s.creds.cap_kill);
        if cap_kill || spec.signo != libc::SIGCONT {
            return cap_kill;
        }
        let session = signal::session(self.tid);
        session.is_some() && session == signal::session(target_pid)
    }
}
