//! Workload 5b: many objects: create, list and remove them, and the
//! daemon's memory per object.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Daemon, Env, Kid, ProcStats, p, s, set_phase};
use crate::report::{Report, V};
use crate::{DAEMON, ROLE_ENV, Sizes};

struct Objects {
    create_us: f64,
    list_ms: f64,
    remove_us: f64,
    rss_per_object: Option<f64>,
    rss_left_per_object: Option<f64>,
}

/// Creates `n` objects in `dir` (`file`: open(O_CREAT|O_EXCL) and close;
/// `fifo`: mkfifo(3) in a tmpfs of the child's own on `dir`), lists `dir`
/// once, and removes them one by one with unlink(2).
///
/// The kernel's side is FIFOs in a tmpfs, not POSIX queues: 100,000 of
/// those need CAP_SYS_RESOURCE (past `fs.mqueue.queues_max` and the
/// 800 KiB RLIMIT_MSGQUEUE, which even root cannot raise without it).
fn make_objects(
    kind: &str,
    dir: &Path,
    n: usize,
    daemon: Option<&Daemon>,
) -> Result<Objects, String> {
    let before = daemon.map(|d| d.stats()).transpose()?;
    let mut kid = Kid::spawn("objects", &[s(kind), p(dir), s(n)])?;
    kid.expect_ready()?;
    kid.go()?;
    let created = kid.numbers()?;
    let with_objects = daemon.map(|d| d.stats()).transpose()?;
    kid.go()?;
    let rest = kid.numbers()?;
    kid.finish()?;
    let after = daemon.map(|d| d.stats()).transpose()?;
    let ([create_ns], [list_ns, listed, remove_ns]) = (created.as_slice(), rest.as_slice()) else {
        return Err(format!("objects said {created:?} {rest:?}"));
    };
    if *listed != n as u64 {
        return Err(format!("readdir listed {listed} of {n} objects"));
    }
    let per = |a: Option<ProcStats>| match (before, a) {
        (Some(b), Some(a)) => Some((a.rss_kib as f64 - b.rss_kib as f64) * 1024.0 / n as f64),
        _ => None,
    };
    Ok(Objects {
        create_us: *create_ns as f64 / n as f64 / 1e3,
        list_ms: *list_ns as f64 / 1e6,
        remove_us: *remove_ns as f64 / n as f64 / 1e3,
        rss_per_object: per(with_objects),
        rss_left_per_object: per(after),
    })
}

/// The rows of many objects, in an ipcfs and a ceiling started for them
/// and stopped after: memory per object is then what objects cost, not
/// what earlier workloads left free in the heap for them to reuse (~15%
/// less at 100,000). Returns the daemons' problems (a stop that was not
/// clean, warnings in their logs), which the run reports with the
/// others' daemons'.
pub(crate) fn objects(report: &mut Report, env: &Env, z: &Sizes) -> Vec<String> {
    set_phase(
        "starting the daemons of the objects rows",
        Duration::from_secs(30),
    );
    let start = |name: &'static str, mut cmd: Command| {
        let dir = env.base.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        cmd.arg(&dir);
        Daemon::start(name, cmd, &dir, &env.base.join(format!("{name}.log")))
    };
    let ceiling_cmd = std::env::current_exe().map(|exe| {
        let mut cmd = Command::new(exe);
        cmd.env(ROLE_ENV, "ceiling");
        cmd
    });
    let ipcfs = start("ipcfs-objects", Command::new(DAEMON));
    let ceiling = ceiling_cmd
        .map_err(|e| e.to_string())
        .and_then(|cmd| start("ceiling-objects", cmd));
    let mut daemons = match (ipcfs, ceiling) {
        (Ok(i), Ok(c)) => {
            objects_in(report, env, z, &i, &c);
            vec![i, c]
        }
        (i, c) => {
            let (started, failed): (Vec<_>, Vec<_>) = [i, c].into_iter().partition(Result::is_ok);
            (failed.into_iter().filter_map(Result::err)).for_each(|e| report.errors.push(e));
            started.into_iter().filter_map(Result::ok).collect()
        }
    };
    set_phase(
        "stopping the daemons of the objects rows",
        Duration::from_secs(30),
    );
    let mut problems = Vec::new();
    for d in &mut daemons {
        if let Err(e) = d.stop() {
            problems.push(e);
        }
        for l in d.log_problems() {
            problems.push(format!("{} log: {l}", d.name));
        }
    }
    problems
}

fn objects_in(report: &mut Report, env: &Env, z: &Sizes, ipcfs: &Daemon, ceiling: &Daemon) {
    let n = z.objects;
    let what = format!("{n} queues");
    let run = |report: &mut Report, who: &str, kind: &str, dir: &Path, d: Option<&Daemon>| {
        let mut out = None;
        let v = report.measure(&format!("{what} / {who}"), || {
            let r = make_objects(kind, dir, n, d)?;
            let c = r.create_us;
            out = Some(r);
            Ok(c)
        });
        (v, out)
    };
    let (kv, k) = run(report, "kernel FIFOs", "fifo", &env.tmpfs, None);
    let (iv, i) = run(
        report,
        "ipcfs",
        "file",
        &ipcfs.dir().join("queues"),
        Some(ipcfs),
    );
    let (cv, c) = run(
        report,
        "ceiling",
        "file",
        &ceiling.dir().join("dir"),
        Some(ceiling),
    );
    let cell = |r: &Option<Objects>, v: &V, f: &dyn Fn(&Objects) -> Option<f64>| match (r, v) {
        (Some(r), _) => f(r).map_or(V::Na, V::Num),
        (None, V::Err(e)) => V::Err(e.clone()),
        _ => V::Na,
    };
    type Pick = fn(&Objects) -> Option<f64>;
    let rows: [(String, &'static str, Pick, &str); 5] = [
        (
            format!("create {n} queues, per queue"),
            "µs ↓",
            |o| Some(o.create_us),
            "open(O_CREAT|O_EXCL) + close; kernel: mkfifo in a tmpfs (POSIX queues \
             would need CAP_SYS_RESOURCE for this many)",
        ),
        (
            format!("list {n} queues (one readdir)"),
            "ms ↓",
            |o| Some(o.list_ms),
            "std::fs::read_dir of the directory, all entries",
        ),
        (
            format!("remove {n} queues, per queue"),
            "µs ↓",
            |o| Some(o.remove_us),
            "unlink(2)",
        ),
        (
            "daemon memory per queue".into(),
            "B ↓",
            |o| o.rss_per_object,
            "(VmRSS + VmPTE) delta / queues, with all of them created, in daemons started \
             for this workload",
        ),
        (
            "daemon memory left per removed queue".into(),
            "B ↓",
            |o| o.rss_left_per_object,
            "(VmRSS + VmPTE) delta / queues, after all are removed again, in daemons \
             started for this workload",
        ),
    ];
    for (name, unit, f, note) in rows {
        report.row(
            "scale",
            name,
            unit,
            false,
            cell(&k, &kv, &f),
            cell(&i, &iv, &f),
            cell(&c, &cv, &f),
            note,
        );
    }
}
