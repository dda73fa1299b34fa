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
    for d in [&mut a, &mut b] {
        if let Err(e) = d.stop() {
            report.errors.push(e);
        }
    }
    drop(server);
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
    let mut con = connect(url)?;
    let _: () = redis::cmd("DEL")
        .arg(STREAM)
        .query(&mut con)
        .map_err(|e| e.to_string())?;
    let made: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg(&["CREATE", STREAM, "readers", "$", "MKSTREAM"][..])
        .query(&mut con);
    made.map_err(|e| e.to_string())?;
    let specs = [
        ("redis-send", vec![s(url), s(messages)]),
        ("redis-recv", vec![s(url), s(messages)]),
    ];
    let r = run_group(&specs)?;
    Ok(messages as f64 / span_ns(&r)? as f64 * 1e6)
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
        let _: String = redis::cmd("XADD")
            .arg(STREAM)
            .arg("*")
            .arg("m")
            .arg(&msg[..])
            .query(&mut con)
            .map_err(|e| e.to_string())?;
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
        let read: redis::Value = redis::cmd("XREADGROUP")
            .arg(
                &[
                    "GROUP", "readers", "bench", "COUNT", "1", "BLOCK", "0", "STREAMS", STREAM, ">",
                ][..],
            )
            .query(&mut con)
            .map_err(|e| e.to_string())?;
        let id = entry_id(&read).ok_or_else(|| format!("message {i}: {read:?}"))?;
        redis::pipe()
            .cmd("XACK")
            .arg(STREAM)
            .arg("readers")
            .arg(&id)
            .ignore()
            .cmd("XDEL")
            .arg(STREAM)
            .arg(&id)
            .ignore()
            .query::<()>(&mut con)
            .map_err(|e| e.to_string())?;
    }
    say(&[t0, now_ns()]);
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
