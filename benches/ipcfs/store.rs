//! Workload: queues across machines (`--queue-store`). Two ipcfs mounts
//! of one `redis-server` that the workload starts on a free loopback port
//! (two hosts, on one machine here): 64-byte messages from a writer on
//! the first mount to a reader on the second, one message per call and in
//! batch mode, beside a program that talks to the same server itself
//! (the `redis` crate) one message per call: XADD to send; XREADGROUP,
//! then XACK and XDEL, to receive, as ipcfs does. Without a redis-server
//! installed, one line says so and the rows are left out (under CI, which
//! installs it, that is a failure).

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{Daemon, Env, p, ready_go, registry, run_group, s, say, span_ns};
use crate::report::{Report, V};
use crate::sys::now_ns;
use crate::{BATCH, DAEMON, Sizes};

const MSG: usize = 64;
const STREAM: &str = "bench:{plain}:m";
const PING: &str = "bench:{ping}:m";
const PONG: &str = "bench:{pong}:m";

/// The workload's redis-server, killed on drop (and by the bench's
/// cleanup, as one of its children).
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        registry().kids_forget(pid);
    }
}

fn start_server() -> Result<Option<Server>, String> {
    let installed = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        if std::env::var_os("CI").is_some() {
            return Err("redis-server is not installed (.ci/run installs it)".into());
        }
        println!("skipping the queue store rows: redis-server is not installed");
        return Ok(None);
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server: {e}"))?;
    registry().kids_add(child.id());
    let server = Server { child, port };
    for _ in 0..500 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Some(server));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("redis-server did not listen on port {port}"))
}

pub(crate) fn store(report: &mut Report, env: &Env, z: &Sizes) {
    let server = match start_server() {
        Ok(Some(server)) => server,
        Ok(None) => return,
        Err(e) => {
            report.errors.push(format!("queue store: {e}"));
            return;
        }
    };
    let url = format!("redis://127.0.0.1:{}", server.port);
    let mounts = ["ipcfs-store-a", "ipcfs-store-b"].map(|name| {
        let dir = env.base.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(DAEMON);
        cmd.args(["--queue-store", &url]).arg(&dir);
        let log = env.base.join(format!("{name}.log"));
        Daemon::start(name, cmd, &dir, &log).map(|d| (d, dir))
    });
    let [Ok((mut a, dir_a)), Ok((mut b, dir_b))] = mounts else {
        report.errors.push("queue store: a mount failed".into());
        return;
    };
    let messages = if z.quick { 2_000 } else { 20_000 };
    let plain = report.measure("queue store 64 B / redis client", || {
        plain_rate(&url, messages)
    });
    for batch in [false, true] {
        let what = match batch {
            false => "queue store 64 B messages, one per call, mount A -> mount B",
            true => "queue store 64 B messages in batch mode, mount A -> mount B",
        };
        let kind = if batch { "batch" } else { "file" };
        let name = format!("queues/{kind}");
        let i = report.measure(&format!("{what} / ipcfs"), || {
            let (on_a, on_b) = (dir_a.join(&name), dir_b.join(&name));
            std::fs::write(&on_a, b"").map_err(|e| e.to_string())?;
            wait_for(&on_b)?;
            let specs = [
                ("msg-send", vec![s(kind), p(&on_a), s(messages), s("any")]),
                ("msg-recv", vec![s(kind), p(&on_b), s(messages), s("any")]),
            ];
            let r = run_group(&specs)?;
            let _ = std::fs::remove_file(&on_a);
            Ok(messages as f64 / span_ns(&r)? as f64 * 1e6)
        });
        let how = match batch {
            false => "each message one write(2) on A, one read(2) on B (packet mode, O_DIRECT)",
            true => "writes of BATCH records on A, reads of as many on B (O_DIRECT|O_DSYNC)",
        };
        let note = format!(
            "{messages} messages through a redis-server on loopback; ipcfs: {}; \
             \"kernel\" column: a program that talks to the same server itself, one \
             message per call (XADD; XREADGROUP, then XACK and XDEL), the goal being \
             ipcfs at least half of it one per call and equal in batch mode",
            how.replace("BATCH", &BATCH.to_string())
        );
        report.row(
            "queues across machines",
            what.to_string(),
            "k msg/s ↑",
            true,
            plain.clone(),
            i,
            V::Na,
            note,
        );
    }
    round_trips(report, &url, &dir_a, &dir_b, z);
    for d in [&mut a, &mut b] {
        if let Err(e) = d.stop() {
            report.errors.push(e);
        }
    }
    drop(server);
}

/// The round trip of one message each way between the two mounts (a
/// reader parked on each side, woken by the other's write), beside the
/// plain client's (XADD, then XREADGROUP BLOCK on the other stream).
fn round_trips(report: &mut Report, url: &str, dir_a: &Path, dir_b: &Path, z: &Sizes) {
    let rounds = if z.quick { 200 } else { 2_000 };
    let warmup = rounds / 10;
    let median_us = |r: Vec<Vec<u64>>| match r[0].as_slice() {
        [median, _, _] => Ok(*median as f64 / 1e3),
        other => Err(format!("ping said {other:?}")),
    };
    let plain = report.measure("queue store round trip / redis client", || {
        fresh_streams(url, &[PING, PONG])?;
        let r = run_group(&[
            ("redis-ping", vec![s(url), s(rounds), s(warmup)]),
            ("redis-pong", vec![s(url), s(rounds + warmup)]),
        ])?;
        median_us(r)
    });
    let i = report.measure("queue store round trip / ipcfs", || {
        for name in ["ping", "pong"] {
            std::fs::write(dir_a.join("queues").join(name), b"").map_err(|e| e.to_string())?;
            wait_for(&dir_b.join("queues").join(name))?;
        }
        let q = |dir: &Path, name: &str| p(&dir.join("queues").join(name));
        let r = run_group(&[
            (
                "ping",
                vec![
                    s("packet"),
                    q(dir_a, "ping"),
                    q(dir_a, "pong"),
                    s(rounds),
                    s(warmup),
                    s("any"),
                ],
            ),
            (
                "pong",
                vec![
                    s("packet"),
                    q(dir_b, "ping"),
                    q(dir_b, "pong"),
                    s(rounds + warmup),
                    s("any"),
                ],
            ),
        ])?;
        median_us(r)
    });
    let note = format!(
        "median of {rounds} round trips: a 1-byte message from mount A to a reader parked on \
         mount B, and one back (packet mode); \"kernel\" column: the same through the plain \
         client (XADD, then XREADGROUP BLOCK, XACK and XDEL on the other stream); half a round \
         trip is the time a write on one host takes to wake a reader on the other"
    );
    report.row(
        "queues across machines",
        "queue store round trip, mount A <-> mount B".to_string(),
        "µs ↓",
        false,
        plain,
        i,
        V::Na,
        note,
    );
}

/// Waits until the other mount shows the queue the first made.
fn wait_for(path: &Path) -> Result<(), String> {
    for _ in 0..250 {
        if path.exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "{} did not appear on the other mount",
        path.display()
    ))
}

/// Messages per second (in thousands) of the plain client: a sender and
/// a receiver process, each with its own connection.
fn plain_rate(url: &str, messages: u64) -> Result<f64, String> {
    fresh_streams(url, &[STREAM])?;
    let specs = [
        ("redis-send", vec![s(url), s(messages)]),
        ("redis-recv", vec![s(url), s(messages)]),
    ];
    let r = run_group(&specs)?;
    Ok(messages as f64 / span_ns(&r)? as f64 * 1e6)
}

/// Makes `streams` again, empty, each with its group of readers.
fn fresh_streams(url: &str, streams: &[&str]) -> Result<(), String> {
    let mut con = connect(url)?;
    for stream in streams {
        let fresh: redis::RedisResult<()> = redis::pipe()
            .cmd("DEL")
            .arg(stream)
            .ignore()
            .cmd("XGROUP")
            .arg(&["CREATE", stream, "readers", "$", "MKSTREAM"][..])
            .ignore()
            .query(&mut con);
        fresh.map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn connect(url: &str) -> Result<redis::Connection, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    client.get_connection().map_err(|e| e.to_string())
}

/// The plain client's sender: `count` XADDs, each waiting for its answer.
pub(crate) fn redis_send(url: &str, count: u64) -> Result<(), String> {
    let mut con = connect(url)?;
    let msg = [0x6du8; MSG];
    ready_go()?;
    let t0 = now_ns();
    for _ in 0..count {
        xadd(&mut con, STREAM, &msg)?;
    }
    say(&[t0, now_ns()]);
    Ok(())
}

/// The plain client's receiver: `count` messages, each taken with
/// XREADGROUP (blocking) and then acknowledged and deleted.
pub(crate) fn redis_recv(url: &str, count: u64) -> Result<(), String> {
    let mut con = connect(url)?;
    ready_go()?;
    let t0 = now_ns();
    for i in 0..count {
        xtake(&mut con, STREAM).map_err(|e| format!("message {i}: {e}"))?;
    }
    say(&[t0, now_ns()]);
    Ok(())
}

/// Sends one message to `stream`.
fn xadd(con: &mut redis::Connection, stream: &str, message: &[u8]) -> Result<(), String> {
    let _: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("m")
        .arg(message)
        .query(con)
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Takes one message of `stream` (waiting for it), then acknowledges and
/// deletes it.
fn xtake(con: &mut redis::Connection, stream: &str) -> Result<(), String> {
    let read: redis::Value = redis::cmd("XREADGROUP")
        .arg(
            &[
                "GROUP", "readers", "bench", "COUNT", "1", "BLOCK", "0", "STREAMS", stream, ">",
            ][..],
        )
        .query(con)
        .map_err(|e| e.to_string())?;
    let id = entry_id(&read).ok_or_else(|| format!("{read:?}"))?;
    redis::pipe()
        .cmd("XACK")
        .arg(stream)
        .arg("readers")
        .arg(&id)
        .ignore()
        .cmd("XDEL")
        .arg(stream)
        .arg(&id)
        .ignore()
        .query::<()>(con)
        .map_err(|e| e.to_string())
}

/// The plain client's ping: `warmup + rounds` round trips; says the
/// median, p99 and mean of the timed ones, in ns, as the bench's ping.
pub(crate) fn redis_ping(url: &str, rounds: u64, warmup: u64) -> Result<(), String> {
    let mut con = connect(url)?;
    let mut samples = Vec::with_capacity(rounds as usize);
    ready_go()?;
    for i in 0..warmup + rounds {
        let t = now_ns();
        xadd(&mut con, PING, b"p")?;
        xtake(&mut con, PONG)?;
        if i >= warmup {
            samples.push(now_ns() - t);
        }
    }
    samples.sort_unstable();
    let at = |q: usize| samples[(samples.len() * q).div_ceil(100).saturating_sub(1)];
    let mean = samples.iter().sum::<u64>() / samples.len().max(1) as u64;
    say(&[at(50), at(99), mean]);
    Ok(())
}

/// The plain client's pong: answers `total` pings.
pub(crate) fn redis_pong(url: &str, total: u64) -> Result<(), String> {
    let mut con = connect(url)?;
    ready_go()?;
    for _ in 0..total {
        xtake(&mut con, PING)?;
        xadd(&mut con, PONG, b"q")?;
    }
    say(&[0]);
    Ok(())
}

/// The id of the one entry an XREADGROUP answered.
fn entry_id(read: &redis::Value) -> Option<Vec<u8>> {
    use redis::Value::{Array, BulkString, Map};
    let streams = match read {
        Array(streams) => streams.first().cloned()?,
        Map(streams) => streams
            .first()
            .map(|(k, v)| Array(vec![k.clone(), v.clone()]))?,
        _ => return None,
    };
    let Array(stream) = streams else { return None };
    let Array(entries) = stream.get(1)? else {
        return None;
    };
    let Array(entry) = entries.first()? else {
        return None;
    };
    match entry.first()? {
        BulkString(id) => Some(id.clone()),
        _ => None,
    }
}
