//! Who may do what to ipcfs's own nodes (remove, chmod, chown), as a
//! filesystem decides it, as pure functions of the ids involved. What the
//! kernel can decide (a signal, a socket, a bind) is never decided here:
//! the daemon acts as the caller and lets the kernel check
//! (caller::as_caller). Nothing here reads `/proc` or any state, and facts
//! that cost a system call to learn are passed as closures that are called
//! only when the cheaper facts do not decide.

use crate::caller::{Caller, Identity};

/// Removing or renaming an entry of a sticky directory (mode 1777, like
/// /tmp): only its owner or root.
pub fn may_remove(caller: &Caller, owner_uid: u32) -> bool {
    caller.owns(owner_uid)
}

/// chmod(2), and changing an object's settings (its writable xattrs).
pub fn may_change_mode(caller: &Caller, owner_uid: u32) -> bool {
    caller.owns(owner_uid)
}

/// chown(2) to another user: root only. "Changing" to the same owner is
/// allowed to anyone, as the kernel allows it.
pub fn may_change_owner(caller: &Caller, owner_uid: u32, new_uid: u32) -> bool {
    caller.is_root() || new_uid == owner_uid
}

/// chown(2) to a group: root, or the owner to one of its own groups; the
/// same group is allowed to anyone. `groups` gives the caller's
/// supplementary groups and is only asked when the other facts do not
/// decide.
pub fn may_change_group(
    caller: &Caller,
    owner: (u32, u32),
    new_gid: u32,
    groups: impl FnOnce() -> Vec<u32>,
) -> bool {
    let (owner_uid, owner_gid) = owner;
    if caller.is_root() || new_gid == owner_gid {
        return true;
    }
    caller.uid == owner_uid && (new_gid == caller.gid || groups().contains(&new_gid))
}

/// utimensat(2) with explicit times needs the owner; setting them to now
/// needs only write permission, which the kernel checks itself.
pub fn may_set_times(caller: &Caller, owner_uid: u32, explicit: bool) -> bool {
    !explicit || caller.owns(owner_uid)
}

/// `CAP_KILL` in linux/capability.h.
const CAP_KILL: u32 = 5;

/// kill(2)'s rule for a target whose real, effective and saved uids are
/// `target`: the sender's real or effective uid is the target's real or
/// saved uid, or the sender holds CAP_KILL. Asked only for the one target
/// the kernel cannot check for an acting thread: the daemon itself (a
/// thread may always signal its own process).
pub fn may_signal(sender: &Identity, target: &[u32; 3]) -> bool {
    let [real, _, saved] = *target;
    sender.capabilities & (1 << CAP_KILL) != 0
        || [sender.uid.real, sender.uid.effective]
            .iter()
            .any(|u| *u == real || *u == saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::caller::examples::{ALICE, BOB, ROOT};

    #[test]
    fn ownership_rules_table() {
        // (caller, owner uid) -> may remove / chmod
        for (caller, owner, allowed) in
            [(ROOT, 1000, true), (ALICE, 1000, true), (BOB, 1000, false)]
        {
            assert_eq!(may_remove(&caller, owner), allowed, "{caller:?}");
            assert_eq!(may_change_mode(&caller, owner), allowed, "{caller:?}");
            assert_eq!(may_set_times(&caller, owner, true), allowed, "{caller:?}");
            assert!(
                may_set_times(&caller, owner, false),
                "now is the kernel's check"
            );
        }
        // chown: (caller, owner, new uid) -> allowed
        for (caller, owner, new, allowed) in [
            (ROOT, 1000, 1001, true),
            (ALICE, 1000, 1001, false),
            (ALICE, 1000, 1000, true),
            (BOB, 1000, 1000, true),
            (BOB, 1000, 1001, false),
        ] {
            assert_eq!(
                may_change_owner(&caller, owner, new),
                allowed,
                "{caller:?} {new}"
            );
        }
        // chgrp: (caller, owner, new gid, caller's groups) -> allowed
        for (caller, new, groups, allowed) in [
            (ROOT, 5, vec![], true),
            (ALICE, 1000, vec![], true),
            (ALICE, 1000 + 7, vec![1007], true),
            (ALICE, 1008, vec![1007], false),
            (BOB, 1001, vec![], false),
            (BOB, 1000, vec![], true),
        ] {
            assert_eq!(
                may_change_group(&caller, (1000, 1000), new, || groups.clone()),
                allowed,
                "{caller:?} {new}"
            );
        }
    }

    #[test]
    fn chgrp_reads_groups_only_when_needed() {
        let asked = std::cell::Cell::new(false);
        assert!(may_change_group(&ROOT, (1000, 1000), 5, || {
            asked.set(true);
            vec![]
        }));
        assert!(!asked.get());
    }

    #[test]
    fn who_may_signal_the_daemon() {
        let identity = |real, effective, capabilities| Identity {
            tgid: 1,
            uid: crate::caller::Ids {
                real,
                effective,
                saved: effective,
            },
            gid: crate::caller::Ids {
                real: 0,
                effective: 0,
                saved: 0,
            },
            groups: None,
            capabilities,
            net: None,
        };
        let root_daemon = [0, 0, 0];
        assert!(may_signal(&identity(0, 0, 0), &root_daemon));
        assert!(!may_signal(&identity(1000, 1000, 0), &root_daemon));
        assert!(may_signal(
            &identity(1000, 1000, 1 << CAP_KILL),
            &root_daemon
        ));
        assert!(
            may_signal(&identity(1000, 0, 0), &root_daemon),
            "set-uid root"
        );
        assert!(may_signal(&identity(1000, 1000, 0), &[1000, 1000, 1000]));
        assert!(!may_signal(&identity(1001, 1001, 0), &[1000, 1000, 1000]));
    }
}
