//! The caller: who asks for each request, and acting as them.
//!
//! FUSE tells each request's thread id and filesystem uid and gid
//! ([`Caller`]). What the kernel would check if the caller did a thing
//! itself — its real, effective and saved ids, supplementary groups,
//! capabilities, user and network namespace — is read here, from the
//! caller's thread ([`Identity`]), and only here: every `/proc` read about a
//! process lives in [`proc`], every pidfd in [`pidfd`].
//!
//! The rule this module keeps: the daemon never decides a permission the
//! kernel can decide. An action in the outside world taken for a caller (a
//! signal, a socket, a bind, a connect) runs wearing the caller's
//! [`Identity`] ([`as_caller`]), so the kernel's own checks apply to it.

mod act;
pub mod deputy;
mod identity;
pub mod pidfd;
pub mod proc;

pub use act::{ACTING_REAL_UID, as_caller};
pub use identity::{Facets, Identity, Ids};

/// Who is asking: the filesystem ids FUSE reports with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    /// The caller's thread id; 0 when the caller lives in a pid namespace
    /// the daemon cannot see.
    pub pid: u32,
}

impl Caller {
    /// The calling thread itself, as a request from it would show it
    /// (for driving the filesystem without a mount).
    pub fn this_thread() -> Caller {
        // SAFETY: getuid, getgid and gettid have no memory effects.
        unsafe {
            Caller {
                uid: libc::getuid(),
                gid: libc::getgid(),
                pid: libc::gettid() as u32,
            }
        }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// The owner of a node, or root.
    pub fn owns(&self, owner_uid: u32) -> bool {
        self.is_root() || self.uid == owner_uid
    }
}

/// Callers for the unit tests: root and two users.
#[cfg(test)]
pub(crate) mod examples {
    use super::Caller;

    pub const ROOT: Caller = Caller {
        uid: 0,
        gid: 0,
        pid: 1,
    };
    pub const ALICE: Caller = Caller {
        uid: 1000,
        gid: 1000,
        pid: 2,
    };
    pub const BOB: Caller = Caller {
        uid: 1001,
        gid: 1001,
        pid: 3,
    };
}
