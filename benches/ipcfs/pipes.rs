//! Workload 1: pipe throughput, writer and reader in two processes.

use std::path::Path;

use crate::Sizes;
use crate::harness::{Env, p, run_group, s, span_ns};
use crate::report::{Report, V};
use crate::sys::setxattr;

/// Why ipcfs can beat the ceiling where the ceiling's file never blocks.
pub(crate) const NEVER_BLOCKS: &str = "writes to and reads from the null file, which never block, so writer, \
     reader and both dispatch threads all run at once; with few cores that can cost more \
     than a real pipe or queue, whose reader sleeps while it is empty (a ratio above 1 \
     means ipcfs adds nothing measurable to the FUSE round trips)";

/// GB/s through `write_path` to `read_path`, `total` bytes in writes and
/// reads of `chunk` bytes, writer and reader in two processes.
fn stream(
    write_path: &Path,
    read_path: &Path,
    total: u64,
    chunk: usize,
    pipe_size: usize,
) -> Result<f64, String> {
    let r = run_group(&[
        (
            "stream-write",
            vec![p(write_path), s(total), s(chunk), s(pipe_size)],
        ),
        ("stream-read", vec![p(read_path), s(total), s(chunk)]),
    ])?;
    Ok(total as f64 / span_ns(&r)? as f64)
}

pub(crate) fn pipes(report: &mut Report, env: &Env, z: &Sizes) {
    let total = z.pipe_bytes;
    let null = env.ceiling_file("null");
    let volume = if total >= 1 << 30 {
        format!("{} GiB", total >> 30)
    } else {
        format!("{} MiB", total >> 20)
    };
    let mut ceiling_1m = V::Na;
    for (label, chunk) in [
        ("1 MiB", 1usize << 20),
        ("64 KiB", 64 << 10),
        ("4 KiB", 4 << 10),
    ] {
        let what = format!("pipe {volume} in {label} writes");
        let k = report.measure(&format!("{what} / kernel FIFO"), || {
            let f = env.fifo(&format!("t{chunk}"))?;
            stream(&f, &f, total, chunk, 0)
        });
        let i = report.measure(&format!("{what} / ipcfs"), || {
            let f = env.ipcfs_object(&format!("pipes/t{chunk}"))?;
            let r = stream(&f, &f, total, chunk, 0);
            let _ = std::fs::remove_file(&f);
            r
        });
        let c = report.measure(&format!("{what} / ceiling"), || {
            stream(&null, &null, total, chunk, 0)
        });
        if chunk == 1 << 20 {
            ceiling_1m = c.clone();
        }
        report.row(
            "pipe throughput",
            what,
            "GB/s ↑",
            true,
            k,
            i,
            c,
            format!(
                "{label} reads; 64 KiB pipe buffer (kernel default, ipcfs default); ceiling: \
                 {NEVER_BLOCKS}"
            ),
        );
    }
    let what = format!("pipe {volume} in 1 MiB writes, 1 MiB buffer");
    let k = report.measure(&format!("{what} / kernel FIFO"), || {
        let f = env.fifo("big")?;
        stream(&f, &f, total, 1 << 20, 1 << 20)
    });
    let i = report.measure(&format!("{what} / ipcfs"), || {
        let f = env.ipcfs_object("pipes/big")?;
        setxattr(&f, "user.ipcfs.capacity", "1048576")?;
        let r = stream(&f, &f, total, 1 << 20, 0);
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
