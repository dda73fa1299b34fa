//! Workload 5c: opens per second: one process opens a file read-only and
//! closes it again, over and over: a file in a tmpfs, ipcfs's README on
//! each transport, the ceiling's null file; unpinned and pinned.

use std::path::Path;

use crate::Sizes;
use crate::harness::{Env, p, pinned_note, run_group, s, span_ns};
use crate::report::{Report, V};
use crate::sys::pinned_cpu;

/// Opens (each closed again) per second of `count` opens of `path` (`kind`
/// `file`), or of a file in a tmpfs of the child's own on the directory
/// `path` (`tmpfs`), by one process on CPU `cpu` ("any": unpinned).
fn open_rate(kind: &str, path: &Path, count: u64, cpu: &str) -> Result<f64, String> {
    let r = run_group(&[("opens", vec![s(kind), p(path), s(count), s(cpu)])])?;
    Ok(count as f64 / span_ns(&r)? as f64 * 1e9)
}

pub(crate) fn opens(report: &mut Report, env: &Env, z: &Sizes) {
    let n = z.opens;
    let pinned = pinned_cpu();
    for cpu in ["any", pinned.as_str()] {
        let what = if cpu == "any" {
            "open + close".to_string()
        } else {
            format!("open + close, on CPU {cpu}")
        };
        let k = report.measure(&format!("{what} / tmpfs"), || {
            open_rate("tmpfs", &env.tmpfs, n, cpu).map(|r| r / 1e3)
        });
        let mut ipcfs = Vec::new();
        for t in env.transports() {
            let i = report.measure(&format!("{what} / {}", t.who()), || {
                open_rate("file", &t.dir.join("README"), n, cpu).map(|r| r / 1e3)
            });
            ipcfs.push((t, i));
        }
        let base = format!(
            "{n} opens (O_RDONLY) each closed at once, by one process; kernel: a file in a \
             tmpfs; ipcfs: its README (an open, a flush and a release reach the daemon; the \
             name stays cached)"
        );
        let (c, note) = if cpu == "any" {
            let c = report.measure(&format!("{what} / ceiling"), || {
                open_rate("file", &env.ceiling_file("null"), n, cpu).map(|r| r / 1e3)
            });
            (c, format!("{base}; ceiling: its null file"))
        } else {
            (V::Na, format!("{base}; {}; no ceiling", pinned_note(cpu)))
        };
        for (t, i) in ipcfs {
            let (c, note) = t.ceiling_and_note(c.clone(), &note);
            let name = format!("{what}{}", t.tag());
            report.row("opens", name, "k/s ↑", true, k.clone(), i, c, note);
        }
    }
}
