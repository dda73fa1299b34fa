//! Test harness: mounts the real filesystem in a fresh directory, drives it
//! with real tools, and always unmounts (the guard's `Drop`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ipcfs");

/// Why mount tests cannot run here, if they cannot. Under CI (root with
/// /dev/fuse) they must run: a reason there is a failure, not a skip.
pub fn mount_unavailable() -> Option<String> {
    let reason = if !Path::new("/dev/fuse").exists() {
        "no /dev/fuse on this machine"
    } else if !nix::unistd::geteuid().is_root() {
        "mount tests need root (mounting without fusermount3)"
    } else {
        return None;
    };
    if std::env::var_os("CI").is_some() {
        panic!("mount tests cannot run under CI: {reason}");
    }
    Some(reason.to_string())
}

/// Skips the calling test (returns from it) when mounting is impossible.
#[macro_export]
macro_rules! mount_or_skip {
    ($($arg:expr),*) => {
        match common::Mount::start(&[$($arg),*]) {
            Some(m) => m,
            None => return,
        }
    };
}

/// Longest any one helper command of a test may run.
pub const LIMIT: &str = "120";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh empty directory under the system's temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ipcfs-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn is_mounted(dir: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let wanted = dir.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(wanted))
}

/// A running daemon mounted on a temporary directory.
pub struct Mount {
    pub dir: PathBuf,
    child: Option<Child>,
    stderr_path: PathBuf,
    _tmp: TempDir,
}

impl Mount {
    /// Mounts with extra daemon arguments; `None` (after printing why) when
    /// this machine cannot mount.
    pub fn start(args: &[&str]) -> Option<Mount> {
        Mount::start_in(None, args)
    }

    /// Mounts with the daemon in the network namespace at `netns` (a
    /// path under /run/netns), entered by `nsenter` for the network
    /// alone: the mount is made in the test's mount namespace.
    pub fn start_in(netns: Option<&str>, args: &[&str]) -> Option<Mount> {
        if let Some(reason) = mount_unavailable() {
            eprintln!("skipping mount test: {reason}");
            return None;
        }
        let tmp = TempDir::new("mnt");
        let dir = tmp.0.join("m");
        std::fs::create_dir(&dir).unwrap();
        let stderr_path = tmp.0.join("daemon.log");
        // IPCFS_TEST_TRANSPORT=uring runs the mount tests over io_uring
        // (the kernel must offer it: see tests/transport.rs).
        let mut command = match netns {
            None => Command::new(BIN),
            Some(path) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={path}")).arg(BIN);
                c
            }
        };
        if let Some(t) = std::env::var("IPCFS_TEST_TRANSPORT")
            .ok()
            .filter(|t| t != "dev")
        {
            command.args(["--transport", &t]);
        }
        let child = command
            .args(args)
            .arg(&dir)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("start ipcfs");
        let mut m = Mount {
            dir,
            child: Some(child),
            stderr_path,
            _tmp: tmp,
        };
        m.wait_mounted();
        Some(m)
    }

    fn wait_mounted(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if is_mounted(&self.dir) && self.dir.join("README").exists() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("ipcfs exited before mounting ({status}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("ipcfs did not mount within 10 s: {}", self.log());
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The daemon's resident memory (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// A `sh -c` command run in the mountpoint.
    pub fn sh(&self, script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script).current_dir(&self.dir);
        c
    }

    /// Runs a shell script in the mountpoint to completion; a script that
    /// hangs is killed after [`LIMIT`] so that a bug fails a test instead of
    /// stalling the suite.
    pub fn run(&self, script: &str) -> Output {
        Command::new("timeout")
            .args(["-s", "KILL", LIMIT])
            .args(["sh", "-c", script])
            .current_dir(&self.dir)
            .output()
            .expect("run sh")
    }

    /// A Python script run in the mountpoint with `sys.argv[1:] = args`,
    /// killed after [`LIMIT`].
    pub fn python(&self, script: &str, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL", LIMIT, "python3", "-c", script])
            .args(args)
            .current_dir(&self.dir);
        c
    }

    /// The program `tests/py/NAME` (see [`py`]) run like [`Mount::python`]:
    /// in the mountpoint, with `sys.argv[1:] = args`, killed after [`LIMIT`].
    pub fn python_file(&self, name: &str, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL", LIMIT, "python3", "-B"])
            .arg(py(name))
            .args(args)
            .current_dir(&self.dir);
        c
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), sig).unwrap();
    }

    /// Waits for the daemon to exit by itself, within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if child.try_wait().unwrap().is_none() {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                let deadline = Instant::now() + Duration::from_secs(5);
                while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if is_mounted(&self.dir) {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// The path of `tests/py/NAME`, one of the tests' Python programs. They
/// are world-readable, so that a test may run one as another user; run by
/// root, `python3 -B` keeps them from writing `__pycache__` next to them.
pub fn py(name: &str) -> PathBuf {
    py_dir().join(name)
}

/// A copy of tests/py that every user can read: tests run programs as
/// unprivileged users, and the checkout may sit where they cannot go (a
/// home directory of 0700). In the temporary directory, named by a hash
/// of the programs, so that every test process (of any pid namespace)
/// shares one copy of each version: made aside and renamed into place,
/// the first rename wins. Copies of other versions a day old go.
fn py_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        use std::os::unix::fs::PermissionsExt;
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py");
        let mut files: Vec<(std::ffi::OsString, Vec<u8>)> = std::fs::read_dir(&source)
            .unwrap()
            .flatten()
            // The programs, not a __pycache__ a hand run left.
            .filter(|f| f.path().extension().is_some_and(|e| e == "py"))
            .map(|f| (f.file_name(), std::fs::read(f.path()).unwrap()))
            .collect();
        files.sort();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        files.hash(&mut hasher);
        let name = format!("ipcfs-py-{:016x}", hasher.finish());
        let tmp = std::env::temp_dir();
        let dir = tmp.join(&name);
        if dir.is_dir() {
            return dir;
        }
        for old in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let other = old.file_name().to_string_lossy().starts_with("ipcfs-py-");
            let day_old = (old.metadata().and_then(|m| m.modified()).ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(24 * 3600));
            if other && day_old {
                let _ = std::fs::remove_dir_all(old.path());
            }
        }
        let aside = tmp.join(format!("{name}.{}", std::process::id()));
        std::fs::create_dir_all(&aside).unwrap();
        std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(0o755)).unwrap();
        for (file, text) in &files {
            let to = aside.join(file);
            std::fs::write(&to, text).unwrap();
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        if std::fs::rename(&aside, &dir).is_err() {
            // Another process put the same copy in place first.
            let _ = std::fs::remove_dir_all(&aside);
        }
        dir
    })
}

/// Runs `cmd`, returning its status and how long it took.
pub fn timed(cmd: &mut Command) -> (Output, Duration) {
    let start = Instant::now();
    let out = cmd.output().expect("run command");
    (out, start.elapsed())
}

/// Waits for a child with a limit; kills it (and fails) past the limit.
pub fn wait_within(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Everything a child's pipe gives until it closes, as text.
pub fn read_all(mut pipe: impl std::io::Read) -> String {
    let mut text = String::new();
    pipe.read_to_string(&mut text).unwrap();
    text
}

/// Runs the daemon expecting it to refuse at once, with status 2 and one
/// line; returns that line.
pub fn refuse(args: &[&str]) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_within(&mut child, Duration::from_secs(10), "ipcfs refusal");
    let err = read_all(child.stderr.take().unwrap());
    assert_eq!(status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("ipcfs: "), "{err}");
    err
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a command succeeded, showing its output otherwise.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Waits until `cond` holds, up to `limit`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Thread state letter (R, S, D, ...) of a process, from /proc.
/// Whether `pid` was hit by no fatal signal sent before now: it is told
/// to stop (SIGSTOP), seen stopped, and let go on (SIGCONT). A signal
/// sent earlier is delivered first (the kernel takes pending signals
/// lowest number first, and the fatal ones the tests send — HUP, INT,
/// KILL, USR1, TERM — are below SIGSTOP's 19), so a process hit by one
/// ends instead of stopping. The positive control of a check that
/// nothing happened: the stop shows that a signal would have landed.
pub fn untouched_by_earlier_signals(pid: u32) -> bool {
    // SAFETY: kill takes integers; the pid is the test's own process.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) };
    let settled = || !matches!(proc_state(pid), Some('R' | 'S' | 'D'));
    eventually(Duration::from_secs(5), settled);
    let stopped = proc_state(pid) == Some('T');
    // SAFETY: as above.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGCONT) };
    stopped
}

pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

/// Whether a mount answers a large blocking write to a stream socket
/// before the socket takes its bytes: over /dev/fuse, which lends the
/// daemon a write's bytes, and with a daemon that may make room in send
/// buffers at unmount (root, in the initial user namespace). Else such a
/// write waits, as on a kernel socket.
pub fn writes_answered_early() -> bool {
    let uring = std::env::var("IPCFS_TEST_TRANSPORT").as_deref() == Ok("uring");
    let initial_namespace = std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|map| map.split_whitespace().eq(["0", "0", "4294967295"]));
    !uring && nix::unistd::geteuid().is_root() && initial_namespace
}

/// The `st_size` of pipes and queues on a mount made here: the largest
/// write, `max_pages` pages of 4 KiB. A daemon run by root raises the page
/// cap to 1024 (or finds it raised), so root's mounts have 1024 whatever
/// the cap reads now: another test's daemon may have set it back at its
/// exit meanwhile. Others get the cap as it is, and kernels without it 256.
pub fn stream_size() -> u64 {
    let cap: Option<u64> = std::fs::read_to_string("/proc/sys/fs/fuse/max_pages_limit")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let pages = match cap {
        None => 256,
        Some(_) if nix::unistd::geteuid().is_root() => 1024,
        Some(cap) => cap.min(1024),
    };
    pages * 4096
}

/// An attribute of an object of the mount (`user.ipcfs.NAME`), as text,
/// read through the system call (Python's os.getxattr).
pub fn xattr(m: &Mount, file: &str, name: &str) -> String {
    let out = m
        .python(
            "import os,sys; print(os.getxattr(sys.argv[1], 'user.ipcfs.'+sys.argv[2]).decode())",
            &[file, name],
        )
        .output()
        .unwrap();
    stdout(&out).trim().to_string()
}

/// uid and gid of an unprivileged user made for these tests.
pub fn test_user() -> (String, String) {
    const NAME: &str = "ipcfs-test";
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, NAME])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| stdout(&o).trim().to_string())
    };
    if id("-u").is_none() {
        // Concurrent tests may race to create it: "already exists" is fine.
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                NAME,
            ])
            .output();
    }
    let uid = id("-u").expect("test user exists");
    let gid = id("-g").expect("test user has a group");
    assert_ne!(uid, "0");
    (uid, gid)
}

/// uid and gid of `nobody`, a second unprivileged user.
pub fn nobody() -> (String, String) {
    ("65534".to_string(), "65534".to_string())
}

/// A shell command that runs the Python program `tests/py/NAME` with
/// `args`, for a script run as a user (the programs are world-readable).
pub fn py_cmd(name: &str, args: &[&str]) -> String {
    let mut cmd = format!("python3 '{}'", py(name).display());
    for arg in args {
        cmd.push(' ');
        cmd.push_str(arg);
    }
    cmd
}

/// Runs a shell script in the mountpoint as the test user.
pub fn as_user(m: &Mount, user: &(String, String), script: &str) -> Output {
    Command::new("setpriv")
        .args(["--reuid", &user.0, "--regid", &user.1, "--clear-groups"])
        .args(["timeout", "-s", "KILL", LIMIT, "sh", "-c", script])
        .current_dir(&m.dir)
        .output()
        .unwrap()
}
