//! `--transport uring`: FUSE over io_uring through a real mount.
//!
//! The kernel offers io_uring only to connections made while
//! /sys/module/fuse/parameters/enable_uring is Y, a setting of the whole
//! machine that ipcfs never changes itself. These tests set it for the
//! moment of each mount (a connection keeps what it negotiated) and put
//! the original value back at once; they run one at a time, alone in this
//! binary, so no other test sees the setting change under it.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{Mount, assert_ok, eventually, stderr, stdout, timed, wait_within};

const ENABLE_URING: &str = "/sys/module/fuse/parameters/enable_uring";

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the machine's enable_uring at `value` until dropped, then puts
/// the original back.
struct UringSetting {
    original: String,
    _serial: MutexGuard<'static, ()>,
}

impl UringSetting {
    /// `None` (after saying why) where the setting cannot be changed.
    fn set(value: &str) -> Option<UringSetting> {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(original) = std::fs::read_to_string(ENABLE_URING) else {
            eprintln!("skipped: no {ENABLE_URING} (kernel without FUSE over io_uring)");
            return None;
        };
        if std::fs::write(ENABLE_URING, value).is_err() {
            eprintln!("skipped: {ENABLE_URING} is not writable here");
            return None;
        }
        Some(UringSetting {
            original: original.trim().to_string(),
            _serial: serial,
        })
    }
}

impl Drop for UringSetting {
    fn drop(&mut self) {
        let _ = std::fs::write(ENABLE_URING, &self.original);
    }
}

/// Mounts on `--transport uring` with enable_uring Y for the moment of
/// the mount; skips where that cannot be done.
macro_rules! uring_mount_or_skip {
    ($($arg:expr),*) => {{
        if let Some(reason) = common::mount_unavailable() {
            eprintln!("skipping mount test: {reason}");
            return;
        }
        let Some(setting) = UringSetting::set("Y") else { return };
        let m = match Mount::start(&["--transport", "uring" $(, $arg)*]) {
            Some(m) => m,
            None => return,
        };
        drop(setting);
        assert!(
            m.log().contains("transport: io_uring, "),
            "not on io_uring: {}",
            m.log()
        );
        m
    }};
}

fn threads(pid: u32) -> Vec<String> {
    let mut names = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = t.unwrap().path().join("comm");
        if let Ok(name) = std::fs::read_to_string(path) {
            names.push(name.trim().to_string());
        }
    }
    names.sort();
    names
}

fn queues_of(m: &Mount) -> usize {
    let log = m.log();
    let at = log.find("transport: io_uring, ").unwrap() + "transport: io_uring, ".len();
    log[at..].split(' ').next().unwrap().parse().unwrap()
}

fn xattr(m: &Mount, file: &str, name: &str) -> String {
    common::xattr(m, file, name)
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn uring_is_refused_with_a_reason_when_the_kernel_does_not_offer_it() {
    if let Some(reason) = common::mount_unavailable() {
        eprintln!("skipping mount test: {reason}");
        return;
    }
    let Some(_setting) = UringSetting::set("N") else {
        return;
    };
    let tmp = common::TempDir::new("uring-off");
    for args in [
        &["--transport", "uring"][..],
        &["-o", "transport=uring"][..],
    ] {
        let (out, took) = timed(
            Command::new("timeout")
                .args(["-s", "KILL", "20", common::BIN])
                .args(args)
                .arg(&tmp.0)
                .stdin(Stdio::null()),
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("does not offer FUSE over io_uring")
                && stderr(&out).contains("enable_uring is N"),
            "{}",
            stderr(&out)
        );
        assert!(took < Duration::from_secs(5));
        assert!(!common::is_mounted(&tmp.0));
    }
}

#[test]
fn the_default_transport_is_dev_fuse() {
    let m = mount_or_skip!();
    assert!(m.log().contains("transport: /dev/fuse"), "{}", m.log());
    assert!(!threads(m.pid()).iter().any(|t| t.starts_with("fuser-ring")));
}

/// `auto` takes io_uring where the kernel offers it and /dev/fuse where
/// it does not, saying which.
#[test]
fn auto_takes_uring_when_offered_and_dev_fuse_otherwise() {
    if let Some(reason) = common::mount_unavailable() {
        eprintln!("skipping mount test: {reason}");
        return;
    }
    for (setting, expected) in [
        (
            "N",
            "transport: /dev/fuse (auto: the kernel does not offer io_uring)",
        ),
        ("Y", "transport: io_uring, "),
    ] {
        let Some(held) = UringSetting::set(setting) else {
            return;
        };
        let Some(m) = Mount::start(&["--transport", "auto"]) else {
            return;
        };
        drop(held);
        assert!(m.log().contains(expected), "{setting}: {}", m.log());
        let out = m.run("touch queues/q; echo hi > queues/q; cat queues/q");
        assert_eq!(stdout(&out), "hi\n");
    }
}

#[test]
fn pipes_and_queues_work_on_uring() {
    let m = uring_mount_or_skip!();
    let n = queues_of(&m);
    let names = threads(m.pid());
    for q in 0..n {
        assert!(names.contains(&format!("fuser-ring-{q}")), "{names:?}");
    }
    assert!(names.contains(&"fuser-dev".to_string()), "{names:?}");
    assert_ok(&m.run("touch pipes/p queues/q"));
    let reader = m.sh("cat pipes/p").stdout(Stdio::piped()).spawn().unwrap();
    assert_ok(&m.run("echo hello > pipes/p"));
    let out = reader.wait_with_output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "hello\n");
    let out = m.run("echo a > queues/q; echo b > queues/q; cat queues/q; cat queues/q");
    assert_ok(&out);
    assert_eq!(stdout(&out), "a\nb\n");
    // A large write and read (1 MiB payloads through the ring entries).
    let tmp = common::TempDir::new("uring-data");
    let (src, dst) = (tmp.0.join("src"), tmp.0.join("dst"));
    let out = m.run(&format!(
        "head -c 3000000 /dev/urandom > {src}; (cat pipes/p > {dst} &); \
         dd if={src} of=pipes/p bs=1M status=none; sleep 0.3; cmp {src} {dst} && echo same",
        src = src.display(),
        dst = dst.display()
    ));
    assert_eq!(stdout(&out), "same\n", "{}", stderr(&out));
    // Every CPU's queue serves its callers.
    for cpu in 0..n {
        let out = m.run(&format!("taskset -c {cpu} cat README | head -1"));
        assert_ok(&out);
        assert!(stdout(&out).starts_with("ipcfs"), "{}", stdout(&out));
    }
}

#[test]
fn a_parked_reader_is_woken_by_a_writer_on_another_cpu() {
    let m = uring_mount_or_skip!();
    let n = queues_of(&m);
    assert_ok(&m.run("touch pipes/p queues/q"));
    for (r, w) in [(0, n - 1), (n - 1, 0)] {
        let reader = m
            .sh(&format!("taskset -c {r} cat queues/q"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(eventually(Duration::from_secs(5), || xattr(
            &m, "queues/q", "blocked"
        ) == "1"));
        assert_ok(&m.run(&format!("taskset -c {w} sh -c 'echo from-{w} > queues/q'")));
        let out = reader.wait_with_output().unwrap();
        assert_eq!(stdout(&out), format!("from-{w}\n"));
    }
}

#[test]
fn signals_end_parked_calls_on_uring() {
    let m = uring_mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let (out, took) = timed(&mut m.sh("timeout 1 cat pipes/p"));
    assert_eq!(out.status.code(), Some(124));
    assert!(took < Duration::from_millis(1500), "{took:?}");

    let mut holder = m.sh("exec 3<>pipes/p; exec sleep 60").spawn().unwrap();
    assert!(eventually(Duration::from_secs(5), || xattr(
        &m, "pipes/p", "readers"
    ) == "1"));
    let mut reader = Command::new("cat")
        .arg(m.path("pipes/p"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || xattr(
        &m, "pipes/p", "blocked"
    ) == "1"));
    reader.kill().unwrap();
    let status = wait_within(
        &mut reader,
        Duration::from_secs(1),
        "kill -9 of a parked reader",
    );
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(eventually(Duration::from_secs(1), || xattr(
        &m, "pipes/p", "blocked"
    ) == "0"));
    kill(&mut holder);
}

#[test]
fn poll_is_woken_by_a_write_on_uring() {
    let m = uring_mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let child = m
        .python_file("poll_woken_by_a_write.py", &[])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The poll sleeps before the write comes (else it would not test a
    // wake-up). The child is the `timeout` that guards Python.
    let guard = child.id();
    let wchan = || {
        let python = std::fs::read_to_string(format!("/proc/{guard}/task/{guard}/children"))?;
        std::fs::read_to_string(format!("/proc/{}/wchan", python.trim()))
    };
    let polling = || wchan().is_ok_and(|w| w.contains("poll"));
    assert!(eventually(Duration::from_secs(5), polling), "{:?}", wchan());
    assert_ok(&m.run("echo wake > queues/q"));
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "[]\nwaiting\nTrue True\nb'wake\\n'\n");
}

#[test]
fn three_hundred_parked_readers_grow_the_entries_not_the_threads() {
    const N: usize = 300;
    let m = uring_mount_or_skip!();
    let before = threads(m.pid());
    let names: Vec<String> = (0..N).map(|i| format!("queues/q{i}")).collect();
    assert_ok(&m.run(&format!("touch {}", names.join(" "))));
    let mut readers: Vec<Child> = names
        .iter()
        .map(|q| {
            Command::new("cat")
                .arg(m.path(q))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // How many of the queues have a parked reader, in one Python run.
    let parked = || {
        let out = m
            .python(
                "import os,sys\n\
                 print(sum(os.getxattr(q, 'user.ipcfs.blocked') == b'1' for q in sys.argv[1:]))",
                &names.iter().map(String::as_str).collect::<Vec<_>>(),
            )
            .output()
            .unwrap();
        stdout(&out).trim().parse::<usize>().unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(30), || parked() == N),
        "only {} of {N} readers parked",
        parked()
    );
    // The mount still answers while they are parked, on every CPU.
    let (out, took) = timed(&mut m.sh("stat -c %n README"));
    assert_ok(&out);
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(threads(m.pid()), before, "threads grew with parked calls");
    // More calls are parked than the 64 entries a queue starts with (and
    // its reserve of 64): the queues grew.
    assert!(
        m.log().contains(" entries (calls are parked)"),
        "{}",
        m.log()
    );

    let script: String = (0..N)
        .map(|i| format!("echo m{i} > queues/q{i}; "))
        .collect();
    assert_ok(&m.run(&script));
    let deadline = Instant::now() + Duration::from_secs(20);
    for (i, r) in readers.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let status = wait_within(r, left, "a woken reader");
        assert!(status.success());
        let mut text = String::new();
        use std::io::Read;
        r.stdout.take().unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, format!("m{i}\n"));
    }
}

/// More callers parked on one CPU than a ring once allowed (1,024): the
/// ring grows past them, and the writer that wakes them, on that same
/// CPU, still gets an entry. All are answered.
#[test]
fn fifteen_hundred_parked_on_one_cpu_leave_room_for_their_waker() {
    let m = uring_mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let out = Command::new("taskset")
        .args(["-c", "0", "timeout", "-s", "KILL", "120", "python3", "-B"])
        .arg(common::py("fifteen_hundred_readers.py"))
        .current_dir(&m.dir)
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "1500\n1500 1500\n");
    assert!(
        m.log().contains("io_uring queue 0: 1024 entries"),
        "{}",
        m.log()
    );
    assert!(!m.log().contains("all 16384 entries"), "{}", m.log());
}

#[test]
fn sigterm_with_parked_callers_unmounts_promptly() {
    let mut m = uring_mount_or_skip!();
    assert_ok(&m.run("touch queues/a queues/b pipes/p"));
    let mut readers: Vec<Child> = ["queues/a", "queues/b"]
        .iter()
        .map(|q| {
            Command::new("cat")
                .arg(m.path(q))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    assert!(eventually(Duration::from_secs(5), || xattr(
        &m, "queues/a", "blocked"
    ) == "1"
        && xattr(&m, "queues/b", "blocked") == "1"));
    let start = Instant::now();
    m.signal(nix::sys::signal::Signal::SIGTERM);
    let status = m.wait_exit(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        m.log()
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    for r in &mut readers {
        wait_within(r, Duration::from_secs(2), "a parked reader at unmount");
    }
    assert!(!common::is_mounted(&m.dir));
}

/// More callers block at once on one CPU than its ring has free entries
/// (the daemon is stopped while they call, so none is answered): those
/// that found no free entry wait in the kernel's queue, where an entry
/// registered later does not take them. The daemon fetches them, so all
/// of them park before any waker comes — and the waker, on another CPU,
/// wakes every one.
#[test]
fn a_burst_past_the_free_entries_parks_whole_before_any_waker() {
    const N: usize = 300;
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: needs two CPUs (callers on one, the checks on the other)");
        return;
    }
    let m = uring_mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    // Opens first (each is answered at once), then the reads, all on CPU 0,
    // while the test holds the daemon stopped.
    let mut callers = Command::new("taskset")
        .args(["-c", "0", "timeout", "-s", "KILL", "120", "python3", "-B"])
        .arg(common::py("burst_of_readers.py"))
        .arg(N.to_string())
        .current_dir(&m.dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::{BufRead, BufReader, Write};
    let mut lines = BufReader::new(callers.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "opened");
    m.signal(nix::sys::signal::Signal::SIGSTOP);
    let mut input = callers.stdin.take().unwrap();
    writeln!(input).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "reading");
    m.signal(nix::sys::signal::Signal::SIGCONT);
    // Every checking call runs on CPU 1, so no answer on CPU 0's ring
    // fetches a waiting caller as a side effect.
    let on_cpu1 = |script: &str, args: &[&str]| {
        let out = Command::new("taskset")
            .args(["-c", "1", "python3", "-c", script])
            .args(args)
            .current_dir(&m.dir)
            .output()
            .unwrap();
        assert_ok(&out);
        stdout(&out).trim().to_string()
    };
    let blocked = || {
        on_cpu1(
            "import os; print(os.getxattr('queues/q', 'user.ipcfs.blocked').decode())",
            &[],
        )
    };
    assert!(
        eventually(Duration::from_secs(10), || blocked() == N.to_string()),
        "{} of {N} callers parked: {}",
        blocked(),
        m.log()
    );
    on_cpu1(
        "import os, sys\n\
         w = os.open('queues/q', os.O_WRONLY | os.O_DIRECT)\n\
         for i in range(int(sys.argv[1])): os.write(w, b'%d' % i)\n",
        &[&N.to_string()],
    );
    assert_eq!(lines.next().unwrap().unwrap(), format!("{N} {N}"));
    assert!(wait_within(&mut callers, Duration::from_secs(10), "the callers").success());
}

/// A large write parked for room is copied (and charged) by the
/// filesystem; its entry gives the request's pages back, so the daemon
/// does not hold those bytes twice.
#[test]
fn parked_large_writes_are_held_once() {
    const WRITERS: usize = 16;
    let m = uring_mount_or_skip!();
    let pipes: Vec<String> = (0..WRITERS).map(|i| format!("pipes/p{i}")).collect();
    assert_ok(&m.run(&format!("touch {}", pipes.join(" "))));
    // A reader that never reads keeps each pipe open for its writer
    // (opened without waiting for a writer, as a FIFO allows).
    use std::os::unix::fs::OpenOptionsExt;
    let _readers: Vec<std::fs::File> = (pipes.iter())
        .map(|p| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(m.path(p))
                .unwrap()
        })
        .collect();
    let before = m.rss_kib();
    let mut writers: Vec<Child> = (pipes.iter())
        .map(|p| {
            Command::new("dd")
                .args(["if=/dev/zero", "bs=1M", "count=1", "status=none"])
                .arg(format!("of={}", m.path(p).display()))
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let parked = || {
        (pipes.iter())
            .filter(|p| xattr(&m, p, "blocked") == "1")
            .count()
    };
    assert!(
        eventually(Duration::from_secs(10), || parked() == WRITERS),
        "{} writers parked",
        parked()
    );
    let grown = m.rss_kib() - before;
    for w in &mut writers {
        kill(w);
    }
    // The parked bytes themselves (16 MiB, less what the pipes took) are
    // held once; in the entries as well, they were 32 MiB.
    assert!(grown < 24 * 1024, "the daemon grew by {grown} KiB");
}

/// When the system refuses a ring entry's memory (here the daemon's
/// address space is capped with prlimit), the queue goes on with the
/// entries it has: callers past them wait until a parked call is
/// answered, and all are served. (Before, the failed mapping ended the
/// queue's worker, and every caller from its CPU hung.)
#[test]
fn a_ring_that_cannot_map_another_entry_keeps_serving() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: the waker must run on a CPU of its own");
        return;
    }
    let m = uring_mount_or_skip!();
    let status = std::fs::read_to_string(format!("/proc/{}/status", m.pid())).unwrap();
    let vm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    // Room for a dozen more entries of 4 MiB, not for the 300 callers.
    let cap = (vm_kib + 60 * 1024) * 1024;
    let out = Command::new("prlimit")
        .args(["--pid", &m.pid().to_string(), &format!("--as={cap}")])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_ok(&m.run("touch queues/q"));
    let readers = Command::new("taskset")
        .args(["-c", "0", "timeout", "-s", "KILL", "90", "python3", "-B"])
        .arg(common::py("readers_past_the_ring.py"))
        .current_dir(&m.dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let refused = || m.log().contains("cannot map another entry");
    assert!(eventually(Duration::from_secs(30), refused), "{}", m.log());
    let writer = "import os\n\
        fd = os.open('queues/q', os.O_WRONLY | os.O_DIRECT)\n\
        for i in range(300): os.write(fd, b'm%d' % i)\n";
    let out = Command::new("taskset")
        .args([
            "-c", "1", "timeout", "-s", "KILL", "90", "python3", "-c", writer,
        ])
        .current_dir(&m.dir)
        .output()
        .unwrap();
    assert_ok(&out);
    let out = readers.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "300 300\n");
    assert_ok(&m.run("touch pipes/alive"));
}
