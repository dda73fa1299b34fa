//! Workload 5a: many callers parked at once: the time to wake them all
//! (the median of alternated rounds) and what the daemon holds while they
//! wait (read in the first round), on each transport.

use std::time::{Duration, Instant};

use crate::Sizes;
use crate::harness::{Daemon, Env, Kid, clock_ticks, next_lines, p, parse_numbers, s};
use crate::report::{Report, Run, V, rounds_note, sides};
use crate::sys::getxattr_number;

struct Parked {
    wake_ms: f64,
    /// Callers not parked yet when the writer started.
    unparked: f64,
    threads_added: f64,
    rss_per_caller: f64,
    fds_added: f64,
    fds_left: f64,
    cpu_percent: f64,
}

/// Longer than ipcfs's sweep of parked callers (1 s, src/interrupt.rs):
/// whatever the daemon still holds after this, it holds for good.
const AFTER_WAKE: Duration = Duration::from_millis(1500);

/// While callers still arrive faster than this share of them per second,
/// the wait for all to park goes on; slower, the rest are stuck (on
/// io_uring: waiting in the kernel for a ring entry) and the writer starts
/// without them, which the `unparked` figure tells.
const STILL_ARRIVING: u64 = 100;

/// `n` threads of one helper process block in a read of `read_path` (a
/// queue, or a mailbox file) or in mq_receive; then one sender writes `n`
/// messages and the time runs until the last reader has its message. When
/// a daemon serves the object, its threads, memory, descriptors and idle
/// CPU are read with every caller parked (or as many as park, see
/// [`STILL_ARRIVING`]), and its descriptors again [`AFTER_WAKE`] after the
/// last caller left.
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
    let mut second_ago = (Instant::now(), 0);
    let mut parked = loop {
        let now = parked_now(helper.pid());
        if now >= n as u64 {
            break now;
        }
        if second_ago.0.elapsed() >= Duration::from_secs(1) {
            let arriving = now.saturating_sub(second_ago.1) * STILL_ARRIVING;
            if arriving < n as u64 && now >= n as u64 / 2 {
                break now;
            }
            second_ago = (Instant::now(), now);
        }
        if Instant::now() > deadline {
            return Err(format!("only {now} of {n} callers parked after 60 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = Parked {
        wake_ms: 0.0,
        unparked: 0.0,
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
        out.rss_per_caller =
            (after.rss_kib as f64 - before.rss_kib as f64) * 1024.0 / parked.max(1) as f64;
        parked = parked.max(parked_now(helper.pid()).min(n as u64));
    }
    out.unparked = (n as u64 - parked) as f64;
    let mut waker = Kid::spawn("msg-send", &[s(kind), s(path), s(n), s("any")])?;
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

/// One round of a daemon's wake: its time. The first round (`slot` still
/// empty) also reads what `daemon` holds while the callers wait, and
/// keeps it in `slot`; later ones time the wake alone.
fn wake_round(
    slot: &mut Option<Parked>,
    daemon: Option<&Daemon>,
    park: impl FnOnce(Option<&Daemon>) -> Result<Parked, String>,
) -> Result<f64, String> {
    let daemon = daemon.filter(|_| slot.is_none());
    let parked = park(daemon)?;
    let wake = parked.wake_ms;
    if daemon.is_some() {
        *slot = Some(parked);
    }
    Ok(wake)
}

/// The daemons measured: ipcfs on /dev/fuse, ipcfs on io_uring (when it
/// runs), the ceiling.
type Daemons<'a> = (&'a Daemon, Option<&'a Daemon>, &'a Daemon);

pub(crate) fn parking(report: &mut Report, env: &Env, z: &Sizes, daemons: Daemons) {
    let (ipcfs, uring, ceiling) = daemons;
    let n = z.parked;
    let what = format!("{n} readers parked at once");
    let transports = env.transports();
    // What each daemon holds, read in its first round (ipcfs's mounts in
    // order, then the ceiling); later rounds time the wake alone.
    let mut held: Vec<Option<Parked>> = (0..=transports.len()).map(|_| None).collect();
    let (on_ipcfs, on_ceiling) = held.split_at_mut(transports.len());
    // One queue for every round: each round's readers empty it.
    let mq = env.mq("park");
    let mut runs: Vec<Run<'_>> = vec![(
        format!("{what} / POSIX mq"),
        Box::new(|| {
            let q = mq.as_ref().map_err(String::clone)?;
            // The helper's main thread sleeps too, in join.
            let r = park(
                "mq",
                q,
                n,
                None,
                |pid| sleeping_threads(pid).saturating_sub(1),
                z.idle,
            );
            r.map(|r| r.wake_ms)
        }),
    )];
    for (t, slot) in transports.iter().zip(on_ipcfs.iter_mut()) {
        let daemon = if t.uring { uring } else { Some(ipcfs) };
        runs.push((
            format!("{what} / {}", t.who()),
            Box::new(move || {
                let f = t.object("queues/park")?;
                let blocked = |_| getxattr_number(&f, "user.ipcfs.blocked").unwrap_or(0);
                let r = wake_round(slot, daemon, |d| {
                    park("file", &p(&f), n, d, blocked, z.idle)
                });
                let _ = std::fs::remove_file(&f);
                r
            }),
        ));
    }
    let ceiling_slot = &mut on_ceiling[0];
    runs.push((
        format!("{what} / ceiling"),
        Box::new(move || {
            let f = env.ceiling_file("wake");
            let blocked = |_| getxattr_number(&f, "user.parked").unwrap_or(0);
            wake_round(ceiling_slot, Some(ceiling), |d| {
                park("file", &p(&f), n, d, blocked, z.idle)
            })
        }),
    ));
    let rounds = z.target_rounds;
    let figures = report.alternated(rounds, &mut runs);
    drop(runs);
    let ceiling_parked = held.pop().flatten();
    let (k, wakes, c) = sides(figures, transports);
    let on: Vec<_> = wakes
        .into_iter()
        .zip(held)
        .map(|((t, v), parked)| (t, parked, v))
        .collect();
    let pick = |r: &Option<Parked>, f: fn(&Parked) -> f64, v: &V| match (r, v) {
        (Some(r), _) => V::Num(f(r)),
        (None, V::Err(e)) => V::Err(e.clone()),
        _ => V::Na,
    };
    let cr = &ceiling_parked;
    let note = format!(
        "{n} threads of one process each blocked in a 64-byte read (ipcfs: a queue in \
         packet mode; kernel: mq_receive; ceiling: a file whose reads wait for a write); \
         time from the first of {n} writes to the last reader's return{}",
        rounds_note(rounds)
    );
    for (t, _, i) in &on {
        let (c, note) = t.ceiling_and_note(c.clone(), &note);
        let name = format!("wake {n} parked readers{}", t.tag());
        report.row("scale", name, "ms ↓", false, k.clone(), i.clone(), c, note);
    }
    // (name, unit, figure, note, whether the uring mount gets a row too).
    type Figure = (
        &'static str,
        &'static str,
        fn(&Parked) -> f64,
        &'static str,
        bool,
    );
    let rows: [Figure; 6] = [
        (
            "callers not parked yet when the writer starts",
            "callers ↓",
            |r| r.unparked,
            "of the callers started, those the daemon did not hold yet once fewer than 1% a \
             second still arrived (the writer then starts anyway, and the wake time includes \
             them); on io_uring, a call that finds no free ring entry on its CPU waits in the \
             kernel until an answer on that ring fetches it, which the daemon's kicker makes",
            true,
        ),
        (
            "daemon threads added by {n} parked",
            "threads ↓",
            |r| r.threads_added,
            "from /proc/PID/status Threads, before and with every caller parked (on io_uring, \
             kicker threads a burst left waiting count)",
            true,
        ),
        (
            "daemon memory per parked caller",
            "B ↓",
            |r| r.rss_per_caller,
            "(VmRSS + VmPTE) delta / callers parked",
            true,
        ),
        (
            "daemon descriptors added by {n} parked",
            "fds ↓",
            |r| r.fds_added,
            "/proc/PID/fd count delta",
            false,
        ),
        (
            "daemon descriptors still held after the wake",
            "fds ↓",
            |r| r.fds_left,
            "/proc/PID/fd count delta 1.5 s after every caller got its message and left",
            false,
        ),
        (
            "daemon CPU while {n} wait idle",
            "% core ↓",
            |r| r.cpu_percent,
            "utime+stime over the idle window, nobody sending",
            true,
        ),
    ];
    for (name, unit, f, note, both) in rows {
        for (t, ir, i) in &on {
            if t.uring && !both {
                continue;
            }
            let (c, note) = t.ceiling_and_note(pick(cr, f, &c), note);
            report.row(
                "scale",
                format!("{}{}", name.replace("{n}", &n.to_string()), t.tag()),
                unit,
                false,
                V::Na,
                pick(ir, f, i),
                c,
                note,
            );
        }
    }
}
