//! Workload 4: signal probes and real-time signals delivered, kill(2)
//! against a write to ipcfs's proc/PID/signal.

use std::fs::File;

use crate::harness::{Env, Kid, expect_ready, next_lines, p, parse_numbers, s};
use crate::report::Report;
use crate::sys::now_ns;
use crate::{SIGNAL_WINDOW, Sizes};

/// Signals (or probes) per second: `count` sends of `word` by `mode`
/// (`kill`: kill(2) to a pid; `file`: a write to a file) to a receiver
/// process that takes each real signal with sigwaitinfo(). With `deliver`,
/// the time runs until the receiver has taken them all, and the sender
/// keeps at most [`SIGNAL_WINDOW`] untaken.
fn signal_rate(
    env: &Env,
    mode: &str,
    target: impl Fn(u32) -> String,
    word: &str,
    count: u64,
    deliver: bool,
) -> Result<f64, String> {
    let counter = env.base.join(format!("counter-{}", now_ns()));
    File::create(&counter)
        .and_then(|f| f.set_len(4096))
        .map_err(|e| format!("{}: {e}", counter.display()))?;
    let expected = if deliver { count } else { 0 };
    let receiver = Kid::spawn("sig-recv", &[s(expected), p(&counter)])?;
    let counter_arg = if deliver { p(&counter) } else { "-".into() };
    let sender = Kid::spawn(
        "sig-send",
        &[
            s(mode),
            target(receiver.pid()),
            s(count),
            s(word),
            counter_arg,
        ],
    )?;
    // Waited on together: if either dies, the other (a sender waiting for
    // its window, a receiver waiting for signals) is killed, not waited for.
    let mut kids = [receiver, sender];
    expect_ready(&mut kids)?;
    for k in &mut kids {
        k.go()?;
    }
    let lines = next_lines(&mut kids)?;
    let taken = parse_numbers("sig-recv", &lines[0])?;
    let sent = parse_numbers("sig-send", &lines[1])?;
    // The sender first: the receiver stays alive until its stdin closes.
    kids[1].finish()?;
    kids[0].finish()?;
    let _ = std::fs::remove_file(&counter);
    let (Some(t0), Some(t1)) = (sent.first(), sent.get(1)) else {
        return Err(format!("sender said {sent:?}"));
    };
    let end = if deliver {
        *taken.first().ok_or("receiver said nothing")?
    } else {
        *t1
    };
    if end <= *t0 {
        return Err(format!("bad timings {sent:?} {taken:?}"));
    }
    Ok(count as f64 / (end - t0) as f64 * 1e9)
}

pub(crate) fn signals(report: &mut Report, env: &Env, z: &Sizes) {
    let proc_file = |pid: u32| p(&env.ipcfs.join(format!("proc/{pid}/signal")));
    let null = p(&env.ceiling_file("null"));
    let what = "signal probes (signal 0)";
    let k = report.measure(&format!("{what} / kill(2)"), || {
        signal_rate(env, "kill", s, "0", z.probes, false).map(|r| r / 1e3)
    });
    let i = report.measure(&format!("{what} / ipcfs"), || {
        signal_rate(env, "file", proc_file, "0", z.probes, false).map(|r| r / 1e3)
    });
    let c = report.measure(&format!("{what} / ceiling"), || {
        signal_rate(env, "file", |_| null.clone(), "0", z.probes, false).map(|r| r / 1e3)
    });
    report.row(
        "signals",
        what,
        "k/s ↑",
        true,
        k,
        i,
        c,
        format!(
            "{} probes: kill(pid, 0) vs write(\"0\") to proc/PID/signal; \
             ceiling: the same write to a null file",
            z.probes
        ),
    );
    let what = "signals delivered (SIGRTMIN)";
    let k = report.measure(&format!("{what} / kill(2)"), || {
        signal_rate(env, "kill", s, "RTMIN", z.signals, true).map(|r| r / 1e3)
    });
    let i = report.measure(&format!("{what} / ipcfs"), || {
        signal_rate(env, "file", proc_file, "RTMIN", z.signals, true).map(|r| r / 1e3)
    });
    let c = report.measure(&format!("{what} / ceiling"), || {
        signal_rate(env, "file", |_| null.clone(), "RTMIN", z.signals, false).map(|r| r / 1e3)
    });
    report.row(
        "signals",
        what,
        "k/s ↑",
        true,
        k,
        i,
        c,
        format!(
            "{} real-time signals (queued, none merged), counted by a receiver in \
             sigwaitinfo(); at most {SIGNAL_WINDOW} in flight; ceiling: write(\"RTMIN\") \
             to a null file",
            z.signals
        ),
    );
}
