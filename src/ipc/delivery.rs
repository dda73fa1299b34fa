//! Delivering what was written to `proc/PID/signal` or `pgsignal`: the
//! whole write is parsed first, each target is checked with kill(2)'s
//! rule for the writer's real identity, and only then is anything sent,
//! through pidfds, so that a reused PID is never hit.

use super::policy::may_kill;
use super::signal::{
    self, Creds, Ids, ProcStatus, ProcessHandle, SignalSpec, parse_request, read_status,
};
use crate::error::{Error, Result};

/// Whom a signal request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Process(u32),
    /// The process group of this process.
    GroupOf(u32),
}

/// A live process (not a thread of one) with this id.
pub fn live_process(pid: u32) -> Result<ProcStatus> {
    match read_status(pid) {
        Some(s) if s.tgid == pid => Ok(s),
        _ => Err(Error::NotFound),
    }
}

/// Sends the signals of `data` to `target` for the writer thread
/// `writer_tid`. Returns the bytes consumed (all of them).
pub fn deliver(target: Target, data: &[u8], writer_tid: u32) -> Result<usize> {
    let specs = parse_request(data).inspect_err(|_| {
        log::info!(
            "signal request {:?} refused: not a signal name or number",
            String::from_utf8_lossy(data).trim_end()
        )
    })?;
    let mut sender = Sender::new(writer_tid)?;
    let (pid, candidates) = match target {
        Target::Process(pid) => (pid, vec![pid]),
        Target::GroupOf(pid) => {
            let pgid = signal::process_group(pid).ok_or(Error::NoProcess)?;
            (pid, signal::group_members(pgid))
        }
    };
    let mut allowed = Vec::new();
    let mut refused = 0;
    for candidate in candidates {
        // Open the pidfd first, then check the process it holds: if the
        // pid was reused in between, the pidfd's process is gone and the
        // send fails rather than hitting the newcomer.
        let Ok(handle) = ProcessHandle::open(candidate) else {
            continue;
        };
        let creds = match handle.ids() {
            Some(ids) => ids.creds,
            None => match live_process(candidate) {
                Ok(status) => status.creds,
                Err(_) => continue,
            },
        };
        if specs
            .iter()
            .all(|s| sender.may_signal(&creds, candidate, s))
        {
            allowed.push(handle);
        } else {
            refused += 1;
        }
    }
    let group = matches!(target, Target::GroupOf(_));
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
    // Every signal to every allowed target, even when one send fails (a
    // target that exited meanwhile, a full queue of real-time signals):
    // as kill(2) to a group, the write succeeds if any signal went, and
    // the log says which did not.
    let (mut sent, mut first_error) = (0, None);
    for spec in &specs {
        let name = signal::signal_name(spec.signo);
        let mut failed = Vec::new();
        for handle in &allowed {
            match handle.send(*spec, sender.ids.tgid, sender.ids.creds.real_uid) {
                Ok(()) => sent += 1,
                Err(e) => {
                    failed.push(format!("{} ({e})", handle.pid));
                    first_error.get_or_insert(e);
                }
            }
        }
        let uid = sender.ids.creds.real_uid;
        let to = allowed.len();
        if failed.is_empty() {
            log::debug!("uid {uid} sent {name} to {to} process(es) of {pid}");
        } else {
            log::info!(
                "uid {uid}: {name} reached {} of {to} process(es) of {pid}; not sent to {}",
                to - failed.len(),
                failed.join(", ")
            );
        }
    }
    match (sent, first_error) {
        (0, Some(e)) => Err(e),
        _ => Ok(data.len()),
    }
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

    /// kill(2)'s rule ([`may_kill`]), with the facts that cost a `/proc`
    /// read learned only when the uids refuse.
    fn may_signal(&mut self, target: &Creds, target_pid: u32, spec: &SignalSpec) -> bool {
        let tid = self.tid;
        let status = &mut self.status;
        may_kill(
            &self.ids.creds,
            target,
            spec.signo,
            || {
                if status.is_none() {
                    *status = read_status(tid);
                }
                status.as_ref().is_some_and(|s| s.creds.cap_kill)
            },
            || {
                let session = signal::session(tid);
                session.is_some() && session == signal::session(target_pid)
            },
        )
    }
}
