//! Workload 2: queue message rate, one message per call or in batch mode;
//! one message per call also on io_uring and with every process pinned.

use crate::harness::{DAEMONS_UNPINNED, Env, p, pinned_note, run_group, s, span_ns};
use crate::pipes::NEVER_BLOCKS;
use crate::report::{Report, Run, rounds_note, sides};
use crate::sys::allowed_cpus;
use crate::{BATCH, QUEUE_DEPTH, RECORD, Sizes};

/// Where senders and receivers run: the senders' CPU and the receivers'
/// ("any": where the scheduler puts them).
type Cpus<'a> = (&'a str, &'a str);

const UNPINNED: Cpus = ("any", "any");

/// Messages per second, `total` 64-byte messages from `pairs` senders to
/// `pairs` receivers (each sends and receives `total / pairs`), placed on
/// `cpus`.
fn message_rate(
    kind: &str,
    path: &str,
    total: u64,
    pairs: u64,
    (send_cpu, recv_cpu): Cpus,
) -> Result<f64, String> {
    let each = total / pairs;
    let mut specs = Vec::new();
    for _ in 0..pairs {
        specs.push(("msg-send", vec![s(kind), s(path), s(each), s(send_cpu)]));
    }
    for _ in 0..pairs {
        specs.push(("msg-recv", vec![s(kind), s(path), s(each), s(recv_cpu)]));
    }
    let r = run_group(&specs)?;
    Ok((each * pairs) as f64 / span_ns(&r)? as f64 * 1e9)
}

pub(crate) fn queues(report: &mut Report, env: &Env, z: &Sizes) {
    let cpus = allowed_cpus();
    let first = cpus.first().copied().unwrap_or(0).to_string();
    let second = cpus.get(1).map(usize::to_string);
    for pairs in [1u64, 4] {
        queue_rate(report, env, z, pairs, false, UNPINNED);
        queue_rate(report, env, z, pairs, false, (&first, &first));
        // One sender and one receiver also each on its own CPU.
        if let (1, Some(second)) = (pairs, &second) {
            queue_rate(report, env, z, pairs, false, (&first, second));
        }
    }
    for pairs in [1u64, 4] {
        queue_rate(report, env, z, pairs, true, UNPINNED);
    }
}

/// The rows of one message rate: `pairs` senders and receivers, one
/// message per call (on every transport), or on ipcfs in batch mode (on
/// /dev/fuse only). POSIX mq has no batch call, so its figure is always one
/// message per mq_send and mq_receive. Pinned (`cpus` not [`UNPINNED`]),
/// the senders and receivers of each side run on `cpus`, and no ceiling is
/// measured.
fn queue_rate(report: &mut Report, env: &Env, z: &Sizes, pairs: u64, batch: bool, cpus: Cpus) {
    let null = p(&env.ceiling_file("null"));
    let pinned = cpus != UNPINNED;
    // Pinned, /dev/fuse is slow (each request wakes a daemon thread on
    // another CPU): fewer messages keep the run short.
    let messages = if pinned {
        z.pinned_messages
    } else {
        z.messages
    };
    let placed = if !pinned {
        String::new()
    } else if cpus.0 == cpus.1 {
        format!(", all on CPU {}", cpus.0)
    } else {
        format!(", senders on CPU {}, receivers on CPU {}", cpus.0, cpus.1)
    };
    let (what, tag, kind, ceiling_kind) = if batch {
        (
            format!("queue 64 B messages in batch mode, {pairs} -> {pairs}"),
            "batch".to_string(),
            "batch",
            "batch-null",
        )
    } else {
        (
            format!("queue 64 B messages, {pairs} sender(s) -> {pairs} receiver(s){placed}"),
            format!("rate{}{}", cpus.0, cpus.1),
            "file",
            "file",
        )
    };
    let transports = if batch {
        env.transports()[..1].to_vec()
    } else {
        env.transports()
    };
    // POSIX mq sends one message per call in batch rows too.
    let batched = if batch { z.batch_messages } else { messages };
    // Batch mode has targets: its rows are medians of alternated rounds.
    let rounds = if batch { z.target_rounds } else { 1 };
    let mq = env.mq(&format!("{tag}{pairs}"));
    let mut runs: Vec<Run<'_>> = vec![(
        format!("{what} / POSIX mq"),
        Box::new(|| message_rate("mq", &mq.clone()?, messages, pairs, cpus).map(|r| r / 1e3)),
    )];
    for t in &transports {
        let name = format!("queues/{tag}{pairs}");
        runs.push((
            format!("{what} / {}", t.who()),
            Box::new(move || {
                let f = t.object(&name)?;
                let r = message_rate(kind, &p(&f), batched, pairs, cpus);
                let _ = std::fs::remove_file(&f);
                r.map(|r| r / 1e3)
            }),
        ));
    }
    if !pinned {
        runs.push((
            format!("{what} / ceiling"),
            Box::new(|| message_rate(ceiling_kind, &null, batched, pairs, cpus).map(|r| r / 1e3)),
        ));
    }
    let figures = report.alternated(rounds, &mut runs);
    drop(runs);
    let (k, ipcfs, c) = sides(figures, transports);
    let how = if batch {
        format!(
            "ipcfs opened with O_DIRECT|O_DSYNC: each write carries {BATCH} records ({} \
             bytes), each read a buffer for {BATCH}, and the receiver checks every record; \
             POSIX mq: one message per call (it has no batch call); ceiling: the same write \
             and read sizes on the null file",
            BATCH * RECORD
        )
    } else if pinned {
        let pins = if cpus.0 == cpus.1 {
            pinned_note(cpus.0)
        } else {
            format!(
                "every sender pinned to CPU {}, every receiver to CPU {} (sched_setaffinity), \
                 on POSIX mq too; {DAEMONS_UNPINNED}",
                cpus.0, cpus.1
            )
        };
        format!("receivers read in packet mode (O_DIRECT); {pins}; no ceiling")
    } else {
        format!("receivers read in packet mode (O_DIRECT); ceiling: {NEVER_BLOCKS}")
    };
    let counts = if batch {
        format!("{batched} messages through ipcfs and the ceiling, {messages} through POSIX mq")
    } else {
        format!("{messages} messages")
    };
    let note = format!(
        "{counts}; POSIX mq depth {}, ipcfs depth {QUEUE_DEPTH}; {how}{}",
        env.mq_depth,
        rounds_note(rounds)
    );
    for (t, i) in ipcfs {
        let (c, note) = t.ceiling_and_note(c.clone(), &note);
        report.row(
            "queue message rate",
            format!("{what}{}", t.tag()),
            "k msg/s ↑",
            true,
            k.clone(),
            i,
            c,
            note,
        );
    }
}
