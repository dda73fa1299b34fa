//! Workload 2: queue message rate, one message per call or in batch mode.

use crate::harness::{Env, p, run_group, s, span_ns};
use crate::pipes::NEVER_BLOCKS;
use crate::report::Report;
use crate::{BATCH, QUEUE_DEPTH, RECORD, Sizes};

/// Messages per second, `total` 64-byte messages from `pairs` senders to
/// `pairs` receivers (each sends and receives `total / pairs`).
fn message_rate(kind: &str, path: &str, total: u64, pairs: u64) -> Result<f64, String> {
    let each = total / pairs;
    let mut specs = Vec::new();
    for _ in 0..pairs {
        specs.push(("msg-send", vec![s(kind), s(path), s(each)]));
    }
    for _ in 0..pairs {
        specs.push(("msg-recv", vec![s(kind), s(path), s(each)]));
    }
    let r = run_group(&specs)?;
    Ok((each * pairs) as f64 / span_ns(&r)? as f64 * 1e9)
}

pub(crate) fn queues(report: &mut Report, env: &Env, z: &Sizes) {
    for batch in [false, true] {
        for pairs in [1u64, 4] {
            queue_rate(report, env, z, pairs, batch);
        }
    }
}

/// One row of message rates: `pairs` senders and receivers, one message
/// per call, or on ipcfs in batch mode. POSIX mq has no batch call, so its
/// figure is always one message per mq_send and mq_receive.
fn queue_rate(report: &mut Report, env: &Env, z: &Sizes, pairs: u64, batch: bool) {
    let null = p(&env.ceiling_file("null"));
    let (what, tag, kind, ceiling_kind) = if batch {
        (
            format!("queue 64 B messages in batch mode, {pairs} -> {pairs}"),
            "batch",
            "batch",
            "batch-null",
        )
    } else {
        (
            format!("queue 64 B messages, {pairs} sender(s) -> {pairs} receiver(s)"),
            "rate",
            "file",
            "file",
        )
    };
    let k = report.measure(&format!("{what} / POSIX mq"), || {
        let q = env.mq(&format!("{tag}{pairs}"))?;
        message_rate("mq", &q, z.messages, pairs).map(|r| r / 1e3)
    });
    let i = report.measure(&format!("{what} / ipcfs"), || {
        let f = env.ipcfs_object(&format!("queues/{tag}{pairs}"))?;
        let r = message_rate(kind, &p(&f), z.messages, pairs);
        let _ = std::fs::remove_file(&f);
        r.map(|r| r / 1e3)
    });
    let c = report.measure(&format!("{what} / ceiling"), || {
        message_rate(ceiling_kind, &null, z.messages, pairs).map(|r| r / 1e3)
    });
    let how = if batch {
        format!(
            "ipcfs opened with O_DIRECT|O_DSYNC: each write carries {BATCH} records ({} \
             bytes), each read a buffer for {BATCH}, and the receiver checks every record; \
             POSIX mq: one message per call (it has no batch call); ceiling: the same write \
             and read sizes on the null file",
            BATCH * RECORD
        )
    } else {
        format!("receivers read in packet mode (O_DIRECT); ceiling: {NEVER_BLOCKS}")
    };
    report.row(
        "queue message rate",
        what,
        "k msg/s ↑",
        true,
        k,
        i,
        c,
        format!(
            "{} messages; POSIX mq depth {}, ipcfs depth {QUEUE_DEPTH}; {how}",
            z.messages, env.mq_depth
        ),
    );
}
