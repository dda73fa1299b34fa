//! Signals by name: parsing what is written to `proc/PID/signal`, the
//! kill(2) permission rule, delivery through a pidfd, and the signal state
//! of a process in words.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};

/// Classic signals by number (index + 1), as the kernel numbers them on
/// x86-64 and most other architectures.
pub const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// Other names of the same signals.
pub const ALIASES: [(&str, i32); 4] = [
    ("IOT", libc::SIGABRT),
    ("CLD", libc::SIGCHLD),
    ("POLL", libc::SIGIO),
    ("UNUSED", libc::SIGSYS),
];

/// Bit of CAP_KILL in a capability set (linux/capability.h).
const CAP_KILL: u32 = 5;

fn rtmin() -> i32 {
    libc::SIGRTMIN()
}

fn rtmax() -> i32 {
    libc::SIGRTMAX()
}

/// One signal to send: its number (0 only probes) and the value queued
/// with it, if any (sigqueue(3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalSpec {
    pub signo: i32,
    pub value: Option<i32>,
}

/// Parses a signal's name or number: `TERM`, `SIGTERM`, `term`, `15`,
/// `RTMIN+3`, `RTMAX-1`, `0`.
pub fn parse_signal(word: &str) -> Result<i32> {
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
        let n: i32 = word.parse().map_err(|_| Error::InvalidArgument)?;
        if n == 0 || (1..=31).contains(&n) || (rtmin()..=rtmax()).contains(&n) {
            return Ok(n);
        }
        return Err(Error::InvalidArgument);
    }
    let upper = word.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(i) = NAMES.iter().position(|n| *n == name) {
        return Ok(i as i32 + 1);
    }
    if let Some((_, n)) = ALIASES.iter().find(|(a, _)| *a == name) {
        return Ok(*n);
    }
    let realtime = |base: i32, rest: &str, sign: i32| -> Result<i32> {
        let offset: i32 = match rest {
            "" => 0,
            _ => rest
                .strip_prefix(if sign > 0 { '+' } else { '-' })
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse().ok())
                .ok_or(Error::InvalidArgument)?,
        };
        // An offset as large as i32 allows would overflow the sum: out of
        // range either way.
        match base.checked_add(sign * offset) {
            Some(n) if (rtmin()..=rtmax()).contains(&n) => Ok(n),
            _ => Err(Error::InvalidArgument),
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return realtime(rtmin(), rest, 1);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return realtime(rtmax(), rest, -1);
    }
    Err(Error::InvalidArgument)
}

/// Parses a whole write: one signal per line, each optionally followed by
/// an integer to queue with it. Any bad line fails the whole write, so
/// that nothing is sent.
pub fn parse_request(text: &[u8]) -> Result<Vec<SignalSpec>> {
    let text = std::str::from_utf8(text).map_err(|_| Error::InvalidArgument)?;
    let mut specs = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        let signo = parse_signal(first)?;
        let value = match words.next() {
            None => None,
            Some(v) => Some(v.parse::<i32>().map_err(|_| Error::InvalidArgument)?),
        };
        if words.next().is_some() {
            return Err(Error::InvalidArgument);
        }
        specs.push(SignalSpec { signo, value });
    }
    if specs.is_empty() {
        return Err(Error::InvalidArgument);
    }
    Ok(specs)
}

/// A signal's name without `SIG`: `TERM`, `RTMIN+2`.
pub fn signal_name(signo: i32) -> String {
    match signo {
        1..=31 => NAMES[signo as usize - 1].to_string(),
        n if n == rtmin() => "RTMIN".into(),
        n if n == rtmax() => "RTMAX".into(),
        n if (rtmin()..rtmax()).contains(&n) => format!("RTMIN+{}", n - rtmin()),
        // Kernel-internal real-time signals below glibc's SIGRTMIN.
        n => format!("SIG{n}"),
    }
}

/// The credentials of a process that kill(2) looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creds {
    pub real_uid: u32,
    pub effective_uid: u32,
    pub saved_uid: u32,
    /// Holds CAP_KILL in its effective set.
    pub cap_kill: bool,
}

/// What `/proc/PID/status` says of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStatus {
    pub tgid: u32,
    pub creds: Creds,
    pub real_gid: u32,
    pub pending: u64,
    pub blocked: u64,
    pub ignored: u64,
    pub caught: u64,
}

pub fn parse_status(text: &str) -> Option<ProcStatus> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(':')))
            .map(str::trim)
    };
    let ids = |key: &str| -> Option<Vec<u32>> {
        field(key)?
            .split_whitespace()
            .map(|n| n.parse().ok())
            .collect()
    };
    let mask = |key: &str| u64::from_str_radix(field(key)?, 16).ok();
    let uids = ids("Uid")?;
    let gids = ids("Gid")?;
    let cap_eff = mask("CapEff")?;
    Some(ProcStatus {
        tgid: field("Tgid")?.parse().ok()?,
        creds: Creds {
            real_uid: *uids.first()?,
            effective_uid: *uids.get(1)?,
            saved_uid: *uids.get(2)?,
            cap_kill: cap_eff & (1 << CAP_KILL) != 0,
        },
        real_gid: *gids.first()?,
        pending: mask("SigPnd")? | mask("ShdPnd")?,
        blocked: mask("SigBlk")?,
        ignored: mask("SigIgn")?,
        caught: mask("SigCgt")?,
    })
}

/// Reads `/proc/<pid>/status`; `None` if there is no such process.
pub fn read_status(pid: u32) -> Option<ProcStatus> {
    parse_status(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Supplementary groups of a process, for `chown` to a group.
pub fn supplementary_groups(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Groups:")).map(|g| {
                g.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// The signal state of a process in words, one line per set.
pub fn describe(status: &ProcStatus) -> String {
    let names = |mask: u64| {
        let list: Vec<String> = (1..=64)
            .filter(|n| mask & (1u64 << (n - 1)) != 0)
            .map(signal_name)
            .collect();
        list.join(" ")
    };
    format!(
        "pending: {}\nblocked: {}\nignored: {}\ncaught: {}\n",
        names(status.pending),
        names(status.blocked),
        names(status.ignored),
        names(status.caught)
    )
    .replace(": \n", ":\n")
}

/// The process group of a process, from `/proc/<pid>/stat`.
pub fn process_group(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces and parens):
    // state, ppid, pgrp, ...
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(2)?.parse().ok()
}

/// The session of a process or thread, from `/proc/<pid>/stat`.
pub fn session(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(3)?.parse().ok()
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

/// Every process of a process group.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| process_group(*pid) == Some(pgid))
        .collect()
}

/// Sends `SIGPIPE` to a writing thread, as the kernel does for its own
/// pipes, before its write is answered with `EPIPE`.
pub fn send_sigpipe(tid: u32) {
    let Some(tgid) = read_status(tid).map(|s| s.tgid) else {
        return;
    };
    // SAFETY: tgkill has no memory effects; a wrong id only fails.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            tgid as libc::pid_t,
            tid as libc::pid_t,
            libc::SIGPIPE,
        )
    };
    if rc != 0 {
        log::debug!(
            "SIGPIPE to thread {tid} not sent: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// A process held by a pidfd: signals sent through it can never reach
/// another process that later got the same pid.
pub struct ProcessHandle {
    pidfd: OwnedFd,
    pub pid: u32,
}

/// `pidfd_open`'s flag for a pidfd of one thread (Linux 6.9).
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;

/// `PIDFD_GET_INFO` (Linux 6.13): `_IOWR(0xFF, 11, struct pidfd_info)`
/// with the first version of that struct, 64 bytes.
const PIDFD_GET_INFO: libc::c_ulong = (3 << 30) | (64 << 16) | (0xFF << 8) | 11;
const PIDFD_INFO_CREDS: u64 = 1 << 1;

/// The kernel's `struct pidfd_info`, first version.
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
}

/// A process's or thread's ids as its pidfd gives them, without reading
/// `/proc`. Capabilities are not among them: `creds.cap_kill` is false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub tgid: u32,
    pub creds: Creds,
}

impl ProcessHandle {
    pub fn open(pid: u32) -> Result<ProcessHandle> {
        Self::open_with(pid, 0)
    }

    /// A handle on one thread (any thread, not only a process's first);
    /// only for reading its ids, which are per thread.
    pub fn open_thread(tid: u32) -> Result<ProcessHandle> {
        Self::open_with(tid, PIDFD_THREAD)
    }

    /// The ids of the process (or thread) held, read through the pidfd
    /// itself; `None` if the kernel is older than 6.13 or it is gone.
    pub fn ids(&self) -> Option<Ids> {
        let mut info = PidfdInfo {
            mask: PIDFD_INFO_CREDS,
            ..PidfdInfo::default()
        };
        // SAFETY: `info` is a writable struct of the size the request names.
        let rc = unsafe {
            libc::ioctl(
                self.pidfd.as_raw_fd(),
                PIDFD_GET_INFO as _,
                &mut info as *mut PidfdInfo,
            )
        };
        if rc != 0 || info.mask & PIDFD_INFO_CREDS == 0 {
            return None;
        }
        Some(Ids {
            tgid: info.tgid,
            creds: Creds {
                real_uid: info.ruid,
                effective_uid: info.euid,
                saved_uid: info.suid,
                cap_kill: false,
            },
        })
    }

    fn open_with(pid: u32, flags: libc::c_uint) -> Result<ProcessHandle> {
        // SAFETY: pidfd_open takes plain integers and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, flags) };
        if fd < 0 {
            return Err(match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ESRCH) => Error::NoProcess,
                Some(libc::EINVAL) => Error::NotFound,
                _ => Error::NoProcess,
            });
        }
        // SAFETY: the syscall returned a fresh descriptor we now own.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(ProcessHandle { pidfd, pid })
    }

    /// Sends `spec` (signal 0 only checks that the process is alive). With
    /// a value, the signal carries it as `si_value` (`SI_QUEUE`).
    pub fn send(&self, spec: SignalSpec, sender_pid: u32, sender_uid: u32) -> Result<()> {
        let rc = match spec.value {
            None => {
                // SAFETY: a null siginfo makes this behave like kill(2).
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        self.pidfd.as_raw_fd(),
                        spec.signo,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                }
            }
            Some(value) => {
                let mut info = QueuedInfo::new(spec.signo, sender_pid, sender_uid, value);
                // SAFETY: `info` is a valid, fully initialised siginfo.
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        self.pidfd.as_raw_fd(),
                        spec.signo,
                        &mut info as *mut QueuedInfo,
                        0,
                    )
                }
            }
        };
        if rc == 0 {
            return Ok(());
        }
        Err(match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EPERM) => Error::NotPermitted,
            Some(libc::EINVAL) => Error::InvalidArgument,
            // The receiver's queue of real-time signals is full.
            Some(libc::EAGAIN) => Error::WouldBlock,
            _ => Error::NoProcess,
        })
    }
}

/// The kernel's `siginfo_t` for an `SI_QUEUE` signal, laid out as on
/// Linux: three ints, then (8-aligned) pid, uid and the value.
#[repr(C)]
struct QueuedInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad0: i32,
    pid: i32,
    uid: u32,
    value: u64,
    _rest: [u64; 12],
}

impl QueuedInfo {
    fn new(signo: i32, pid: u32, uid: u32, value: i32) -> Self {
        QueuedInfo {
            signo,
            errno: 0,
            code: libc::SI_QUEUE,
            _pad0: 0,
            pid: pid as i32,
            uid,
            // sival_int is the union's first 4 bytes (little-endian low half).
            value: value as u32 as u64,
            _rest: [0; 12],
        }
    }
}

const _: () = assert!(std::mem::size_of::<QueuedInfo>() == 128);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_realtime() {
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("SIGTERM"), Ok(15));
        assert_eq!(parse_signal("term"), Ok(15));
        assert_eq!(parse_signal("15"), Ok(15));
        assert_eq!(parse_signal("0"), Ok(0));
        assert_eq!(parse_signal("RTMIN+3"), Ok(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("rtmax-1"), Ok(libc::SIGRTMAX() - 1));
        assert_eq!(parse_signal("RTMIN"), Ok(libc::SIGRTMIN()));
        assert_eq!(
            parse_signal("RTMIN+2147483647"),
            Err(Error::InvalidArgument),
            "an offset that would overflow the sum"
        );
        assert_eq!(parse_signal("IOT"), Ok(libc::SIGABRT));
        for bad in [
            "FOO", "99", "32", "RTMIN+99", "RTMIN-1", "RTMIN+", "", "-1", "SIG",
        ] {
            assert_eq!(parse_signal(bad), Err(Error::InvalidArgument), "{bad}");
        }
    }

    #[test]
    fn requests_are_validated_whole() {
        assert_eq!(
            parse_request(b"USR1 42\nTERM\n"),
            Ok(vec![
                SignalSpec {
                    signo: libc::SIGUSR1,
                    value: Some(42)
                },
                SignalSpec {
                    signo: libc::SIGTERM,
                    value: None
                }
            ])
        );
        assert_eq!(parse_request(b"TERM junk\n"), Err(Error::InvalidArgument));
        assert_eq!(parse_request(b"TERM\nFOO\n"), Err(Error::InvalidArgument));
        assert_eq!(parse_request(b"USR1 1 2"), Err(Error::InvalidArgument));
        assert_eq!(parse_request(b"\n"), Err(Error::InvalidArgument));
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
    fn describes_signal_sets_by_name() {
        let me = read_status(std::process::id()).unwrap();
        assert_eq!(me.tgid, std::process::id());
        let s = ProcStatus {
            pending: 1 << (libc::SIGTERM - 1),
            blocked: (1 << (libc::SIGUSR2 - 1)) | (1u64 << (libc::SIGRTMIN() + 1)),
            ignored: 0,
            caught: 1 << (libc::SIGUSR1 - 1),
            ..me
        };
        assert_eq!(
            describe(&s),
            "pending: TERM\nblocked: USR2 RTMIN+2\nignored:\ncaught: USR1\n"
        );
    }

    /// The kernel's release as (major, minor).
    fn kernel_version() -> (u32, u32) {
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (major, minor)
    }

    #[test]
    fn a_pidfd_tells_the_ids_of_a_thread_and_of_a_process() {
        let me = read_status(std::process::id()).unwrap();
        // This thread: the harness's test thread (not the process's first,
        // whose pidfd would need no PIDFD_THREAD), or the first when tests
        // run one at a time.
        // SAFETY: gettid has no memory effects.
        let here = unsafe { libc::gettid() } as u32;
        let thread = ProcessHandle::open_thread(here).unwrap();
        let process = ProcessHandle::open(std::process::id()).unwrap();
        if kernel_version() < (6, 13) {
            eprintln!("skipped: PIDFD_GET_INFO came in Linux 6.13");
            return;
        }
        let expected = Ids {
            tgid: me.tgid,
            creds: Creds {
                cap_kill: false,
                ..me.creds
            },
        };
        assert_eq!(thread.ids(), Some(expected));
        assert_eq!(process.ids(), Some(expected));
    }
}
