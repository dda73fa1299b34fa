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
    let script = "import os, sys\n\
        names = sys.argv[1].split(',')\n\
        for f in sys.argv[2:]:\n\
        \x20   print(f, ' '.join('%s=%s' % (n, os.getxattr(f, 'user.ipcfs.' + n).decode()) \
        for n in names))\n";
    let joined = names.join(",");
    let mut args = vec![joined.as_str()];
    args.extend_from_slice(files);
    stdout(&m.python(script, &args).output().unwrap())
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

/// The workers of [`many_writers_and_readers`]: `kind` is `pipe` or
/// `queue`; W writers each send N numbered, checksummed messages (the
/// queue: one write(2) each, of varying length; the pipe: 64-byte records,
/// 1 to 64 per write, so at most PIPE_BUF), R readers receive and check
/// them and hand the parent what they got, and the parent prints the
/// tally. Queue readers alternate between packet mode (O_DIRECT: one
/// whole message per read) and stream mode (a read takes the message, the
/// next returns its end of file); they stop at a STOP message each. Pipe
/// readers re-frame the records and stop at end of file, which comes when
/// the parent's own O_RDWR descriptor, held until every writer is done,
/// closes.
const MANY: &str = r#"
import array, os, struct, sys, traceback, zlib
kind, path = sys.argv[1], sys.argv[2]
W, R, N = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
HEAD = struct.Struct('<HI')    # writer, sequence number
CRC = struct.Struct('<I')
REC = 64                       # a pipe record: head, payload, checksum

def payload(w, s, n):
    unit = b'%d/%d;' % (w, s)
    return (unit * (n // len(unit) + 1))[:n]

def seal(w, s, n):
    body = HEAD.pack(w, s) + payload(w, s, n)
    return body + CRC.pack(zlib.crc32(body))

def message(w, s):
    if kind == 'queue':
        return seal(w, s, (w * 37 + s * 11) % 300)
    return seal(w, s, REC - HEAD.size - CRC.size)

def check(m):
    # (writer, sequence) of a whole, intact message; None if torn.
    if len(m) < HEAD.size + CRC.size:
        return None
    if CRC.unpack(m[-CRC.size:])[0] != zlib.crc32(m[:-CRC.size]):
        return None
    w, s = HEAD.unpack_from(m)
    return (w, s) if w < W and s < N and m == message(w, s) else None

def run(f):
    try:
        f()
        code = 0
    except BaseException:
        traceback.print_exc()
        code = 1
    os._exit(code)

def writer(w):
    fd = os.open(path, os.O_WRONLY)
    s = j = 0
    while s < N:
        if kind == 'queue':
            k, buf = 1, message(w, s)
        else:
            k = min(N - s, 1 + (w * 31 + j) % 64)
            buf = b''.join(message(w, s + i) for i in range(k))
        assert os.write(fd, buf) == len(buf), 'short write'
        s += k
        j += 1
    os.close(fd)

def reader(r, ready, out):
    packet = kind == 'queue' and r % 2 == 0
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if packet else 0))
    os.write(ready, b'r')
    got = array.array('Q')
    last = {}
    tally = {'torn': 0, 'disorder': 0}
    def take(m):
        key = check(m)
        if key is None:
            tally['torn'] += 1
            return
        w, s = key
        if last.get(w, -1) >= s:
            tally['disorder'] += 1
        last[w] = s
        got.append(w << 32 | s)
    if kind == 'queue':
        while True:
            m = os.read(fd, 65536)
            if not packet and os.read(fd, 65536) != b'':
                tally['torn'] += 1          # a message in more than one read
            if m == b'STOP':
                break
            take(m)
    else:
        rest = b''
        while True:
            c = os.read(fd, 65536)
            if not c:
                break
            c = rest + c
            whole = len(c) - len(c) % REC
            for i in range(0, whole, REC):
                take(c[i:i + REC])
            rest = c[whole:]
        if rest:
            tally['torn'] += 1
    os.close(fd)
    data = struct.pack('<QQQ', len(got), tally['torn'], tally['disorder']) + got.tobytes()
    view = memoryview(data)
    while view:
        view = view[os.write(out, view):]

keep = os.open(path, os.O_RDWR) if kind == 'pipe' else None
ready_r, ready_w = os.pipe()
readers = []
for r in range(R):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        os.close(ready_r)
        if keep is not None:
            os.close(keep)
        run(lambda: reader(r, ready_w, wfd))
    os.close(wfd)
    readers.append((pid, rfd))
os.close(ready_w)
opened = 0
while opened < R:
    c = os.read(ready_r, R)
    assert c, 'a reader died before it opened'
    opened += len(c)
writers = []
for w in range(W):
    pid = os.fork()
    if pid == 0:
        if keep is not None:
            os.close(keep)
        run(lambda: writer(w))
    writers.append(pid)
failed = 0
for pid in writers:
    failed += os.waitpid(pid, 0)[1] != 0
if kind == 'queue':
    fd = os.open(path, os.O_WRONLY)
    for _ in range(R):
        os.write(fd, b'STOP')
    os.close(fd)
else:
    os.close(keep)
keys = array.array('Q')
torn = disorder = 0
shares = []
for pid, rfd in readers:
    chunks = []
    while True:
        c = os.read(rfd, 1 << 20)
        if not c:
            break
        chunks.append(c)
    data = b''.join(chunks)
    failed += os.waitpid(pid, 0)[1] != 0
    if len(data) < 24:
        continue
    n, t, d = struct.unpack_from('<QQQ', data)
    part = array.array('Q')
    part.frombytes(data[24:24 + 8 * n])
    keys.extend(part)
    shares.append(n)
    torn += t
    disorder += d
received = set(keys)
expected = set(w << 32 | s for w in range(W) for s in range(N))
print('%s: %d writers, %d readers, %d sent, %d received, %d lost, %d duplicated, '
      '%d unknown, %d torn, %d out of order, %d workers failed'
      % (kind, W, R, W * N, len(keys), len(expected - received), len(keys) - len(received),
         len(received - expected), torn, disorder, failed))
print('messages per reader: min %d, max %d' % (min(shares), max(shares)),
      file=sys.stderr)
"#;

const WRITERS: usize = 32;
const READERS: usize = 32;

/// Runs [`MANY`] on a fresh object and asserts its exact tally.
fn many_writers_and_readers(m: &Mount, kind: &str, path: &str, per_writer: usize) {
    let (w, r, n) = (
        WRITERS.to_string(),
        READERS.to_string(),
        per_writer.to_string(),
    );
    let start = Instant::now();
    let out = Group::spawn(m.python(MANY, &[kind, path, &w, &r, &n]))
        .finish(Duration::from_secs(100), kind);
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

/// N threads of one process each block in a read of their own queue
/// `queues/pI`, and then check that they got `mI`.
const PARK: &str = r#"
import os, sys, threading
n = int(sys.argv[1])
threading.stack_size(256 * 1024)
got = [None] * n
def reader(i):
    try:
        fd = os.open('queues/p%d' % i, os.O_RDONLY)
        got[i] = os.read(fd, 4096)
        os.close(fd)
    except OSError as e:
        got[i] = e
threads = [threading.Thread(target=reader, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wrong = [(i, got[i]) for i in range(n) if got[i] != b'm%d' % i]
print('%d readers, %d got their own message' % (n, n - len(wrong)))
if wrong:
    print('wrong:', wrong[:10], file=sys.stderr)
"#;

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
    let parker = Group::spawn(m.python(PARK, &[&N.to_string()]));
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
    let parker = Group::spawn(m.python(PARK, &[&N.to_string()]));
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

/// TOTAL short-lived processes, at most LIVE at once, each doing blocking
/// opens, reads and writes on one of the objects (its role, object and
/// delay drawn from a generator seeded with SEED), each SIGKILLed after a
/// random delay (at once, within 20 ms, or within 300 ms). A worker that
/// meets an errno other than those a pipe or queue gives in normal use
/// exits 3. Prints how the workers ended, and how many were not reaped
/// within 10 s of their SIGKILL (a process stuck in the filesystem, in
/// state D); on stderr, where each was (its wchan) when it was killed.
const STORM: &str = r#"
import collections, errno, os, random, signal, sys, time
SEED, TOTAL, LIVE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
objs = sys.argv[4:]
rng = random.Random(SEED)
NORMAL = {errno.EPIPE, errno.EAGAIN, errno.EINTR, errno.ENXIO}
ROLES = ['reader', 'writer', 'opener', 'rdwr']

def work(obj, role, n):
    queue = obj.startswith('queues/')
    chunk = b'k' * (100 if queue else 4096)
    while True:
        try:
            if role == 'reader':
                fd = os.open(obj, os.O_RDONLY)
                while os.read(fd, 65536):
                    pass
                os.close(fd)
            elif role == 'writer':
                fd = os.open(obj, os.O_WRONLY)
                for _ in range(n if queue else 1 << 30):
                    os.write(fd, chunk)
                os.close(fd)
            elif role == 'opener':
                os.close(os.open(obj, os.O_RDONLY if n % 2 else os.O_WRONLY))
            else:
                # On a queue in packet mode: each write and read one message.
                fd = os.open(obj, os.O_RDWR | (os.O_DIRECT if queue else 0))
                os.write(fd, chunk)
                os.read(fd, 65536)
                os.close(fd)
        except OSError as e:
            if e.errno not in NORMAL:
                os.write(2, ('%s of %s: %s\n' % (role, obj, e)).encode())
                os._exit(3)

live = {}        # pid -> [kill at, killed at]
ended = collections.Counter()
waits = collections.Counter()   # where the workers were when killed
stuck = []
spawned = 0
while spawned < TOTAL or live:
    now = time.monotonic()
    while spawned < TOTAL and len(live) < LIVE:
        obj, role, n = rng.choice(objs), rng.choice(ROLES), rng.randint(1, 3)
        delay = rng.choice([0.0, rng.uniform(0, 0.02), rng.uniform(0, 0.3)])
        pid = os.fork()
        if pid == 0:
            try:
                work(obj, role, n)
            finally:
                os._exit(4)
        live[pid] = [now + delay, None]
        spawned += 1
    now = time.monotonic()
    for pid, t in live.items():
        if t[1] is None and t[0] <= now:
            try:
                with open('/proc/%d/wchan' % pid) as f:
                    w = f.read()
                waits[w if w not in ('', '0') else 'running'] += 1
            except OSError:
                pass
            os.kill(pid, signal.SIGKILL)
            t[1] = now
    while live:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        del live[pid]
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            ended['killed'] += 1
        else:
            ended['ended with status %d' % status] += 1
    for pid, t in list(live.items()):
        if t[1] is not None and now - t[1] > 10:
            try:
                with open('/proc/%d/stat' % pid) as f:
                    state = f.read().rsplit(')', 1)[1].split()[0]
                with open('/proc/%d/wchan' % pid) as f:
                    state += ' in ' + f.read()
            except OSError as e:
                state = str(e)
            stuck.append('%d in state %s' % (pid, state))
            del live[pid]
    time.sleep(0.002)
print('%d spawned, %d killed by SIGKILL, %d ended otherwise, %d not reaped'
      % (spawned, ended['killed'], spawned - ended['killed'] - len(stuck), len(stuck)))
for k, v in ended.items():
    if k != 'killed':
        print(k, v, file=sys.stderr)
for s in stuck:
    print('stuck:', s, file=sys.stderr)
print('killed in:', ', '.join('%s %d' % kv for kv in waits.most_common()), file=sys.stderr)
"#;

/// After the storm: each queue is drained (every message left must be a
/// whole one, n times 100 bytes of `k`: a writer killed part-way sends
/// nothing), then each object carries a fresh message there and back.
const ROUND_TRIP: &str = r#"
import errno, os, sys, time
for obj in sys.argv[1:]:
    if obj.startswith('queues/'):
        r = os.open(obj, os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)
        left = partial = 0
        while True:
            try:
                m = os.read(r, 65536)
            except OSError as e:
                assert e.errno == errno.EAGAIN, e
                break
            left += 1
            partial += not (len(m) in (100, 200, 300) and m == b'k' * len(m))
        w = os.open(obj, os.O_WRONLY)
        os.write(w, b'fresh ' + obj.encode())
        os.close(w)
        got = os.read(r, 65536)
        try:
            after = os.read(r, 65536)
        except OSError as e:
            after = errno.errorcode[e.errno]
        print(obj, got.decode(), after, '%d partial' % partial)
        print(obj, 'had', left, 'messages left', file=sys.stderr)
    else:
        r = os.open(obj, os.O_RDONLY | os.O_NONBLOCK)
        w = os.open(obj, os.O_WRONLY)
        os.write(w, b'fresh ' + obj.encode())
        got = os.read(r, 65536)
        os.close(w)
        # The kernel reports the close a moment after close() returns.
        deadline = time.monotonic() + 10
        while os.getxattr(obj, 'user.ipcfs.writers') != b'0' and time.monotonic() < deadline:
            time.sleep(0.01)
        after = os.read(r, 65536)
        print(obj, got.decode(), after)
    os.close(r)
"#;

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
        let out =
            Group::spawn(m.python(STORM, &args)).finish(Duration::from_secs(100), "the storm");
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
        let trip = m.python(ROUND_TRIP, &objects).output().unwrap();
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

/// K callers parked in each of five ways, one object each, in threads of
/// one process: a queue read (empty queue), a pipe read (a writer open, no
/// data), a pipe open (no writer), a pipe write (a full pipe of 4096
/// bytes) and a queue write (a full queue of one message). Waits for them
/// all to end and prints how each ended.
const PARKED_AT_SHUTDOWN: &str = r#"
import collections, errno, os, sys, threading, time
K = int(sys.argv[1])
threading.stack_size(256 * 1024)
ends = []
lock = threading.Lock()
def call(kind, f):
    try:
        r = f()
        end = 'EOF' if r == b'' else 'returned %r' % (r if isinstance(r, int) else len(r))
    except OSError as e:
        end = errno.errorcode.get(e.errno, str(e.errno))
    with lock:
        ends.append((kind, end))
keep = []
jobs = []
for i in range(K):
    q = 'queues/r%d' % i
    jobs.append(('queue read', lambda q=q: os.read(os.open(q, os.O_RDONLY), 100)))
    p = 'pipes/r%d' % i
    keep.append(os.open(p, os.O_RDWR))
    jobs.append(('pipe read', lambda p=p: os.read(os.open(p, os.O_RDONLY), 100)))
    o = 'pipes/o%d' % i
    jobs.append(('pipe open', lambda o=o: os.open(o, os.O_RDONLY)))
    w = 'pipes/w%d' % i
    os.setxattr(w, 'user.ipcfs.capacity', b'4096')
    fd = os.open(w, os.O_RDWR)
    keep.append(fd)
    assert os.write(fd, b'x' * 4096) == 4096
    jobs.append(('pipe write', lambda w=w: os.write(os.open(w, os.O_WRONLY), b'y' * 4096)))
    f = 'queues/w%d' % i
    os.setxattr(f, 'user.ipcfs.max_messages', b'1')
    fd = os.open(f, os.O_WRONLY)
    os.write(fd, b'full')
    os.close(fd)
    jobs.append(('queue write', lambda f=f: os.write(os.open(f, os.O_WRONLY), b'z' * 10)))
threads = [threading.Thread(target=call, args=job) for job in jobs]
for t in threads:
    t.start()
deadline = time.monotonic() + 20
for t in threads:
    t.join(max(0, deadline - time.monotonic()))
for (kind, end), n in sorted(collections.Counter(ends).items()):
    print(kind, end, n)
print('still waiting', sum(t.is_alive() for t in threads))
sys.stdout.flush()
os._exit(0)
"#;

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
    let callers = Group::spawn(m.python(PARKED_AT_SHUTDOWN, &[&K.to_string()]));
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
