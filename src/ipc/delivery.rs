//! Delivering what was written to `proc/PID/signal` or `pgsignal`: the
//! whole write is parsed first, then each signal is sent through a pidfd
//! (so a reused PID is never hit) by a thread wearing the writer's
//! identity, and the kernel's kill(2) rule decides, as if the writer had
//! called kill(2) itself.
//!
//! Two parts of that rule look at the sending thread itself, not its
//! credentials, and the acting thread is the daemon's, not the writer's:
//! - a thread may always signal its own process: a signal that would reach
//!   the daemon is checked here, with kill(2)'s rule against the daemon's
//!   ids ([`policy::may_signal`]), before anything is sent;
//! - `SIGCONT` is allowed within the sender's session: the writer's and
//!   the target's sessions (getsid(2)) are compared here, and the acting
//!   thread's session (the daemon's) never lets one through.

use super::policy;
use super::signal::{self, SignalSpec, To, parse_request};
use crate::caller::pidfd::Pidfd;
use crate::caller::{Caller, Facets, Identity, as_caller};
use crate::error::{Error, Result};

/// Whom a signal request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Process(u32),
    /// The process group of this process.
    GroupOf(u32),
}

impl Target {
    fn pid(self) -> u32 {
        match self {
            Target::Process(pid) | Target::GroupOf(pid) => pid,
        }
    }
}

/// Sends the signals of `data` to `target` for `caller`, the writer.
/// Returns the bytes consumed (all of them).
pub fn deliver(target: Target, data: &[u8], caller: &Caller) -> Result<usize> {
    let specs = parse_request(data).inspect_err(|_| {
        log::info!(
            "signal request {:?} refused: {}",
            String::from_utf8_lossy(data).trim_end(),
            signal::why_not_a_request(data)
        )
    })?;
    let sender = Identity::of(caller, Facets::SIGNALS)?;
    let pid = target.pid();
    let uid = sender.uid.real;
    let (held, pgid) = match target {
        Target::Process(pid) => (Some(Pidfd::open(pid)?), None),
        Target::GroupOf(pid) => {
            let pgid = process_group(pid)?;
            // A group is held by its leader, while the leader lives.
            (Pidfd::open(pgid).ok(), Some(pgid))
        }
    };
    let to = match (&held, pgid) {
        (Some(p), None) => To::Process(p),
        (Some(p), Some(_)) => To::Group(p),
        (None, Some(pgid)) => To::GroupId(pgid),
        (None, None) => return Err(Error::NoProcess),
    };
    let shown = match pgid {
        Some(pgid) => format!("the process group {pgid} of {pid}"),
        None => pid.to_string(),
    };
    if reaches_the_daemon(&to) && !policy::may_signal(&sender, &daemon_ids()) {
        log::info!("uid {uid} may not signal {shown}: it reaches the ipcfs daemon itself");
        return Err(Error::NotPermitted);
    }
    // Every signal, even when one fails (a target that exited meanwhile, a
    // full queue of real-time signals): the write succeeds if any went,
    // and the log says which did not.
    let results: Vec<(SignalSpec, Result<()>)> = specs
        .iter()
        .map(|spec| (*spec, send_as(&sender, &to, *spec)))
        .collect();
    let mut first_error = None;
    for (spec, result) in &results {
        let name = signal::signal_name(spec.signo);
        match result {
            Ok(()) => log::debug!("uid {uid} sent {name} to {shown}"),
            Err(Error::InvalidArgument) if matches!(to, To::GroupId(_)) => {
                log::info!(
                    "uid {uid}: {name} with a value not sent to {shown}: its leader has ended, \
                     and only a signal without a value reaches a group by its id"
                );
                first_error.get_or_insert(Error::InvalidArgument);
            }
            Err(e) => {
                log::info!("uid {uid} may not send {name} to {shown}: {e}");
                first_error.get_or_insert(*e);
            }
        }
    }
    match first_error {
        Some(e) if results.iter().all(|(_, r)| r.is_err()) => Err(e),
        _ => Ok(data.len()),
    }
}

/// Sends one signal as `sender`. `SIGCONT` the uids do not allow goes
/// only within the sender's session, which the daemon checks itself (see
/// the module's comment).
fn send_as(sender: &Identity, to: &To<'_>, spec: SignalSpec) -> Result<()> {
    let send = || signal::send(to, spec, sender.tgid, sender.uid.real);
    if spec.signo != libc::SIGCONT {
        return as_caller(sender, send)?;
    }
    let probe = SignalSpec {
        signo: 0,
        value: None,
    };
    let by_ids = as_caller(sender, || signal::send(to, probe, sender.tgid, 0))?;
    match by_ids {
        Ok(()) => as_caller(sender, send)?,
        Err(Error::NotPermitted) if same_session(sender.tgid, target_process(to)) => send(),
        Err(e) => Err(e),
    }
}

/// A process `to` reaches (for a group, its id, which is its leader's
/// and every member's session's).
fn target_process(to: &To<'_>) -> u32 {
    match to {
        To::Process(p) | To::Group(p) => p.pid,
        To::GroupId(pgid) => *pgid,
    }
}

/// Whether two processes are in one session (0: a process the daemon
/// cannot see, in none it knows). A group's id names a session too: the
/// one its members are in (getsid of a group id whose leader ended fails,
/// and the answer is no).
fn same_session(a: u32, b: u32) -> bool {
    // SAFETY: getsid takes an integer and has no memory effects.
    let sid = |pid: u32| unsafe { libc::getsid(pid as libc::pid_t) };
    a != 0 && b != 0 && sid(a) > 0 && sid(a) == sid(b)
}

/// Whether a signal to `to` would reach the daemon's own process.
fn reaches_the_daemon(to: &To<'_>) -> bool {
    match to {
        To::Process(p) => p.pid == std::process::id(),
        // SAFETY: getpgid(0) asks for this process's group.
        To::Group(_) | To::GroupId(_) => (unsafe { libc::getpgid(0) }) as u32 == target_process(to),
    }
}

/// The daemon's real, effective and saved uid, for kill(2)'s rule.
fn daemon_ids() -> [u32; 3] {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three valid pointers to uid_t.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    [r, e, s]
}

/// The process group of `pid` (getpgid(2)).
fn process_group(pid: u32) -> Result<u32> {
    // SAFETY: getpgid takes an integer and has no memory effects.
    let pgid = unsafe { libc::getpgid(pid as libc::pid_t) };
    if pgid <= 0 {
        return Err(Error::NoProcess);
    }
    Ok(pgid as u32)
}
