//! Workload 4: signal probes and real-time signals delivered, kill(2)
//! against a write to ipcfs's proc/PID/signal, on each transport, unpinned
//! and with sender and receiver pinned to one CPU.

use std::fs::File;

use crate::harness::{Env, Kid, expect_ready, next_lines, p, parse_numbers, pinned_note, s};
use crate::report::{Report, Run, rounds_note, sides};
use crate::sys::{now_ns, pinned_cpu};
use crate::{SIGNAL_WINDOW, Sizes};

/// Signals (or probes) per second: `count` sends of `word` by `mode`
/// (`kill`: kill(2) to a pid; `file`: a write to a file) to a receiver
/// process that takes each real signal with sigwaitinfo(), both on CPU
/// `cpu` ("any": where the scheduler puts them). With `deliver`, the time
/// runs until the receiver has taken them all, and the sender keeps at
/// most [`SIGNAL_WINDOW`] untaken.
fn signal_rate(
    env: &Env,
    mode: &str,
    target: impl Fn(u32) -> String,
    word: &str,
    count: u64,
    deliver: bool,
    cpu: &str,
) -> Result<f64, String> {
    let counter = env.base.join(format!("counter-{}", now_ns()));
    File::create(&counter)
        .and_then(|f| f.set_len(4096))
        .map_err(|e| format!("{}: {e}", counter.display()))?;
    let expected = if deliver { count } else { 0 };
    let receiver = Kid::spawn("sig-recv", &[s(expected), p(&counter), s(cpu)])?;
    let counter_arg = if deliver { p(&counter) } else { "-".into() };
    let sender = Kid::spawn(
        "sig-send",
        &[
            s(mode),
            target(receiver.pid()),
            s(count),
            s(word),
            counter_arg,
            s(cpu),
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
    let pinned = pinned_cpu();
    // (name, word written, how many, delivered, the note, its ceiling's).
    let kinds = [
        (
            "signal probes (signal 0)",
            "0",
            z.probes,
            false,
            format!(
                "{} probes: kill(pid, 0) vs write(\"0\") to proc/PID/signal",
                z.probes
            ),
            "ceiling: the same write to the ceiling's kill/PID, whose write is a kill(2) \
             and nothing more",
        ),
        (
            "signals delivered (SIGRTMIN)",
            "RTMIN",
            z.signals,
            true,
            format!(
                "{} real-time signals (queued, none merged), counted by a receiver in \
                 sigwaitinfo(); at most {SIGNAL_WINDOW} in flight",
                z.signals
            ),
            "ceiling: write(\"RTMIN\") to the ceiling's kill/PID, whose write is a kill(2) \
             and nothing more",
        ),
    ];
    for (name, word, count, deliver, note, ceiling_note) in &kinds {
        let (word, count, deliver) = (*word, *count, *deliver);
        for cpu in ["any", pinned.as_str()] {
            let what = if cpu == "any" {
                name.to_string()
            } else {
                format!("{name}, both ends on CPU {cpu}")
            };
            // Delivered signals have a target: that row's figures are
            // medians of alternated rounds.
            let rounds = if deliver && cpu == "any" {
                z.target_rounds
            } else {
                1
            };
            let transports = env.transports();
            let mut runs: Vec<Run<'_>> = vec![(
                format!("{what} / kill(2)"),
                Box::new(|| {
                    signal_rate(env, "kill", s, word, count, deliver, cpu).map(|r| r / 1e3)
                }),
            )];
            for t in &transports {
                let proc_file = |pid: u32| p(&t.dir.join(format!("proc/{pid}/signal")));
                runs.push((
                    format!("{what} / {}", t.who()),
                    Box::new(move || {
                        signal_rate(env, "file", proc_file, word, count, deliver, cpu)
                            .map(|r| r / 1e3)
                    }),
                ));
            }
            // The ceiling delivers what ipcfs delivers, and is timed alike:
            // a signal file needs at least a kill(2) of what was written.
            if cpu == "any" {
                let kill_file = |pid: u32| p(&env.ceiling_file(&format!("kill/{pid}")));
                runs.push((
                    format!("{what} / ceiling"),
                    Box::new(move || {
                        signal_rate(env, "file", kill_file, word, count, deliver, cpu)
                            .map(|r| r / 1e3)
                    }),
                ));
            }
            let figures = report.alternated(rounds, &mut runs);
            drop(runs);
            let (k, ipcfs, c) = sides(figures, transports);
            let note = if cpu == "any" {
                format!("{note}; {ceiling_note}{}", rounds_note(rounds))
            } else {
                format!("{note}; {}; no ceiling", pinned_note(cpu))
            };
            for (t, i) in ipcfs {
                let (c, note) = t.ceiling_and_note(c.clone(), &note);
                let row = format!("{what}{}", t.tag());
                report.row("signals", row, "k/s ↑", true, k.clone(), i, c, note);
            }
        }
    }
}
