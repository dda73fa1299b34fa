//! A caller's identity as the kernel would check it: read from the
//! caller's own thread when an action is taken for it.

use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use super::Caller;
use super::pidfd::Pidfd;
use super::proc::{self, Namespace, NamespaceId};
use crate::error::{Error, Result};

/// Real, effective and saved ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub real: u32,
    pub effective: u32,
    pub saved: u32,
}

impl Ids {
    fn of(ids: [u32; 3]) -> Ids {
        Ids {
            real: ids[0],
            effective: ids[1],
            saved: ids[2],
        }
    }

    fn all(id: u32) -> Ids {
        Ids::of([id; 3])
    }
}

/// What an action needs to know beyond the ids and capabilities (each
/// costs a `/proc` read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facets {
    /// Supplementary groups: for paths (a Unix socket's bind or connect).
    pub groups: bool,
    /// The network namespace: for sockets.
    pub net: bool,
}

impl Facets {
    /// kill(2) looks at uids and capabilities only.
    pub const SIGNALS: Facets = Facets {
        groups: false,
        net: false,
    };
    pub const SOCKETS: Facets = Facets {
        groups: true,
        net: true,
    };
}

/// Who the caller is, for the kernel: what the daemon wears to act for it.
#[derive(Debug)]
pub struct Identity {
    /// The caller's process (its thread group).
    pub tgid: u32,
    pub uid: Ids,
    pub gid: Ids,
    /// Supplementary groups, when [`Facets::groups`] was asked; without
    /// them an acting thread keeps the daemon's gids and groups (kill(2)
    /// looks at neither).
    pub groups: Option<Vec<u32>>,
    /// The effective capabilities that count for the daemon: the caller's,
    /// when it lives in the daemon's user namespace. A process of another
    /// user namespace (`unshare -r`) holds its capabilities only over
    /// what that namespace owns, never over the daemon's world: none.
    pub capabilities: u64,
    /// The caller's network namespace, held open, when it is not the
    /// daemon's (and [`Facets::net`] was asked).
    pub net: Option<OwnedFd>,
}

impl Identity {
    /// Reads the identity of the caller's thread. The thread is held by a
    /// pidfd while `/proc` is read and checked alive after, so that what
    /// was read is its own even if it was killed meanwhile and its id
    /// reused.
    ///
    /// A caller in a pid namespace the daemon cannot see (FUSE gives pid
    /// 0) is known only by its filesystem ids, with no capabilities; its
    /// network namespace cannot be known, so an action that needs it is
    /// refused (`EPERM`).
    pub fn of(caller: &Caller, facets: Facets) -> Result<Identity> {
        if caller.pid == 0 {
            if facets.net {
                log::info!(
                    "uid {}: refused: the caller is in a pid namespace the daemon cannot see, \
                     so its network namespace is unknown",
                    caller.uid
                );
                return Err(Error::NotPermitted);
            }
            return Ok(Identity {
                tgid: 0,
                uid: Ids::all(caller.uid),
                gid: Ids::all(caller.gid),
                groups: None,
                capabilities: 0,
                net: None,
            });
        }
        let thread = Pidfd::open_thread(caller.pid)?;
        let identity = Self::read(&thread, facets)?;
        if !thread.alive() {
            return Err(Error::NoProcess);
        }
        Ok(identity)
    }

    fn read(thread: &Pidfd, facets: Facets) -> Result<Identity> {
        let tid = thread.pid;
        // The ids through the pidfd where the kernel can say them (6.13);
        // the groups, and the ids on older kernels, from /proc.
        let status = match (thread.ids(), facets.groups) {
            (Some(_), false) => None,
            _ => Some(proc::status(tid).ok_or(Error::NoProcess)?),
        };
        let (tgid, uid, gid) = match (thread.ids(), &status) {
            (Some(ids), _) => (ids.tgid, ids.uid, ids.gid),
            (None, Some(s)) => (s.tgid, s.uid, s.gid),
            (None, None) => return Err(Error::NoProcess),
        };
        // Capabilities count in the daemon's user namespace only. A caller
        // whose effective uid is root's (kuid 0: only root makes a user
        // namespace that maps it) is root wherever it runs, and the look
        // at its namespace is spared.
        let mut capabilities = effective_capabilities(tid)?;
        if capabilities != 0
            && uid[1] != 0
            && proc::namespace(tid, Namespace::User)? != daemon_namespace(Namespace::User)?
        {
            capabilities = 0;
        }
        let net = if facets.net {
            let (fd, id) = proc::open_namespace(tid, Namespace::Net)?;
            (id != daemon_namespace(Namespace::Net)?).then_some(fd)
        } else {
            None
        };
        Ok(Identity {
            tgid,
            uid: Ids::of(uid),
            gid: Ids::of(gid),
            groups: status.filter(|_| facets.groups).map(|s| s.groups),
            capabilities,
            net,
        })
    }
}

/// The daemon's own namespaces, read once: they never change.
fn daemon_namespace(kind: Namespace) -> Result<NamespaceId> {
    static USER: OnceLock<Option<NamespaceId>> = OnceLock::new();
    static NET: OnceLock<Option<NamespaceId>> = OnceLock::new();
    let cell = match kind {
        Namespace::User => &USER,
        Namespace::Net => &NET,
    };
    // The process's first thread: every thread of the daemon shares its
    // namespaces (an acting thread that joined a caller's network
    // namespace is back in the daemon's before it serves anything else).
    cell.get_or_init(|| proc::namespace(std::process::id(), kind).ok())
        .ok_or(Error::NoProcess)
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, as two 32-bit halves.
pub(super) const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
pub(super) struct CapHeader {
    pub version: u32,
    pub pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(super) struct CapData {
    pub effective: u32,
    pub permitted: u32,
    pub inheritable: u32,
}

/// A thread's capability sets, as capget(2) gives them (0: this thread).
pub(super) fn capabilities(tid: u32) -> Result<[CapData; 2]> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: tid as i32,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: a valid header and room for the two halves version 3 writes.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(Error::from_os(&std::io::Error::last_os_error()));
    }
    Ok(data)
}

/// A thread's effective capabilities as one 64-bit set.
fn effective_capabilities(tid: u32) -> Result<u64> {
    let data = capabilities(tid)?;
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_of_this_thread_is_its_own() {
        let me = Caller::this_thread();
        let id = Identity::of(&me, Facets::SOCKETS).unwrap();
        let status = proc::status(me.pid).unwrap();
        assert_eq!(id.tgid, std::process::id());
        assert_eq!(id.uid, Ids::of(status.uid));
        assert_eq!(id.gid, Ids::of(status.gid));
        assert_eq!(id.groups, Some(status.groups));
        assert_eq!(id.capabilities, status.cap_effective, "same user namespace");
        assert!(id.net.is_none(), "the daemon's own network namespace");
        let id = Identity::of(&me, Facets::SIGNALS).unwrap();
        assert!(id.groups.is_none());
    }

    #[test]
    fn a_caller_the_daemon_cannot_see_has_its_fs_ids_and_no_sockets() {
        let hidden = Caller {
            uid: 1234,
            gid: 99,
            pid: 0,
        };
        let id = Identity::of(&hidden, Facets::SIGNALS).unwrap();
        assert_eq!((id.uid, id.gid), (Ids::all(1234), Ids::all(99)));
        assert_eq!(id.capabilities, 0);
        assert_eq!(
            Identity::of(&hidden, Facets::SOCKETS).err(),
            Some(Error::NotPermitted)
        );
        let gone = Caller {
            pid: i32::MAX as u32,
            ..hidden
        };
        assert_eq!(
            Identity::of(&gone, Facets::SIGNALS).err(),
            Some(Error::NoProcess)
        );
    }
}
