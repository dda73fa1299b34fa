//! The daemon's life: logging, mount, waiting for a signal or an external
//! unmount, then answering every blocked caller and unmounting.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Parser;
use fuser::{MountOption, SessionACL};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

use crate::cli::Args;
use crate::config::Config;
use crate::fuse::{Core, IpcFs};
use crate::interrupt::Watcher;
use crate::limits::IoLimits;
use crate::mountpoint;

/// Dispatch threads. Parked calls hold no thread, so two (one per core,
/// each with its own cloned /dev/fuse descriptor) keep up.
const DISPATCH_THREADS: usize = 2;

/// How long to wait for the kernel to end the session after unmounting.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A failure before or during mount: usage problems exit 2, others 1.
enum Failure {
    Setup(String),
    Runtime(String),
}

pub fn main() -> ExitCode {
    let args = Args::parse();
    let (io, raised_from) = IoLimits::detect(nix::unistd::geteuid().is_root());
    let config = match args.into_config(io) {
        Ok(c) => c,
        Err(msg) => return fail(Failure::Setup(msg)),
    };
    init_logging(&config);
    if let Some(old) = raised_from {
        log::info!(
            "raised fs.fuse.max_pages_limit from {old} to {} so that {}-byte writes arrive whole",
            io.max_pages,
            io.max_write()
        );
    }
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => fail(f),
    }
}

fn fail(f: Failure) -> ExitCode {
    let (msg, code) = match f {
        Failure::Setup(m) => (m, 2),
        Failure::Runtime(m) => (m, 1),
    };
    let _ = writeln!(std::io::stderr(), "ipcfs: {msg}");
    ExitCode::from(code)
}

fn init_logging(config: &Config) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(log::LevelFilter::Info);
    // fuser logs its own mount and unmount lines; ours say it once.
    builder.filter_module("fuser", log::LevelFilter::Warn);
    // After an unmount from outside, fuser tries to unmount again and warns
    // that it could not; the daemon reports the unmount itself.
    builder.filter_module("fuser::session", log::LevelFilter::Error);
    if let Ok(filter) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filter);
    }
    if let Some(level) = config.log_level {
        builder.filter_level(level);
    }
    builder.target(env_logger::Target::Stderr).init();
}

fn fuser_config(config: &Config) -> fuser::Config {
    let mut c = fuser::Config::default();
    c.mount_options = vec![
        MountOption::FSName(config.fsname.clone()),
        MountOption::Subtype("ipcfs".into()),
    ];
    if config.default_permissions {
        c.mount_options.push(MountOption::DefaultPermissions);
    }
    c.acl = if config.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    c.n_threads = Some(DISPATCH_THREADS);
    c.clone_fd = true;
    c
}

fn run(config: Config) -> Result<(), Failure> {
    let mountpoint =
        mountpoint::prepare(&config.mountpoint, config.force).map_err(Failure::Setup)?;

    // Block the stop signals before any thread starts, so that every
    // thread inherits the mask and only the main thread takes them.
    let mut stop_signals = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        stop_signals.add(s);
    }
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&stop_signals), None)
        .map_err(|e| Failure::Runtime(format!("cannot block signals: {e}")))?;

    let core = Core::new(config.clone());
    let mut session = fuser::Session::new(
        IpcFs::new(core.clone()),
        &mountpoint,
        &fuser_config(&config),
    )
    .map_err(|e| Failure::Runtime(mount_error(&mountpoint, e)))?;
    let mut unmounter = session.unmount_callable();
    let session_thread: JoinHandle<std::io::Result<()>> = std::thread::Builder::new()
        .name("ipcfs-session".into())
        .spawn(move || session.run())
        .map_err(|e| Failure::Runtime(format!("cannot start the session thread: {e}")))?;
    let _watcher = Watcher::spawn(core.shared.registry.clone())
        .map_err(|e| Failure::Runtime(format!("cannot start the interrupt watcher: {e}")))?;

    log::info!(
        "mounted ipcfs on {} (pid {})",
        mountpoint.display(),
        std::process::id()
    );

    let reason = wait_for_stop(&stop_signals, &session_thread);
    let answered = core.shut_down();
    log::debug!("{reason}: answered {answered} blocked callers");
    unmount(&mut unmounter, &mountpoint);
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while !session_thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if session_thread.is_finished() {
        if let Ok(Err(e)) = session_thread.join() {
            log::warn!("session ended with an error: {e}");
        }
    }
    log::info!("unmounted {} ({reason})", mountpoint.display());
    Ok(())
}

fn mount_error(mountpoint: &Path, e: std::io::Error) -> String {
    let root = nix::unistd::geteuid().is_root();
    if !root && e.kind() == std::io::ErrorKind::NotFound {
        return format!(
            "cannot mount {}: a non-root user needs fusermount3 (Debian package fuse3)",
            mountpoint.display()
        );
    }
    format!("cannot mount {}: {e}", mountpoint.display())
}

/// Waits for SIGINT, SIGTERM or SIGHUP, or for the session to end because
/// someone unmounted the filesystem. Returns what happened, in words.
fn wait_for_stop(signals: &SigSet, session: &JoinHandle<std::io::Result<()>>) -> String {
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    loop {
        if session.is_finished() {
            return "unmounted from outside".into();
        }
        // SAFETY: the set and timeout are valid for the call; no info wanted.
        let sig = unsafe { libc::sigtimedwait(signals.as_ref(), std::ptr::null_mut(), &timeout) };
        if sig > 0 {
            let name = Signal::try_from(sig).map_or("a signal", |s| s.as_str());
            return format!("got {name}");
        }
    }
}

/// Unmounts; if the mount is busy (a process sits in it or holds a file
/// open), detaches it lazily so that the mountpoint is free at once.
fn unmount(unmounter: &mut fuser::SessionUnmounter, mountpoint: &Path) {
    if let Err(e) = unmounter.unmount() {
        log::debug!("unmount: {e}; detaching lazily");
        if let Err(e) = nix::mount::umount2(mountpoint, nix::mount::MntFlags::MNT_DETACH) {
            log::warn!("cannot detach {}: {e}", mountpoint.display());
        }
    }
}
