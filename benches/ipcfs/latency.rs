//! Workload 3: round-trip latency, 1-byte ping-pong over two pipes and over
//! two queues, with the ends pinned (and, over pipes, once unpinned), on
//! each transport.

use crate::Sizes;
use crate::harness::{Env, Transport, p, run_group, s};
use crate::report::{Report, V};
use crate::sys::allowed_cpus;

/// Median, p99 and mean round trip in µs: 1 byte there over `a`, 1 byte
/// back over `b`.
fn ping_pong(
    kind: &str,
    a: &str,
    b: &str,
    (ping_cpu, pong_cpu): (&str, &str),
    z: &Sizes,
) -> Result<[f64; 3], String> {
    let r = run_group(&[
        (
            "ping",
            vec![s(kind), s(a), s(b), s(z.rounds), s(z.warmup), s(ping_cpu)],
        ),
        (
            "pong",
            vec![s(kind), s(a), s(b), s(z.rounds + z.warmup), s(pong_cpu)],
        ),
    ])?;
    match r[0].as_slice() {
        [median, p99, mean] => Ok([*median as f64 / 1e3, *p99 as f64 / 1e3, *mean as f64 / 1e3]),
        other => Err(format!("ping said {other:?}")),
    }
}

/// Where the two ends run: their CPUs ("any": unpinned), the suffix of the
/// rows' names, the note's words, and whether the row is measured over
/// queues and on the ceiling too.
struct Placement {
    cpus: (String, String),
    suffix: String,
    note: &'static str,
    full: bool,
}

pub(crate) fn latency(report: &mut Report, env: &Env, z: &Sizes) {
    // Pinned, because where the scheduler puts two unpinned ends decides
    // the kernel's figure (2 µs on one CPU, 60 µs across two here) more
    // than anything measured; the unpinned row, over pipes only, shows
    // what a caller the scheduler moves costs each transport.
    let cpus = allowed_cpus();
    let first = cpus.first().copied().unwrap_or(0).to_string();
    let any = || ("any".to_string(), "any".to_string());
    let mut placements = Vec::new();
    match cpus.get(1) {
        Some(second) => placements.push(Placement {
            cpus: (first.clone(), second.to_string()),
            suffix: format!(", ends on CPUs {first} and {second}"),
            note: "each end pinned to its own CPU (sched_setaffinity); the daemons are not pinned",
            full: true,
        }),
        None => placements.push(Placement {
            cpus: any(),
            suffix: String::new(),
            note: "one CPU only: the scheduler places both ends",
            full: true,
        }),
    }
    placements.push(Placement {
        cpus: (first.clone(), first.clone()),
        suffix: format!(", both ends on CPU {first}"),
        note: "both ends pinned to one CPU (sched_setaffinity); the daemons are not pinned",
        full: true,
    });
    if cpus.len() > 1 {
        placements.push(Placement {
            cpus: any(),
            suffix: ", unpinned".to_string(),
            note: "neither end pinned: the scheduler places (and moves) them; no ceiling",
            full: false,
        });
    }
    for pl in &placements {
        let pin = (pl.cpus.0.as_str(), pl.cpus.1.as_str());
        let tag = format!("{}{}", pl.cpus.0, pl.cpus.1);
        let (suffix, placement) = (&pl.suffix, pl.note);
        let what = format!("ping-pong 1 B over two pipes{suffix}");
        let [km, kp, _] = report.measure_many(&format!("{what} / kernel FIFOs"), || {
            let a = env.fifo(&format!("ping{tag}"))?;
            let b = env.fifo(&format!("pong{tag}"))?;
            ping_pong("stream", &p(&a), &p(&b), pin, z)
        });
        let mut ipcfs = Vec::new();
        for t in env.transports() {
            let [im, ip, _] = report.measure_many(&format!("{what} / {}", t.who()), || {
                let a = t.object("pipes/ping")?;
                let b = t.object("pipes/pong")?;
                let r = ping_pong("stream", &p(&a), &p(&b), pin, z);
                let _ = std::fs::remove_file(&a);
                let _ = std::fs::remove_file(&b);
                r
            });
            ipcfs.push((t, [im, ip]));
        }
        let [cm, cp] = if pl.full {
            let [cm, cp, _] = report.measure_many(&format!("{what} / ceiling"), || {
                let a = env.ceiling_file("ping");
                let b = env.ceiling_file("pong");
                ping_pong("stream", &p(&a), &p(&b), pin, z)
            });
            [cm, cp]
        } else {
            [V::Na, V::Na]
        };
        let note = format!(
            "{} round trips after {} warm-up; {placement}; kernel: two FIFOs; ceiling: two \
             files whose reads wait for the next write",
            z.rounds, z.warmup
        );
        rows(report, &what, [km, kp], &ipcfs, [cm, cp], &note);
        if !pl.full {
            continue;
        }

        let what = format!("ping-pong 1 B over two queues{suffix}");
        let [km, kp, _] = report.measure_many(&format!("{what} / POSIX mq"), || {
            let a = env.mq(&format!("ping{tag}"))?;
            let b = env.mq(&format!("pong{tag}"))?;
            ping_pong("mq", &a, &b, pin, z)
        });
        let mut ipcfs = Vec::new();
        for t in env.transports() {
            let [im, ip, _] = report.measure_many(&format!("{what} / {}", t.who()), || {
                let a = t.object("queues/ping")?;
                let b = t.object("queues/pong")?;
                let r = ping_pong("packet", &p(&a), &p(&b), pin, z);
                let _ = std::fs::remove_file(&a);
                let _ = std::fs::remove_file(&b);
                r
            });
            ipcfs.push((t, [im, ip]));
        }
        let [cm, cp, _] = report.measure_many(&format!("{what} / ceiling"), || {
            let a = env.ceiling_file("ping");
            let b = env.ceiling_file("pong");
            ping_pong("packet", &p(&a), &p(&b), pin, z)
        });
        let note = format!(
            "{} round trips; {placement}; kernel: two POSIX queues (mq_send/mq_receive); \
             ipcfs and ceiling read with O_DIRECT",
            z.rounds
        );
        rows(report, &what, [km, kp], &ipcfs, [cm, cp], &note);
    }
}

/// The median and p99 rows of one ping-pong, each on the default transport
/// and then on io_uring.
fn rows(
    report: &mut Report,
    what: &str,
    kernel: [V; 2],
    ipcfs: &[(Transport, [V; 2])],
    ceiling: [V; 2],
    note: &str,
) {
    for (n, stat) in ["median", "p99"].into_iter().enumerate() {
        for (t, i) in ipcfs {
            let (c, note) = t.ceiling_and_note(ceiling[n].clone(), note);
            let name = format!("{what}, {stat}{}", t.tag());
            let (k, i) = (kernel[n].clone(), i[n].clone());
            report.row("round trip", name, "µs ↓", false, k, i, c, note);
        }
    }
}
