//! Every `/proc` read about a process or thread: what its status says,
//! whether it is dying of a signal, which namespaces it is in. Callers of
//! these hold a pidfd where an id could be reused under them.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;

use crate::error::{Error, Result};

/// What `/proc/PID/status` says of a process or thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStatus {
    pub tgid: u32,
    /// Real, effective and saved uid.
    pub uid: [u32; 3],
    /// Real, effective and saved gid.
    pub gid: [u32; 3],
    pub groups: Vec<u32>,
    /// Effective capabilities, relative to the task's own user namespace.
    pub cap_effective: u64,
    pub pending: u64,
    pub blocked: u64,
    pub ignored: u64,
    pub caught: u64,
}

impl ProcStatus {
    pub fn real_uid(&self) -> u32 {
        self.uid[0]
    }

    pub fn real_gid(&self) -> u32 {
        self.gid[0]
    }
}

pub fn parse_status(text: &str) -> Option<ProcStatus> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(':')))
            .map(str::trim)
    };
    let numbers = |key: &str| -> Option<Vec<u32>> {
        field(key)?
            .split_whitespace()
            .map(|n| n.parse().ok())
            .collect()
    };
    let three = |key: &str| -> Option<[u32; 3]> {
        let ids = numbers(key)?;
        Some([*ids.first()?, *ids.get(1)?, *ids.get(2)?])
    };
    let mask = |key: &str| u64::from_str_radix(field(key)?, 16).ok();
    Some(ProcStatus {
        tgid: field("Tgid")?.parse().ok()?,
        uid: three("Uid")?,
        gid: three("Gid")?,
        groups: numbers("Groups").unwrap_or_default(),
        cap_effective: mask("CapEff")?,
        pending: mask("SigPnd")? | mask("ShdPnd")?,
        blocked: mask("SigBlk")?,
        ignored: mask("SigIgn")?,
        caught: mask("SigCgt")?,
    })
}

/// Reads `/proc/<pid>/status`; `None` if there is no such process.
pub fn status(pid: u32) -> Option<ProcStatus> {
    if pid == 0 {
        return None;
    }
    parse_status(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// A live process (not a thread of one) with this id.
pub fn live_process(pid: u32) -> Result<ProcStatus> {
    match status(pid) {
        Some(s) if s.tgid == pid => Ok(s),
        _ => Err(Error::NotFound),
    }
}

/// True when thread `tid` has a signal pending that it does not block, or
/// no longer exists. Reads `SigPnd`, `ShdPnd` and `SigBlk` of
/// `/proc/<tid>/status`. Any other failure to read it (no descriptor left,
/// say) is no sign of a signal: the call stays parked.
pub fn signal_pending(tid: u32) -> bool {
    if tid == 0 {
        // A caller in another pid namespace: FUSE reports its pid as 0,
        // and /proc cannot say anything of it. Only the kernel's
        // interrupts end its calls.
        return false;
    }
    match fs::read_to_string(format!("/proc/{tid}/status")) {
        Ok(status) => pending_in_status(&status),
        Err(e) => matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH)),
    }
}

/// Whether a status text shows a pending signal that is not blocked.
pub fn pending_in_status(status: &str) -> bool {
    let mut pending = 0u64;
    let mut blocked = 0u64;
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let Ok(bits) = u64::from_str_radix(value.trim(), 16) else {
            continue;
        };
        match key {
            "SigPnd" | "ShdPnd" => pending |= bits,
            "SigBlk" => blocked = bits,
            _ => {}
        }
    }
    // SIGKILL and SIGSTOP cannot be blocked, whatever SigBlk says.
    let unblockable = (1u64 << (libc::SIGKILL - 1)) | (1u64 << (libc::SIGSTOP - 1));
    pending & !(blocked & !unblockable) != 0
}

/// `PF_EXITING` in a task's flags (include/linux/sched.h): the task is
/// in do_exit().
const PF_EXITING: u64 = 0x4;

/// Whether thread `tid` is exiting because a signal killed it: its flags
/// say it is exiting and its exit code holds a signal number, which do_exit
/// sets before it closes the task's files. So a FLUSH sent by the close of
/// a killed writer's descriptor can tell that death from a normal exit,
/// whose exit code has no signal. False when it cannot be read.
pub fn killed_by_signal(tid: u32) -> bool {
    fs::read_to_string(format!("/proc/{tid}/stat"))
        .ok()
        .is_some_and(|stat| stat_says_killed(&stat))
}

fn stat_says_killed(stat: &str) -> bool {
    let Some((_, after)) = stat.rsplit_once(')') else {
        return false;
    };
    // Fields from the state (field 3) on: flags is field 9, exit_code 52.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let number = |field: usize| fields.get(field - 3).and_then(|f| f.parse::<u64>().ok());
    match (number(9), number(52)) {
        (Some(flags), Some(exit_code)) => flags & PF_EXITING != 0 && exit_code & 0x7f != 0,
        _ => false,
    }
}

/// A namespace as the kernel names it: the device and inode of its
/// `/proc/TID/ns/KIND` file. Two tasks are in the same namespace exactly
/// when these are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceId {
    dev: u64,
    ino: u64,
}

/// The kinds of namespace ipcfs looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    User,
    Net,
}

impl Namespace {
    fn file(self) -> &'static str {
        match self {
            Namespace::User => "user",
            Namespace::Net => "net",
        }
    }
}

/// The namespace of `kind` that thread `tid` (0: this thread) is in.
pub fn namespace(tid: u32, kind: Namespace) -> Result<NamespaceId> {
    let meta = fs::metadata(namespace_path(tid, kind)).map_err(|e| Error::from_os(&e))?;
    Ok(NamespaceId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// The namespace of `kind` that thread `tid` (0: this thread) is in, held
/// open (for setns(2)), with its id.
pub fn open_namespace(tid: u32, kind: Namespace) -> Result<(OwnedFd, NamespaceId)> {
    let file = fs::File::open(namespace_path(tid, kind)).map_err(|e| Error::from_os(&e))?;
    let meta = file.metadata().map_err(|e| Error::from_os(&e))?;
    let id = NamespaceId {
        dev: meta.dev(),
        ino: meta.ino(),
    };
    Ok((OwnedFd::from(file), id))
}

fn namespace_path(tid: u32, kind: Namespace) -> String {
    if tid == 0 {
        format!("/proc/thread-self/ns/{}", kind.file())
    } else {
        format!("/proc/{tid}/ns/{}", kind.file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_text_gives_ids_groups_capabilities_and_signals() {
        let text = "Name:\tsh\nTgid:\t42\nPid:\t43\nUid:\t1000\t1001\t1002\t1001\n\
                    Gid:\t100\t101\t102\t101\nGroups:\t4 27 100 \nSigPnd:\t0000000000000000\n\
                    ShdPnd:\t0000000000004000\nSigBlk:\t0000000000010000\n\
                    SigIgn:\t0000000000000004\nSigCgt:\t0000000000000002\n\
                    CapEff:\t0000000000000020\n";
        let s = parse_status(text).unwrap();
        assert_eq!(s.tgid, 42);
        assert_eq!((s.uid, s.gid), ([1000, 1001, 1002], [100, 101, 102]));
        assert_eq!(s.groups, vec![4, 27, 100]);
        assert_eq!(s.cap_effective, 1 << 5);
        assert_eq!((s.pending, s.blocked), (0x4000, 0x10000));
        assert_eq!((s.ignored, s.caught), (4, 2));
        assert!(parse_status("Tgid:\t1\n").is_none());
        assert!(pending_in_status(text), "TERM pending, not blocked");
    }

    #[test]
    fn a_stat_line_tells_a_killed_task_from_one_that_exits() {
        let stat = |flags: u64, exit_code: u64| {
            let mut fields = vec!["0".to_string(); 50];
            fields[0] = "R".into();
            fields[6] = flags.to_string();
            fields[49] = exit_code.to_string();
            format!("123 (a (b) c) {}", fields.join(" "))
        };
        assert!(stat_says_killed(&stat(0x4 | 0x400000, 9)), "SIGKILL");
        assert!(stat_says_killed(&stat(0x4, 15 | 0x80)), "SIGTERM, core");
        assert!(!stat_says_killed(&stat(0x4, 0)), "exit(0)");
        assert!(!stat_says_killed(&stat(0x4, 3 << 8)), "exit(3)");
        assert!(!stat_says_killed(&stat(0x400000, 9)), "not exiting");
        assert!(!stat_says_killed("garbage"));
        // SAFETY: gettid has no memory effects.
        let me = unsafe { libc::gettid() } as u32;
        assert!(!killed_by_signal(me));
    }

    #[test]
    fn this_thread_shares_its_process_namespaces() {
        for kind in [Namespace::User, Namespace::Net] {
            let here = namespace(0, kind).unwrap();
            assert_eq!(namespace(std::process::id(), kind), Ok(here));
            assert_eq!(open_namespace(0, kind).unwrap().1, here);
        }
        assert!(namespace(u32::MAX / 2, Namespace::Net).is_err());
    }

    #[test]
    fn reads_pending_minus_blocked() {
        let status = "Name:\tcat\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000002\n\
                      SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n";
        assert!(pending_in_status(status), "SIGINT pending for the process");
        let blocked = "SigPnd:\t0000000000000000\nShdPnd:\t0000000000000002\n\
                       SigBlk:\t0000000000000002\n";
        assert!(!pending_in_status(blocked), "SIGINT blocked");
        let killed = "SigPnd:\t0000000000000100\nShdPnd:\t0000000000000000\n\
                      SigBlk:\tffffffffffffffff\n";
        assert!(pending_in_status(killed), "SIGKILL cannot be blocked");
        let idle = "SigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n\
                    SigBlk:\t0000000000000000\n";
        assert!(!pending_in_status(idle));
    }

    #[test]
    fn own_thread_has_nothing_pending_and_a_gone_thread_counts_as_signalled() {
        // SAFETY: gettid has no memory effects.
        let tid = unsafe { libc::gettid() } as u32;
        assert!(!signal_pending(tid));
        assert!(signal_pending(u32::MAX - 1));
        assert!(
            !signal_pending(0),
            "pid 0: another pid namespace, not a gone thread"
        );
    }
}
