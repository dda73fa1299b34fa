//! The daemon's life: logging, mount, waiting for a signal or an external
//! unmount, then answering every blocked caller and unmounting.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

use crate::cli::{Args, mount_helper_argv};
use crate::config::{Config, Transport};
use crate::fuse::{Core, IpcFs};
use crate::interrupt::Watcher;
use crate::limits::{IoLimits, PagesPlan};
use crate::mount::{self, KernelMount};
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

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Setup(_) => 2,
            Failure::Runtime(_) => 1,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Setup(m) | Failure::Runtime(m) => m,
        }
    }
}

pub fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let helper = mount_helper_argv(&argv);
    let args = match &helper {
        None => Args::parse(),
        Some(Ok(translated)) => Args::parse_from(translated),
        Some(Err(usage)) => return fail(&Failure::Setup(usage.clone())),
    };
    // Nothing on the machine changes before the options and the
    // mountpoint are checked: the plan is applied in `run`.
    let pages = IoLimits::plan(nix::unistd::geteuid().is_root());
    let config = match args.into_config(pages.limits) {
        Ok(c) => c,
        Err(msg) => return fail(&Failure::Setup(msg)),
    };
    init_logging(&config);
    if helper.is_some() {
        return in_background(config, pages);
    }
    match run(config, &pages, |_| {}) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => fail(&f),
    }
}

fn fail(f: &Failure) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "ipcfs: {}", f.message());
    ExitCode::from(f.code())
}

/// As a mount(8) helper: the daemon goes on in a child process, and this
/// process returns once the filesystem is mounted (or with the reason it
/// could not be), as mount(8) expects of a helper.
fn in_background(config: Config, pages: PagesPlan) -> ExitCode {
    let (mut report_rx, report_tx) = match nix::unistd::pipe() {
        Ok((r, w)) => (std::fs::File::from(r), w),
        Err(e) => return fail(&Failure::Runtime(format!("cannot create a pipe: {e}"))),
    };
    // SAFETY: no thread has been started yet, so the child is a plain copy.
    match unsafe { nix::unistd::fork() } {
        Err(e) => fail(&Failure::Runtime(format!("cannot fork: {e}"))),
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop(report_tx);
            let mut report = String::new();
            let _ = report_rx.read_to_string(&mut report);
            match report.split_once(':') {
                Some(("ok", _)) => ExitCode::SUCCESS,
                Some((code, msg)) => {
                    let _ = writeln!(std::io::stderr(), "ipcfs: {msg}");
                    ExitCode::from(code.parse::<u8>().unwrap_or(1))
                }
                None => fail(&Failure::Runtime("the daemon died while mounting".into())),
            }
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop(report_rx);
            let _ = nix::unistd::setsid();
            // Let go of the caller's terminal and pipes (whoever waits for
            // mount's output must not wait for the daemon): failures before
            // the mount go back through the report pipe, later log lines
            // nowhere.
            detach_stdio();
            let mut report = Some(std::fs::File::from(report_tx));
            let mut tell = |text: String| {
                if let Some(mut r) = report.take() {
                    let _ = r.write_all(text.as_bytes());
                }
            };
            match run(config, &pages, |_| tell("ok:".into())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(f) => {
                    tell(format!("{}:{}", f.code(), f.message()));
                    ExitCode::from(f.code())
                }
            }
        }
    }
}

fn detach_stdio() {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    use std::os::fd::AsRawFd;
    for fd in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors, which we own.
        unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
}

fn init_logging(config: &Config) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(log::LevelFilter::Info);
    // fuser logs its own mount and unmount lines; ours say it once.
    builder.filter_module("fuser", log::LevelFilter::Warn);
    // After an unmount from outside, fuser tries to unmount again and warns
    // that it could not; the daemon reports the unmount itself.
    builder.filter_module("fuser::session", log::LevelFilter::Error);
    // The io_uring transport says when parked calls make its queues grow.
    builder.filter_module("fuser::uring", log::LevelFilter::Info);
    if let Ok(filter) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filter);
    }
    if let Some(level) = config.log_level {
        builder.filter_level(level);
    }
    let logger = builder.target(env_logger::Target::Stderr).build();
    let max_level = logger.filter();
    if log::set_boxed_logger(Box::new(crate::logging::RateLimited::new(logger))).is_ok() {
        log::set_max_level(max_level);
    }
}

/// What undoes the mount: our own mount(2), or fuser's (fusermount3).
enum Unmounter {
    Kernel(KernelMount),
    Fuser(fuser::SessionUnmounter),
}

impl Unmounter {
    fn unmount(&mut self, mountpoint: &Path) {
        match self {
            Unmounter::Kernel(m) => m.unmount(),
            Unmounter::Fuser(u) => {
                if let Err(e) = u.unmount() {
                    log::debug!("unmount: {e}; detaching lazily");
                    let flags = nix::mount::MntFlags::MNT_DETACH;
                    if let Err(e) = nix::mount::umount2(mountpoint, flags) {
                        log::warn!("cannot detach {}: {e}", mountpoint.display());
                    }
                }
            }
        }
    }
}

/// Mounts and starts the session: as root with our own mount(2), as
/// anyone else through fuser and fusermount3.
fn start_session(
    core: &std::sync::Arc<Core>,
    mountpoint: &Path,
    config: &Config,
) -> Result<(fuser::Session<IpcFs>, Unmounter), Failure> {
    let mut session_config = mount::session_config(config, DISPATCH_THREADS);
    session_config.transport = match config.transport {
        Transport::Dev => fuser::Transport::Dev,
        Transport::Uring => fuser::Transport::Uring,
        Transport::Auto => fuser::Transport::Auto,
    };
    let fs = IpcFs::new(core.clone());
    if nix::unistd::geteuid().is_root() {
        let (device, mount): (OwnedFd, KernelMount) = mount::mount_as_root(mountpoint, config)
            .map_err(|e| Failure::Runtime(mount_error(mountpoint, e)))?;
        let acl = session_config.acl;
        let mut session =
            fuser::Session::from_fd(fs, device, acl, session_config).map_err(|e| {
                mount.unmount();
                Failure::Runtime(format!("FUSE handshake failed: {e}"))
            })?;
        session.set_mount_point(mountpoint);
        return Ok((session, Unmounter::Kernel(mount)));
    }
    let mut session = fuser::Session::new(fs, mountpoint, &session_config)
        .map_err(|e| Failure::Runtime(mount_error(mountpoint, e)))?;
    let unmounter = Unmounter::Fuser(session.unmount_callable());
    Ok((session, unmounter))
}

/// Puts the kernel's page cap back when the daemon ends, however it ends.
struct RestorePagesLimit(Option<u32>);

impl Drop for RestorePagesLimit {
    fn drop(&mut self) {
        if let Some(old) = self.0 {
            IoLimits::restore(old);
        }
    }
}

/// Runs the daemon until a stop signal or an unmount from outside;
/// `mounted` is called once the filesystem is in place. The kernel's page
/// cap is raised as `pages` planned only once the mountpoint and the
/// transport have been checked.
fn run(config: Config, pages: &PagesPlan, mounted: impl FnOnce(&Path)) -> Result<(), Failure> {
    let mountpoint =
        mountpoint::prepare(&config.mountpoint, config.force).map_err(Failure::Setup)?;
    if config.transport == Transport::Uring {
        uring_offered().map_err(Failure::Setup)?;
    }
    let raised_from = pages.apply().map_err(Failure::Runtime)?;
    let _pages_limit = RestorePagesLimit(raised_from);
    if let Some(old) = raised_from {
        log::info!(
            "raised fs.fuse.max_pages_limit from {old} to {} so that {}-byte writes arrive whole",
            config.io.max_pages,
            config.io.max_write()
        );
    }

    // Block the stop signals before any thread starts, so that every
    // thread inherits the mask and only the main thread takes them.
    let mut stop_signals = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        stop_signals.add(s);
    }
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&stop_signals), None)
        .map_err(|e| Failure::Runtime(format!("cannot block signals: {e}")))?;

    raise_open_file_limit();
    // The fs layer knows the mountpoint as the kernel does (socket
    // endpoints refuse Unix paths inside it).
    let resolved = Config {
        mountpoint: mountpoint.clone(),
        ..config.clone()
    };
    let core = Core::for_mount(resolved)
        .map_err(|e| Failure::Runtime(format!("cannot start the reactor: {e}")))?;
    let (session, mut unmounter) = start_session(&core, &mountpoint, &config)?;
    core.start_forgetting(session.notifier())
        .map_err(|e| Failure::Runtime(format!("cannot start the entry forgetter: {e}")))?;
    // Over /dev/fuse a large socket read is answered by a splice and a
    // large write's bytes are kept; a ring entry takes bytes only, and its
    // requests' buffers are never lent (a reply through a ring that got a
    // pipe all the same would read it out and send the bytes: this choice
    // is speed, never correctness).
    crate::fuse::reply::transport_is_dev_fuse(session.uring_queues().is_none());
    // Decided (and said) now, not on a request's time: whether large
    // stream writes may be answered before the socket takes them.
    crate::ipc::socket::sys::may_make_room();
    match (session.uring_queues(), config.transport) {
        (Some(n), _) => log::info!("transport: io_uring, {n} queues"),
        (None, Transport::Auto) => {
            log::info!("transport: /dev/fuse (auto: the kernel does not offer io_uring)")
        }
        (None, _) => log::info!("transport: /dev/fuse"),
    }
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
    mounted(&mountpoint);

    let watch = mountpoint::MountWatch::new(&mountpoint);
    if watch.is_none() {
        log::warn!("cannot watch the mount table: an unmount from outside goes unnoticed");
    }
    let reason = wait_for_stop(&stop_signals, &session_thread, watch.as_ref());
    let answered = core.shut_down();
    log::debug!("{reason}: answered {answered} blocked callers");
    // After a lazy unmount from outside there is nothing left to unmount
    // (and what is at the mountpoint now is someone else's), and the
    // kernel keeps the session while files are open: it ends when this
    // process closes /dev/fuse, at exit.
    if reason != GONE {
        unmounter.unmount(&mountpoint);
    }
    let drain = if reason == GONE {
        Duration::ZERO
    } else {
        DRAIN_TIMEOUT
    };
    let deadline = Instant::now() + drain;
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

/// Where root lets the kernel offer FUSE over io_uring. ipcfs only reads
/// it; the machine's administrator decides.
const ENABLE_URING: &str = "/sys/module/fuse/parameters/enable_uring";

/// Fails `--transport uring` before mounting when the kernel will not
/// offer it (the INIT request's flag stays the authority: a mount that
/// races a change of the setting fails its handshake instead).
fn uring_offered() -> Result<(), String> {
    match std::fs::read_to_string(ENABLE_URING) {
        Ok(v) if v.trim() == "Y" => Ok(()),
        Ok(v) => Err(format!(
            "--transport uring: the kernel does not offer FUSE over io_uring: {ENABLE_URING} is {} \
             (root may set it to Y; or use --transport dev)",
            v.trim()
        )),
        Err(e) => Err(format!(
            "--transport uring: the kernel does not offer FUSE over io_uring: cannot read \
             {ENABLE_URING}: {e}"
        )),
    }
}

/// Lifts the soft limit on open files to the hard one: the daemon's
/// descriptors (one per dispatch thread, pidfds of signal writes, /proc
/// reads) should not run out before the system's.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                log::debug!("open-file limit stays at {soft}: {e}");
            }
        }
    }
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

/// Why the daemon stops when the mount left the mount table while the
/// session goes on (`umount -l` with files open).
const GONE: &str = "unmounted from outside (the mount is gone from the mount table)";

/// Waits for SIGINT, SIGTERM or SIGHUP, for the session to end because
/// someone unmounted the filesystem, or for the mount to leave the mount
/// table (checked every 100 ms). Returns what happened, in words.
fn wait_for_stop(
    signals: &SigSet,
    session: &JoinHandle<std::io::Result<()>>,
    watch: Option<&mountpoint::MountWatch>,
) -> String {
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    loop {
        if session.is_finished() {
            return "unmounted from outside".into();
        }
        if watch.is_some_and(mountpoint::MountWatch::gone) {
            return GONE.into();
        }
        // SAFETY: the set and timeout are valid for the call; no info wanted.
        let sig = unsafe { libc::sigtimedwait(signals.as_ref(), std::ptr::null_mut(), &timeout) };
        if sig > 0 {
            let name = Signal::try_from(sig).map_or("a signal", |s| s.as_str());
            return format!("got {name}");
        }
    }
}
