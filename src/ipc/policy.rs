//! Who may do what: the permission rules of the kernel objects ipcfs
//! models, as pure functions of the ids involved. The fs layer and the
//! signal files ask these; nothing here reads `/proc` or any state, and
//! facts that cost a system call to learn are passed as closures that are
//! called only when the cheaper facts do not decide.

use super::signal::Creds;

/// Who is asking: the filesystem ids FUSE reports with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    /// The caller's thread id.
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

/// Binding an internet port: ports from `unprivileged_start`
/// (`net.ipv4.ip_unprivileged_port_start`, 1024 by default) and port 0 are
/// anyone's; lower ones need root or CAP_NET_BIND_SERVICE, which
/// `cap_net_bind_service` tells (asked only then).
pub fn may_bind_port(
    caller: &Caller,
    port: u16,
    unprivileged_start: u16,
    cap_net_bind_service: impl FnOnce() -> bool,
) -> bool {
    port == 0 || port >= unprivileged_start || caller.is_root() || cap_net_bind_service()
}

/// kill(2)'s uid rule: the sender's real or effective uid equals the
/// target's real or saved uid, or the sender holds CAP_KILL.
pub fn kill_uid_rule(sender: &Creds, target: &Creds) -> bool {
    sender.cap_kill
        || [sender.real_uid, sender.effective_uid]
            .iter()
            .any(|u| *u == target.real_uid || *u == target.saved_uid)
}

/// kill(2)'s whole rule: the uid rule; else CAP_KILL; else, for SIGCONT
/// only, a target in the sender's session. `cap_kill` and `same_session`
/// are asked only when the uids refuse (they cost a `/proc` read).
pub fn may_kill(
    sender: &Creds,
    target: &Creds,
    signo: i32,
    cap_kill: impl FnOnce() -> bool,
    same_session: impl FnOnce() -> bool,
) -> bool {
    if kill_uid_rule(sender, target) || cap_kill() {
        return true;
    }
    signo == libc::SIGCONT && same_session()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: Caller = Caller {
        uid: 0,
        gid: 0,
        pid: 1,
    };
    const ALICE: Caller = Caller {
        uid: 1000,
        gid: 1000,
        pid: 2,
    };
    const BOB: Caller = Caller {
        uid: 1001,
        gid: 1001,
        pid: 3,
    };

    fn creds(real: u32, effective: u32, saved: u32, cap_kill: bool) -> Creds {
        Creds {
            real_uid: real,
            effective_uid: effective,
            saved_uid: saved,
            cap_kill,
        }
    }

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
    fn low_ports_table() {
        // (caller, port, unprivileged start, capability) -> may bind
        for (caller, port, start, cap, allowed) in [
            (ALICE, 8080, 1024, false, true),
            (ALICE, 1024, 1024, false, true),
            (ALICE, 0, 1024, false, true),
            (ALICE, 80, 1024, false, false),
            (ALICE, 80, 1024, true, true),
            (ALICE, 80, 80, false, true),
            (ROOT, 80, 1024, false, true),
        ] {
            assert_eq!(
                may_bind_port(&caller, port, start, || cap),
                allowed,
                "{caller:?} {port} {start} {cap}"
            );
        }
    }

    #[test]
    fn kill_rule_table() {
        let user = creds(1000, 1000, 1000, false);
        let other = creds(1001, 1001, 1001, false);
        let root = creds(0, 0, 0, true);
        let setuid_child = creds(1000, 0, 0, true);
        let seteuid_user = creds(1001, 1000, 1001, false);
        let no = || false;
        let yes = || true;
        // (sender, target, signal, CAP_KILL, same session) -> allowed
        for (sender, target, signo, cap, session, allowed) in [
            (user, root, libc::SIGTERM, no(), no(), false),
            (root, user, libc::SIGTERM, no(), no(), true),
            (user, user, libc::SIGTERM, no(), no(), true),
            (user, setuid_child, libc::SIGTERM, no(), no(), true),
            (seteuid_user, user, libc::SIGTERM, no(), no(), true),
            (user, other, libc::SIGTERM, yes(), no(), true),
            (user, other, libc::SIGTERM, no(), yes(), false),
            (user, other, libc::SIGCONT, no(), yes(), true),
            (user, other, libc::SIGCONT, no(), no(), false),
        ] {
            assert_eq!(
                may_kill(&sender, &target, signo, || cap, || session),
                allowed,
                "{sender:?} -> {target:?} signal {signo}"
            );
        }
    }

    #[test]
    fn kill_rule_reads_capabilities_only_when_uids_refuse() {
        let user = creds(1000, 1000, 1000, false);
        let asked = std::cell::Cell::new(false);
        assert!(may_kill(
            &user,
            &user,
            libc::SIGTERM,
            || {
                asked.set(true);
                false
            },
            || false
        ));
        assert!(!asked.get());
    }
}
