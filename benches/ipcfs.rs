//! The benchmark of ipcfs: every workload runs on the kernel's own object,
//! on ipcfs, and on a do-nothing FUSE filesystem mounted the same way (the
//! "FUSE ceiling": what any daemon with these mount options, this
//! `max_write` and this many dispatch threads could reach), all in one run.
//! Prints one table and writes the same figures as JSON to
//! `target/bench/ipcfs.json`.
//!
//! `cargo bench --bench ipcfs` runs the full version (under 3 minutes on 2
//! cores); with `IPCFS_BENCH_QUICK=1` a smoke version of about 10 seconds,
//! which `.ci/run` runs so that the bench keeps working. No figure is
//! asserted; a workload that fails (an error, a short read, a hang) is
//! reported and makes the bench exit non-zero. `IPCFS_BENCH_ONLY=queues`
//! (a comma-separated list of pipes, queues, latency, signals, parking,
//! objects) runs only those workloads.
//!
//! It needs root and `/dev/fuse`; elsewhere it prints why and skips (under
//! CI, with `CI` set, it fails instead).
//!
//! Every process that does I/O is a child: this binary re-executed with
//! `IPCFS_BENCH_ROLE` set (see [`child_main`]). The parent starts them,
//! waits until each has opened its files and says "ready", releases them
//! together ("go" on stdin) and reads back the CLOCK_MONOTONIC instants they
//! print, so a span runs from the first start to the last end across
//! processes. A watchdog thread ends the bench, cleaning up, if a workload
//! hangs or the bench gets SIGINT/SIGTERM/SIGHUP.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::{CString, OsStr};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, OpenFlags, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, ReplyXattr, Request, WriteFlags,
};
use ipcfs::limits::IoLimits;

/// The daemon under test, built by cargo in the bench's (release) profile.
const DAEMON: &str = env!("CARGO_BIN_EXE_ipcfs");
/// Set in the environment of a child process: what it is to do.
const ROLE_ENV: &str = "IPCFS_BENCH_ROLE";
/// Dispatch threads of the ceiling: as many as ipcfs runs (src/run.rs).
const DISPATCH_THREADS: usize = 2;
/// Size of every queue message.
const MSG: usize = 64;
/// Signals a sender may have sent that the receiver has not yet taken.
/// Keeps the real-time signal queue short (its limit is per user).
const SIGNAL_WINDOW: u64 = 64;
/// Queue depth of ipcfs's queues (its default), asked of POSIX queues too.
const QUEUE_DEPTH: i64 = 256;
/// Messages per system call in batch mode (writes of this many records,
/// reads of a buffer that holds this many).
const BATCH: usize = 64;
/// Bytes of one 64-byte message as a batch-mode record.
const RECORD: usize = 4 + MSG;

// ---------------------------------------------------------------------------
// Sizes

struct Sizes {
    quick: bool,
    /// Bytes through a pipe per chunk size.
    pipe_bytes: u64,
    /// Messages per queue message-rate run.
    messages: u64,
    /// Timed ping-pong round trips, after `warmup` untimed ones.
    rounds: u64,
    warmup: u64,
    /// Probes (signal 0) per run, and real signals delivered per run.
    probes: u64,
    signals: u64,
    /// Callers parked at once.
    parked: usize,
    /// Objects created, listed and removed.
    objects: usize,
    /// How long the daemon's CPU use is watched with every caller parked.
    idle: Duration,
    /// Longest any one workload may take before the bench calls it a hang.
    phase_limit: Duration,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                quick,
                pipe_bytes: 64 << 20,
                messages: 20_000,
                rounds: 2_000,
                warmup: 200,
                probes: 10_000,
                signals: 5_000,
                parked: 1_000,
                objects: 10_000,
                // Longer than ipcfs's 1 s sweep of parked callers.
                idle: Duration::from_millis(1200),
                phase_limit: Duration::from_secs(60),
            }
        } else {
            Sizes {
                quick,
                pipe_bytes: 1 << 30,
                messages: 200_000,
                rounds: 20_000,
                warmup: 2_000,
                probes: 100_000,
                signals: 50_000,
                parked: 10_000,
                objects: 100_000,
                // Long enough to span one /proc sweep of parked callers.
                idle: ipcfs::interrupt::SWEEP_INTERVAL + Duration::from_secs(1),
                phase_limit: Duration::from_secs(120),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Small helpers shared by parent and children

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process.
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn cstring(s: &[u8]) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{:?} has a NUL byte", String::from_utf8_lossy(s)))
}

fn cpath(p: &Path) -> Result<CString, String> {
    cstring(p.as_os_str().as_bytes())
}

fn is_mounted(dir: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let wanted = dir.as_os_str().as_bytes();
    info.lines()
        .any(|l| l.split(' ').nth(4).map(str::as_bytes) == Some(wanted))
}

/// Mountpoints at or below `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(dir))
        .map(str::to_string)
        .collect()
}

fn getxattr_number(path: &Path, name: &str) -> Option<u64> {
    let p = cpath(path).ok()?;
    let n = cstring(name.as_bytes()).ok()?;
    let mut buf = [0u8; 64];
    // SAFETY: both strings are NUL-terminated and the buffer is ours.
    let r = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return None;
    }
    std::str::from_utf8(&buf[..r as usize])
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn setxattr(path: &Path, name: &str, value: &str) -> Result<(), String> {
    let p = cpath(path)?;
    let n = cstring(name.as_bytes())?;
    // SAFETY: both strings are NUL-terminated; the value is a plain slice.
    let r = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        return Err(format!(
            "setxattr {name} on {}: {}",
            path.display(),
            errno()
        ));
    }
    Ok(())
}

/// Makes an ipcfs object (a pipe in pipes/, a queue in queues/) the way
/// mknod(1) would, without opening it.
fn make_object(path: &Path) -> Result<(), String> {
    let p = cpath(path)?;
    // SAFETY: a NUL-terminated path and plain integers.
    if unsafe { libc::mknod(p.as_ptr(), libc::S_IFREG | 0o644, 0) } != 0 {
        return Err(format!("mknod {}: {}", path.display(), errno()));
    }
    Ok(())
}

fn make_fifo(path: &Path) -> Result<(), String> {
    let p = cpath(path)?;
    // SAFETY: a NUL-terminated path and a mode.
    if unsafe { libc::mkfifo(p.as_ptr(), 0o600) } != 0 {
        return Err(format!("mkfifo {}: {}", path.display(), errno()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// POSIX message queues, through libc

fn mq_open(name: &str, flags: i32) -> Result<libc::mqd_t, String> {
    let n = cstring(name.as_bytes())?;
    // SAFETY: a NUL-terminated name; without O_CREAT no further argument.
    let q = unsafe { libc::mq_open(n.as_ptr(), flags | libc::O_CLOEXEC) };
    if q < 0 {
        return Err(format!("mq_open {name}: {}", errno()));
    }
    Ok(q)
}

/// Creates a queue (`O_EXCL`) and closes it.
fn mq_create(name: &str, max_messages: i64, message_size: i64) -> Result<(), std::io::Error> {
    let n = CString::new(name).map_err(std::io::Error::other)?;
    // SAFETY: mq_attr is plain data; zero is a valid start.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    attr.mq_maxmsg = max_messages as _;
    attr.mq_msgsize = message_size as _;
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC;
    // SAFETY: with O_CREAT, mq_open takes a mode and a valid attr pointer.
    let q = unsafe { libc::mq_open(n.as_ptr(), flags, 0o600 as libc::c_uint, &mut attr) };
    if q < 0 {
        return Err(errno());
    }
    // SAFETY: q is the descriptor just opened.
    unsafe { libc::mq_close(q) };
    Ok(())
}

fn mq_unlink(name: &str) -> bool {
    let Ok(n) = CString::new(name) else {
        return false;
    };
    // SAFETY: a NUL-terminated name.
    unsafe { libc::mq_unlink(n.as_ptr()) == 0 }
}

fn mq_send(q: libc::mqd_t, data: &[u8]) -> Result<(), String> {
    loop {
        // SAFETY: the slice is valid for its length.
        if unsafe { libc::mq_send(q, data.as_ptr().cast(), data.len(), 0) } == 0 {
            return Ok(());
        }
        let e = errno();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("mq_send: {e}"));
        }
    }
}

/// Receives one message into `buf` (at least the queue's message size).
fn mq_receive(q: libc::mqd_t, buf: &mut [u8]) -> Result<usize, String> {
    loop {
        let mut prio = 0;
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::mq_receive(q, buf.as_mut_ptr().cast(), buf.len(), &mut prio) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = errno();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("mq_receive: {e}"));
        }
    }
}

// ---------------------------------------------------------------------------
// Cleanup registry and watchdog (parent)

/// Everything the bench must undo, also when it is cut short.
struct Registry {
    kids: Vec<u32>,
    /// Daemons: pid, mountpoint, log file.
    daemons: Vec<(u32, PathBuf, PathBuf)>,
    queues: Vec<String>,
    base: Option<PathBuf>,
    phase: String,
    deadline: Option<Instant>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    kids: Vec::new(),
    daemons: Vec::new(),
    queues: Vec::new(),
    base: None,
    phase: String::new(),
    deadline: None,
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn set_phase(phase: &str, limit: Duration) {
    let mut r = registry();
    r.phase = phase.to_string();
    r.deadline = Some(Instant::now() + limit);
}

fn stop_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks the stop signals in this thread (and every thread started after):
/// only the watchdog takes them. Children get a clean mask from `Command`.
fn block_stop_signals() {
    let set = stop_signals();
    // SAFETY: a valid set; no old mask wanted.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

fn start_watchdog() {
    let spawned = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(|| {
            let set = stop_signals();
            let timeout = libc::timespec {
                tv_sec: 0,
                tv_nsec: 200_000_000,
            };
            loop {
                // SAFETY: valid set and timeout; no siginfo wanted.
                let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
                if sig > 0 {
                    eprintln!("\nipcfs bench: got signal {sig}: cleaning up");
                    cleanup();
                    std::process::exit(130);
                }
                let (phase, late) = {
                    let r = registry();
                    (
                        r.phase.clone(),
                        r.deadline.is_some_and(|d| Instant::now() > d),
                    )
                };
                if late {
                    eprintln!(
                        "\nipcfs bench: \"{phase}\" did not finish within its time limit: \
                         something hangs; the daemons' last log lines follow"
                    );
                    let logs: Vec<PathBuf> =
                        registry().daemons.iter().map(|d| d.2.clone()).collect();
                    for log in logs {
                        let text = std::fs::read_to_string(&log).unwrap_or_default();
                        let lines: Vec<&str> = text.lines().collect();
                        for l in &lines[lines.len().saturating_sub(20)..] {
                            eprintln!("  | {l}");
                        }
                    }
                    cleanup();
                    std::process::exit(1);
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("ipcfs bench: no watchdog ({e}): a hang will not be caught");
    }
}

fn kill(pid: u32, sig: i32) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// True once `pid` (a child of ours) has exited; reaps it if nobody has.
fn exited(pid: u32) -> bool {
    let mut status = 0;
    // SAFETY: waitpid on our own child, status is ours.
    let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    r == pid as libc::pid_t || r < 0
}

/// Kills every child, stops the daemons, unmounts, removes POSIX queues and
/// the temporary directory. Safe to call more than once.
fn cleanup() {
    let (kids, daemons, queues, base) = {
        let mut r = registry();
        r.deadline = None;
        (
            std::mem::take(&mut r.kids),
            std::mem::take(&mut r.daemons),
            std::mem::take(&mut r.queues),
            r.base.take(),
        )
    };
    for pid in &kids {
        kill(*pid, libc::SIGKILL);
    }
    for (pid, _, _) in &daemons {
        kill(*pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && daemons
            .iter()
            .any(|(pid, dir, _)| !exited(*pid) || is_mounted(dir))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    for (pid, dir, _) in &daemons {
        if !exited(*pid) {
            kill(*pid, libc::SIGKILL);
        }
        if is_mounted(dir) {
            let _ = nix::mount::umount2(dir.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
    for pid in &kids {
        exited(*pid);
    }
    for q in &queues {
        mq_unlink(q);
    }
    if let Some(base) = base {
        let left = mounts_under(&base);
        if left.is_empty() {
            let _ = std::fs::remove_dir_all(&base);
        } else {
            eprintln!(
                "ipcfs bench: {} is still mounted; leaving {} in place",
                left.join(", "),
                base.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Child processes (parent side)

/// A child process of this binary in some role, with a line protocol on
/// its stdin and stdout. Killed on drop unless finished.
struct Kid {
    role: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Its stdout, line by line, from a reader thread.
    lines: mpsc::Receiver<String>,
    done: bool,
}

impl Kid {
    fn spawn(role: &str, args: &[String]) -> Result<Kid, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .env(ROLE_ENV, role)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start a {role} process: {e}"))?;
        registry().kids.push(child.id());
        let stdin = child.stdin.take();
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Kid {
            role: role.to_string(),
            child,
            stdin,
            lines,
            done: false,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its next line, if it has one within `wait`; an error once it ended
    /// without one.
    fn poll_line(&mut self, wait: Duration) -> Result<Option<String>, String> {
        match self.lines.recv_timeout(wait) {
            Ok(line) => Ok(Some(line.trim_end().to_string())),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                self.forget();
                Err(format!("the {} process ended early ({status})", self.role))
            }
        }
    }

    fn line(&mut self) -> Result<String, String> {
        Ok(next_lines(std::slice::from_mut(self))?.remove(0))
    }

    fn expect_ready(&mut self) -> Result<(), String> {
        expect_ready(std::slice::from_mut(self))
    }

    fn go(&mut self) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin
            .write_all(b"go\n")
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("cannot release the {} process: {e}", self.role))
    }

    fn numbers(&mut self) -> Result<Vec<u64>, String> {
        let line = self.line()?;
        parse_numbers(&self.role, &line)
    }

    /// Closes its stdin and waits for a successful exit.
    fn finish(&mut self) -> Result<(), String> {
        self.stdin = None;
        let status = self.child.wait().map_err(|e| e.to_string())?;
        self.forget();
        if status.success() {
            Ok(())
        } else {
            Err(format!("the {} process failed ({status})", self.role))
        }
    }

    fn forget(&mut self) {
        self.done = true;
        let pid = self.child.id();
        registry().kids.retain(|k| *k != pid);
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.forget();
        }
    }
}

fn parse_numbers(role: &str, line: &str) -> Result<Vec<u64>, String> {
    line.split_whitespace()
        .map(|w| w.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("the {role} process said {line:?}"))
}

/// The next line of every kid. Fails as soon as one of them ends without
/// one, so that its partners, which may wait for it forever (a FIFO open,
/// a queue read), are killed (on drop) instead of hanging the bench.
fn next_lines(kids: &mut [Kid]) -> Result<Vec<String>, String> {
    let mut got: Vec<Option<String>> = vec![None; kids.len()];
    loop {
        // Blocks (briefly) on the first kid still to answer, and only
        // looks at the others: no busy polling while they are measured.
        let mut wait = Duration::from_millis(50);
        let mut waiting = false;
        for (k, slot) in kids.iter_mut().zip(got.iter_mut()) {
            if slot.is_none() {
                *slot = k.poll_line(wait)?;
                wait = Duration::ZERO;
                waiting |= slot.is_none();
            }
        }
        if !waiting {
            return Ok(got.into_iter().flatten().collect());
        }
    }
}

fn expect_ready(kids: &mut [Kid]) -> Result<(), String> {
    let lines = next_lines(kids)?;
    for (k, line) in kids.iter().zip(lines) {
        if line != "ready" {
            return Err(format!("the {} process said {line:?}", k.role));
        }
    }
    Ok(())
}

/// Starts a group of children, waits until all are ready, releases them
/// together and returns what each printed, in order.
fn run_group(specs: &[(&str, Vec<String>)]) -> Result<Vec<Vec<u64>>, String> {
    let mut kids = specs
        .iter()
        .map(|(role, args)| Kid::spawn(role, args))
        .collect::<Result<Vec<_>, _>>()?;
    expect_ready(&mut kids)?;
    for k in &mut kids {
        k.go()?;
    }
    let lines = next_lines(&mut kids)?;
    let results = kids
        .iter()
        .zip(&lines)
        .map(|(k, l)| parse_numbers(&k.role, l))
        .collect::<Result<Vec<_>, _>>()?;
    for k in &mut kids {
        k.finish()?;
    }
    Ok(results)
}

/// From the first start to the last end, over results `[t0, t1, ...]`.
fn span_ns(results: &[Vec<u64>]) -> Result<u64, String> {
    let t0 = results.iter().filter_map(|r| r.first()).min();
    let t1 = results.iter().filter_map(|r| r.get(1)).max();
    match (t0, t1) {
        (Some(a), Some(b)) if b > a => Ok(b - a),
        _ => Err(format!("bad timings {results:?}")),
    }
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------
// Daemons (parent side)

#[derive(Debug, Clone, Copy, Default)]
struct ProcStats {
    threads: u64,
    rss_kib: u64,
    fds: u64,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
}

fn proc_stats(pid: u32) -> Result<ProcStats, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| -> u64 { rest.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    Ok(ProcStats {
        threads: field("Threads:"),
        rss_kib: field("VmRSS:"),
        fds,
        // Fields 14 and 15 of stat; `rest` starts at field 3.
        cpu_ticks: tick(11) + tick(12),
    })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// A FUSE daemon we started: ipcfs, or this binary as the ceiling.
struct Daemon {
    name: &'static str,
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    stopped: bool,
}

impl Daemon {
    fn start(name: &'static str, mut cmd: Command, dir: &Path, log: &Path) -> Result<Self, String> {
        let log_file = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = cmd
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        registry()
            .daemons
            .push((child.id(), dir.to_path_buf(), log.to_path_buf()));
        let mut d = Daemon {
            name,
            child,
            dir: dir.to_path_buf(),
            log: log.to_path_buf(),
            stopped: false,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        // Both daemons show a fixed file at the root once they serve.
        let marker = if name == "ipcfs" { "README" } else { "null" };
        loop {
            if is_mounted(dir) && dir.join(marker).exists() {
                return Ok(d);
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                d.stopped = true;
                return Err(format!(
                    "{name} exited before mounting ({status}): {}",
                    d.log_text()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{name} did not mount within 10 s: {}",
                    d.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stats(&self) -> Result<ProcStats, String> {
        proc_stats(self.pid())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines at warning level or worse.
    fn log_problems(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("panicked"))
            .map(str::to_string)
            .collect()
    }

    /// SIGTERM, as an operator would stop it; returns how it ended.
    fn stop(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let pid = self.pid();
        if let Ok(Some(status)) = self.child.try_wait() {
            registry().daemons.retain(|d| d.0 != pid);
            if is_mounted(&self.dir) {
                let _ = nix::mount::umount2(self.dir.as_path(), nix::mount::MntFlags::MNT_DETACH);
            }
            return Err(format!("{} died during the bench ({status})", self.name));
        }
        kill(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut result = Err(format!("{} did not exit within 5 s of SIGTERM", self.name));
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                result = if status.success() {
                    Ok(())
                } else {
                    Err(format!("{} exited with {status} after SIGTERM", self.name))
                };
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if result.is_err() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if is_mounted(&self.dir) {
            let _ = nix::mount::umount2(self.dir.as_path(), nix::mount::MntFlags::MNT_DETACH);
            if result.is_ok() {
                result = Err(format!("{} exited but left its mount", self.name));
            }
        }
        registry().daemons.retain(|d| d.0 != pid);
        result
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

// ---------------------------------------------------------------------------
// Results

#[derive(Debug, Clone)]
enum V {
    Na,
    Num(f64),
    Err(String),
}

impl V {
    fn num(&self) -> Option<f64> {
        match self {
            V::Num(v) => Some(*v),
            _ => None,
        }
    }
}

struct Row {
    group: &'static str,
    name: String,
    unit: &'static str,
    higher_better: bool,
    kernel: V,
    ipcfs: V,
    ceiling: V,
    note: String,
}

struct Report {
    rows: Vec<Row>,
    errors: Vec<String>,
    started: Instant,
    phase_limit: Duration,
}

impl Report {
    /// Runs one measurement under the watchdog; an error is kept, printed
    /// and counted, and the bench goes on.
    fn measure(&mut self, what: &str, f: impl FnOnce() -> Result<f64, String>) -> V {
        set_phase(what, self.phase_limit);
        let start = Instant::now();
        let v = match f() {
            Ok(v) if v.is_finite() => V::Num(v),
            Ok(v) => V::Err(format!("not a number: {v}")),
            Err(e) => V::Err(e),
        };
        match &v {
            V::Num(x) => eprintln!(
                "[{:6.1} s] {what}: {} ({:.1} s)",
                self.started.elapsed().as_secs_f64(),
                fmt_num(*x),
                start.elapsed().as_secs_f64()
            ),
            V::Err(e) => {
                eprintln!(
                    "[{:6.1} s] {what}: FAILED: {e}",
                    self.started.elapsed().as_secs_f64()
                );
                self.errors.push(format!("{what}: {e}"));
            }
            V::Na => {}
        }
        v
    }

    /// Like `measure`, for a run that gives several figures at once.
    fn measure_many<const N: usize>(
        &mut self,
        what: &str,
        f: impl FnOnce() -> Result<[f64; N], String>,
    ) -> [V; N] {
        let mut out: Option<[f64; N]> = None;
        let v = self.measure(what, || {
            let all = f()?;
            out = Some(all);
            Ok(all[0])
        });
        match (out, v) {
            (Some(all), V::Num(_)) => all.map(V::Num),
            (_, V::Err(e)) => std::array::from_fn(|_| V::Err(e.clone())),
            _ => std::array::from_fn(|_| V::Na),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        group: &'static str,
        name: impl Into<String>,
        unit: &'static str,
        higher_better: bool,
        kernel: V,
        ipcfs: V,
        ceiling: V,
        note: impl Into<String>,
    ) {
        self.rows.push(Row {
            group,
            name: name.into(),
            unit,
            higher_better,
            kernel,
            ipcfs,
            ceiling,
            note: note.into(),
        });
    }
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_v(v: &V) -> String {
    match v {
        V::Na => "-".into(),
        V::Num(x) => fmt_num(*x),
        V::Err(_) => "FAILED".into(),
    }
}

fn ratio(a: &V, b: &V) -> Option<f64> {
    match (a.num(), b.num()) {
        (Some(x), Some(y)) if y != 0.0 => Some(x / y),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{}x", fmt_num(r)))
}

// ---------------------------------------------------------------------------
// Machine

struct Machine {
    nproc: usize,
    kernel: String,
    cpu: String,
}

fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        cpu,
    }
}

// ---------------------------------------------------------------------------
// Parent

fn main() {
    if let Ok(role) = std::env::var(ROLE_ENV) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        child_main(&role, &args);
    }
    std::process::exit(parent_main());
}

/// Why this machine cannot run the bench, if it cannot.
fn unavailable() -> Option<&'static str> {
    if !Path::new("/dev/fuse").exists() {
        Some("no /dev/fuse on this machine")
    } else if !nix::unistd::geteuid().is_root() {
        Some("the bench mounts with mount(2) and needs root")
    } else {
        None
    }
}

fn parent_main() -> i32 {
    let quick = std::env::var("IPCFS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    if let Some(reason) = unavailable() {
        if std::env::var_os("CI").is_some() {
            eprintln!("ipcfs bench cannot run under CI: {reason}");
            return 1;
        }
        println!("skipping the ipcfs bench: {reason}");
        return 0;
    }
    block_stop_signals();
    start_watchdog();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_bench(quick)));
    cleanup();
    match result {
        Ok(Ok(0)) => 0,
        Ok(Ok(n)) => {
            eprintln!("ipcfs bench: {n} problem(s), listed above");
            1
        }
        Ok(Err(e)) => {
            eprintln!("ipcfs bench: {e}");
            1
        }
        Err(_) => 1,
    }
}

/// Paths of one run.
struct Env {
    base: PathBuf,
    ipcfs: PathBuf,
    ceiling: PathBuf,
    fifo: PathBuf,
    tmpfs: PathBuf,
    /// Prefix of this run's POSIX queue names.
    mq_prefix: String,
    mq_depth: i64,
}

impl Env {
    fn fifo(&self, name: &str) -> Result<PathBuf, String> {
        let path = self.fifo.join(name);
        make_fifo(&path)?;
        Ok(path)
    }

    fn ipcfs_object(&self, rel: &str) -> Result<PathBuf, String> {
        let path = self.ipcfs.join(rel);
        make_object(&path)?;
        Ok(path)
    }

    /// A new POSIX queue of 64-byte messages, unlinked at cleanup.
    fn mq(&self, tag: &str) -> Result<String, String> {
        let name = format!("{}-{tag}", self.mq_prefix);
        mq_create(&name, self.mq_depth, MSG as i64)
            .map_err(|e| format!("mq_open {name} (O_CREAT): {e}"))?;
        registry().queues.push(name.clone());
        Ok(name)
    }

    fn ceiling_file(&self, name: &str) -> PathBuf {
        self.ceiling.join(name)
    }
}

/// The deepest POSIX queue this process may create, up to ipcfs's depth:
/// root may pass `fs.mqueue.msg_max`, others may not.
fn mq_depth(prefix: &str) -> i64 {
    let probe = format!("{prefix}-probe");
    if mq_create(&probe, QUEUE_DEPTH, MSG as i64).is_ok() {
        mq_unlink(&probe);
        return QUEUE_DEPTH;
    }
    std::fs::read_to_string("/proc/sys/fs/mqueue/msg_max")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(10)
        .min(QUEUE_DEPTH)
}

fn run_bench(quick: bool) -> Result<usize, String> {
    let sizes = Sizes::new(quick);
    let m = machine();
    let base = std::env::temp_dir().join(format!("ipcfs-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    let base = base.canonicalize().map_err(|e| e.to_string())?;
    registry().base = Some(base.clone());
    let mq_prefix = format!("/ipcfs-bench-{}", std::process::id());
    let env = Env {
        ipcfs: base.join("ipcfs"),
        ceiling: base.join("ceiling"),
        fifo: base.join("fifo"),
        tmpfs: base.join("tmpfs"),
        mq_depth: mq_depth(&mq_prefix),
        mq_prefix,
        base,
    };
    for d in [&env.ipcfs, &env.ceiling, &env.fifo, &env.tmpfs] {
        std::fs::create_dir(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }

    let profile = if Path::new(DAEMON)
        .components()
        .any(|c| c.as_os_str() == "release")
    {
        "release"
    } else {
        "NOT release: figures are not representative"
    };
    println!(
        "ipcfs bench ({}): {} cores, Linux {}, {}; daemon build: {profile}",
        if quick { "quick" } else { "full" },
        m.nproc,
        m.kernel,
        m.cpu
    );

    let mut cmd = Command::new(DAEMON);
    cmd.arg(&env.ipcfs);
    let mut ipcfs = Daemon::start("ipcfs", cmd, &env.ipcfs, &env.base.join("ipcfs.log"))?;
    let mut cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    cmd.env(ROLE_ENV, "ceiling").arg(&env.ceiling);
    let mut ceiling = Daemon::start("ceiling", cmd, &env.ceiling, &env.base.join("ceiling.log"))?;

    let mut report = Report {
        rows: Vec::new(),
        errors: Vec::new(),
        started: Instant::now(),
        phase_limit: sizes.phase_limit,
    };
    // IPCFS_BENCH_ONLY=queues,pipes runs those workloads alone (to look
    // at one change); unset, all of them.
    let only = std::env::var("IPCFS_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|w| w.trim() == name);
    if wanted("pipes") {
        pipes(&mut report, &env, &sizes);
    }
    if wanted("queues") {
        queues(&mut report, &env, &sizes);
    }
    if wanted("latency") {
        latency(&mut report, &env, &sizes);
    }
    if wanted("signals") {
        signals(&mut report, &env, &sizes);
    }
    if wanted("parking") {
        parking(&mut report, &env, &sizes, &ipcfs, &ceiling);
    }
    if wanted("objects") {
        objects(&mut report, &env, &sizes, &ipcfs, &ceiling);
    }
    set_phase("stopping the daemons", Duration::from_secs(30));

    let mut problems: Vec<String> = Vec::new();
    for d in [&mut ipcfs, &mut ceiling] {
        if let Err(e) = d.stop() {
            problems.push(e);
        }
        for l in d.log_problems() {
            problems.push(format!("{} log: {l}", d.name));
        }
    }
    let total = report.started.elapsed();
    print_table(&report, &sizes, &env, &m, total);
    if !problems.is_empty() {
        println!("\ndaemon problems:");
        for p in &problems {
            println!("  {p}");
        }
    }
    let json = to_json(&report, &sizes, &env, &m, total, &problems);
    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let file = out.join("ipcfs.json");
    std::fs::write(&file, json).map_err(|e| format!("{}: {e}", file.display()))?;
    println!("\nwritten: {}", file.display());
    // Daemon log warnings are reported, not failures: ipcfs logs refused
    // requests at that level too. A daemon that did not stop cleanly is.
    let unclean = problems.iter().filter(|p| !p.contains(" log: ")).count();
    Ok(report.errors.len() + unclean)
}

/// `target/`: `CARGO_TARGET_DIR`, or where this executable lives
/// (`target/<profile>/deps/`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
        };
    }
    let exe = std::env::current_exe().ok();
    let from_exe = exe.as_deref().and_then(|e| {
        let deps = e.parent()?;
        (deps.file_name()? == "deps").then(|| deps.parent()?.parent())?
    });
    from_exe.map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        Path::to_path_buf,
    )
}

// ---------------------------------------------------------------------------
// Workload 1: pipe throughput

/// Why ipcfs can beat the ceiling where the ceiling's file never blocks.
const NEVER_BLOCKS: &str = "writes to and reads from the null file, which never block, so writer, \
     reader and both dispatch threads all run at once; with few cores that can cost more \
     than a real pipe or queue, whose reader sleeps while it is empty (a ratio above 1 \
     means ipcfs adds nothing measurable to the FUSE round trips)";

/// GB/s through `write_path` to `read_path`, `total` bytes in writes and
/// reads of `chunk` bytes, writer and reader in two processes.
fn stream(
    write_path: &Path,
    read_path: &Path,
    total: u64,
    chunk: usize,
    pipe_size: usize,
) -> Result<f64, String> {
    let r = run_group(&[
        (
            "stream-write",
            vec![p(write_path), s(total), s(chunk), s(pipe_size)],
        ),
        ("stream-read", vec![p(read_path), s(total), s(chunk)]),
    ])?;
    Ok(total as f64 / span_ns(&r)? as f64)
}

fn pipes(report: &mut Report, env: &Env, z: &Sizes) {
    let total = z.pipe_bytes;
    let null = env.ceiling_file("null");
    let volume = if total >= 1 << 30 {
        format!("{} GiB", total >> 30)
    } else {
        format!("{} MiB", total >> 20)
    };
    let mut ceiling_1m = V::Na;
    for (label, chunk) in [
        ("1 MiB", 1usize << 20),
        ("64 KiB", 64 << 10),
        ("4 KiB", 4 << 10),
    ] {
        let what = format!("pipe {volume} in {label} writes");
        let k = report.measure(&format!("{what} / kernel FIFO"), || {
            let f = env.fifo(&format!("t{chunk}"))?;
            stream(&f, &f, total, chunk, 0)
        });
        let i = report.measure(&format!("{what} / ipcfs"), || {
            let f = env.ipcfs_object(&format!("pipes/t{chunk}"))?;
            let r = stream(&f, &f, total, chunk, 0);
            let _ = std::fs::remove_file(&f);
            r
        });
        let c = report.measure(&format!("{what} / ceiling"), || {
            stream(&null, &null, total, chunk, 0)
        });
        if chunk == 1 << 20 {
            ceiling_1m = c.clone();
        }
        report.row(
            "pipe throughput",
            what,
            "GB/s ↑",
            true,
            k,
            i,
            c,
            format!(
                "{label} reads; 64 KiB pipe buffer (kernel default, ipcfs default); ceiling: \
                 {NEVER_BLOCKS}"
            ),
        );
    }
    let what = format!("pipe {volume} in 1 MiB writes, 1 MiB buffer");
    let k = report.measure(&format!("{what} / kernel FIFO"), || {
        let f = env.fifo("big")?;
        stream(&f, &f, total, 1 << 20, 1 << 20)
    });
    let i = report.measure(&format!("{what} / ipcfs"), || {
        let f = env.ipcfs_object("pipes/big")?;
        setxattr(&f, "user.ipcfs.capacity", "1048576")?;
        let r = stream(&f, &f, total, 1 << 20, 0);
        let _ = std::fs::remove_file(&f);
        r
    });
    report.row(
        "pipe throughput",
        what,
        "GB/s ↑",
        true,
        k,
        i,
        ceiling_1m,
        "kernel: F_SETPIPE_SZ 1 MiB; ipcfs: user.ipcfs.capacity=1048576; \
         ceiling: the 1 MiB row's (same FUSE pattern)",
    );
}

// ---------------------------------------------------------------------------
// Workload 2: queue message rate

/// Messages per second, `total` 64-byte messages from `pairs` senders to
/// `pairs` receivers (each sends and receives `total / pairs`).
fn message_rate(kind: &str, path: &str, total: u64, pairs: u64) -> Result<f64, String> {
    let each = total / pairs;
    let mut specs = Vec::new();
    for _ in 0..pairs {
        specs.push(("msg-send", vec![s(kind), s(path), s(each)]));
    }
    for _ in 0..pairs {
        specs.push(("msg-recv", vec![s(kind), s(path), s(each)]));
    }
    let r = run_group(&specs)?;
    Ok((each * pairs) as f64 / span_ns(&r)? as f64 * 1e9)
}

fn queues(report: &mut Report, env: &Env, z: &Sizes) {
    for batch in [false, true] {
        for pairs in [1u64, 4] {
            queue_rate(report, env, z, pairs, batch);
        }
    }
}

/// One row of message rates: `pairs` senders and receivers, one message
/// per call, or on ipcfs in batch mode. POSIX mq has no batch call, so its
/// figure is always one message per mq_send and mq_receive.
fn queue_rate(report: &mut Report, env: &Env, z: &Sizes, pairs: u64, batch: bool) {
    let null = p(&env.ceiling_file("null"));
    let (what, tag, kind, ceiling_kind) = if batch {
        (
            format!("queue 64 B messages in batch mode, {pairs} -> {pairs}"),
            "batch",
            "batch",
            "batch-null",
        )
    } else {
        (
            format!("queue 64 B messages, {pairs} sender(s) -> {pairs} receiver(s)"),
            "rate",
            "file",
            "file",
        )
    };
    let k = report.measure(&format!("{what} / POSIX mq"), || {
        let q = env.mq(&format!("{tag}{pairs}"))?;
        message_rate("mq", &q, z.messages, pairs).map(|r| r / 1e3)
    });
    let i = report.measure(&format!("{what} / ipcfs"), || {
        let f = env.ipcfs_object(&format!("queues/{tag}{pairs}"))?;
        let r = message_rate(kind, &p(&f), z.messages, pairs);
        let _ = std::fs::remove_file(&f);
        r.map(|r| r / 1e3)
    });
    let c = report.measure(&format!("{what} / ceiling"), || {
        message_rate(ceiling_kind, &null, z.messages, pairs).map(|r| r / 1e3)
    });
    let how = if batch {
        format!(
            "ipcfs opened with O_DIRECT|O_DSYNC: each write carries {BATCH} records ({} \
             bytes), each read a buffer for {BATCH}, and the receiver checks every record; \
             POSIX mq: one message per call (it has no batch call); ceiling: the same write \
             and read sizes on the null file",
            BATCH * RECORD
        )
    } else {
        format!("receivers read in packet mode (O_DIRECT); ceiling: {NEVER_BLOCKS}")
    };
    report.row(
        "queue message rate",
        what,
        "k msg/s ↑",
        true,
        k,
        i,
        c,
        format!(
            "{} messages; POSIX mq depth {}, ipcfs depth {QUEUE_DEPTH}; {how}",
            z.messages, env.mq_depth
        ),
    );
}

// ---------------------------------------------------------------------------
// Workload 3: round-trip latency

/// Median, p99 and mean round trip in µs: 1 byte there over `a`, 1 byte
/// back over `b`.
fn ping_pong(
    kind: &str,
    a: &str,
    b: &str,
    (ping_cpu, pong_cpu): (&str, &str),
    z: &Sizes,
) -> Result<[f64; 3], String> {
    let r = run_group(&[
        (
            "ping",
            vec![s(kind), s(a), s(b), s(z.rounds), s(z.warmup), s(ping_cpu)],
        ),
        (
            "pong",
            vec![s(kind), s(a), s(b), s(z.rounds + z.warmup), s(pong_cpu)],
        ),
    ])?;
    match r[0].as_slice() {
        [median, p99, mean] => Ok([*median as f64 / 1e3, *p99 as f64 / 1e3, *mean as f64 / 1e3]),
        other => Err(format!("ping said {other:?}")),
    }
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            return (0..libc::CPU_SETSIZE as usize)
                .filter(|c| libc::CPU_ISSET(*c, &set))
                .collect();
        }
    }
    vec![0]
}

fn latency(report: &mut Report, env: &Env, z: &Sizes) {
    // Pinned, because where the scheduler puts two unpinned ends decides
    // the kernel's figure (2 µs on one CPU, 60 µs across two here) more
    // than anything measured.
    let cpus = allowed_cpus();
    let first = cpus[0].to_string();
    let mut pinnings = Vec::new();
    match cpus.get(1) {
        Some(second) => pinnings.push((
            (first.clone(), second.to_string()),
            format!(", ends on CPUs {first} and {second}"),
            "each end pinned to its own CPU (sched_setaffinity); the daemons are not pinned",
        )),
        None => pinnings.push((
            ("any".to_string(), "any".to_string()),
            String::new(),
            "one CPU only: the scheduler places both ends",
        )),
    }
    pinnings.push((
        (first.clone(), first.clone()),
        format!(", both ends on CPU {first}"),
        "both ends pinned to one CPU (sched_setaffinity); the daemons are not pinned",
    ));
    for ((ping_cpu, pong_cpu), suffix, placement) in &pinnings {
        let pin = (ping_cpu.as_str(), pong_cpu.as_str());
        let tag = format!("{ping_cpu}{pong_cpu}");
        let what = format!("ping-pong 1 B over two pipes{suffix}");
        let [km, kp, _] = report.measure_many(&format!("{what} / kernel FIFOs"), || {
            let a = env.fifo(&format!("ping{tag}"))?;
            let b = env.fifo(&format!("pong{tag}"))?;
            ping_pong("stream", &p(&a), &p(&b), pin, z)
        });
        let [im, ip, _] = report.measure_many(&format!("{what} / ipcfs"), || {
            let a = env.ipcfs_object("pipes/ping")?;
            let b = env.ipcfs_object("pipes/pong")?;
            let r = ping_pong("stream", &p(&a), &p(&b), pin, z);
            let _ = std::fs::remove_file(&a);
            let _ = std::fs::remove_file(&b);
            r
        });
        let [cm, cp, _] = report.measure_many(&format!("{what} / ceiling"), || {
            let a = env.ceiling_file("ping");
            let b = env.ceiling_file("pong");
            ping_pong("stream", &p(&a), &p(&b), pin, z)
        });
        let note = format!(
            "{} round trips after {} warm-up; {placement}; kernel: two FIFOs; ceiling: two \
             files whose reads wait for the next write",
            z.rounds, z.warmup
        );
        for (stat, k, i, c) in [("median", km, im, cm), ("p99", kp, ip, cp)] {
            let name = format!("{what}, {stat}");
            report.row("round trip", name, "µs ↓", false, k, i, c, &note);
        }

        let what = format!("ping-pong 1 B over two queues{suffix}");
        let [km, kp, _] = report.measure_many(&format!("{what} / POSIX mq"), || {
            let a = env.mq(&format!("ping{tag}"))?;
            let b = env.mq(&format!("pong{tag}"))?;
            ping_pong("mq", &a, &b, pin, z)
        });
        let [im, ip, _] = report.measure_many(&format!("{what} / ipcfs"), || {
            let a = env.ipcfs_object("queues/ping")?;
            let b = env.ipcfs_object("queues/pong")?;
            let r = ping_pong("packet", &p(&a), &p(&b), pin, z);
            let _ = std::fs::remove_file(&a);
            let _ = std::fs::remove_file(&b);
            r
        });
        let [cm, cp, _] = report.measure_many(&format!("{what} / ceiling"), || {
            let a = env.ceiling_file("ping");
            let b = env.ceiling_file("pong");
            ping_pong("packet", &p(&a), &p(&b), pin, z)
        });
        let note = format!(
            "{} round trips; {placement}; kernel: two POSIX queues (mq_send/mq_receive); \
             ipcfs and ceiling read with O_DIRECT",
            z.rounds
        );
        for (stat, k, i, c) in [("median", km, im, cm), ("p99", kp, ip, cp)] {
            let name = format!("{what}, {stat}");
            report.row("round trip", name, "µs ↓", false, k, i, c, &note);
        }
    }
}

// ---------------------------------------------------------------------------
// Workload 4: signals

/// Signals (or probes) per second: `count` sends of `word` by `mode`
/// (`kill`: kill(2) to a pid; `file`: a write to a file) to a receiver
/// process that takes each real signal with sigwaitinfo(). With `deliver`,
/// the time runs until the receiver has taken them all, and the sender
/// keeps at most [`SIGNAL_WINDOW`] untaken.
fn signal_rate(
    env: &Env,
    mode: &str,
    target: impl Fn(u32) -> String,
    word: &str,
    count: u64,
    deliver: bool,
) -> Result<f64, String> {
    let counter = env.base.join(format!("counter-{}", now_ns()));
    File::create(&counter)
        .and_then(|f| f.set_len(4096))
        .map_err(|e| format!("{}: {e}", counter.display()))?;
    let expected = if deliver { count } else { 0 };
    let receiver = Kid::spawn("sig-recv", &[s(expected), p(&counter)])?;
    let counter_arg = if deliver { p(&counter) } else { "-".into() };
    let sender = Kid::spawn(
        "sig-send",
        &[
            s(mode),
            target(receiver.pid()),
            s(count),
            s(word),
            counter_arg,
        ],
    )?;
    // Waited on together: if either dies, the other (a sender waiting for
    // its window, a receiver waiting for signals) is killed, not waited for.
    let mut kids = [receiver, sender];
    expect_ready(&mut kids)?;
    for k in &mut kids {
        k.go()?;
    }
    let lines = next_lines(&mut kids)?;
    let taken = parse_numbers("sig-recv", &lines[0])?;
    let sent = parse_numbers("sig-send", &lines[1])?;
    // The sender first: the receiver stays alive until its stdin closes.
    kids[1].finish()?;
    kids[0].finish()?;
    let _ = std::fs::remove_file(&counter);
    let (Some(t0), Some(t1)) = (sent.first(), sent.get(1)) else {
        return Err(format!("sender said {sent:?}"));
    };
    let end = if deliver {
        *taken.first().ok_or("receiver said nothing")?
    } else {
        *t1
    };
    if end <= *t0 {
        return Err(format!("bad timings {sent:?} {taken:?}"));
    }
    Ok(count as f64 / (end - t0) as f64 * 1e9)
}

fn signals(report: &mut Report, env: &Env, z: &Sizes) {
    let proc_file = |pid: u32| p(&env.ipcfs.join(format!("proc/{pid}/signal")));
    let null = p(&env.ceiling_file("null"));
    let what = "signal probes (signal 0)";
    let k = report.measure(&format!("{what} / kill(2)"), || {
        signal_rate(env, "kill", s, "0", z.probes, false).map(|r| r / 1e3)
    });
    let i = report.measure(&format!("{what} / ipcfs"), || {
        signal_rate(env, "file", proc_file, "0", z.probes, false).map(|r| r / 1e3)
    });
    let c = report.measure(&format!("{what} / ceiling"), || {
        signal_rate(env, "file", |_| null.clone(), "0", z.probes, false).map(|r| r / 1e3)
    });
    report.row(
        "signals",
        what,
        "k/s ↑",
        true,
        k,
        i,
        c,
        format!(
            "{} probes: kill(pid, 0) vs write(\"0\") to proc/PID/signal; \
             ceiling: the same write to a null file",
            z.probes
        ),
    );
    let what = "signals delivered (SIGRTMIN)";
    let k = report.measure(&format!("{what} / kill(2)"), || {
        signal_rate(env, "kill", s, "RTMIN", z.signals, true).map(|r| r / 1e3)
    });
    let i = report.measure(&format!("{what} / ipcfs"), || {
        signal_rate(env, "file", proc_file, "RTMIN", z.signals, true).map(|r| r / 1e3)
    });
    let c = report.measure(&format!("{what} / ceiling"), || {
        signal_rate(env, "file", |_| null.clone(), "RTMIN", z.signals, false).map(|r| r / 1e3)
    });
    report.row(
        "signals",
        what,
        "k/s ↑",
        true,
        k,
        i,
        c,
        format!(
            "{} real-time signals (queued, none merged), counted by a receiver in \
             sigwaitinfo(); at most {SIGNAL_WINDOW} in flight; ceiling: write(\"RTMIN\") \
             to a null file",
            z.signals
        ),
    );
}

// ---------------------------------------------------------------------------
// Workload 5a: many callers parked at once

struct Parked {
    wake_ms: f64,
    threads_added: f64,
    rss_per_caller: f64,
    fds_added: f64,
    fds_left: f64,
    cpu_percent: f64,
}

/// Longer than ipcfs's sweep of parked callers (1 s, src/interrupt.rs):
/// whatever the daemon still holds after this, it holds for good.
const AFTER_WAKE: Duration = Duration::from_millis(1500);

/// `n` threads of one helper process block in a read of `read_path` (a
/// queue, or a mailbox file) or in mq_receive; then one sender writes `n`
/// messages and the time runs until the last reader has its message. When
/// a daemon serves the object, its threads, memory, descriptors and idle
/// CPU are read with every caller parked, and its descriptors again
/// [`AFTER_WAKE`] after the last caller left.
fn park(
    kind: &str,
    path: &str,
    n: usize,
    daemon: Option<&Daemon>,
    parked_now: impl Fn(u32) -> u64,
    idle: Duration,
) -> Result<Parked, String> {
    let before = daemon.map(|d| d.stats()).transpose()?;
    let mut helper = Kid::spawn("park", &[s(kind), s(path), s(n)])?;
    helper.expect_ready()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = parked_now(helper.pid());
        if now >= n as u64 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {now} of {n} callers parked after 60 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = Parked {
        wake_ms: 0.0,
        threads_added: 0.0,
        rss_per_caller: 0.0,
        fds_added: 0.0,
        fds_left: 0.0,
        cpu_percent: 0.0,
    };
    if let (Some(d), Some(before)) = (daemon, before) {
        let cpu0 = d.stats()?.cpu_ticks;
        let t = Instant::now();
        std::thread::sleep(idle);
        let after = d.stats()?;
        let elapsed = t.elapsed().as_secs_f64();
        out.cpu_percent = (after.cpu_ticks - cpu0) as f64 / clock_ticks() / elapsed * 100.0;
        out.threads_added = after.threads as f64 - before.threads as f64;
        out.fds_added = after.fds as f64 - before.fds as f64;
        out.rss_per_caller = (after.rss_kib as f64 - before.rss_kib as f64) * 1024.0 / n as f64;
    }
    let mut waker = Kid::spawn("msg-send", &[s(kind), s(path), s(n)])?;
    waker.expect_ready()?;
    waker.go()?;
    // Waited on together: a waker whose readers died would wait forever.
    let mut pair = [waker, helper];
    let lines = next_lines(&mut pair)?;
    let sent = parse_numbers("msg-send", &lines[0])?;
    let woke = parse_numbers("park", &lines[1])?;
    for k in &mut pair {
        k.finish()?;
    }
    if let (Some(d), Some(before)) = (daemon, before) {
        std::thread::sleep(AFTER_WAKE);
        out.fds_left = d.stats()?.fds as f64 - before.fds as f64;
    }
    match (sent.first(), woke.as_slice()) {
        (Some(t0), [last, 0]) if last > t0 => {
            out.wake_ms = (last - t0) as f64 / 1e6;
            Ok(out)
        }
        (_, [_, failed]) if *failed > 0 => Err(format!("{failed} of {n} parked reads failed")),
        _ => Err(format!("bad timings {sent:?} {woke:?}")),
    }
}

/// Threads of `pid` asleep (state S or D): for kernel objects, where no
/// daemon can say how many callers wait.
fn sleeping_threads(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next());
            matches!(state, Some('S' | 'D'))
        })
        .count() as u64
}

fn parking(report: &mut Report, env: &Env, z: &Sizes, ipcfs: &Daemon, ceiling: &Daemon) {
    let n = z.parked;
    let what = format!("{n} readers parked at once");
    let k = report.measure(&format!("{what} / POSIX mq"), || {
        let q = env.mq("park")?;
        // The helper's main thread sleeps too, in join.
        let r = park(
            "mq",
            &q,
            n,
            None,
            |pid| sleeping_threads(pid).saturating_sub(1),
            z.idle,
        );
        r.map(|r| r.wake_ms)
    });
    let mut ipcfs_parked = None;
    let i = report.measure(&format!("{what} / ipcfs"), || {
        let f = env.ipcfs_object("queues/park")?;
        let blocked = |_| getxattr_number(&f, "user.ipcfs.blocked").unwrap_or(0);
        let r = park("file", &p(&f), n, Some(ipcfs), blocked, z.idle);
        let _ = std::fs::remove_file(&f);
        let r = r?;
        let wake = r.wake_ms;
        ipcfs_parked = Some(r);
        Ok(wake)
    });
    let mut ceiling_parked = None;
    let c = report.measure(&format!("{what} / ceiling"), || {
        let f = env.ceiling_file("wake");
        let blocked = |_| getxattr_number(&f, "user.parked").unwrap_or(0);
        let r = park("file", &p(&f), n, Some(ceiling), blocked, z.idle)?;
        let wake = r.wake_ms;
        ceiling_parked = Some(r);
        Ok(wake)
    });
    let pick = |r: &Option<Parked>, f: fn(&Parked) -> f64, v: &V| match (r, v) {
        (Some(r), _) => V::Num(f(r)),
        (None, V::Err(e)) => V::Err(e.clone()),
        _ => V::Na,
    };
    let (ir, cr) = (&ipcfs_parked, &ceiling_parked);
    report.row(
        "scale",
        format!("wake {n} parked readers"),
        "ms ↓",
        false,
        k,
        i.clone(),
        c.clone(),
        format!(
            "{n} threads of one process each blocked in a 64-byte read (ipcfs: a queue in \
             packet mode; kernel: mq_receive; ceiling: a file whose reads wait for a write); \
             time from the first of {n} writes to the last reader's return"
        ),
    );
    type Figure = (&'static str, &'static str, fn(&Parked) -> f64, &'static str);
    let rows: [Figure; 5] = [
        (
            "daemon threads added by {n} parked",
            "threads ↓",
            |r| r.threads_added,
            "from /proc/PID/status Threads, before and with every caller parked",
        ),
        (
            "daemon memory per parked caller",
            "B ↓",
            |r| r.rss_per_caller,
            "VmRSS delta / callers",
        ),
        (
            "daemon descriptors added by {n} parked",
            "fds ↓",
            |r| r.fds_added,
            "/proc/PID/fd count delta",
        ),
        (
            "daemon descriptors still held after the wake",
            "fds ↓",
            |r| r.fds_left,
            "/proc/PID/fd count delta 1.5 s after every caller got its message and left",
        ),
        (
            "daemon CPU while {n} wait idle",
            "% core ↓",
            |r| r.cpu_percent,
            "utime+stime over the idle window, nobody sending",
        ),
    ];
    for (name, unit, f, note) in rows {
        report.row(
            "scale",
            name.replace("{n}", &n.to_string()),
            unit,
            false,
            V::Na,
            pick(ir, f, &i),
            pick(cr, f, &c),
            note,
        );
    }
}

// ---------------------------------------------------------------------------
// Workload 5b: many objects

struct Objects {
    create_us: f64,
    list_ms: f64,
    remove_us: f64,
    rss_per_object: Option<f64>,
    rss_left_per_object: Option<f64>,
}

/// Creates `n` objects in `dir` (`file`: open(O_CREAT|O_EXCL) and close;
/// `fifo`: mkfifo(3) in a tmpfs of the child's own on `dir`), lists `dir`
/// once, and removes them one by one with unlink(2).
///
/// The kernel's side is FIFOs in a tmpfs, not POSIX queues: 100,000 of
/// those need CAP_SYS_RESOURCE (past `fs.mqueue.queues_max` and the
/// 800 KiB RLIMIT_MSGQUEUE, which even root cannot raise without it).
fn make_objects(
    kind: &str,
    dir: &Path,
    n: usize,
    daemon: Option<&Daemon>,
) -> Result<Objects, String> {
    let before = daemon.map(|d| d.stats()).transpose()?;
    let mut kid = Kid::spawn("objects", &[s(kind), p(dir), s(n)])?;
    kid.expect_ready()?;
    kid.go()?;
    let created = kid.numbers()?;
    let with_objects = daemon.map(|d| d.stats()).transpose()?;
    kid.go()?;
    let rest = kid.numbers()?;
    kid.finish()?;
    let after = daemon.map(|d| d.stats()).transpose()?;
    let ([create_ns], [list_ns, listed, remove_ns]) = (created.as_slice(), rest.as_slice()) else {
        return Err(format!("objects said {created:?} {rest:?}"));
    };
    if *listed != n as u64 {
        return Err(format!("readdir listed {listed} of {n} objects"));
    }
    let per = |a: Option<ProcStats>| match (before, a) {
        (Some(b), Some(a)) => Some((a.rss_kib as f64 - b.rss_kib as f64) * 1024.0 / n as f64),
        _ => None,
    };
    Ok(Objects {
        create_us: *create_ns as f64 / n as f64 / 1e3,
        list_ms: *list_ns as f64 / 1e6,
        remove_us: *remove_ns as f64 / n as f64 / 1e3,
        rss_per_object: per(with_objects),
        rss_left_per_object: per(after),
    })
}

fn objects(report: &mut Report, env: &Env, z: &Sizes, ipcfs: &Daemon, ceiling: &Daemon) {
    let n = z.objects;
    let what = format!("{n} queues");
    let run = |report: &mut Report, who: &str, kind: &str, dir: &Path, d: Option<&Daemon>| {
        let mut out = None;
        let v = report.measure(&format!("{what} / {who}"), || {
            let r = make_objects(kind, dir, n, d)?;
            let c = r.create_us;
            out = Some(r);
            Ok(c)
        });
        (v, out)
    };
    let (kv, k) = run(report, "kernel FIFOs", "fifo", &env.tmpfs, None);
    let (iv, i) = run(
        report,
        "ipcfs",
        "file",
        &env.ipcfs.join("queues"),
        Some(ipcfs),
    );
    let (cv, c) = run(
        report,
        "ceiling",
        "file",
        &env.ceiling.join("dir"),
        Some(ceiling),
    );
    let cell = |r: &Option<Objects>, v: &V, f: &dyn Fn(&Objects) -> Option<f64>| match (r, v) {
        (Some(r), _) => f(r).map_or(V::Na, V::Num),
        (None, V::Err(e)) => V::Err(e.clone()),
        _ => V::Na,
    };
    type Pick = fn(&Objects) -> Option<f64>;
    let rows: [(String, &'static str, Pick, &str); 5] = [
        (
            format!("create {n} queues, per queue"),
            "µs ↓",
            |o| Some(o.create_us),
            "open(O_CREAT|O_EXCL) + close; kernel: mkfifo in a tmpfs (POSIX queues \
             would need CAP_SYS_RESOURCE for this many)",
        ),
        (
            format!("list {n} queues (one readdir)"),
            "ms ↓",
            |o| Some(o.list_ms),
            "std::fs::read_dir of the directory, all entries",
        ),
        (
            format!("remove {n} queues, per queue"),
            "µs ↓",
            |o| Some(o.remove_us),
            "unlink(2)",
        ),
        (
            "daemon memory per queue".into(),
            "B ↓",
            |o| o.rss_per_object,
            "VmRSS delta / queues, with all of them created",
        ),
        (
            "daemon memory left per removed queue".into(),
            "B ↓",
            |o| o.rss_left_per_object,
            "VmRSS delta / queues, after all are removed again",
        ),
    ];
    for (name, unit, f, note) in rows {
        report.row(
            "scale",
            name,
            unit,
            false,
            cell(&k, &kv, &f),
            cell(&i, &iv, &f),
            cell(&c, &cv, &f),
            note,
        );
    }
}

// ---------------------------------------------------------------------------
// Output

fn print_table(report: &Report, z: &Sizes, env: &Env, m: &Machine, total: Duration) {
    let header = [
        "workload",
        "unit",
        "kernel",
        "ipcfs",
        "FUSE ceiling",
        "ipcfs/kernel",
        "ipcfs/ceiling",
    ];
    let mut lines: Vec<[String; 7]> = vec![header.map(String::from)];
    for r in &report.rows {
        lines.push([
            r.name.clone(),
            r.unit.to_string(),
            fmt_v(&r.kernel),
            fmt_v(&r.ipcfs),
            fmt_v(&r.ceiling),
            fmt_ratio(ratio(&r.ipcfs, &r.kernel)),
            fmt_ratio(ratio(&r.ipcfs, &r.ceiling)),
        ]);
    }
    let mut widths = [0usize; 7];
    for l in &lines {
        for (w, c) in widths.iter_mut().zip(l) {
            *w = (*w).max(c.chars().count());
        }
    }
    println!(
        "\nipcfs bench, {} run in {:.0} s: {} cores, Linux {}, {}",
        if z.quick { "quick" } else { "full" },
        total.as_secs_f64(),
        m.nproc,
        m.kernel,
        m.cpu
    );
    println!(
        "kernel = the kernel's own object (FIFO, POSIX mq of depth {}, kill(2), FIFOs in tmpfs); \
         FUSE ceiling = a do-nothing fuser filesystem mounted like ipcfs; \
         ↑ higher is better, ↓ lower is better",
        env.mq_depth
    );
    let mut group = "";
    for (n, l) in lines.iter().enumerate() {
        if n > 0 && report.rows[n - 1].group != group {
            group = report.rows[n - 1].group;
            println!("-- {group}");
        }
        let mut out = format!("{:<w$}", l[0], w = widths[0]);
        out.push_str(&format!("  {:<w$}", l[1], w = widths[1]));
        for (c, w) in l[2..].iter().zip(&widths[2..]) {
            out.push_str(&format!("  {c:>w$}"));
        }
        println!("{}", out.trim_end());
    }
    if !report.errors.is_empty() {
        println!("\nfailed:");
        for e in &report.errors {
            println!("  {e}");
        }
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".into(),
    }
}

fn to_json(
    report: &Report,
    z: &Sizes,
    env: &Env,
    m: &Machine,
    total: Duration,
    problems: &[String],
) -> String {
    let when = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut o = String::from("{\n");
    o.push_str("  \"bench\": \"ipcfs\",\n");
    o.push_str(&format!(
        "  \"ipcfs_version\": {},\n",
        json_str(env!("CARGO_PKG_VERSION"))
    ));
    o.push_str(&format!(
        "  \"mode\": {},\n",
        json_str(if z.quick { "quick" } else { "full" })
    ));
    o.push_str(&format!("  \"unix_time\": {when},\n"));
    o.push_str(&format!("  \"seconds\": {:.1},\n", total.as_secs_f64()));
    o.push_str(&format!(
        "  \"machine\": {{\"nproc\": {}, \"kernel\": {}, \"cpu\": {}}},\n",
        m.nproc,
        json_str(&m.kernel),
        json_str(&m.cpu)
    ));
    o.push_str(&format!(
        "  \"settings\": {{\"pipe_bytes\": {}, \"messages\": {}, \"message_size\": {MSG}, \
         \"rounds\": {}, \"warmup_rounds\": {}, \"probes\": {}, \"signals\": {}, \
         \"parked\": {}, \"objects\": {}, \"posix_mq_depth\": {}, \"ipcfs_queue_depth\": {QUEUE_DEPTH}, \
         \"ceiling_threads\": {DISPATCH_THREADS}}},\n",
        z.pipe_bytes,
        z.messages,
        z.rounds,
        z.warmup,
        z.probes,
        z.signals,
        z.parked,
        z.objects,
        env.mq_depth
    ));
    o.push_str("  \"workloads\": [\n");
    for (n, r) in report.rows.iter().enumerate() {
        let unit = r.unit.trim_end_matches(['↑', '↓']).trim_end();
        let mut fields = vec![
            format!("\"group\": {}", json_str(r.group)),
            format!("\"name\": {}", json_str(&r.name)),
            format!("\"unit\": {}", json_str(unit)),
            format!(
                "\"better\": {}",
                json_str(if r.higher_better { "higher" } else { "lower" })
            ),
        ];
        for (key, v) in [
            ("kernel", &r.kernel),
            ("ipcfs", &r.ipcfs),
            ("ceiling", &r.ceiling),
        ] {
            fields.push(format!("\"{key}\": {}", json_num(v.num())));
            if let V::Err(e) = v {
                fields.push(format!("\"{key}_error\": {}", json_str(e)));
            }
        }
        fields.push(format!(
            "\"ipcfs_over_kernel\": {}",
            json_num(ratio(&r.ipcfs, &r.kernel))
        ));
        fields.push(format!(
            "\"ipcfs_over_ceiling\": {}",
            json_num(ratio(&r.ipcfs, &r.ceiling))
        ));
        fields.push(format!("\"note\": {}", json_str(&r.note)));
        o.push_str(&format!(
            "    {{{}}}{}\n",
            fields.join(", "),
            if n + 1 < report.rows.len() { "," } else { "" }
        ));
    }
    o.push_str("  ],\n");
    let list = |items: &[String]| {
        items
            .iter()
            .map(|e| json_str(e))
            .collect::<Vec<_>>()
            .join(", ")
    };
    o.push_str(&format!("  \"errors\": [{}],\n", list(&report.errors)));
    o.push_str(&format!("  \"daemon_problems\": [{}]\n", list(problems)));
    o.push_str("}\n");
    o
}

// ---------------------------------------------------------------------------
// Children

fn child_main(role: &str, a: &[String]) -> ! {
    let result = match role {
        "ceiling" => ceiling_main(Path::new(arg(a, 0))),
        "stream-write" => stream_write(arg(a, 0), num(a, 1), num(a, 2) as usize, num(a, 3)),
        "stream-read" => stream_read(arg(a, 0), num(a, 1), num(a, 2) as usize),
        "msg-send" => msg_send(arg(a, 0), arg(a, 1), num(a, 2)),
        "msg-recv" => msg_recv(arg(a, 0), arg(a, 1), num(a, 2)),
        "ping" => ping(
            arg(a, 0),
            arg(a, 1),
            arg(a, 2),
            num(a, 3),
            num(a, 4),
            arg(a, 5),
        ),
        "pong" => pong(arg(a, 0), arg(a, 1), arg(a, 2), num(a, 3), arg(a, 4)),
        "sig-recv" => sig_recv(num(a, 0), arg(a, 1)),
        "sig-send" => sig_send(arg(a, 0), arg(a, 1), num(a, 2), arg(a, 3), arg(a, 4)),
        "park" => park_threads(arg(a, 0), arg(a, 1), num(a, 2) as usize),
        "objects" => make_many(arg(a, 0), Path::new(arg(a, 1)), num(a, 2) as usize),
        other => Err(format!("unknown role {other}")),
    };
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("ipcfs bench {role}: {e}");
            std::process::exit(1)
        }
    }
}

fn arg(a: &[String], i: usize) -> &str {
    a.get(i).map_or("", String::as_str)
}

fn num(a: &[String], i: usize) -> u64 {
    arg(a, i).parse().unwrap_or(0)
}

fn say(words: &[u64]) {
    let line: Vec<String> = words.iter().map(u64::to_string).collect();
    println!("{}", line.join(" "));
    let _ = std::io::stdout().flush();
}

fn ready() {
    println!("ready");
    let _ = std::io::stdout().flush();
}

/// Waits for "go" on stdin.
fn wait_go() -> Result<(), String> {
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(n) if n > 0 => Ok(()),
        _ => Err("no go from the parent".into()),
    }
}

fn ready_go() -> Result<(), String> {
    ready();
    wait_go()
}

fn open(path: &str, write: bool, direct: bool) -> Result<File, String> {
    let mut o = OpenOptions::new();
    if write {
        o.write(true);
    } else {
        o.read(true);
    }
    if direct {
        o.custom_flags(libc::O_DIRECT);
    }
    o.open(path).map_err(|e| format!("open {path}: {e}"))
}

fn write_all(mut f: &File, mut buf: &[u8]) -> Result<(), String> {
    while !buf.is_empty() {
        match f.write(buf) {
            Ok(0) => return Err("write returned 0".into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    Ok(())
}

fn read_some(mut f: &File, buf: &mut [u8]) -> Result<usize, String> {
    loop {
        match f.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

fn stream_write(path: &str, total: u64, chunk: usize, pipe_size: u64) -> Result<(), String> {
    let f = open(path, true, false)?;
    if pipe_size > 0 {
        // SAFETY: fcntl on our own descriptor with an integer argument.
        let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETPIPE_SZ, pipe_size as libc::c_int) };
        if r < pipe_size as i32 {
            return Err(format!("F_SETPIPE_SZ {pipe_size}: {}", errno()));
        }
    }
    let buf = vec![0x5au8; chunk];
    ready_go()?;
    let t0 = now_ns();
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk as u64) as usize;
        write_all(&f, &buf[..n])?;
        left -= n as u64;
    }
    say(&[t0, now_ns()]);
    Ok(())
}

fn stream_read(path: &str, total: u64, chunk: usize) -> Result<(), String> {
    let f = open(path, false, false)?;
    let mut buf = vec![0u8; chunk];
    ready_go()?;
    let t0 = now_ns();
    let mut got = 0u64;
    while got < total {
        let want = (total - got).min(chunk as u64) as usize;
        let n = read_some(&f, &mut buf[..want])?;
        if n == 0 {
            return Err(format!("end of file after {got} of {total} bytes"));
        }
        got += n as u64;
    }
    say(&[t0, now_ns()]);
    Ok(())
}

/// `count` messages of 64 bytes: `file` writes each with one write(2),
/// `mq` with mq_send.
fn msg_send(kind: &str, path: &str, count: u64) -> Result<(), String> {
    let msg = [0x6du8; MSG];
    if kind == "mq" {
        let q = mq_open(path, libc::O_WRONLY)?;
        ready_go()?;
        let t0 = now_ns();
        for _ in 0..count {
            mq_send(q, &msg)?;
        }
        say(&[t0, now_ns()]);
        return Ok(());
    }
    if kind == "batch" || kind == "batch-null" {
        return batch_send(path, count);
    }
    let mut f = open(path, true, false)?;
    ready_go()?;
    let t0 = now_ns();
    for i in 0..count {
        match f.write(&msg) {
            Ok(MSG) => {}
            Ok(n) => return Err(format!("message {i}: write took {n} of {MSG} bytes")),
            Err(e) => return Err(format!("message {i}: write: {e}")),
        }
    }
    say(&[t0, now_ns()]);
    Ok(())
}

/// `count` messages: `file` reads each whole with one read(2) of a file
/// opened with O_DIRECT (packet mode), `mq` with mq_receive.
fn msg_recv(kind: &str, path: &str, count: u64) -> Result<(), String> {
    let mut buf = [0u8; MSG];
    if kind == "mq" {
        let q = mq_open(path, libc::O_RDONLY)?;
        ready_go()?;
        let t0 = now_ns();
        for i in 0..count {
            let n = mq_receive(q, &mut buf)?;
            if n != MSG {
                return Err(format!("message {i} has {n} bytes"));
            }
        }
        say(&[t0, now_ns()]);
        return Ok(());
    }
    if kind == "batch" || kind == "batch-null" {
        return batch_recv(kind, path, count);
    }
    let f = open(path, false, true)?;
    ready_go()?;
    let t0 = now_ns();
    for i in 0..count {
        let n = read_some(&f, &mut buf)?;
        if n != MSG {
            return Err(format!("message {i}: read returned {n} bytes, not {MSG}"));
        }
    }
    say(&[t0, now_ns()]);
    Ok(())
}

/// Opens a queue in batch mode (the null file takes the same flags).
fn open_batch(path: &str, write: bool) -> Result<File, String> {
    let mut o = OpenOptions::new();
    if write {
        o.write(true);
    } else {
        o.read(true);
    }
    o.custom_flags(libc::O_DIRECT | libc::O_DSYNC);
    o.open(path).map_err(|e| format!("open {path}: {e}"))
}

/// `count` messages of 64 bytes, `BATCH` records per write.
fn batch_send(path: &str, count: u64) -> Result<(), String> {
    let mut records = Vec::with_capacity(BATCH * RECORD);
    for _ in 0..BATCH {
        records.extend_from_slice(&(MSG as u32).to_le_bytes());
        records.extend_from_slice(&[0x6d; MSG]);
    }
    let f = open_batch(path, true)?;
    ready_go()?;
    let t0 = now_ns();
    let mut left = count;
    while left > 0 {
        let n = left.min(BATCH as u64) as usize;
        // A short count is whole records (ipcfs) or bytes (null file).
        write_all(&f, &records[..n * RECORD])?;
        left -= n as u64;
    }
    say(&[t0, now_ns()]);
    Ok(())
}

/// `count` messages read `BATCH` at a time at most; on ipcfs every record
/// is checked (a 64-byte length, then the bytes sent), on the null file
/// the bytes are counted as records.
fn batch_recv(kind: &str, path: &str, count: u64) -> Result<(), String> {
    let mut buf = vec![0u8; BATCH * RECORD];
    let f = open_batch(path, false)?;
    ready_go()?;
    let t0 = now_ns();
    let mut got = 0u64;
    while got < count {
        let want = ((count - got) as usize).min(BATCH) * RECORD;
        let n = read_some(&f, &mut buf[..want])?;
        if kind == "batch-null" {
            got += (n / RECORD) as u64;
            continue;
        }
        if n == 0 || n % RECORD != 0 {
            return Err(format!(
                "a batch read returned {n} bytes after {got} messages"
            ));
        }
        for record in buf[..n].chunks(RECORD) {
            if record[..4] != (MSG as u32).to_le_bytes() || record[4..].iter().any(|&b| b != 0x6d) {
                return Err(format!("message {got}: a bad record"));
            }
            got += 1;
        }
    }
    say(&[t0, now_ns()]);
    Ok(())
}

/// One end of a ping-pong: a file (read with O_DIRECT for `packet`) or a
/// POSIX queue.
enum End {
    File(File),
    Mq(libc::mqd_t),
}

impl End {
    fn open(kind: &str, path: &str, write: bool) -> Result<End, String> {
        if kind == "mq" {
            let flags = if write {
                libc::O_WRONLY
            } else {
                libc::O_RDONLY
            };
            return mq_open(path, flags).map(End::Mq);
        }
        open(path, write, kind == "packet" && !write).map(End::File)
    }

    fn send(&self, byte: &[u8]) -> Result<(), String> {
        match self {
            End::File(f) => write_all(f, byte),
            End::Mq(q) => mq_send(*q, byte),
        }
    }

    fn recv(&self, buf: &mut [u8]) -> Result<(), String> {
        let n = match self {
            End::File(f) => read_some(f, buf)?,
            End::Mq(q) => mq_receive(*q, buf)?,
        };
        if n == 0 {
            return Err("end of file".into());
        }
        Ok(())
    }
}

/// Pins this process to CPU `cpu` ("any": leaves it to the scheduler).
fn pin(cpu: &str) -> Result<(), String> {
    if cpu == "any" {
        return Ok(());
    }
    let n: usize = cpu.parse().map_err(|_| format!("bad CPU {cpu}"))?;
    // SAFETY: cpu_set_t is plain data, filled by CPU_ZERO and CPU_SET.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(n, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if r != 0 {
        return Err(format!("sched_setaffinity CPU {n}: {}", errno()));
    }
    Ok(())
}

/// The timing end: sends over `a`, waits for the answer over `b`. Both ends
/// open `a` first, so that FIFO opens meet.
fn ping(kind: &str, a: &str, b: &str, rounds: u64, warmup: u64, cpu: &str) -> Result<(), String> {
    pin(cpu)?;
    let tx = End::open(kind, a, true)?;
    let rx = End::open(kind, b, false)?;
    let mut buf = [0u8; MSG];
    let mut samples = Vec::with_capacity(rounds as usize);
    ready_go()?;
    for i in 0..warmup + rounds {
        let t = now_ns();
        tx.send(b"p")?;
        rx.recv(&mut buf)?;
        if i >= warmup {
            samples.push(now_ns() - t);
        }
    }
    samples.sort_unstable();
    let len = samples.len().max(1);
    let at = |q: usize| {
        samples
            .get((len * q).div_ceil(100).saturating_sub(1))
            .copied()
    };
    let mean = samples.iter().sum::<u64>() / len as u64;
    say(&[at(50).unwrap_or(0), at(99).unwrap_or(0), mean]);
    Ok(())
}

fn pong(kind: &str, a: &str, b: &str, total: u64, cpu: &str) -> Result<(), String> {
    pin(cpu)?;
    let rx = End::open(kind, a, false)?;
    let tx = End::open(kind, b, true)?;
    let mut buf = [0u8; MSG];
    ready_go()?;
    for _ in 0..total {
        rx.recv(&mut buf)?;
        tx.send(b"q")?;
    }
    say(&[0]);
    Ok(())
}

/// A counter in a shared file, written by the receiver of signals and read
/// by their sender.
fn shared_counter(path: &str) -> Result<&'static AtomicU64, String> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("open {path}: {e}"))?;
    // SAFETY: a fresh shared mapping of a 4096-byte file we opened; it is
    // never unmapped, so the reference lives as long as the process.
    unsafe {
        let m = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        if m == libc::MAP_FAILED {
            return Err(format!("mmap {path}: {}", errno()));
        }
        Ok(&*(m as *const AtomicU64))
    }
}

/// Blocks SIGRTMIN and takes `count` of them with sigwaitinfo(), counting
/// in the shared counter; says when it had the last. Then stays alive
/// (a target for probes) until its stdin closes.
fn sig_recv(count: u64, counter: &str) -> Result<(), String> {
    let taken = shared_counter(counter)?;
    // SAFETY: sigset_t is plain data, initialised by sigemptyset.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGRTMIN());
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    ready_go()?;
    for _ in 0..count {
        // SAFETY: a valid set; no siginfo wanted.
        let r = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
        if r < 0 {
            let e = errno();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("sigwaitinfo: {e}"));
        }
        taken.fetch_add(1, Ordering::Release);
    }
    say(&[now_ns()]);
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    Ok(())
}

/// Sends `word` (`0` or `RTMIN`) `count` times: by kill(2) to pid `target`,
/// or by writing it to the file `target`. With a counter file, waits while
/// [`SIGNAL_WINDOW`] signals are untaken.
fn sig_send(mode: &str, target: &str, count: u64, word: &str, counter: &str) -> Result<(), String> {
    let taken = if counter == "-" {
        None
    } else {
        Some(shared_counter(counter)?)
    };
    let file = if mode == "file" {
        Some(open(target, true, false)?)
    } else {
        None
    };
    let pid: libc::pid_t = if mode == "kill" {
        target.parse().map_err(|_| format!("bad pid {target}"))?
    } else {
        0
    };
    let signo = if word == "0" { 0 } else { libc::SIGRTMIN() };
    ready_go()?;
    let t0 = now_ns();
    for i in 0..count {
        if let Some(taken) = taken {
            while i.saturating_sub(taken.load(Ordering::Acquire)) >= SIGNAL_WINDOW {
                // SAFETY: sched_yield has no memory effects.
                unsafe { libc::sched_yield() };
            }
        }
        match file.as_ref() {
            Some(mut f) => match f.write(word.as_bytes()) {
                Ok(n) if n == word.len() => {}
                Ok(n) => return Err(format!("signal {i}: write took {n} bytes")),
                Err(e) => return Err(format!("signal {i}: write {word:?}: {e}")),
            },
            None => {
                // SAFETY: kill has no memory effects.
                if unsafe { libc::kill(pid, signo) } != 0 {
                    return Err(format!("signal {i}: kill: {}", errno()));
                }
            }
        }
    }
    say(&[t0, now_ns()]);
    Ok(())
}

/// `n` threads each blocked in one 64-byte read of `path` (O_DIRECT) or in
/// mq_receive; says "ready" once all are started, then, when all have their
/// message, when the last one did and how many failed.
fn park_threads(kind: &str, path: &str, n: usize) -> Result<(), String> {
    let (fd, _file) = if kind == "mq" {
        (mq_open(path, libc::O_RDONLY)?, None)
    } else {
        let f = open(path, false, true)?;
        (f.as_raw_fd(), Some(f))
    };
    let mq = kind == "mq";
    let started = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::with_capacity(n);
    for i in 0..n {
        let (started, last, failed) = (started.clone(), last.clone(), failed.clone());
        let t = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(move || {
                started.fetch_add(1, Ordering::Relaxed);
                let mut buf = [0u8; MSG];
                let ok = if mq {
                    mq_receive(fd, &mut buf) == Ok(MSG)
                } else {
                    loop {
                        // SAFETY: the buffer is ours; fd outlives the threads.
                        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), MSG) };
                        if r < 0 && errno().kind() == std::io::ErrorKind::Interrupted {
                            continue;
                        }
                        break r == MSG as isize;
                    }
                };
                last.fetch_max(now_ns(), Ordering::Relaxed);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            })
            .map_err(|e| format!("thread {i}: {e}"))?;
        threads.push(t);
    }
    while started.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_millis(1));
    }
    ready();
    for t in threads {
        let _ = t.join();
    }
    say(&[
        last.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed) as u64,
    ]);
    Ok(())
}

/// A tmpfs of its own on `dir`, in a private mount namespace, so that it
/// and whatever is left in it vanish with this process.
fn private_tmpfs(dir: &Path) -> Result<(), String> {
    use nix::mount::{MsFlags, mount};
    // SAFETY: unshare takes flags only; this process is single-threaded.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(format!("unshare: {}", errno()));
    }
    let none = None::<&str>;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .map_err(|e| format!("make / private: {e}"))?;
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=0700"),
    )
    .map_err(|e| format!("mount tmpfs: {e}"))?;
    Ok(())
}

/// Creates `n` objects, says how long it took, and after "go" lists the
/// directory once and removes them all, saying how long each took.
fn make_many(kind: &str, dir: &Path, n: usize) -> Result<(), String> {
    let fifo = kind == "fifo";
    if fifo {
        private_tmpfs(dir)?;
    }
    ready_go()?;
    let t0 = now_ns();
    for i in 0..n {
        let path = dir.join(format!("q{i}"));
        if fifo {
            make_fifo(&path)?;
        } else {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| format!("create {}: {e}", path.display()))?;
        }
    }
    say(&[now_ns() - t0]);
    wait_go()?;
    let t1 = now_ns();
    let listed = std::fs::read_dir(dir)
        .map_err(|e| format!("readdir {}: {e}", dir.display()))?
        .map(|e| e.map(|_| ()))
        .collect::<Result<Vec<()>, _>>()
        .map_err(|e| format!("readdir {}: {e}", dir.display()))?
        .len();
    let t2 = now_ns();
    for i in 0..n {
        let path = dir.join(format!("q{i}"));
        std::fs::remove_file(&path).map_err(|e| format!("unlink {}: {e}", path.display()))?;
    }
    say(&[t2 - t1, listed as u64, now_ns() - t2]);
    Ok(())
}

// ---------------------------------------------------------------------------
// The FUSE ceiling

/// Inodes of the ceiling.
const ROOT: u64 = 1;
const NULL: u64 = 2;
const PING: u64 = 3;
const PONG: u64 = 4;
const WAKE: u64 = 5;
const DIR: u64 = 6;
const FIRST_DYNAMIC: u64 = 1000;

const FIXED: [(&str, u64, FileType); 5] = [
    ("null", NULL, FileType::RegularFile),
    ("ping", PING, FileType::RegularFile),
    ("pong", PONG, FileType::RegularFile),
    ("wake", WAKE, FileType::RegularFile),
    ("dir", DIR, FileType::Directory),
];

/// As ipcfs (src/fuse/attr.rs): names cached a second, attributes never.
const ENTRY_TTL: Duration = Duration::from_secs(1);
const ATTR_TTL: Duration = Duration::ZERO;

/// A file whose reads wait for the next write (the least a pipe or queue
/// needs): a write answers the oldest waiting read, or is kept for the next.
#[derive(Default)]
struct Mailbox {
    kept: VecDeque<Vec<u8>>,
    waiting: VecDeque<(ReplyData, usize)>,
}

#[derive(Default)]
struct Names {
    by_name: HashMap<Vec<u8>, u64>,
    by_ino: BTreeMap<u64, Vec<u8>>,
    next: u64,
}

/// The do-nothing filesystem: `null` (writes vanish, reads give zeros),
/// `ping`, `pong` and `wake` (mailboxes), and `dir/` (names only). Every
/// file opens as ipcfs's streams do, and reports ipcfs's `st_size`.
struct Ceiling {
    max_write: u32,
    zeros: Vec<u8>,
    owner: (u32, u32),
    boxes: [Mutex<Mailbox>; 3],
    names: Mutex<Names>,
}

/// The open flags ipcfs gives every stream (src/fuse/cell.rs).
fn stream_open_flags() -> FopenFlags {
    FopenFlags::FOPEN_DIRECT_IO
        | FopenFlags::FOPEN_NONSEEKABLE
        | FopenFlags::FOPEN_STREAM
        | FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES
}

impl Ceiling {
    fn new(max_write: usize) -> Ceiling {
        Ceiling {
            max_write: max_write as u32,
            zeros: vec![0; max_write],
            owner: (
                nix::unistd::getuid().as_raw(),
                nix::unistd::getgid().as_raw(),
            ),
            boxes: Default::default(),
            names: Mutex::new(Names {
                next: FIRST_DYNAMIC,
                ..Default::default()
            }),
        }
    }

    fn names(&self) -> MutexGuard<'_, Names> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mailbox(&self, ino: u64) -> Option<MutexGuard<'_, Mailbox>> {
        let i = match ino {
            PING => 0,
            PONG => 1,
            WAKE => 2,
            _ => return None,
        };
        Some(self.boxes[i].lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let kind = match ino {
            ROOT | DIR => FileType::Directory,
            NULL | PING | PONG | WAKE => FileType::RegularFile,
            i if self.names().by_ino.contains_key(&i) => FileType::RegularFile,
            _ => return None,
        };
        let dir = kind == FileType::Directory;
        let now = SystemTime::now();
        Some(FileAttr {
            ino: INodeNo(ino),
            size: if dir { 0 } else { self.max_write as u64 },
            blocks: 0,
            atime: now,
            mtime: now,
            ctime: now,
            crtime: now,
            kind,
            perm: if dir { 0o755 } else { 0o666 },
            nlink: if dir { 2 } else { 1 },
            uid: self.owner.0,
            gid: self.owner.1,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }
}

impl Filesystem for Ceiling {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(nearest) = config.set_max_write(self.max_write) {
            let _ = config.set_max_write(nearest);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let ino = match parent.0 {
            ROOT => FIXED
                .iter()
                .find(|f| f.0.as_bytes() == name.as_bytes())
                .map(|f| f.1),
            DIR => self.names().by_name.get(name.as_bytes()).copied(),
            _ => None,
        };
        match ino.and_then(|i| self.attr(i)) {
            Some(a) => reply.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, &a, Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: Option<FileHandle>,
        reply: fuser::ReplyAttr,
    ) {
        match self.attr(ino.0) {
            Some(a) => reply.attr(&ATTR_TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.attr(ino.0) {
            Some(_) => reply.opened(FileHandle(0), stream_open_flags()),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let size = size as usize;
        if ino.0 == NULL {
            return reply.data(&self.zeros[..size.min(self.zeros.len())]);
        }
        let Some(mut mailbox) = self.mailbox(ino.0) else {
            return reply.data(&[]);
        };
        match mailbox.kept.pop_front() {
            Some(data) => {
                drop(mailbox);
                reply.data(&data[..data.len().min(size)]);
            }
            None => mailbox.waiting.push_back((reply, size)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if let Some(mut mailbox) = self.mailbox(ino.0) {
            match mailbox.waiting.pop_front() {
                Some((reader, size)) => {
                    drop(mailbox);
                    reader.data(&data[..data.len().min(size)]);
                }
                None => mailbox.kept.push_back(data.to_vec()),
            }
        }
        reply.written(data.len() as u32);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut entries: Vec<(u64, u64, FileType, Vec<u8>)> = vec![
            (ino.0, 1, FileType::Directory, b".".to_vec()),
            (ROOT, 2, FileType::Directory, b"..".to_vec()),
        ];
        match ino.0 {
            ROOT => {
                for (i, (name, child, kind)) in FIXED.iter().enumerate() {
                    entries.push((*child, 3 + i as u64, *kind, name.as_bytes().to_vec()));
                }
            }
            DIR => {
                // Offsets are inode numbers: stable while others come and go.
                let names = self.names();
                for (child, name) in names.by_ino.range(offset.max(2) + 1..) {
                    entries.push((*child, *child, FileType::RegularFile, name.clone()));
                    if entries.len() > 4096 {
                        break;
                    }
                }
            }
            _ => return reply.error(Errno::ENOTDIR),
        }
        for (child, off, kind, name) in entries {
            if off > offset && reply.add(INodeNo(child), off, kind, OsStr::from_bytes(&name)) {
                break;
            }
        }
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        if parent.0 != DIR {
            return reply.error(Errno::EPERM);
        }
        let ino = {
            let mut names = self.names();
            if names.by_name.contains_key(name.as_bytes()) {
                return reply.error(Errno::EEXIST);
            }
            let ino = names.next;
            names.next += 1;
            names.by_name.insert(name.as_bytes().to_vec(), ino);
            names.by_ino.insert(ino, name.as_bytes().to_vec());
            ino
        };
        match self.attr(ino) {
            Some(a) => reply.created(
                &ATTR_TTL,
                &a,
                Generation(0),
                FileHandle(0),
                stream_open_flags(),
            ),
            None => reply.error(Errno::EIO),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if parent.0 != DIR {
            return reply.error(Errno::EPERM);
        }
        let mut names = self.names();
        match names.by_name.remove(name.as_bytes()) {
            Some(ino) => {
                names.by_ino.remove(&ino);
                drop(names);
                reply.ok();
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let value = match (name.as_bytes(), self.mailbox(ino.0)) {
            (b"user.parked", Some(m)) => m.waiting.len().to_string(),
            _ => return reply.error(Errno::ENODATA),
        };
        if size == 0 {
            reply.size(value.len() as u32);
        } else if (size as usize) < value.len() {
            reply.error(Errno::from_i32(libc::ERANGE));
        } else {
            reply.data(value.as_bytes());
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }
}

/// Mounts the ceiling on `mountpoint` exactly as ipcfs mounts itself as
/// root (ipcfs's own mount code and session settings, its `max_write`),
/// serves until SIGTERM, then unmounts.
fn ceiling_main(mountpoint: &Path) -> Result<(), String> {
    let set = stop_signals();
    // SAFETY: a valid set, before any thread starts.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let (io, _) = IoLimits::detect(nix::unistd::geteuid().is_root());
    let mut config = ipcfs::config::Config::new(mountpoint.to_path_buf());
    config.io = io;
    config.fsname = "ipcfs-ceiling".into();
    let session_config = ipcfs::mount::session_config(&config, DISPATCH_THREADS);
    let (device, mount) = ipcfs::mount::mount_as_root(mountpoint, &config)
        .map_err(|e| format!("mount {}: {e}", mountpoint.display()))?;
    let acl = session_config.acl;
    let session =
        match fuser::Session::from_fd(Ceiling::new(io.max_write()), device, acl, session_config) {
            Ok(s) => s,
            Err(e) => {
                mount.unmount();
                return Err(format!("FUSE handshake: {e}"));
            }
        };
    std::thread::Builder::new()
        .name("ceiling-session".into())
        .spawn(move || session.run())
        .map_err(|e| format!("session thread: {e}"))?;
    let mut sig = 0;
    // SAFETY: a valid set and an int to write.
    unsafe { libc::sigwait(&set, &mut sig) };
    mount.unmount();
    Ok(())
}
