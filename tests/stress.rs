//! Stress: many processes at once on one pipe and one queue, a thousand
//! callers parked at once, callers SIGKILLed at random moments, and SIGTERM
//! with callers parked. Every test asserts exact counts, not rates; the one
//! timed assertion is the daemon's exit within a second of SIGTERM.
//!
//! The tests run one at a time (they would only starve each other on a
//! small machine), and every helper runs in a process group of its own that
//! is killed with SIGKILL when the test ends, failed or not, so that no
//! forked worker outlives its test.

mod common;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use common::{Mount, assert_ok, eventually, stderr, stdout};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Holds the suite's lock: one stress test at a time.
fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A helper process (with whatever it forks) in a process group of its
/// own; the whole group is killed with SIGKILL when this is dropped.
struct Group {
    child: Child,
    out: Option<JoinHandle<Vec<u8>>>,
    err: Option<JoinHandle<Vec<u8>>>,
}

impl Group {
    fn spawn(mut cmd: Command) -> Group {
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn helper");
        fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = r.read_to_end(&mut v);
                v
            })
        }
        let out = Some(drain(child.stdout.take().unwrap()));
        let err = Some(drain(child.stderr.take().unwrap()));
        Group { child, out, err }
    }

    fn kill_group(&self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
    }

    /// Waits for the helper to end, within `limit`, and returns its
    /// output; past the limit, kills the group and fails.
    fn finish(mut self, limit: Duration, what: &str) -> Output {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                self.kill_group();
                let _ = self.child.wait();
                let err = collect(self.err.take().unwrap());
                panic!(
                    "{what} did not end within {limit:?}; stderr:\n{}",
                    String::from_utf8_lossy(&err)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // Whatever it forked and left behind goes too (and closes the
        // output pipes it may hold).
        self.kill_group();
        Output {
            status,
            stdout: collect(self.out.take().unwrap()),
            stderr: collect(self.err.take().unwrap()),
        }
    }
}

/// What a drain thread read; within 10 s, since a process that survived
/// SIGKILL (stuck in the filesystem) would hold the pipe open for ever.
fn collect(drain: JoinHandle<Vec<u8>>) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !drain.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if drain.is_finished() {
        drain.join().unwrap_or_default()
    } else {
        b"(the output is still held open by a process that survived SIGKILL)".to_vec()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill_group();
        let _ = self.child.wait();
    }
}

/// The `Threads:` line of the daemon's /proc status.
fn daemon_threads(m: &Mount) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{}/status", m.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Threads: in /proc/PID/status")
}

/// The sum of one numeric column of the mount's `status` file (`-` is 0).
fn status_total(m: &Mount, column: &str) -> usize {
    let text = std::fs::read_to_string(m.path("status")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let at = header
        .iter()
        .position(|c| *c == column)
        .unwrap_or_else(|| panic!("no column {column} in status: {header:?}"));
    lines
        .map(|l| l.split_whitespace().nth(at).unwrap_or("-"))
        .map(|v| v.parse::<usize>().unwrap_or(0))
        .sum()
}

/// `user.ipcfs.` attributes of objects, read in one Python process: one
/// line per object, `FILE a=1 b=2`.
fn counters(m: &Mount, files: &[&str], names: &[&str]) -> String {
    let joined = names.join(",");
    let mut args = vec![joined.as_str()];
    args.extend_from_slice(files);
    stdout(&m.python_file("counters.py", &args).output().unwrap())
}

/// What [`counters`] prints when every object has `value` for each name.
fn all_equal(files: &[&str], names: &[&str], value: &str) -> String {
    files
        .iter()
        .map(|f| {
            let pairs: Vec<String> = names.iter().map(|n| format!("{n}={value}")).collect();
            format!("{f} {}\n", pairs.join(" "))
        })
        .collect()
}

/// Waits (generously: the kernel reports a dead process's closes a moment
/// later) until every object's counters are `0`, and fails with the
/// counters otherwise.
fn assert_counters_settle_to_zero(m: &Mount, files: &[&str], names: &[&str]) {
    let want = all_equal(files, names, "0");
    let mut last = String::new();
    let settled = eventually(Duration::from_secs(15), || {
        last = counters(m, files, names);
        last == want
    });
    assert!(settled, "counters did not return to 0:\n{last}");
}

fn assert_no_panic(m: &Mount) {
    let log = m.log();
    assert!(!log.contains("panicked"), "the daemon panicked:\n{log}");
}

const WRITERS: usize = 32;
const READERS: usize = 32;

/// Runs tests/py/many_writers_and_readers.py (W writers and R readers,
/// every message checked) on a fresh object and asserts its exact tally.
fn many_writers_and_readers(m: &Mount, kind: &str, path: &str, per_writer: usize) {
    let (w, r, n) = (
        WRITERS.to_string(),
        READERS.to_string(),
        per_writer.to_string(),
    );
    let workers = m.python_file("many_writers_and_readers.py", &[kind, path, &w, &r, &n]);
    let start = Instant::now();
    let out = Group::spawn(workers).finish(Duration::from_secs(100), kind);
    let took = start.elapsed();
    assert_ok(&out);
    let total = WRITERS * per_writer;
    assert_eq!(
        stdout(&out),
        format!(
            "{kind}: {WRITERS} writers, {READERS} readers, {total} sent, {total} received, \
             0 lost, 0 duplicated, 0 unknown, 0 torn, 0 out of order, 0 workers failed\n"
        ),
        "stderr: {}",
        stderr(&out)
    );
    println!(
        "{path}: {total} messages from {WRITERS} writers to {READERS} readers in {took:.2?} \
         ({:.0} messages/s); {}",
        total as f64 / took.as_secs_f64(),
        stderr(&out).trim()
    );
}

#[test]
fn thirty_two_writers_and_readers_on_one_queue_lose_nothing() {
    let _one = serial();
    let m = mount_or_skip!("--queue-framing", "write");
    // A roomy queue, and one of 4 messages where writers park all the time.
    assert_ok(&m.run("touch queues/roomy queues/tight"));
    assert_ok(
        &m.python(
            "import os; os.setxattr('queues/tight', 'user.ipcfs.max_messages', b'4')",
            &[],
        )
        .output()
        .unwrap(),
    );
    for (queue, per_writer) in [("queues/roomy", 4000), ("queues/tight", 2000)] {
        many_writers_and_readers(&m, "queue", queue, per_writer);
        // Every message and every STOP went through the queue once.
        let moved = (WRITERS * per_writer + READERS).to_string();
        let names = ["sent", "received", "messages", "dropped", "truncated"];
        assert_eq!(
            counters(&m, &[queue], &names),
            format!("{queue} sent={moved} received={moved} messages=0 dropped=0 truncated=0\n")
        );
        assert_counters_settle_to_zero(&m, &[queue], &["readers", "writers", "blocked"]);
    }
    assert_no_panic(&m);
}

#[test]
fn thirty_two_writers_and_readers_on_one_pipe_tear_no_record() {
    let _one = serial();
    let m = mount_or_skip!();
    // The default 64 KiB, and 4096 bytes: one write fills it.
    assert_ok(&m.run("touch pipes/roomy pipes/tight"));
    assert_ok(
        &m.python(
            "import os; os.setxattr('pipes/tight', 'user.ipcfs.capacity', b'4096')",
            &[],
        )
        .output()
        .unwrap(),
    );
    for (pipe, per_writer) in [("pipes/roomy", 30_000), ("pipes/tight", 10_000)] {
        many_writers_and_readers(&m, "pipe", pipe, per_writer);
        assert_counters_settle_to_zero(&m, &[pipe], &["readers", "writers", "blocked", "bytes"]);
    }
    assert_no_panic(&m);
}

#[test]
fn a_thousand_callers_parked_on_a_thousand_queues_hold_no_thread() {
    let _one = serial();
    let m = mount_or_skip!();
    const N: usize = 1000;
    let names: Vec<String> = (0..N).map(|i| format!("queues/p{i}")).collect();
    for name in &names {
        std::fs::File::create(m.path(name)).unwrap();
    }
    let threads_before = daemon_threads(&m);
    let parker = Group::spawn(m.python_file("park_readers.py", &[&N.to_string()]));
    let start = Instant::now();
    let mut parked = 0;
    let all_parked = eventually(Duration::from_secs(60), || {
        parked = status_total(&m, "blocked");
        parked == N
    });
    assert!(all_parked, "{parked} of {N} readers parked");
    let parked_in = start.elapsed();
    assert_eq!(status_total(&m, "readers"), N);
    let threads_parked = daemon_threads(&m);
    assert_eq!(
        threads_parked, threads_before,
        "the daemon's threads with {N} callers parked"
    );

    let start = Instant::now();
    for (i, name) in names.iter().enumerate() {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(m.path(name))
            .unwrap();
        f.write_all(format!("m{i}").as_bytes()).unwrap();
    }
    let out = parker.finish(Duration::from_secs(60), "the parked readers");
    let woken_in = start.elapsed();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!("{N} readers, {N} got their own message\n"),
        "{}",
        stderr(&out)
    );
    assert!(
        eventually(Duration::from_secs(15), || status_total(&m, "blocked") == 0
            && status_total(&m, "readers") == 0),
        "blocked {} readers {} in status after the wake",
        status_total(&m, "blocked"),
        status_total(&m, "readers")
    );
    let files: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    assert_counters_settle_to_zero(&m, &files, &["blocked", "readers", "messages"]);
    assert_eq!(daemon_threads(&m), threads_before);
    println!(
        "parked: {N} readers on {N} queues parked in {parked_in:.2?}, daemon threads \
         {threads_before} before and {threads_parked} while parked; all woken with their own \
         message in {woken_in:.2?}"
    );

    // Again, and this time the parked process is killed with SIGKILL.
    let parker = Group::spawn(m.python_file("park_readers.py", &[&N.to_string()]));
    let all_parked = eventually(Duration::from_secs(60), || {
        parked = status_total(&m, "blocked");
        parked == N
    });
    assert!(all_parked, "{parked} of {N} readers parked the second time");
    assert_eq!(daemon_threads(&m), threads_before);
    let start = Instant::now();
    drop(parker);
    assert!(
        eventually(Duration::from_secs(15), || status_total(&m, "blocked") == 0
            && status_total(&m, "readers") == 0),
        "blocked {} readers {} in status after SIGKILL",
        status_total(&m, "blocked"),
        status_total(&m, "readers")
    );
    let gone_in = start.elapsed();
    assert_counters_settle_to_zero(&m, &files, &["blocked", "readers", "messages"]);
    assert_eq!(daemon_threads(&m), threads_before);
    assert_no_panic(&m);
    println!("parked: {N} parked readers SIGKILLed; status back to 0 in {gone_in:.2?}");
}

#[test]
fn hundreds_of_callers_killed_at_random_leave_every_object_working() {
    let _one = serial();
    let m = mount_or_skip!();
    let objects = ["pipes/a", "pipes/b", "queues/a", "queues/b"];
    assert_ok(&m.run("touch pipes/a pipes/b queues/a queues/b"));
    // Small limits make writers park often.
    assert_ok(
        &m.python(
            "import os\n\
             os.setxattr('pipes/b', 'user.ipcfs.capacity', b'4096')\n\
             os.setxattr('queues/b', 'user.ipcfs.max_messages', b'2')\n",
            &[],
        )
        .output()
        .unwrap(),
    );
    // Rounds of (seed, workers, at most this many at once).
    for (seed, total, live) in [
        (1066, 300, 40),
        (1492, 500, 80),
        (1815, 500, 20),
        (2024, 1000, 120),
    ] {
        let start = Instant::now();
        let (seed, total, live) = (seed.to_string(), total.to_string(), live.to_string());
        let mut args = vec![seed.as_str(), total.as_str(), live.as_str()];
        args.extend_from_slice(&objects);
        let out = Group::spawn(m.python_file("kill_storm.py", &args))
            .finish(Duration::from_secs(100), "the storm");
        let took = start.elapsed();
        assert_ok(&out);
        assert_eq!(
            stdout(&out),
            format!(
                "{total} spawned, {total} killed by SIGKILL, 0 ended otherwise, 0 not reaped\n"
            ),
            "seed {seed}; stderr: {}",
            stderr(&out)
        );
        assert_counters_settle_to_zero(&m, &objects, &["readers", "writers", "blocked"]);
        assert_counters_settle_to_zero(&m, &["pipes/a", "pipes/b"], &["bytes"]);
        let trip = m.python_file("round_trip.py", &objects).output().unwrap();
        assert_ok(&trip);
        assert_eq!(
            stdout(&trip),
            "pipes/a fresh pipes/a b''\n\
             pipes/b fresh pipes/b b''\n\
             queues/a fresh queues/a EAGAIN 0 partial\n\
             queues/b fresh queues/b EAGAIN 0 partial\n",
            "seed {seed}; {}",
            stderr(&trip)
        );
        assert_counters_settle_to_zero(&m, &objects, &["readers", "writers", "blocked"]);
        println!(
            "storm, seed {seed}: {total} workers ({live} at once) SIGKILLed at random in \
             {took:.2?}; every object works and its counters are 0; {}; {}",
            stderr(&out).trim(),
            stderr(&trip).trim().replace('\n', "; ")
        );
    }
    assert_no_panic(&m);
}

#[test]
fn sigterm_with_a_hundred_parked_callers_exits_within_a_second_and_ends_them_all() {
    let _one = serial();
    let mut m = mount_or_skip!();
    const K: usize = 20;
    let mut names = Vec::new();
    for i in 0..K {
        for n in ["queues/r", "pipes/r", "pipes/o", "pipes/w", "queues/w"] {
            names.push(format!("{n}{i}"));
        }
    }
    assert_ok(&m.run(&format!("touch {}", names.join(" "))));
    let callers = Group::spawn(m.python_file("parked_at_shutdown.py", &[&K.to_string()]));
    let mut parked = 0;
    let all_parked = eventually(Duration::from_secs(30), || {
        parked = status_total(&m, "blocked");
        parked == 5 * K
    });
    assert!(all_parked, "{parked} of {} callers parked", 5 * K);

    let start = Instant::now();
    m.signal(Signal::SIGTERM);
    let status = m.wait_exit(Duration::from_secs(10));
    let took = start.elapsed();
    let status = status.unwrap_or_else(|| panic!("the daemon did not exit: {}", m.log()));
    assert_eq!(status.code(), Some(0), "log: {}", m.log());
    assert!(
        took < Duration::from_secs(1),
        "the daemon took {took:?} to exit; log: {}",
        m.log()
    );
    assert!(!common::is_mounted(&m.dir));
    let out = callers.finish(Duration::from_secs(30), "the parked callers");
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "pipe open ESHUTDOWN {K}\npipe read EOF {K}\npipe write ESHUTDOWN {K}\n\
             queue read EOF {K}\nqueue write ESHUTDOWN {K}\nstill waiting 0\n"
        ),
        "stderr: {}",
        stderr(&out)
    );
    assert_no_panic(&m);
    println!(
        "shutdown: SIGTERM with {} parked callers; the daemon exited in {took:.2?} and every \
         caller ended",
        5 * K
    );
}
