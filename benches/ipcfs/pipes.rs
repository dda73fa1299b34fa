//! Workload 1: pipe throughput, writer and reader in two processes; 4 KiB
//! writes also on io_uring and with both ends pinned to one CPU.

use std::path::Path;

use crate::Sizes;
use crate::harness::{Env, p, pinned_note, run_group, s, span_ns};
use crate::report::{Report, Run, V, rounds_note, sides};
use crate::sys::{pinned_cpu, setxattr};

/// Why ipcfs can beat the ceiling where the ceiling's file never blocks.
pub(crate) const NEVER_BLOCKS: &str = "writes to and reads from the null file, which never block, so writer, \
     reader and both dispatch threads all run at once; with few cores that can cost more \
     than a real pipe or queue, whose reader sleeps while it is empty (a ratio above 1 \
     means ipcfs adds nothing measurable to the FUSE round trips)";

/// GB/s through `write_path` to `read_path`, `total` bytes in writes and
/// reads of `chunk` bytes, writer and reader in two processes, both on CPU
/// `cpu` ("any": where the scheduler puts them).
fn stream(
    write_path: &Path,
    read_path: &Path,
    total: u64,
    chunk: usize,
    pipe_size: usize,
    cpu: &str,
) -> Result<f64, String> {
    let r = run_group(&[
        (
            "stream-write",
            vec![p(write_path), s(total), s(chunk), s(pipe_size), s(cpu)],
        ),
        (
            "stream-read",
            vec![p(read_path), s(total), s(chunk), s(cpu)],
        ),
    ])?;
    Ok(total as f64 / span_ns(&r)? as f64)
}

/// `total` bytes, as the rows say it.
fn volume_of(total: u64) -> String {
    if total >= 1 << 30 {
        format!("{} GiB", total >> 30)
    } else {
        format!("{} MiB", total >> 20)
    }
}

pub(crate) fn pipes(report: &mut Report, env: &Env, z: &Sizes) {
    let total = z.pipe_bytes;
    let null = env.ceiling_file("null");
    let volume = volume_of(total);
    let pinned = pinned_cpu();
    let mut ceiling_1m = V::Na;
    for (label, chunk) in [
        ("1 MiB", 1usize << 20),
        ("64 KiB", 64 << 10),
        ("4 KiB", 4 << 10),
    ] {
        // 4 KiB writes, the small operation of pipes, run on every
        // transport, unpinned and with both ends on one CPU.
        let small = chunk == 4 << 10;
        let placements: &[&str] = if small { &["any", &pinned] } else { &["any"] };
        for cpu in placements {
            let cpu = *cpu;
            let (total, what) = if cpu == "any" {
                (total, format!("pipe {volume} in {label} writes"))
            } else {
                let total = z.pinned_pipe_bytes;
                let volume = volume_of(total);
                (
                    total,
                    format!("pipe {volume} in {label} writes, both ends on CPU {cpu}"),
                )
            };
            let transports = if small {
                env.transports()
            } else {
                env.transports()[..1].to_vec()
            };
            // The larger writes, unpinned, have targets: their rows are
            // medians of alternated rounds.
            let rounds = if small { 1 } else { z.target_rounds };
            let fifo = env.fifo(&format!("t{chunk}{cpu}"));
            let mut runs: Vec<Run<'_>> = vec![(
                format!("{what} / kernel FIFO"),
                Box::new(|| {
                    let f = fifo.clone()?;
                    stream(&f, &f, total, chunk, 0, cpu)
                }),
            )];
            for t in &transports {
                runs.push((
                    format!("{what} / {}", t.who()),
                    Box::new(move || {
                        let f = t.object(&format!("pipes/t{chunk}"))?;
                        let r = stream(&f, &f, total, chunk, 0, cpu);
                        let _ = std::fs::remove_file(&f);
                        r
                    }),
                ));
            }
            if cpu == "any" {
                runs.push((
                    format!("{what} / ceiling"),
                    Box::new(|| stream(&null, &null, total, chunk, 0, cpu)),
                ));
            }
            let figures = report.alternated(rounds, &mut runs);
            drop(runs);
            let (k, ipcfs, c) = sides(figures, transports);
            if chunk == 1 << 20 {
                ceiling_1m = c.clone();
            }
            let note = if cpu == "any" {
                format!(
                    "{label} reads; 64 KiB pipe buffer (kernel default, ipcfs default); \
                     ceiling: {NEVER_BLOCKS}{}",
                    rounds_note(rounds)
                )
            } else {
                format!(
                    "{label} reads; 64 KiB pipe buffer (kernel default, ipcfs default); {}; \
                     no ceiling",
                    pinned_note(cpu)
                )
            };
            for (t, i) in ipcfs {
                let (c, note) = t.ceiling_and_note(c.clone(), &note);
                let name = format!("{what}{}", t.tag());
                report.row(
                    "pipe throughput",
                    name,
                    "GB/s ↑",
                    true,
                    k.clone(),
                    i,
                    c,
                    note,
                );
            }
        }
    }
    let what = format!("pipe {volume} in 1 MiB writes, 1 MiB buffer");
    let k = report.measure(&format!("{what} / kernel FIFO"), || {
        let f = env.fifo("big")?;
        stream(&f, &f, total, 1 << 20, 1 << 20, "any")
    });
    let i = report.measure(&format!("{what} / ipcfs"), || {
        let f = env.ipcfs_object("pipes/big")?;
        setxattr(&f, "user.ipcfs.capacity", "1048576")?;
        let r = stream(&f, &f, total, 1 << 20, 0, "any");
        let _ = std::fs::remove_file(&f);
        r
    });
    report.row(
        "pipe throughput",
        what,
        "GB/s ↑",
        true,
        k,
        i,
        ceiling_1m,
        "kernel: F_SETPIPE_SZ 1 MiB; ipcfs: user.ipcfs.capacity=1048576; \
         ceiling: the 1 MiB row's (same FUSE pattern)",
    );
}
