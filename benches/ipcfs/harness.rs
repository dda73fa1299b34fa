//! The measuring harness every workload shares: child processes released
//! together and timed across processes, the daemons under test and their
//! /proc figures, the paths of a run, and the watchdog with its registry of
//! everything to clean up.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use crate::report::V;
use crate::sys::{is_mounted, make_fifo, make_object, mounts_under, mq_create, mq_unlink};
use crate::{MSG, QUEUE_DEPTH, ROLE_ENV};

/// Everything the bench must undo, also when it is cut short.
pub(crate) struct Registry {
    kids: Vec<u32>,
    /// Daemons: pid, mountpoint, log file.
    daemons: Vec<(u32, PathBuf, PathBuf)>,
    queues: Vec<String>,
    pub(crate) base: Option<PathBuf>,
    /// Directories outside `base` (in /dev/shm) to remove.
    pub(crate) dirs: Vec<PathBuf>,
    phase: String,
    deadline: Option<Instant>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    kids: Vec::new(),
    daemons: Vec::new(),
    queues: Vec::new(),
    base: None,
    dirs: Vec::new(),
    phase: String::new(),
    deadline: None,
});

pub(crate) fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// A child the cleanup kills if the bench ends early (a server a
    /// workload started).
    pub(crate) fn kids_add(&mut self, pid: u32) {
        self.kids.push(pid);
    }

    /// That child ended: the cleanup leaves its pid alone.
    pub(crate) fn kids_forget(&mut self, pid: u32) {
        self.kids.retain(|k| *k != pid);
    }
}

pub(crate) fn set_phase(phase: &str, limit: Duration) {
    let mut r = registry();
    r.phase = phase.to_string();
    r.deadline = Some(Instant::now() + limit);
}

pub(crate) fn stop_signals() -> libc::sigset_t {
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
pub(crate) fn block_stop_signals() {
    let set = stop_signals();
    // SAFETY: a valid set; no old mask wanted.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

pub(crate) fn start_watchdog() {
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

/// Kills every child, stops the daemons, unmounts, removes POSIX queues,
/// the /dev/shm directory and the temporary directory. Safe to call more
/// than once.
pub(crate) fn cleanup() {
    let (kids, daemons, queues, base, dirs) = {
        let mut r = registry();
        r.deadline = None;
        (
            std::mem::take(&mut r.kids),
            std::mem::take(&mut r.daemons),
            std::mem::take(&mut r.queues),
            r.base.take(),
            std::mem::take(&mut r.dirs),
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
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
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
pub(crate) struct Kid {
    role: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Its stdout, line by line, from a reader thread.
    lines: mpsc::Receiver<String>,
    done: bool,
}

impl Kid {
    pub(crate) fn spawn(role: &str, args: &[String]) -> Result<Kid, String> {
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

    pub(crate) fn pid(&self) -> u32 {
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

    pub(crate) fn expect_ready(&mut self) -> Result<(), String> {
        expect_ready(std::slice::from_mut(self))
    }

    pub(crate) fn go(&mut self) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin
            .write_all(b"go\n")
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("cannot release the {} process: {e}", self.role))
    }

    pub(crate) fn numbers(&mut self) -> Result<Vec<u64>, String> {
        let line = self.line()?;
        parse_numbers(&self.role, &line)
    }

    /// Closes its stdin and waits for a successful exit.
    pub(crate) fn finish(&mut self) -> Result<(), String> {
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

pub(crate) fn parse_numbers(role: &str, line: &str) -> Result<Vec<u64>, String> {
    line.split_whitespace()
        .map(|w| w.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("the {role} process said {line:?}"))
}

/// The next line of every kid. Fails as soon as one of them ends without
/// one, so that its partners, which may wait for it forever (a FIFO open,
/// a queue read), are killed (on drop) instead of hanging the bench.
pub(crate) fn next_lines(kids: &mut [Kid]) -> Result<Vec<String>, String> {
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

pub(crate) fn expect_ready(kids: &mut [Kid]) -> Result<(), String> {
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
pub(crate) fn run_group(specs: &[(&str, Vec<String>)]) -> Result<Vec<Vec<u64>>, String> {
    let kids = specs
        .iter()
        .map(|(role, args)| Kid::spawn(role, args))
        .collect::<Result<Vec<_>, _>>()?;
    release_group(kids)
}

/// Like [`run_group`], for children already started (one of which may have
/// said something first, as a port): waits until all are ready, releases
/// them together and returns what each printed, in order.
pub(crate) fn release_group(mut kids: Vec<Kid>) -> Result<Vec<Vec<u64>>, String> {
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
pub(crate) fn span_ns(results: &[Vec<u64>]) -> Result<u64, String> {
    let t0 = results.iter().filter_map(|r| r.first()).min();
    let t1 = results.iter().filter_map(|r| r.get(1)).max();
    match (t0, t1) {
        (Some(a), Some(b)) if b > a => Ok(b - a),
        _ => Err(format!("bad timings {results:?}")),
    }
}

pub(crate) fn s(v: impl ToString) -> String {
    v.to_string()
}

pub(crate) fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------
// Daemons (parent side)

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcStats {
    pub(crate) threads: u64,
    /// Resident memory and page tables (VmRSS + VmPTE): the page tables
    /// count, as a daemon that maps a buffer per parked call pays them.
    pub(crate) rss_kib: u64,
    pub(crate) fds: u64,
    /// utime + stime, in clock ticks.
    pub(crate) cpu_ticks: u64,
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
        rss_kib: field("VmRSS:") + field("VmPTE:"),
        fds,
        // Fields 14 and 15 of stat; `rest` starts at field 3.
        cpu_ticks: tick(11) + tick(12),
    })
}

pub(crate) fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// A FUSE daemon we started: ipcfs, or this binary as the ceiling.
pub(crate) struct Daemon {
    pub(crate) name: &'static str,
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    stopped: bool,
}

impl Daemon {
    pub(crate) fn start(
        name: &'static str,
        mut cmd: Command,
        dir: &Path,
        log: &Path,
    ) -> Result<Self, String> {
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
        // Every daemon shows a fixed file at the root once it serves: the
        // ipcfs mounts their README, the ceiling its null file.
        let marker = if name.starts_with("ipcfs") {
            "README"
        } else {
            "null"
        };
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

    /// Where it is mounted.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn stats(&self) -> Result<ProcStats, String> {
        proc_stats(self.pid())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines at warning level or worse.
    pub(crate) fn log_problems(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("panicked"))
            .map(str::to_string)
            .collect()
    }

    /// SIGTERM, as an operator would stop it; returns how it ended.
    pub(crate) fn stop(&mut self) -> Result<(), String> {
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
// The paths of one run (parent)

/// Paths of one run.
pub(crate) struct Env {
    pub(crate) base: PathBuf,
    pub(crate) ipcfs: PathBuf,
    /// A second ipcfs, with `--shm-mode cached` (started for the shm rows).
    pub(crate) ipcfs_cached: PathBuf,
    /// A third ipcfs, with `--transport uring`, started only when the
    /// kernel offers FUSE over io_uring ([`uring_offered`]).
    pub(crate) ipcfs_uring: PathBuf,
    /// Whether the third mount serves: the uring rows run only then.
    pub(crate) uring: bool,
    pub(crate) ceiling: PathBuf,
    pub(crate) fifo: PathBuf,
    pub(crate) tmpfs: PathBuf,
    /// Prefix of this run's POSIX queue names.
    pub(crate) mq_prefix: String,
    pub(crate) mq_depth: i64,
}

impl Env {
    pub(crate) fn fifo(&self, name: &str) -> Result<PathBuf, String> {
        let path = self.fifo.join(name);
        make_fifo(&path)?;
        Ok(path)
    }

    pub(crate) fn ipcfs_object(&self, rel: &str) -> Result<PathBuf, String> {
        let path = self.ipcfs.join(rel);
        make_object(&path)?;
        Ok(path)
    }

    /// A new POSIX queue of 64-byte messages, unlinked at cleanup.
    pub(crate) fn mq(&self, tag: &str) -> Result<String, String> {
        let name = format!("{}-{tag}", self.mq_prefix);
        mq_create(&name, self.mq_depth, MSG as i64)
            .map_err(|e| format!("mq_open {name} (O_CREAT): {e}"))?;
        registry().queues.push(name.clone());
        Ok(name)
    }

    pub(crate) fn ceiling_file(&self, name: &str) -> PathBuf {
        self.ceiling.join(name)
    }

    /// The ipcfs mounts a small-operation row runs on: the default one
    /// (/dev/fuse), then the io_uring one if it serves.
    pub(crate) fn transports(&self) -> Vec<Transport<'_>> {
        let mut all = vec![Transport {
            uring: false,
            dir: &self.ipcfs,
        }];
        if self.uring {
            all.push(Transport {
                uring: true,
                dir: &self.ipcfs_uring,
            });
        }
        all
    }
}

/// One ipcfs mount of the run, by how requests reach it.
#[derive(Clone, Copy)]
pub(crate) struct Transport<'a> {
    pub(crate) uring: bool,
    pub(crate) dir: &'a Path,
}

impl Transport<'_> {
    /// Appended to the name of a row measured on this mount.
    pub(crate) fn tag(&self) -> &'static str {
        if self.uring { " (uring)" } else { "" }
    }

    /// Who is measured, in the progress lines.
    pub(crate) fn who(&self) -> &'static str {
        if self.uring { "ipcfs (uring)" } else { "ipcfs" }
    }

    /// A row's ceiling figure and note on this mount: as given on
    /// /dev/fuse; on io_uring none (there is no ceiling over it), and the
    /// note says how the mount differs.
    pub(crate) fn ceiling_and_note(&self, ceiling: V, note: &str) -> (V, String) {
        if self.uring {
            (V::Na, format!("{note}; {URING_NOTE}"))
        } else {
            (ceiling, note.to_string())
        }
    }

    /// A new object (`pipes/NAME`, `queues/NAME`) on this mount.
    pub(crate) fn object(&self, rel: &str) -> Result<PathBuf, String> {
        let path = self.dir.join(rel);
        make_object(&path)?;
        Ok(path)
    }
}

/// The note of every uring row, after its own.
const URING_NOTE: &str = "ipcfs mounted with --transport uring (one ring and one \
     worker pinned to it per CPU: a request is served on its caller's CPU); kernel: the same \
     figure as the row without (uring); no ceiling over io_uring";

/// Who is not pinned in a pinned row.
pub(crate) const DAEMONS_UNPINNED: &str =
    "the daemons are not pinned (the uring mount's workers are, one per CPU, as always)";

/// The note of a pinned row (every process of its workload on one CPU).
pub(crate) fn pinned_note(cpu: &str) -> String {
    format!(
        "every process of the workload pinned to CPU {cpu} (sched_setaffinity), on the \
         kernel's side too; {DAEMONS_UNPINNED}"
    )
}

/// Where root lets the kernel offer FUSE over io_uring. A setting of the
/// whole machine: the bench only reads it, and never writes it.
pub(crate) const ENABLE_URING: &str = "/sys/module/fuse/parameters/enable_uring";

/// Whether `--transport uring` can mount here, read once at the start of
/// the run; if not, why, for the line that says the uring rows are skipped.
pub(crate) fn uring_offered() -> Result<(), String> {
    match std::fs::read_to_string(ENABLE_URING) {
        Ok(v) if v.trim() == "Y" => Ok(()),
        Ok(v) => Err(format!(
            "{ENABLE_URING} is {} (a setting of the whole machine, which the bench never \
             changes; root may set it to Y)",
            v.trim()
        )),
        Err(e) => Err(format!("cannot read {ENABLE_URING}: {e}")),
    }
}

/// The deepest POSIX queue this process may create, up to ipcfs's depth:
/// root may pass `fs.mqueue.msg_max`, others may not.
pub(crate) fn mq_depth(prefix: &str) -> i64 {
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

// The child's side of the protocol: say numbers, say ready, wait for go.

pub(crate) fn say(words: &[u64]) {
    let line: Vec<String> = words.iter().map(u64::to_string).collect();
    println!("{}", line.join(" "));
    let _ = std::io::stdout().flush();
}

pub(crate) fn ready() {
    println!("ready");
    let _ = std::io::stdout().flush();
}

/// Waits for "go" on stdin.
pub(crate) fn wait_go() -> Result<(), String> {
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(n) if n > 0 => Ok(()),
        _ => Err("no go from the parent".into()),
    }
}

pub(crate) fn ready_go() -> Result<(), String> {
    ready();
    wait_go()
}
