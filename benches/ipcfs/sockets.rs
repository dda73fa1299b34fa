//! Workload 6: TCP throughput over 127.0.0.1, one end a dial file of the
//! mount (`sockets/tcp/127.0.0.1/PORT`, opened read-write: the open is the
//! connect, the descriptor the connection), beside the same transfer
//! between two plain sockets. The other end is always a plain listener.
//! There is no ceiling figure: a do-nothing FUSE file has no socket behind
//! it, so the nearest FUSE-bound figure is the pipe rows' ceiling.
//!
//! The same transfers again as a shell script does them: `dd` through
//! bash's `/dev/tcp` (a plain kernel socket bash opens) beside `dd`
//! through a dial file bash opens, and `socat` beside the dial file.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

use crate::Sizes;
use crate::harness::{Env, Kid, p, ready_go, release_group, s, say, span_ns};
use crate::report::{Report, Run, V, rounds_note};
use crate::sys::now_ns;

/// How long a plain socket waits for the next bytes before its side of a
/// workload fails (a stalled daemon), instead of waiting for the watchdog.
const STALL: Duration = Duration::from_secs(20);

/// GB/s of `total` bytes over one TCP connection on 127.0.0.1. A listener
/// child binds a free port and says it; a dialer child connects to it,
/// with a plain socket (`how` = "socket") or by opening the dial file of
/// the mount ("file"), and is the sending or receiving side (`dial_side`
/// = "send" or "recv"); the listener takes the other side. The sender
/// writes `chunk` bytes at a time, the receiver reads up to `chunk`.
fn tcp(env: &Env, how: &str, dial_side: &str, total: u64, chunk: usize) -> Result<f64, String> {
    let listen_side = if dial_side == "send" { "recv" } else { "send" };
    let mut listener = Kid::spawn("tcp-listen", &[s(listen_side), s(total), s(chunk)])?;
    let port = match listener.numbers()?[..] {
        [port] if port > 0 && port <= u64::from(u16::MAX) => port,
        ref other => return Err(format!("the tcp-listen process said {other:?}, not a port")),
    };
    let target = if how == "file" {
        p(&env.ipcfs.join(format!("sockets/tcp/127.0.0.1/{port}")))
    } else {
        format!("127.0.0.1:{port}")
    };
    let dialer = Kid::spawn(
        "tcp-dial",
        &[s(how), target, s(dial_side), s(total), s(chunk)],
    )?;
    let r = release_group(vec![listener, dialer])?;
    Ok(total as f64 / span_ns(&r)? as f64)
}

/// The two figures of a row's alternated runs: the kernel's, ipcfs's.
fn both(figures: Vec<V>) -> [V; 2] {
    let mut figures = figures.into_iter();
    [(); 2].map(|_| figures.next().unwrap_or(V::Na))
}

/// `total` bytes as a row names them.
fn volume(total: u64) -> String {
    if total >= 1 << 30 {
        format!("{} GiB", total >> 30)
    } else {
        format!("{} MiB", total >> 20)
    }
}

pub(crate) fn sockets(report: &mut Report, env: &Env, z: &Sizes) {
    let total = z.socket_bytes;
    let volume = volume(total);
    for (label, chunk, dial_side) in [
        ("1 MiB writes", 1usize << 20, "send"),
        ("64 KiB writes", 64 << 10, "send"),
        ("1 MiB reads", 1 << 20, "recv"),
    ] {
        let what = format!("tcp {volume} in {label} through a dial file");
        // The 1 MiB rows have a target (beside the plain socket): medians
        // of alternated rounds.
        let rounds = if chunk == 1 << 20 { z.target_rounds } else { 1 };
        let mut runs: Vec<Run<'_>> = vec![
            (
                format!("{what} / kernel socket"),
                Box::new(|| tcp(env, "socket", dial_side, total, chunk)),
            ),
            (
                format!("{what} / ipcfs"),
                Box::new(|| tcp(env, "file", dial_side, total, chunk)),
            ),
        ];
        let [k, i] = both(report.alternated(rounds, &mut runs));
        let note = if dial_side == "send" {
            "kernel: a std TcpStream writes to a plain listener's accepted socket, which \
             reads and counts; ipcfs: the writer opens sockets/tcp/127.0.0.1/PORT read-write \
             instead and writes to that descriptor; the same reader; no ceiling: a FUSE file \
             with no socket behind it measures nothing comparable"
        } else {
            "kernel: a plain listener's accepted socket writes 1 MiB at a time to a std \
             TcpStream, which reads and counts; ipcfs: the reader opens \
             sockets/tcp/127.0.0.1/PORT read-write instead and reads from that descriptor; \
             no ceiling: a FUSE file with no socket behind it measures nothing comparable"
        };
        let note = format!("{note}{}", rounds_note(rounds));
        report.row("socket throughput", what, "GB/s ↑", true, k, i, V::Na, note);
    }
}

/// The tools a shell uses for a transfer, beside a dial file: bash's
/// `/dev/tcp` (always there with bash), `socat` (when installed).
pub(crate) fn shell_sockets(report: &mut Report, env: &Env, z: &Sizes) {
    let total = z.socket_bytes;
    let chunk = 1usize << 20;
    let socat = std::process::Command::new("socat")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    for dial_side in ["send", "recv"] {
        let verb = if dial_side == "send" {
            "writes"
        } else {
            "reads"
        };
        for tool in ["devtcp", "socat"] {
            let (name, what) = match tool {
                "devtcp" => ("bash /dev/tcp", "dd through bash's /dev/tcp"),
                _ => ("socat", "socat"),
            };
            let row = format!(
                "tcp {}, 1 MiB {verb} by {what} vs a dial file",
                volume(total)
            );
            if tool == "socat" && !socat {
                println!("skipping the row {row:?}: socat is not installed");
                continue;
            }
            // Beside `/dev/tcp` there is a target: medians of alternated
            // rounds.
            let rounds = if tool == "devtcp" { z.target_rounds } else { 1 };
            let mut runs: Vec<Run<'_>> = vec![
                (
                    format!("{row} / {name}"),
                    Box::new(|| tcp_tool(env, tool, dial_side, total, chunk)),
                ),
                (
                    format!("{row} / ipcfs"),
                    Box::new(|| tcp_tool(env, "file", dial_side, total, chunk)),
                ),
            ];
            let [k, i] = both(report.alternated(rounds, &mut runs));
            let note = format!(
                "kernel column: {what} (a plain kernel socket); ipcfs: the same dd, its \
                 descriptor a dial file bash opens read-write (exec 3<>sockets/tcp/...); \
                 the other end a plain listener{}",
                rounds_note(rounds)
            );
            report.row("socket throughput", row, "GB/s ↑", true, k, i, V::Na, note);
        }
    }
}

/// GB/s of `total` bytes between a plain listener and a shell tool
/// (`tool`: `devtcp`, `socat`, or `file`: dd on a dial file).
fn tcp_tool(
    env: &Env,
    tool: &str,
    dial_side: &str,
    total: u64,
    chunk: usize,
) -> Result<f64, String> {
    let listen_side = if dial_side == "send" { "recv" } else { "send" };
    let go_first = s("go-first");
    let mut listener = Kid::spawn(
        "tcp-listen",
        &[s(listen_side), s(total), s(chunk), go_first],
    )?;
    let port = match listener.numbers()?[..] {
        [port] if port > 0 && port <= u64::from(u16::MAX) => port,
        ref other => return Err(format!("the tcp-listen process said {other:?}, not a port")),
    };
    let dd = format!("dd bs={chunk} status=none");
    let count = total / chunk as u64;
    let file = p(&env.ipcfs.join(format!("sockets/tcp/127.0.0.1/{port}")));
    let script = match (tool, dial_side) {
        ("socat", "send") => {
            format!(
                "{dd} if=/dev/zero count={count} | socat -u -b {chunk} STDIN TCP:127.0.0.1:{port}"
            )
        }
        ("socat", _) => {
            format!("socat -u -b {chunk} TCP:127.0.0.1:{port} STDOUT | {dd} of=/dev/null")
        }
        (_, side) => {
            let open = match tool {
                "devtcp" => format!("/dev/tcp/127.0.0.1/{port}"),
                _ => file,
            };
            let io = match side {
                "send" => format!("{dd} if=/dev/zero count={count} >&3"),
                _ => format!("{dd} iflag=fullblock of=/dev/null <&3"),
            };
            format!("exec 3<>{open} && {io}")
        }
    };
    let shell = Kid::spawn("shell", &[script])?;
    let r = release_group(vec![listener, shell])?;
    Ok(total as f64 / span_ns(&r)? as f64)
}

// ---------------------------------------------------------------------------
// Child side

/// `shell SCRIPT`: after "go", runs SCRIPT with bash; says when it started
/// and ended.
pub(crate) fn shell(script: &str) -> Result<(), String> {
    ready_go()?;
    let t0 = now_ns();
    let status = std::process::Command::new("bash")
        .args(["-c", script])
        .status()
        .map_err(|e| format!("bash: {e}"))?;
    if !status.success() {
        return Err(format!("{script:?} ended with {status}"));
    }
    say(&[t0, now_ns()]);
    Ok(())
}

/// `tcp-listen SIDE TOTAL CHUNK [go-first]`: binds a free port on
/// 127.0.0.1, says it, accepts one connection and then sends or receives
/// over it. With `go-first` it says it is ready, and waits for "go",
/// before it accepts: its peer is a shell tool that connects only after
/// "go".
pub(crate) fn tcp_listen(
    side: &str,
    total: u64,
    chunk: usize,
    go_first: bool,
) -> Result<(), String> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("bind: {e}"))?;
    let port = l
        .local_addr()
        .map_err(|e| format!("local_addr: {e}"))?
        .port();
    say(&[u64::from(port)]);
    let t0 = if go_first {
        ready_go()?;
        Some(now_ns())
    } else {
        None
    };
    let (conn, _) = l.accept().map_err(|e| format!("accept: {e}"))?;
    drop(l);
    conn.set_read_timeout(Some(STALL))
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    transfer(conn, side, total, chunk, t0)
}

/// `tcp-dial HOW TARGET SIDE TOTAL CHUNK`: connects to TARGET, an address
/// (`socket`) or a dial file opened read-write (`file`), and then sends or
/// receives over it.
pub(crate) fn tcp_dial(
    how: &str,
    target: &str,
    side: &str,
    total: u64,
    chunk: usize,
) -> Result<(), String> {
    if how == "file" {
        let f: File = OpenOptions::new()
            .read(true)
            .write(true)
            .open(target)
            .map_err(|e| format!("open {target}: {e}"))?;
        return transfer(f, side, total, chunk, None);
    }
    let conn = TcpStream::connect(target).map_err(|e| format!("connect {target}: {e}"))?;
    conn.set_read_timeout(Some(STALL))
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    transfer(conn, side, total, chunk, None)
}

/// After "go" (waited for here unless `started`, the instant it came):
/// sends `total` bytes in writes of `chunk` (`send`), or reads
/// with a `chunk`-byte buffer until `total` have come (`recv`); says when it
/// started and ended. The receiver then checks that the stream ends there
/// (the sender's close, once its process exits).
fn transfer(
    mut conn: impl Read + Write,
    side: &str,
    total: u64,
    chunk: usize,
    started: Option<u64>,
) -> Result<(), String> {
    let mut buf = vec![0x73u8; chunk];
    let t0 = match started {
        Some(t0) => t0,
        None => {
            ready_go()?;
            now_ns()
        }
    };
    let mut done = 0u64;
    while done < total {
        let want = (total - done).min(chunk as u64) as usize;
        if side == "send" {
            conn.write_all(&buf[..want])
                .map_err(|e| format!("write after {done} of {total} bytes: {e}"))?;
            done += want as u64;
            continue;
        }
        match conn.read(&mut buf[..want]) {
            Ok(0) => return Err(format!("end of stream after {done} of {total} bytes")),
            Ok(n) => done += n as u64,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read after {done} of {total} bytes: {e}")),
        }
    }
    say(&[t0, now_ns()]);
    if side == "recv" {
        loop {
            match conn.read(&mut buf[..1]) {
                Ok(0) => break,
                Ok(_) => return Err(format!("more than the {total} bytes sent arrived")),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("waiting for the end of stream: {e}")),
            }
        }
    }
    Ok(())
}
