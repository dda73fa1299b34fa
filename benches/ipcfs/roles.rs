//! The child processes: [`child_main`] runs the role named in
//! `IPCFS_BENCH_ROLE`, one side of a workload, which prints its
//! CLOCK_MONOTONIC instants for the parent.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::ceiling::ceiling_main;
use crate::harness::{ready, ready_go, say, wait_go};
use crate::shm::{shm_count, shm_fill};
use crate::sockets::{shell, tcp_dial, tcp_listen};
use crate::sys::{errno, make_fifo, mq_open, mq_receive, mq_send, now_ns};
use crate::{BATCH, MSG, RECORD, SIGNAL_WINDOW};

pub(crate) fn child_main(role: &str, a: &[String]) -> ! {
    let result = match role {
        "ceiling" => ceiling_main(Path::new(arg(a, 0))),
        "stream-write" => stream_write(
            arg(a, 0),
            num(a, 1),
            num(a, 2) as usize,
            num(a, 3),
            arg(a, 4),
        ),
        "stream-read" => stream_read(arg(a, 0), num(a, 1), num(a, 2) as usize, arg(a, 3)),
        "msg-send" => msg_send(arg(a, 0), arg(a, 1), num(a, 2), arg(a, 3)),
        "msg-recv" => msg_recv(arg(a, 0), arg(a, 1), num(a, 2), arg(a, 3)),
        "redis-send" => crate::store::redis_send(arg(a, 0), num(a, 1)),
        "redis-recv" => crate::store::redis_recv(arg(a, 0), num(a, 1)),
        "redis-ping" => crate::store::redis_ping(arg(a, 0), num(a, 1), num(a, 2)),
        "redis-pong" => crate::store::redis_pong(arg(a, 0), num(a, 1)),
        "ping" => ping(
            arg(a, 0),
            arg(a, 1),
            arg(a, 2),
            num(a, 3),
            num(a, 4),
            arg(a, 5),
        ),
        "pong" => pong(arg(a, 0), arg(a, 1), arg(a, 2), num(a, 3), arg(a, 4)),
        "sig-recv" => sig_recv(num(a, 0), arg(a, 1), arg(a, 2)),
        "sig-send" => sig_send(
            arg(a, 0),
            arg(a, 1),
            num(a, 2),
            arg(a, 3),
            arg(a, 4),
            arg(a, 5),
        ),
        "opens" => open_close(arg(a, 0), Path::new(arg(a, 1)), num(a, 2), arg(a, 3)),
        "park" => park_threads(arg(a, 0), arg(a, 1), num(a, 2) as usize),
        "objects" => make_many(arg(a, 0), Path::new(arg(a, 1)), num(a, 2) as usize),
        "tcp-listen" => tcp_listen(
            arg(a, 0),
            num(a, 1),
            num(a, 2) as usize,
            a.get(3).is_some_and(|f| f == "go-first"),
        ),
        "shell" => shell(arg(a, 0)),
        "tcp-dial" => tcp_dial(
            arg(a, 0),
            arg(a, 1),
            arg(a, 2),
            num(a, 3),
            num(a, 4) as usize,
        ),
        "shm-fill" => shm_fill(arg(a, 0), num(a, 1)),
        "shm-count" => shm_count(arg(a, 0), num(a, 1)),
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

fn stream_write(
    path: &str,
    total: u64,
    chunk: usize,
    pipe_size: u64,
    cpu: &str,
) -> Result<(), String> {
    pin(cpu)?;
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

fn stream_read(path: &str, total: u64, chunk: usize, cpu: &str) -> Result<(), String> {
    pin(cpu)?;
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

/// `count` messages of 64 bytes: `file` writes each with one write(2) of
/// a file opened with O_DIRECT (packet mode: each write one message,
/// whatever the queue's framing, as mq_send), `mq` with mq_send.
fn msg_send(kind: &str, path: &str, count: u64, cpu: &str) -> Result<(), String> {
    pin(cpu)?;
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
    let mut f = open(path, true, true)?;
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
fn msg_recv(kind: &str, path: &str, count: u64, cpu: &str) -> Result<(), String> {
    pin(cpu)?;
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

/// One end of a ping-pong: a file (opened with O_DIRECT for `packet`, so
/// that each write is one message and each read takes one) or a POSIX
/// queue.
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
        open(path, write, kind == "packet").map(End::File)
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
/// Every role a pinned row runs calls it before it opens anything.
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
fn sig_recv(count: u64, counter: &str, cpu: &str) -> Result<(), String> {
    pin(cpu)?;
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
fn sig_send(
    mode: &str,
    target: &str,
    count: u64,
    word: &str,
    counter: &str,
    cpu: &str,
) -> Result<(), String> {
    pin(cpu)?;
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

/// Opens and closes one file `count` times, read-only, and says when it
/// started and ended. `tmpfs`: the file `file` in a tmpfs of its own on
/// `path`, made first; `file`: the file `path` as it is.
fn open_close(kind: &str, path: &Path, count: u64, cpu: &str) -> Result<(), String> {
    pin(cpu)?;
    let file = if kind == "tmpfs" {
        private_tmpfs(path)?;
        let file = path.join("file");
        File::create(&file).map_err(|e| format!("create {}: {e}", file.display()))?;
        file
    } else {
        path.to_path_buf()
    };
    ready_go()?;
    let t0 = now_ns();
    for i in 0..count {
        let f = File::open(&file).map_err(|e| format!("open {i} of {}: {e}", file.display()))?;
        drop(f);
    }
    say(&[t0, now_ns()]);
    Ok(())
}
