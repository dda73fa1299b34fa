//! Workload 3: round-trip latency, 1-byte ping-pong over two pipes and over
//! two queues, with the ends pinned.

use crate::Sizes;
use crate::harness::{Env, p, run_group, s};
use crate::report::Report;

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

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            return (0..libc::CPU_SETSIZE as usize)
                .filter(|c| libc::CPU_ISSET(*c, &set))
                .collect();
        }
    }
    vec![0]
}

pub(crate) fn latency(report: &mut Report, env: &Env, z: &Sizes) {
    // Pinned, because where the scheduler puts two unpinned ends decides
    // the kernel's figure (2 µs on one CPU, 60 µs across two here) more
    // than anything measured.
    let cpus = allowed_cpus();
    let first = cpus[0].to_string();
    let mut pinnings = Vec::new();
    match cpus.get(1) {
        Some(second) => pinnings.push((
            (first.clone(), second.to_string()),
            format!(", ends on CPUs {first} and {second}"),
            "each end pinned to its own CPU (sched_setaffinity); the daemons are not pinned",
        )),
        None => pinnings.push((
            ("any".to_string(), "any".to_string()),
            String::new(),
            "one CPU only: the scheduler places both ends",
        )),
    }
    pinnings.push((
        (first.clone(), first.clone()),
        format!(", both ends on CPU {first}"),
        "both ends pinned to one CPU (sched_setaffinity); the daemons are not pinned",
    ));
    for ((ping_cpu, pong_cpu), suffix, placement) in &pinnings {
        let pin = (ping_cpu.as_str(), pong_cpu.as_str());
        let tag = format!("{ping_cpu}{pong_cpu}");
        let what = format!("ping-pong 1 B over two pipes{suffix}");
        let [km, kp, _] = report.measure_many(&format!("{what} / kernel FIFOs"), || {
            let a = env.fifo(&format!("ping{tag}"))?;
            let b = env.fifo(&format!("pong{tag}"))?;
            ping_pong("stream", &p(&a), &p(&b), pin, z)
        });
        let [im, ip, _] = report.measure_many(&format!("{what} / ipcfs"), || {
            let a = env.ipcfs_object("pipes/ping")?;
            let b = env.ipcfs_object("pipes/pong")?;
            let r = ping_pong("stream", &p(&a), &p(&b), pin, z);
            let _ = std::fs::remove_file(&a);
            let _ = std::fs::remove_file(&b);
            r
        });
        let [cm, cp, _] = report.measure_many(&format!("{what} / ceiling"), || {
            let a = env.ceiling_file("ping");
            let b = env.ceiling_file("pong");
            ping_pong("stream", &p(&a), &p(&b), pin, z)
        });
        let note = format!(
            "{} round trips after {} warm-up; {placement}; kernel: two FIFOs; ceiling: two \
             files whose reads wait for the next write",
            z.rounds, z.warmup
        );
        for (stat, k, i, c) in [("median", km, im, cm), ("p99", kp, ip, cp)] {
            let name = format!("{what}, {stat}");
            report.row("round trip", name, "µs ↓", false, k, i, c, &note);
        }

        let what = format!("ping-pong 1 B over two queues{suffix}");
        let [km, kp, _] = report.measure_many(&format!("{what} / POSIX mq"), || {
            let a = env.mq(&format!("ping{tag}"))?;
            let b = env.mq(&format!("pong{tag}"))?;
            ping_pong("mq", &a, &b, pin, z)
        });
        let [im, ip, _] = report.measure_many(&format!("{what} / ipcfs"), || {
            let a = env.ipcfs_object("queues/ping")?;
            let b = env.ipcfs_object("queues/pong")?;
            let r = ping_pong("packet", &p(&a), &p(&b), pin, z);
            let _ = std::fs::remove_file(&a);
            let _ = std::fs::remove_file(&b);
            r
        });
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
        for (stat, k, i, c) in [("median", km, im, cm), ("p99", kp, ip, cp)] {
            let name = format!("{what}, {stat}");
            report.row("round trip", name, "µs ↓", false, k, i, c, &note);
        }
    }
}
