//! Acting as the caller: the calling thread wears the caller's identity
//! for one action, so that the kernel checks that action as the caller's
//! own, then takes the daemon's back.
//!
//! Credentials are per thread in the kernel; the raw system calls used
//! here (not glibc's set*id, which change every thread of the process)
//! change only the calling thread. While it acts the thread has:
//! - the caller's effective uid (and so filesystem uid) and its gids and
//!   groups: kill(2), bind(2) and connect(2) on a path, `SO_PEERCRED`,
//!   the socket's owner (`sk_uid`) are all the caller's;
//! - the caller's effective capabilities, and only those that count in the
//!   daemon's user namespace;
//! - the caller's network namespace, when it has its own;
//! - a real uid no process has ([`ACTING_REAL_UID`]) and a saved uid of 0.
//!
//! Why not the caller's real uid: kill(2) lets a user signal any thread
//! whose real or saved uid is theirs, and SIGKILL to one thread ends the
//! whole daemon. With this real uid and a saved uid of 0 no user can
//! signal, trace or renice an acting thread; the saved uid of 0 is what
//! lets it become root again. The cost: for kill(2)'s rule only the
//! caller's effective uid counts, not its real uid (they differ only in
//! set-user-ID programs).
//!
//! Invariant: a thread leaves [`as_caller`] with the daemon's identity,
//! whatever the action did (a panic included); if it cannot get it back
//! the daemon aborts rather than serve anyone with a user's identity.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;

use super::identity::{CAPABILITY_VERSION_3, CapData, CapHeader, Identity, capabilities};
use super::proc::{self, Namespace};
use crate::error::{Error, Result};

/// The real uid of a thread while it acts for a caller: `(uid_t)-3`, which
/// no account has (-1 is "no uid", -2 is used by some NFS set-ups).
pub const ACTING_REAL_UID: u32 = u32::MAX - 2;

/// The daemon's own identity, taken back after each action.
struct Own {
    /// Only a daemon running as root can act as anyone else; one that is
    /// not does no more than the user who mounted it can.
    root: bool,
    gid: [u32; 3],
    groups: Vec<u32>,
    capabilities: [CapData; 2],
    /// The daemon's network namespace, to come back to.
    net: Option<OwnedFd>,
}

impl Own {
    /// Whether `who` is the daemon's own identity for what it acts on:
    /// root, with the daemon's capabilities, in its network namespace,
    /// keeping its groups. Then there is nothing to wear.
    fn is(&self, who: &Identity) -> bool {
        who.uid.effective == 0
            && who.capabilities == self.effective()
            && who.net.is_none()
            && who.groups.is_none()
    }

    fn effective(&self) -> u64 {
        let [low, high] = self.capabilities;
        u64::from(low.effective) | (u64::from(high.effective) << 32)
    }

    /// Whether becoming root again restores the daemon's effective set by
    /// itself (the kernel makes it the permitted set when the effective
    /// uid becomes 0).
    fn root_restores_capabilities(&self) -> bool {
        self.capabilities
            .iter()
            .all(|half| half.effective == half.permitted)
    }
}

fn own() -> &'static Own {
    static OWN: OnceLock<Own> = OnceLock::new();
    OWN.get_or_init(|| {
        let (mut r, mut e, mut s) = (0, 0, 0);
        // SAFETY: three valid pointers to gid_t.
        unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
        Own {
            // SAFETY: geteuid has no memory effects.
            root: unsafe { libc::geteuid() } == 0,
            gid: [r, e, s],
            groups: nix::unistd::getgroups()
                .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
                .unwrap_or_default(),
            capabilities: capabilities(0).unwrap_or_default(),
            net: proc::open_namespace(std::process::id(), Namespace::Net)
                .ok()
                .map(|(fd, _)| fd),
        }
    })
}

/// Runs `act` on this thread wearing `who`'s identity, and takes the
/// daemon's back after. Fails (and runs nothing) if the identity cannot
/// be put on: a network namespace the daemon may not join, say.
pub fn as_caller<T>(who: &Identity, act: impl FnOnce() -> T) -> Result<T> {
    let own = own();
    if !own.root || own.is(who) {
        return Ok(act());
    }
    let worn = Worn::put_on(who, own)?;
    let result = act();
    drop(worn);
    Ok(result)
}

/// An identity being worn; dropping it takes the daemon's back.
struct Worn {
    own: &'static Own,
    /// Whether this thread joined another network namespace.
    moved: bool,
    /// Whether it took the caller's gids and groups.
    regrouped: bool,
    /// Whether it set its capabilities by hand (else the kernel's own
    /// change with the effective uid is undone by becoming root again).
    capabilities_set: bool,
}

impl Worn {
    fn put_on(who: &Identity, own: &'static Own) -> Result<Worn> {
        // From here on, whatever fails, the drop restores everything.
        let mut worn = Worn {
            own,
            moved: false,
            regrouped: false,
            capabilities_set: false,
        };
        if let Some(net) = &who.net {
            setns(net).inspect_err(|e| {
                log::info!(
                    "uid {}: cannot join its network namespace: {e}",
                    who.uid.effective
                )
            })?;
            worn.moved = true;
        }
        if let Some(groups) = &who.groups {
            worn.regrouped = true;
            check("setgroups", setgroups_raw(groups))?;
            let g = who.gid;
            // SAFETY: plain integers; only this thread's ids change.
            check("setresgid", unsafe {
                libc::syscall(libc::SYS_setresgid, g.real, g.effective, g.saved)
            })?;
        }
        // SAFETY: as above.
        check("setresuid", unsafe {
            libc::syscall(libc::SYS_setresuid, ACTING_REAL_UID, who.uid.effective, 0)
        })?;
        // Leaving euid 0 cleared the effective set (keeping euid 0 kept
        // the daemon's): the caller's own capabilities, where they count,
        // are what it must be (within the daemon's permitted set).
        let kept = if who.uid.effective == 0 {
            own.effective()
        } else {
            0
        };
        if who.capabilities != kept {
            worn.capabilities_set = true;
            let mut sets = own.capabilities;
            sets[0].effective = (who.capabilities as u32) & sets[0].permitted;
            sets[1].effective = ((who.capabilities >> 32) as u32) & sets[1].permitted;
            check("capset", capset(&sets))?;
        }
        Ok(worn)
    }
}

impl Drop for Worn {
    fn drop(&mut self) {
        let own = self.own;
        let g = own.gid;
        // SAFETY: plain integers and valid pointers; this thread only. The
        // saved uid of 0 allows the first call, which makes the rest
        // allowed.
        if unsafe { libc::syscall(libc::SYS_setresuid, 0, 0, 0) } != 0 {
            give_up("setresuid");
        }
        if (self.capabilities_set || !own.root_restores_capabilities())
            && capset(&own.capabilities) != 0
        {
            give_up("capset");
        }
        if self.regrouped {
            // SAFETY: as above.
            if unsafe { libc::syscall(libc::SYS_setresgid, g[0], g[1], g[2]) } != 0 {
                give_up("setresgid");
            }
            if setgroups_raw(&own.groups) != 0 {
                give_up("setgroups");
            }
        }
        if self.moved {
            match &own.net {
                Some(net) if setns(net).is_ok() => {}
                _ => give_up("setns back to the daemon's network namespace"),
            }
        }
    }
}

/// A thread that cannot take the daemon's identity back must serve no one.
fn give_up(what: &str) -> ! {
    let e = std::io::Error::last_os_error();
    log::error!("cannot take the daemon's identity back ({what}: {e}); stopping");
    std::process::abort();
}

fn check(what: &str, rc: libc::c_long) -> Result<()> {
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    log::warn!("acting as the caller: {what}: {e}");
    Err(Error::NotPermitted)
}

fn setgroups_raw(groups: &[libc::gid_t]) -> libc::c_long {
    // SAFETY: the list outlives the call; the kernel copies it.
    unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }
}

fn capset(sets: &[CapData; 2]) -> libc::c_long {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    // SAFETY: a valid header and the two halves version 3 reads.
    unsafe { libc::syscall(libc::SYS_capset, &mut header, sets.as_ptr()) }
}

fn setns(fd: &OwnedFd) -> Result<()> {
    // SAFETY: a valid namespace descriptor; joins it for this thread only.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(Error::from_os(&std::io::Error::last_os_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::{Caller, Facets, Ids};

    fn nobody() -> Identity {
        let ids = Ids {
            real: 65534,
            effective: 65534,
            saved: 65534,
        };
        Identity {
            tgid: std::process::id(),
            uid: ids,
            gid: ids,
            groups: Some(vec![65534]),
            capabilities: 0,
            net: None,
        }
    }

    #[test]
    fn a_thread_acts_as_the_caller_and_comes_back() {
        if !own().root {
            eprintln!("skipped: only a daemon running as root acts as another user");
            return;
        }
        let before = proc::status(0).is_none();
        assert!(before, "pid 0 is no process");
        // SAFETY: gettid has no memory effects.
        let tid = unsafe { libc::gettid() } as u32;
        let (status, kill_init) = as_caller(&nobody(), || {
            // SAFETY: kill with signal 0 only checks.
            let rc = unsafe { libc::kill(1, 0) };
            let errno = std::io::Error::last_os_error().raw_os_error();
            (proc::status(tid).unwrap(), (rc, errno))
        })
        .unwrap();
        assert_eq!(status.uid, [ACTING_REAL_UID, 65534, 0]);
        assert_eq!(status.gid, [65534; 3]);
        assert_eq!(status.groups, vec![65534]);
        assert_eq!(status.cap_effective, 0);
        assert_eq!(kill_init, (-1, Some(libc::EPERM)), "the kernel refused");
        let back = proc::status(tid).unwrap();
        assert_eq!(back.uid, [0; 3]);
        assert_eq!(
            back.cap_effective,
            u64::from(own().capabilities[0].effective)
                | (u64::from(own().capabilities[1].effective) << 32)
        );
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(1, 0) }, 0, "root again");
        // The caller's own identity, worn, changes nothing it may do.
        let me = Identity::of(&Caller::this_thread(), Facets::SOCKETS).unwrap();
        // SAFETY: as above.
        assert_eq!(as_caller(&me, || unsafe { libc::kill(1, 0) }), Ok(0));
    }

    #[test]
    fn capabilities_that_count_are_worn() {
        if !own().root {
            eprintln!("skipped: only a daemon running as root acts as another user");
            return;
        }
        const CAP_KILL: u64 = 1 << 5;
        let who = Identity {
            capabilities: CAP_KILL,
            ..nobody()
        };
        // SAFETY: kill with signal 0 only checks.
        let rc = as_caller(&who, || unsafe { libc::kill(1, 0) }).unwrap();
        assert_eq!(rc, 0, "CAP_KILL lets uid 65534 signal init");
    }
}
