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
use crate::caller::proc::{ProcStatus, live_process};
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

/// An open of a signal file, with what it was opened for: the process,
/// held by a pidfd taken at open (a signal never reaches another process
/// that got its id later; a process that ended since is `ESRCH`), and,
/// for writing, the opener's identity. As the kernel checks a file's
/// rights with the credentials of its open, a write signals with the
/// opener's rights whoever makes it: a set-user-ID program handed the
/// descriptor writes with its opener's, never its own.
pub struct Opened {
    target: Target,
    process: Pidfd,
    sender: Option<Identity>,
}

impl Opened {
    /// Opens `target` for `opener` (`writing`: to send it signals).
    pub fn open(target: Target, opener: &Caller, writing: bool) -> Result<Opened> {
        let process = Pidfd::open(target.pid())?;
        let sender = match writing {
            true => Some(Identity::of(opener, Facets::SIGNALS)?),
            false => None,
        };
        Ok(Opened {
            target,
            process,
            sender,
        })
    }

    /// The process's status, as long as it is still the one opened.
    pub fn status(&self) -> Result<ProcStatus> {
        let status = live_process(self.process.pid);
        match self.process.alive() {
            true => status,
            false => Err(Error::NoProcess),
        }
    }

    /// Sends the signals of `data`. Returns the bytes consumed (all).
    pub fn deliver(&self, data: &[u8]) -> Result<usize> {
        let sender = self.sender.as_ref().ok_or(Error::BadHandle)?;
        deliver(self, sender, data)
    }
}

fn deliver(opened: &Opened, sender: &Identity, data: &[u8]) -> Result<usize> {
    let specs = parse_request(data).inspect_err(|_| {
        log::info!(
            "signal request {:?} refused: {}",
            String::from_utf8_lossy(data).trim_end(),
            signal::why_not_a_request(data)
        )
    })?;
    let pid = opened.target.pid();
    let (uid, euid) = (sender.uid.real, sender.uid.effective);
    let leader;
    let (to, shown) = match opened.target {
        Target::Process(_) => (To::Process(&opened.process), pid.to_string()),
        Target::GroupOf(_) => {
            let pgid = process_group(&opened.process)?;
            // A group is held by its leader, while the leader lives.
            leader = Pidfd::open(pgid).ok();
            let to = match &leader {
                Some(p) => To::Group(p),
                None => To::GroupId(pgid),
            };
            (to, format!("the process group {pgid} of {pid}"))
        }
    };
    if reaches_the_daemon(&to) && !policy::may_signal(sender, &daemon_ids()) {
        log::info!(
            "uid {uid} (euid {euid}) may not signal {shown}: it reaches the ipcfs daemon itself"
        );
        return Err(Error::NotPermitted);
    }
    // Every signal, even when one fails (a target that exited meanwhile, a
    // full queue of real-time signals): the write succeeds if any went,
    // and the log says which did not.
    let results: Vec<(SignalSpec, Result<()>)> = specs
        .iter()
        .map(|spec| (*spec, send_as(sender, &to, *spec)))
        .collect();
    let mut first_error = None;
    for (spec, result) in &results {
        let name = signal::signal_name(spec.signo);
        match result {
            Ok(()) => log::debug!("uid {uid} (euid {euid}) sent {name} to {shown}"),
            Err(Error::InvalidArgument) if matches!(to, To::GroupId(_)) => {
                log::info!(
                    "uid {uid}: {name} with a value not sent to {shown}: its leader has ended, \
                     and only a signal without a value reaches a group by its id"
                );
                first_error.get_or_insert(Error::InvalidArgument);
            }
            Err(e) => {
                log::info!("uid {uid} (euid {euid}) may not send {name} to {shown}: {e}");
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
/// and the answer is no). getsid answers 0 for a session led from outside
/// the daemon's pid namespace: two such may differ, and the answer is no.
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

/// The process group of the process held (getpgid(2)), read while it
/// lives: alive before and after, its id was its own in between.
fn process_group(process: &Pidfd) -> Result<u32> {
    if !process.alive() {
        return Err(Error::NoProcess);
    }
    // SAFETY: getpgid takes an integer and has no memory effects.
    let pgid = unsafe { libc::getpgid(process.pid as libc::pid_t) };
    if pgid <= 0 || !process.alive() {
        return Err(Error::NoProcess);
    }
    Ok(pgid as u32)
}
