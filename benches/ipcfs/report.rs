//! The results: rows of kernel, ipcfs and ceiling figures measured under
//! the watchdog, printed as one table and written as JSON.

use std::time::{Duration, Instant, SystemTime};

use crate::harness::{Env, set_phase};
use crate::{DISPATCH_THREADS, MSG, QUEUE_DEPTH, Sizes};

#[derive(Debug, Clone)]
pub(crate) enum V {
    Na,
    Num(f64),
    Err(String),
}

impl V {
    fn num(&self) -> Option<f64> {
        match self {
            V::Num(v) => Some(*v),
            _ => None,
        }
    }
}

pub(crate) struct Row {
    group: &'static str,
    name: String,
    unit: &'static str,
    higher_better: bool,
    kernel: V,
    ipcfs: V,
    ceiling: V,
    note: String,
}

pub(crate) struct Report {
    pub(crate) rows: Vec<Row>,
    pub(crate) errors: Vec<String>,
    pub(crate) started: Instant,
    pub(crate) phase_limit: Duration,
}

impl Report {
    /// Runs one measurement under the watchdog; an error is kept, printed
    /// and counted, and the bench goes on.
    pub(crate) fn measure(&mut self, what: &str, f: impl FnOnce() -> Result<f64, String>) -> V {
        set_phase(what, self.phase_limit);
        let start = Instant::now();
        let v = match f() {
            Ok(v) if v.is_finite() => V::Num(v),
            Ok(v) => V::Err(format!("not a number: {v}")),
            Err(e) => V::Err(e),
        };
        match &v {
            V::Num(x) => eprintln!(
                "[{:6.1} s] {what}: {} ({:.1} s)",
                self.started.elapsed().as_secs_f64(),
                fmt_num(*x),
                start.elapsed().as_secs_f64()
            ),
            V::Err(e) => {
                eprintln!(
                    "[{:6.1} s] {what}: FAILED: {e}",
                    self.started.elapsed().as_secs_f64()
                );
                self.errors.push(format!("{what}: {e}"));
            }
            V::Na => {}
        }
        v
    }

    /// Runs each of `runs` (what it measures, and how) once per round,
    /// one after the other, for `rounds` rounds, and gives each one's
    /// median. On this VM the speed of everything drifts by up to 2x
    /// from one stretch of seconds to the next; alternated, the kernel,
    /// ipcfs and ceiling figures of a row come from the same stretches.
    /// A run that fails once fails its figure.
    pub(crate) fn alternated(&mut self, rounds: usize, runs: &mut [Run<'_>]) -> Vec<V> {
        let rounds = rounds.max(1);
        let mut samples = vec![Vec::new(); runs.len()];
        let mut failed = vec![None; runs.len()];
        for round in 1..=rounds {
            for (i, (what, run)) in runs.iter_mut().enumerate() {
                if failed[i].is_some() {
                    continue;
                }
                let label = match rounds {
                    1 => what.clone(),
                    _ => format!("{what}, round {round} of {rounds}"),
                };
                match self.measure(&label, &mut **run) {
                    V::Num(x) => samples[i].push(x),
                    V::Err(e) => failed[i] = Some(e),
                    V::Na => {}
                }
            }
        }
        samples
            .into_iter()
            .zip(failed)
            .map(|(mut v, failed)| match failed {
                Some(e) => V::Err(e),
                None if v.is_empty() => V::Na,
                None => V::Num(middle(&mut v)),
            })
            .collect()
    }

    /// Like `measure`, for a run that gives several figures at once.
    pub(crate) fn measure_many<const N: usize>(
        &mut self,
        what: &str,
        f: impl FnOnce() -> Result<[f64; N], String>,
    ) -> [V; N] {
        let mut out: Option<[f64; N]> = None;
        let v = self.measure(what, || {
            let all = f()?;
            out = Some(all);
            Ok(all[0])
        });
        match (out, v) {
            (Some(all), V::Num(_)) => all.map(V::Num),
            (_, V::Err(e)) => std::array::from_fn(|_| V::Err(e.clone())),
            _ => std::array::from_fn(|_| V::Na),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn row(
        &mut self,
        group: &'static str,
        name: impl Into<String>,
        unit: &'static str,
        higher_better: bool,
        kernel: V,
        ipcfs: V,
        ceiling: V,
        note: impl Into<String>,
    ) {
        self.rows.push(Row {
            group,
            name: name.into(),
            unit,
            higher_better,
            kernel,
            ipcfs,
            ceiling,
            note: note.into(),
        });
    }
}

/// One measurement of [`Report::alternated`]: what it measures, and how.
pub(crate) type Run<'a> = (String, Box<dyn FnMut() -> Result<f64, String> + 'a>);

/// The figures of [`Report::alternated`] for a row's runs in the usual
/// order, as its sides: the kernel's, one for each of `middle` (ipcfs's
/// mounts), and the ceiling's where it was run.
pub(crate) fn sides<T>(figures: Vec<V>, middle: Vec<T>) -> (V, Vec<(T, V)>, V) {
    let mut figures = figures.into_iter();
    let kernel = figures.next().unwrap_or(V::Na);
    let ipcfs = (middle.into_iter())
        .map(|t| (t, figures.next().unwrap_or(V::Na)))
        .collect();
    (kernel, ipcfs, figures.next().unwrap_or(V::Na))
}

/// What a row's note says of its rounds (nothing of one).
pub(crate) fn rounds_note(rounds: usize) -> String {
    match rounds {
        0 | 1 => String::new(),
        n => format!("; each figure the median of {n} alternated rounds"),
    }
}

/// The median of `v` (the mean of the two middle ones of an even count).
pub(crate) fn middle(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_v(v: &V) -> String {
    match v {
        V::Na => "-".into(),
        V::Num(x) => fmt_num(*x),
        V::Err(_) => "FAILED".into(),
    }
}

fn ratio(a: &V, b: &V) -> Option<f64> {
    match (a.num(), b.num()) {
        (Some(x), Some(y)) if y != 0.0 => Some(x / y),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{}x", fmt_num(r)))
}

// ---------------------------------------------------------------------------
// Machine

pub(crate) struct Machine {
    pub(crate) nproc: usize,
    pub(crate) kernel: String,
    pub(crate) cpu: String,
}

pub(crate) fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        cpu,
    }
}

// ---------------------------------------------------------------------------
// Output

pub(crate) fn print_table(report: &Report, z: &Sizes, env: &Env, m: &Machine, total: Duration) {
    let header = [
        "workload",
        "unit",
        "kernel",
        "ipcfs",
        "FUSE ceiling",
        "ipcfs/kernel",
        "ipcfs/ceiling",
    ];
    let mut lines: Vec<[String; 7]> = vec![header.map(String::from)];
    for r in &report.rows {
        lines.push([
            r.name.clone(),
            r.unit.to_string(),
            fmt_v(&r.kernel),
            fmt_v(&r.ipcfs),
            fmt_v(&r.ceiling),
            fmt_ratio(ratio(&r.ipcfs, &r.kernel)),
            fmt_ratio(ratio(&r.ipcfs, &r.ceiling)),
        ]);
    }
    let mut widths = [0usize; 7];
    for l in &lines {
        for (w, c) in widths.iter_mut().zip(l) {
            *w = (*w).max(c.chars().count());
        }
    }
    println!(
        "\nipcfs bench, {} run in {:.0} s: {} cores, Linux {}, {}",
        if z.quick { "quick" } else { "full" },
        total.as_secs_f64(),
        m.nproc,
        m.kernel,
        m.cpu
    );
    println!(
        "kernel = the kernel's own object (FIFO, POSIX mq of depth {}, kill(2), FIFOs in tmpfs, \
         TCP sockets on 127.0.0.1, files in /dev/shm); \
         ipcfs = a mount on /dev/fuse, or with --transport uring in rows that say (uring){}; \
         FUSE ceiling = a do-nothing fuser filesystem mounted like ipcfs; \
         ↑ higher is better, ↓ lower is better",
        env.mq_depth,
        if env.uring { "" } else { " (none in this run)" }
    );
    let mut group = "";
    for (n, l) in lines.iter().enumerate() {
        if n > 0 && report.rows[n - 1].group != group {
            group = report.rows[n - 1].group;
            println!("-- {group}");
        }
        let mut out = format!("{:<w$}", l[0], w = widths[0]);
        out.push_str(&format!("  {:<w$}", l[1], w = widths[1]));
        for (c, w) in l[2..].iter().zip(&widths[2..]) {
            out.push_str(&format!("  {c:>w$}"));
        }
        println!("{}", out.trim_end());
    }
    if !report.errors.is_empty() {
        println!("\nfailed:");
        for e in &report.errors {
            println!("  {e}");
        }
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".into(),
    }
}

pub(crate) fn to_json(
    report: &Report,
    z: &Sizes,
    env: &Env,
    m: &Machine,
    total: Duration,
    problems: &[String],
) -> String {
    let when = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut o = String::from("{\n");
    o.push_str("  \"bench\": \"ipcfs\",\n");
    o.push_str(&format!(
        "  \"ipcfs_version\": {},\n",
        json_str(env!("CARGO_PKG_VERSION"))
    ));
    o.push_str(&format!(
        "  \"mode\": {},\n",
        json_str(if z.quick { "quick" } else { "full" })
    ));
    o.push_str(&format!("  \"unix_time\": {when},\n"));
    o.push_str(&format!("  \"seconds\": {:.1},\n", total.as_secs_f64()));
    o.push_str(&format!(
        "  \"machine\": {{\"nproc\": {}, \"kernel\": {}, \"cpu\": {}}},\n",
        m.nproc,
        json_str(&m.kernel),
        json_str(&m.cpu)
    ));
    o.push_str(&format!(
        "  \"settings\": {{\"pipe_bytes\": {}, \"pinned_pipe_bytes\": {}, \"socket_bytes\": {}, \
         \"messages\": {}, \"pinned_messages\": {}, \
         \"message_size\": {MSG}, \"rounds\": {}, \"warmup_rounds\": {}, \"probes\": {}, \"signals\": {}, \
         \"parked\": {}, \"objects\": {}, \"opens\": {}, \"shm_bytes\": {}, \"shm_increments\": {}, \
         \"shm_runs\": {}, \"posix_mq_depth\": {}, \"ipcfs_queue_depth\": {QUEUE_DEPTH}, \
         \"ceiling_threads\": {DISPATCH_THREADS}, \"uring_rows\": {}}},\n",
        z.pipe_bytes,
        z.pinned_pipe_bytes,
        z.socket_bytes,
        z.messages,
        z.pinned_messages,
        z.rounds,
        z.warmup,
        z.probes,
        z.signals,
        z.parked,
        z.objects,
        z.opens,
        z.shm_bytes,
        z.shm_increments,
        z.shm_runs,
        env.mq_depth,
        env.uring
    ));
    o.push_str("  \"workloads\": [\n");
    for (n, r) in report.rows.iter().enumerate() {
        let unit = r.unit.trim_end_matches(['↑', '↓']).trim_end();
        let mut fields = vec![
            format!("\"group\": {}", json_str(r.group)),
            format!("\"name\": {}", json_str(&r.name)),
            format!("\"unit\": {}", json_str(unit)),
            format!(
                "\"better\": {}",
                json_str(if r.higher_better { "higher" } else { "lower" })
            ),
        ];
        for (key, v) in [
            ("kernel", &r.kernel),
            ("ipcfs", &r.ipcfs),
            ("ceiling", &r.ceiling),
        ] {
            fields.push(format!("\"{key}\": {}", json_num(v.num())));
            if let V::Err(e) = v {
                fields.push(format!("\"{key}_error\": {}", json_str(e)));
            }
        }
        fields.push(format!(
            "\"ipcfs_over_kernel\": {}",
            json_num(ratio(&r.ipcfs, &r.kernel))
        ));
        fields.push(format!(
            "\"ipcfs_over_ceiling\": {}",
            json_num(ratio(&r.ipcfs, &r.ceiling))
        ));
        fields.push(format!("\"note\": {}", json_str(&r.note)));
        o.push_str(&format!(
            "    {{{}}}{}\n",
            fields.join(", "),
            if n + 1 < report.rows.len() { "," } else { "" }
        ));
    }
    o.push_str("  ],\n");
    let list = |items: &[String]| {
        items
            .iter()
            .map(|e| json_str(e))
            .collect::<Vec<_>>()
            .join(", ")
    };
    o.push_str(&format!("  \"errors\": [{}],\n", list(&report.errors)));
    o.push_str(&format!("  \"daemon_problems\": [{}]\n", list(problems)));
    o.push_str("}\n");
    o
}
