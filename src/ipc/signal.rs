//! Signals by name: parsing what is written to `proc/PID/signal`, sending
//! through a pidfd (with the permission of the thread that sends: the
//! kernel's kill(2) rule), and the signal state of a process in words.

use std::os::fd::AsRawFd;

use crate::caller::pidfd::Pidfd;
use crate::caller::proc::{self, ProcStatus};
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

/// Signals one write may carry: more is `EINVAL`, and nothing is sent.
pub const MAX_SIGNALS_PER_WRITE: usize = 64;

/// Parses a whole write: one signal per line, each optionally followed by
/// an integer to queue with it. Any bad line fails the whole write, so
/// that nothing is sent.
pub fn parse_request(text: &[u8]) -> Result<Vec<SignalSpec>> {
    let text = std::str::from_utf8(text).map_err(|_| Error::InvalidArgument)?;
    let mut specs = Vec::new();
    for line in text.lines() {
        if specs.len() == MAX_SIGNALS_PER_WRITE {
            // Each signal is a system call or three of the daemon's: a
            // write of millions of lines would hold a thread for seconds.
            return Err(Error::InvalidArgument);
        }
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

/// Why [`parse_request`] refused `text`, in words, for the log.
pub fn why_not_a_request(text: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(text) else {
        return "not text".into();
    };
    let signals = text.lines().filter(|l| !l.trim().is_empty()).count();
    if signals > MAX_SIGNALS_PER_WRITE {
        return format!("{signals} signals in one write: at most {MAX_SIGNALS_PER_WRITE}");
    }
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else {
            continue;
        };
        if parse_signal(first).is_err() {
            return format!("{first:?} is not a signal name or number");
        }
        if let Some(value) = words.get(1) {
            if value.parse::<i32>().is_err() {
                let whole = value.strip_prefix('-').unwrap_or(value);
                return if !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) {
                    format!("the value {value} is out of range (a 32-bit signed integer)")
                } else {
                    format!("the value {value:?} is not an integer")
                };
            }
        }
        if words.len() > 2 {
            return format!("{line:?}: one signal and at most one value per line");
        }
    }
    "no signal named".into()
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

/// Sends `SIGPIPE` to a writing thread, as the kernel does for its own
/// pipes, before its write is answered with `EPIPE`.
pub fn send_sigpipe(tid: u32) {
    let Some(tgid) = proc::status(tid).map(|s| s.tgid) else {
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

/// Where a signal goes.
pub enum To<'a> {
    /// The process held.
    Process(&'a Pidfd),
    /// Every process of the group the process held leads: kill(2) to
    /// `-PGID`, done by the kernel.
    Group(&'a Pidfd),
    /// Every process of a group whose leader has ended, by its id (no
    /// pidfd can hold it): a plain kill(2) to `-PGID`, which can carry
    /// no value and names the daemon as sender.
    GroupId(u32),
}

/// `PIDFD_SIGNAL_PROCESS_GROUP` (Linux 6.9): the pidfd's process is a
/// group leader, and the signal goes to its whole group.
const PIDFD_SIGNAL_PROCESS_GROUP: libc::c_uint = 1 << 2;

/// Sends `spec` (signal 0 only checks) to `to`, from the process
/// `from_pid` of the real user `from_uid`, with the permission of the
/// thread that calls this: the kernel's kill(2) rule decides (see
/// caller::as_caller). Through a pidfd the signal carries an `SI_QUEUE`
/// siginfo naming the sender, with `spec`'s value or 0, so that the
/// receiver sees who sent it rather than the daemon.
pub fn send(to: &To<'_>, spec: SignalSpec, from_pid: u32, from_uid: u32) -> Result<()> {
    let mut info = QueuedInfo::new(spec.signo, from_pid, from_uid, spec.value.unwrap_or(0));
    let (pidfd, flags) = match to {
        To::Process(p) => (p, 0),
        To::Group(p) => (p, PIDFD_SIGNAL_PROCESS_GROUP),
        To::GroupId(_) if spec.value.is_some() => return Err(Error::InvalidArgument),
        To::GroupId(pgid) => {
            // SAFETY: kill takes integers and has no memory effects.
            let rc = unsafe { libc::kill(-(*pgid as libc::pid_t), spec.signo) };
            return sent(rc as libc::c_long);
        }
    };
    // SAFETY: `info` is a valid, fully initialised siginfo.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            spec.signo,
            &mut info as *mut QueuedInfo,
            flags,
        )
    };
    sent(rc)
}

fn sent(rc: libc::c_long) -> Result<()> {
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
        let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        let names = [
            ("TERM", 15),
            ("SIGTERM", 15),
            ("term", 15),
            ("15", 15),
            ("0", 0),
            ("RTMIN+3", rtmin + 3),
            ("rtmax-1", rtmax - 1),
            ("RTMIN", rtmin),
            ("IOT", libc::SIGABRT),
        ];
        for (name, signo) in names {
            assert_eq!(parse_signal(name), Ok(signo), "{name}");
        }
        assert_eq!(
            parse_signal("RTMIN+2147483647"),
            Err(Error::InvalidArgument),
            "an offset that would overflow the sum"
        );
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
    fn a_refused_request_says_why() {
        assert_eq!(
            why_not_a_request(b"USR1 2147483648\n"),
            "the value 2147483648 is out of range (a 32-bit signed integer)"
        );
        assert_eq!(
            why_not_a_request(b"USR1 x"),
            "the value \"x\" is not an integer"
        );
        assert_eq!(
            why_not_a_request(b"TERM\nFOO\n"),
            "\"FOO\" is not a signal name or number"
        );
        assert_eq!(
            why_not_a_request(b"USR1 1 2"),
            "\"USR1 1 2\": one signal and at most one value per line"
        );
        assert_eq!(why_not_a_request(b"\n"), "no signal named");
        let many = "0\n".repeat(MAX_SIGNALS_PER_WRITE + 1);
        assert_eq!(parse_request(many.as_bytes()), Err(Error::InvalidArgument));
        assert_eq!(
            why_not_a_request(many.as_bytes()),
            format!("65 signals in one write: at most {MAX_SIGNALS_PER_WRITE}")
        );
        let enough = "0\n".repeat(MAX_SIGNALS_PER_WRITE);
        assert_eq!(parse_request(enough.as_bytes()).map(|s| s.len()), Ok(64));
        assert_eq!(why_not_a_request(b"\xff"), "not text");
    }

    #[test]
    fn describes_signal_sets_by_name() {
        let me = crate::caller::proc::status(std::process::id()).unwrap();
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
}
