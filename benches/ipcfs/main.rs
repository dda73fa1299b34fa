//! The benchmark of ipcfs: every workload runs on the kernel's own object,
//! on ipcfs, and on a do-nothing FUSE filesystem mounted the same way (the
//! "FUSE ceiling": what any daemon with these mount options, this
//! `max_write` and this many dispatch threads could reach), all in one run.
//! Prints one table and writes the same figures as JSON to
//! `target/bench/ipcfs.json`.
//!
//! `cargo bench --bench ipcfs` runs the full version (about 6 minutes on 2
//! cores); with `IPCFS_BENCH_QUICK=1` a smoke version of about 15 seconds,
//! which `.ci/run` runs so that the bench keeps working. No figure is
//! asserted; a workload that fails (an error, a short read, a hang) is
//! reported and makes the bench exit non-zero. `IPCFS_BENCH_ONLY=queues`
//! (a comma-separated list of pipes, queues, latency, signals, parking,
//! objects, opens, sockets, shm, store) runs only those workloads. The
//! store rows (queues across machines) start a `redis-server` and two
//! more ipcfs mounts of it. The shm rows
//! mount a second ipcfs, with `--shm-mode cached`, to measure both ways of
//! serving shared-memory files.
//!
//! The small-operation rows (4 KiB pipe writes, 64-byte messages, ping-pong,
//! signal writes, opens, parked callers) also run on a third ipcfs, mounted
//! with `--transport uring`, in rows labelled "(uring)" beside those of the
//! default transport (/dev/fuse). That mount is made only when
//! /sys/module/fuse/parameters/enable_uring reads Y at the start of the
//! run; otherwise one line says why and those rows are left out. The bench
//! never writes that setting: it belongs to the whole machine. Rows that
//! name a CPU ("all on CPU 0", "both ends on CPU 0") pin every process of
//! their workload there (sched_setaffinity), on the kernel's side too; the
//! others leave them to the scheduler. The rows with targets whose single
//! runs swing most (pipe 1 MiB and 64 KiB writes, batch mode, signals
//! delivered, waking 10,000 parked readers, 1 MiB transfers through a
//! dial file) run their sides in turn, `target_rounds` rounds, and show
//! each side's median (`Report::alternated`).
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

mod ceiling;
mod harness;
mod latency;
mod objects;
mod opens;
mod parking;
mod pipes;
mod queues;
mod report;
mod roles;
mod shm;
mod signals;
mod sockets;
mod store;
mod sys;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{
    Daemon, Env, block_stop_signals, cleanup, mq_depth, registry, set_phase, start_watchdog,
    uring_offered,
};
use latency::latency;
use objects::objects;
use opens::opens;
use parking::parking;
use pipes::pipes;
use queues::queues;
use report::{Report, machine, print_table, to_json};
use roles::child_main;
use shm::shm;
use signals::signals;
use sockets::sockets;

/// The daemon under test, built by cargo in the bench's (release) profile.
pub(crate) const DAEMON: &str = env!("CARGO_BIN_EXE_ipcfs");
/// Set in the environment of a child process: what it is to do.
pub(crate) const ROLE_ENV: &str = "IPCFS_BENCH_ROLE";
/// Dispatch threads of the ceiling: as many as ipcfs runs (src/run.rs).
pub(crate) const DISPATCH_THREADS: usize = 2;
/// Size of every queue message.
pub(crate) const MSG: usize = 64;
/// Signals a sender may have sent that the receiver has not yet taken.
/// Keeps the real-time signal queue short (its limit is per user).
pub(crate) const SIGNAL_WINDOW: u64 = 64;
/// Queue depth of ipcfs's queues (its default), asked of POSIX queues too.
pub(crate) const QUEUE_DEPTH: i64 = 256;
/// Messages per system call in batch mode (writes of this many records,
/// reads of a buffer that holds this many).
pub(crate) const BATCH: usize = 64;
/// Bytes of one 64-byte message as a batch-mode record.
pub(crate) const RECORD: usize = 4 + MSG;

// ---------------------------------------------------------------------------
// Sizes

pub(crate) struct Sizes {
    pub(crate) quick: bool,
    /// Bytes through a pipe per chunk size.
    pub(crate) pipe_bytes: u64,
    /// Bytes through a pipe with both ends pinned to one CPU, where
    /// /dev/fuse is slow (every request wakes a daemon on the other CPU).
    pub(crate) pinned_pipe_bytes: u64,
    /// Bytes over a TCP connection per chunk size and direction.
    pub(crate) socket_bytes: u64,
    /// Messages per queue message-rate run.
    pub(crate) messages: u64,
    /// Messages per batch-mode run of ipcfs and of the ceiling: many
    /// messages go in one call, so `messages` of them last a few dozen
    /// milliseconds, too short for a steady figure.
    pub(crate) batch_messages: u64,
    /// Messages per run with senders and receivers pinned.
    pub(crate) pinned_messages: u64,
    /// Timed ping-pong round trips, after `warmup` untimed ones.
    pub(crate) rounds: u64,
    pub(crate) warmup: u64,
    /// Probes (signal 0) per run, and real signals delivered per run.
    pub(crate) probes: u64,
    pub(crate) signals: u64,
    /// Callers parked at once.
    pub(crate) parked: usize,
    /// Objects created, listed and removed.
    pub(crate) objects: usize,
    /// Opens (each closed again) per run of the opens rows.
    pub(crate) opens: u64,
    /// Size of a shared-memory file (mapped and filled, written, read).
    pub(crate) shm_bytes: u64,
    /// Increments of the locked counter by each of its two processes.
    pub(crate) shm_increments: u64,
    /// Runs of each shared-memory figure; the row shows their median.
    pub(crate) shm_runs: usize,
    /// Alternated rounds of the rows issue 27 set targets for whose
    /// single runs swing most (pipe 1 MiB and 64 KiB writes, batch mode,
    /// signals delivered, the wake of parked readers, 1 MiB transfers
    /// through a dial file); those rows show each side's median.
    pub(crate) target_rounds: usize,
    /// How long the daemon's CPU use is watched with every caller parked.
    pub(crate) idle: Duration,
    /// Longest any one workload may take before the bench calls it a hang.
    pub(crate) phase_limit: Duration,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                quick,
                pipe_bytes: 64 << 20,
                pinned_pipe_bytes: 16 << 20,
                socket_bytes: 64 << 20,
                messages: 20_000,
                batch_messages: 200_000,
                pinned_messages: 5_000,
                rounds: 2_000,
                warmup: 200,
                probes: 10_000,
                signals: 5_000,
                parked: 1_000,
                objects: 10_000,
                opens: 2_000,
                shm_bytes: 64 << 20,
                shm_increments: 10_000,
                shm_runs: 3,
                target_rounds: 1,
                // Longer than ipcfs's 1 s sweep of parked callers.
                idle: Duration::from_millis(1200),
                phase_limit: Duration::from_secs(60),
            }
        } else {
            Sizes {
                quick,
                pipe_bytes: 1 << 30,
                pinned_pipe_bytes: 256 << 20,
                socket_bytes: 1 << 30,
                messages: 200_000,
                batch_messages: 2_000_000,
                pinned_messages: 50_000,
                rounds: 20_000,
                warmup: 2_000,
                probes: 100_000,
                signals: 50_000,
                parked: 10_000,
                objects: 100_000,
                opens: 20_000,
                shm_bytes: 64 << 20,
                shm_increments: 200_000,
                shm_runs: 5,
                target_rounds: 5,
                // Long enough to span one /proc sweep of parked callers.
                idle: ipcfs::interrupt::SWEEP_INTERVAL + Duration::from_secs(1),
                phase_limit: Duration::from_secs(120),
            }
        }
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

fn run_bench(quick: bool) -> Result<usize, String> {
    let sizes = Sizes::new(quick);
    let m = machine();
    let base = std::env::temp_dir().join(format!("ipcfs-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    let base = base.canonicalize().map_err(|e| e.to_string())?;
    registry().base = Some(base.clone());
    let mq_prefix = format!("/ipcfs-bench-{}", std::process::id());
    let mut env = Env {
        ipcfs: base.join("ipcfs"),
        ipcfs_cached: base.join("ipcfs-cached"),
        ipcfs_uring: base.join("ipcfs-uring"),
        uring: false,
        ceiling: base.join("ceiling"),
        fifo: base.join("fifo"),
        tmpfs: base.join("tmpfs"),
        mq_depth: mq_depth(&mq_prefix),
        mq_prefix,
        base,
    };
    for d in [
        &env.ipcfs,
        &env.ipcfs_cached,
        &env.ipcfs_uring,
        &env.ceiling,
        &env.fifo,
        &env.tmpfs,
    ] {
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
    // IPCFS_BENCH_ONLY=queues,pipes runs those workloads alone (to look
    // at one change); unset, all of them.
    let only = std::env::var("IPCFS_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|w| w.trim() == name);
    let mut ipcfs_cached = if wanted("shm") {
        let mut cmd = Command::new(DAEMON);
        cmd.args(["--shm-mode", "cached"]).arg(&env.ipcfs_cached);
        let log = env.base.join("ipcfs-cached.log");
        Some(Daemon::start("ipcfs-cached", cmd, &env.ipcfs_cached, &log)?)
    } else {
        None
    };
    // The io_uring mount, for the workloads with uring rows, only when the
    // kernel offers FUSE over io_uring now: the bench never changes that.
    let uring_rows = ["pipes", "queues", "latency", "signals", "parking", "opens"];
    let mut ipcfs_uring = None;
    if uring_rows.iter().any(|w| wanted(w)) {
        match uring_offered() {
            Ok(()) => {
                let mut cmd = Command::new(DAEMON);
                cmd.args(["--transport", "uring"]).arg(&env.ipcfs_uring);
                let log = env.base.join("ipcfs-uring.log");
                ipcfs_uring = Some(Daemon::start("ipcfs-uring", cmd, &env.ipcfs_uring, &log)?);
                env.uring = true;
            }
            Err(why) => println!("skipping the io_uring rows: {why}"),
        }
    }

    let mut report = Report {
        rows: Vec::new(),
        errors: Vec::new(),
        started: Instant::now(),
        phase_limit: sizes.phase_limit,
    };
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
        let daemons = (&ipcfs, ipcfs_uring.as_ref(), &ceiling);
        parking(&mut report, &env, &sizes, daemons);
    }
    let mut problems: Vec<String> = Vec::new();
    if wanted("objects") {
        problems.extend(objects(&mut report, &env, &sizes));
    }
    if wanted("opens") {
        opens(&mut report, &env, &sizes);
    }
    if wanted("sockets") {
        sockets(&mut report, &env, &sizes);
        sockets::shell_sockets(&mut report, &env, &sizes);
    }
    if wanted("shm") {
        shm(&mut report, &env, &sizes);
    }
    if wanted("store") {
        store::store(&mut report, &env, &sizes);
    }
    set_phase("stopping the daemons", Duration::from_secs(30));

    for d in [
        Some(&mut ipcfs),
        Some(&mut ceiling),
        ipcfs_cached.as_mut(),
        ipcfs_uring.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
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
