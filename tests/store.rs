//! Queues across machines: two daemons given the same Redis server are
//! two hosts sharing `queues/`. Each test starts its own `redis-server`
//! on a free loopback port, without persistence, and stops it; without
//! one installed the tests skip, except under CI, where they fail.

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    Mount, as_user, assert_ok, eventually, nobody, py_cmd, stderr, stdout, test_user, wait_within,
    xattr,
};

/// A `redis-server` of this test's own, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

/// Whether `tool` is here to run (asked with `version_flag`); says why
/// not, a failure under CI, which installs it.
fn installed(tool: &str, version_flag: &str) -> bool {
    let here = Command::new(tool)
        .arg(version_flag)
        .output()
        .is_ok_and(|o| o.status.success());
    if !here {
        if std::env::var_os("CI").is_some() {
            panic!("{tool} is not installed: .ci/run installs it");
        }
        eprintln!("skipping queue store test: {tool} is not installed");
    }
    here
}

/// The server, and the client the tests look into it with.
fn redis_installed() -> bool {
    installed("redis-server", "--version") && installed("redis-cli", "--version")
}

/// Whether the server on `port` takes connections and is not loading
/// its data back: while it loads, it answers `-LOADING` to every command.
/// (A server that wants a password, or TLS, answers a plain PING
/// otherwise, or not at all: it is not loading.)
fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut answer = [0; 64];
    // One short reply comes in one piece.
    let got = match s.write_all(b"PING\r\n") {
        Ok(()) => s.read(&mut answer).unwrap_or(0),
        Err(_) => 0,
    };
    !answer[..got].starts_with(b"-LOADING")
}

impl Redis {
    /// Starts one; `None` (after saying why) where none is installed.
    fn start() -> Option<Redis> {
        Redis::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// Starts one with `settings` (redis-server's options), on a free port.
    fn start_with(settings: &[&str]) -> Option<Redis> {
        if !redis_installed() {
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Some(Redis::spawn(port, settings))
    }

    fn spawn(port: u16, settings: &[&str]) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(settings)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let redis = Redis { child, port };
        // Listening is not ready: a server loading its data answers
        // `-LOADING` to every command until it is done.
        let up = eventually(Duration::from_secs(10), || ready(port));
        assert!(
            up,
            "redis-server did not take connections on {port}, or kept loading"
        );
        redis
    }

    /// Shuts the server down (saving what it keeps) and waits for its end.
    fn shut_down(&mut self) {
        let _ = self.cli(&["shutdown"]);
        let _ = self.child.wait();
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap()
    }

    /// Stops the server (SIGSTOP): it takes connections and answers
    /// nothing, as a host cut off.
    fn freeze(&self, frozen: bool) {
        let signal = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill takes integers; the pid is this test's child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.freeze(false);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mount of `redis`'s queues; messages taken by a daemon that ended go
/// back after a second.
fn mount(redis: &Redis) -> Option<Mount> {
    let url = redis.url();
    Mount::start(&["--queue-store", &url, "--queue-store-reclaim-ms", "1000"])
}

/// The Redis server and one mount of it, made by `$mount` (`mount`
/// unless said; or whatever `$mount` makes of the server, such as two
/// mounts), or a return from the test.
macro_rules! one_host {
    () => {
        one_host!(mount)
    };
    ($mount:ident) => {{
        let Some(redis) = Redis::start() else {
            return;
        };
        let Some(a) = $mount(&redis) else {
            return;
        };
        (redis, a)
    }};
}

/// The Redis server and two mounts of it, made by `$mount` (`mount`
/// unless said), or a return from the test.
macro_rules! two_hosts {
    () => {
        two_hosts!(mount)
    };
    ($mount:ident) => {{
        let Some(redis) = Redis::start() else {
            return;
        };
        let (Some(a), Some(b)) = ($mount(&redis), $mount(&redis)) else {
            return;
        };
        (redis, a, b)
    }};
}

/// Waits until `mount` shows queue `name`.
fn shows(mount: &Mount, name: &str) -> bool {
    eventually(Duration::from_secs(5), || {
        mount.path("queues").join(name).exists()
    })
}

fn blocked(m: &Mount, name: &str) -> String {
    xattr(m, &format!("queues/{name}"), "blocked")
}

/// A program started with its stdout piped: what it prints, and its
/// first line (read before the test goes on: the program says it is
/// where the test needs it).
fn first_line(child: &mut Child) -> (std::io::BufReader<std::process::ChildStdout>, String) {
    use std::io::BufRead;
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    (out, line)
}

/// A `cat` of queue `name` on `m`, seen parked there (its `blocked`
/// counter 1) before it is returned.
fn parked_reader(m: &Mount, name: &str) -> Child {
    let cat = format!("cat queues/{name}");
    let reader = m.sh(&cat).stdout(Stdio::piped()).spawn().unwrap();
    assert!(eventually(Duration::from_secs(5), || blocked(m, name) == "1"));
    reader
}

#[test]
fn one_message_in_every_framing_and_mode_crosses_from_one_mount_to_the_other() {
    let (_redis, a, b) = two_hosts!();
    assert_ok(&a.run("touch queues/x"));
    assert!(shows(&b, "x"));
    let out = a
        .python_file(
            "store_across.py",
            &[a.dir.to_str().unwrap(), b.dir.to_str().unwrap()],
        )
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "b'first half, second half'\n\
         b'\\x00binary\\xffpacket' b'p2'\n\
         23\n\
         [b'one', b'two', b'three']\n\
         b'0123' b'456789' b''\n"
    );
}

/// `ls`, `rm`, the settings and `status` agree across mounts; counters
/// say whose they are (`messages` the queue's, `sent` this mount's).
#[test]
fn names_settings_and_removal_agree_across_mounts() {
    let (redis, a, b) = two_hosts!();
    assert_ok(&a.run("touch queues/jobs && chmod 600 queues/jobs"));
    assert!(shows(&b, "jobs"));
    assert_eq!(stdout(&b.run("ls queues")), "jobs\n");
    // Its mode is the queue's on every mount: a chmod on one reaches all.
    let mode = || stdout(&b.run("stat -c %a queues/jobs"));
    assert!(
        eventually(Duration::from_secs(5), || mode() == "600\n"),
        "{}",
        mode()
    );
    assert_ok(&b.run("chmod 640 queues/jobs"));
    let mode = || stdout(&a.run("stat -c %a queues/jobs"));
    assert!(
        eventually(Duration::from_secs(5), || mode() == "640\n"),
        "{}",
        mode()
    );
    assert_ok(&a.run("chmod 600 queues/jobs"));
    let set = "import os; os.setxattr('queues/jobs', 'user.ipcfs.max_messages', b'7')";
    assert_ok(&a.python(set, &[]).output().unwrap());
    assert!(eventually(Duration::from_secs(5), || xattr(
        &b,
        "queues/jobs",
        "max_messages"
    ) == "7"));
    assert_ok(&a.run("echo one > queues/jobs && echo two > queues/jobs"));
    assert!(eventually(Duration::from_secs(5), || xattr(
        &b,
        "queues/jobs",
        "messages"
    ) == "2"));
    assert_eq!(xattr(&a, "queues/jobs", "sent"), "2");
    assert_eq!(xattr(&b, "queues/jobs", "sent"), "0");
    let row = stdout(&b.run("grep jobs status"));
    assert!(
        row.starts_with("queue queues/jobs 0   0   0600 0     2 "),
        "{row:?}"
    );
    // Write framing is the queue's too: each write one message.
    let set = "import os; os.setxattr('queues/jobs', 'user.ipcfs.framing', b'write')";
    assert_ok(&a.python(set, &[]).output().unwrap());
    assert!(eventually(Duration::from_secs(5), || xattr(
        &b,
        "queues/jobs",
        "framing"
    ) == "write"));
    assert_ok(&b.run("cat queues/jobs queues/jobs >/dev/null"));
    let two = "import os; fd = os.open('queues/jobs', os.O_WRONLY); os.write(fd, b'w1\\n'); os.write(fd, b'w2\\n')";
    assert_ok(&b.python(two, &[]).output().unwrap());
    assert_eq!(
        stdout(&a.run("cat queues/jobs; echo; cat queues/jobs")),
        "w1\n\nw2\n"
    );
    // A rename would part the name from the store's: refused.
    assert!(!a.run("mv queues/jobs queues/other").status.success());
    assert_ok(&b.run("rm queues/jobs"));
    assert!(eventually(Duration::from_secs(5), || !a
        .path("queues/jobs")
        .exists()));
    assert_eq!(stdout(&redis.cli(&["--raw", "keys", "*"])).trim(), "");
}

#[test]
fn a_batch_longer_than_one_step_crosses_whole_and_in_order() {
    let (_redis, a, b) = two_hosts!();
    assert_ok(&a.run("touch queues/big"));
    assert!(shows(&b, "big"));
    // More messages than one step of the store carries (1024): the batch
    // goes in as several steps, and the write counts them all.
    let n = "5000";
    let wrote = a
        .python_file("store_big_batch.py", &["write", "queues/big", n])
        .output()
        .unwrap();
    assert_eq!(stdout(&wrote), "True\n");
    let read = b
        .python_file("store_big_batch.py", &["read", "queues/big", n])
        .output()
        .unwrap();
    assert_eq!(stdout(&read), "5000 in order\n");
}

#[test]
fn a_server_past_its_maxmemory_refuses_a_message_with_enospc_and_still_serves_readers() {
    let settings = ["--save", "", "--appendonly", "no", "--maxmemory", "4mb"];
    let Some(redis) = Redis::start_with(&settings) else {
        return;
    };
    let (Some(a), Some(b)) = (mount(&redis), mount(&redis)) else {
        return;
    };
    assert_ok(&a.run("touch queues/full"));
    assert!(shows(&b, "full"));
    let filled = a
        .python_file("store_fill.py", &["queues/full"])
        .output()
        .unwrap();
    assert_eq!(stdout(&filled), "True ENOSPC\n");
    assert!(
        a.log()
            .contains("queue store full (the server's maxmemory)"),
        "{}",
        a.log()
    );
    // A reader still takes what is there: taking is what frees memory.
    let read = b
        .python_file("store_read.py", &["queues/full"])
        .output()
        .unwrap();
    assert!(stdout(&read).starts_with("b'0000xxxx"), "{}", stdout(&read));
}

/// Sets fault `field` of queue `name` to `value` through mount `m`.
fn set_fault(m: &Mount, name: &str, field: &str, value: &str) {
    let set = format!("import os; os.setxattr('queues/{name}', 'user.ipcfs.{field}', b'{value}')");
    assert_ok(&m.python(&set, &[]).output().unwrap());
}

#[test]
fn channel_faults_set_on_one_mount_act_where_messages_are_taken() {
    let (_redis, a, b) = two_hosts!();
    assert_ok(&a.run("touch queues/lab"));
    assert!(shows(&b, "lab"));
    set_fault(&a, "lab", "duplicate", "1");
    assert!(eventually(Duration::from_secs(5), || {
        xattr(&b, "queues/lab", "duplicate") == "1"
    }));
    let mut sent = a.python_file("store_write.py", &["queues/lab", "x"]);
    assert_eq!(stdout(&sent.output().unwrap()), "1\n");
    // B's channel copies the message it takes: two reads receive it.
    let twice = "import os; fd = os.open('queues/lab', os.O_RDONLY | os.O_DIRECT); print(os.read(fd, 9), os.read(fd, 9))";
    assert_eq!(
        stdout(&b.python(twice, &[]).output().unwrap()),
        "b'x' b'x'\n"
    );
    assert_eq!(xattr(&b, "queues/lab", "duplicated"), "1");
    assert_eq!(xattr(&a, "queues/lab", "duplicated"), "0");
    assert!(stdout(&b.run("grep lab status")).contains("duplicated=1"));
    // A lost message is gone from the store too: no host receives it.
    set_fault(&b, "lab", "duplicate", "0");
    set_fault(&b, "lab", "loss", "1");
    assert!(eventually(Duration::from_secs(5), || {
        xattr(&a, "queues/lab", "loss") == "1"
    }));
    let mut sent = a.python_file("store_write.py", &["queues/lab", "gone"]);
    assert_eq!(stdout(&sent.output().unwrap()), "4\n");
    assert_eq!(stdout(&b.run("timeout 2 cat queues/lab; echo $?")), "124\n");
    assert_eq!(xattr(&b, "queues/lab", "lost"), "1");
    assert!(eventually(Duration::from_secs(5), || {
        xattr(&a, "queues/lab", "messages") == "0"
    }));
}

/// A reader parked on B is woken by A's write (the store's change,
/// published to every mount).
#[test]
fn a_reader_parked_on_one_mount_is_woken_by_a_write_on_the_other() {
    let (_redis, a, b) = two_hosts!();
    assert_ok(&a.run("touch queues/x"));
    assert!(shows(&b, "x"));
    let reader = parked_reader(&b, "x");
    assert_ok(&a.run("echo woken > queues/x"));
    let out = reader.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "woken\n");
    assert_eq!(blocked(&b, "x"), "0");
}

/// `max_messages` is the whole queue's: a writer on A waits (in its
/// open, holding no lock) until a reader on B takes a message; one that
/// may not wait gets `EAGAIN` on either mount.
#[test]
fn a_full_shared_queue_holds_a_writer_until_another_mount_takes_one() {
    let (_redis, a, b) = two_hosts!();
    assert_ok(&a.run("touch queues/x && echo first > queues/x"));
    assert!(shows(&b, "x"));
    let set = "import os; os.setxattr('queues/x', 'user.ipcfs.max_messages', b'1')";
    assert_ok(&a.python(set, &[]).output().unwrap());
    assert!(eventually(Duration::from_secs(5), || xattr(
        &b,
        "queues/x",
        "max_messages"
    ) == "1"));
    let out = b
        .python_file("store_write.py", &["queues/x", "nope", "nonblock"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "EAGAIN\n");
    let writer = a.sh("echo second > queues/x").spawn().unwrap();
    assert!(eventually(Duration::from_secs(5), || blocked(&a, "x") == "1"));
    assert_eq!(stdout(&b.run("cat queues/x")), "first\n");
    let mut writer = writer;
    assert!(writer.wait().unwrap().success());
    assert_eq!(stdout(&b.run("cat queues/x")), "second\n");
}

/// 4 writers on A and 4 readers on B, 20,000 numbered messages: none
/// lost, duplicated or torn, each writer's order kept.
#[test]
fn numbered_messages_between_four_writers_and_four_readers_are_neither_lost_nor_duplicated() {
    let (_redis, a, b) = two_hosts!();
    assert_ok(&a.run("touch queues/traffic"));
    assert!(shows(&b, "traffic"));
    let b_dir = b.dir.to_str().unwrap().to_string();
    let readers = b
        .python_file("store_traffic.py", &["read", &b_dir, "4", "20000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let a_dir = a.dir.to_str().unwrap().to_string();
    let sent = a
        .python_file("store_traffic.py", &["write", &a_dir, "4", "5000"])
        .output()
        .unwrap();
    assert_eq!(stdout(&sent), "sent 20000\n", "{sent:?}");
    for _ in 0..4 {
        let out = a
            .python_file("store_write.py", &["queues/traffic", "END"])
            .output()
            .unwrap();
        assert_eq!(stdout(&out), "3\n");
    }
    let out = readers.wait_with_output().unwrap();
    assert_eq!(
        stdout(&out),
        "received 20000 lost 0 duplicated 0 torn 0 out-of-order 0\n"
    );
}

/// A store out of reach: a write fails with `ECOMM` and leaves nothing
/// behind; a reader parked across the outage is served once the store
/// answers again.
#[test]
fn a_store_out_of_reach_fails_a_write_with_ecomm_and_keeps_parked_readers() {
    let (redis, a, b) = two_hosts!();
    assert_ok(&a.run("touch queues/x"));
    assert!(shows(&b, "x"));
    let reader = parked_reader(&b, "x");
    redis.freeze(true);
    let started = Instant::now();
    let out = a
        .python_file("store_write.py", &["queues/x", "lost"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "ECOMM\n");
    assert!(a.log().contains("queue store:"), "{}", a.log());
    // Past the step's deadline, the append the server finds when it wakes
    // does nothing.
    while started.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
    }
    redis.freeze(false);
    assert_eq!(blocked(&b, "x"), "1");
    assert_ok(&a.run("echo after > queues/x"));
    let out = reader.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "after\n");
    let out = b
        .python_file("store_read.py", &["queues/x"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "EAGAIN\n");
}

/// A message taken by a daemon that ended before its reader received it
/// (left pending under that daemon's name, as `redis-cli` leaves it
/// here) goes to a reader of another mount once `--queue-store-reclaim-ms`
/// has passed.
#[test]
fn a_message_taken_by_a_mount_that_ended_is_received_on_another() {
    let (redis, a, b) = two_hosts!();
    assert_ok(&a.run("touch queues/x && echo orphan > queues/x && echo next > queues/x"));
    let taken = redis.cli(&[
        "XREADGROUP",
        "GROUP",
        "readers",
        "gone-host",
        "COUNT",
        "1",
        "STREAMS",
        "ipcfs:{x}:m",
        ">",
    ]);
    assert!(stdout(&taken).contains("orphan"), "{taken:?}");
    assert!(shows(&b, "x"));
    // Until it has waited a second, the message taken is that daemon's.
    assert_eq!(stdout(&b.run("cat queues/x")), "next\n");
    assert_eq!(stdout(&b.run("cat queues/x")), "orphan\n");
}

/// Restarting a daemon loses nothing: the queues and their messages are
/// in the store.
#[test]
fn a_new_daemon_finds_the_queues_and_their_messages() {
    let Some(redis) = Redis::start() else {
        return;
    };
    {
        let Some(a) = mount(&redis) else {
            return;
        };
        assert_ok(&a.run("touch queues/kept && echo one > queues/kept && echo two > queues/kept"));
    }
    let Some(again) = mount(&redis) else {
        return;
    };
    assert_eq!(stdout(&again.run("ls queues")), "kept\n");
    assert_eq!(xattr(&again, "queues/kept", "messages"), "2");
    assert_eq!(
        stdout(&again.run("cat queues/kept; cat queues/kept")),
        "one\ntwo\n"
    );
}

/// The README's example of a work queue shared by two mounts.
#[test]
fn the_shared_work_queue_example_does_every_job_once() {
    let (_redis, a, b) = two_hosts!();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/store/work-queue.sh");
    let out = Command::new("timeout")
        .args(["-s", "KILL", common::LIMIT, "sh", script])
        .args([&a.dir, &b.dir])
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(
        stdout(&out).ends_with("all 20 jobs done exactly once, on two mounts\nwork-queue.sh: ok\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stdout(&b.run("ls queues")), "");
}

/// Three network namespaces, the server's and two hosts', each host
/// joined to the server's by a veth link with loopback-range addresses
/// (127.0.10.0/24 for the first host, 127.0.11.0/24 for the second),
/// removed on drop.
struct Network {
    names: [String; 3],
}

impl Network {
    fn make() -> Option<Network> {
        if !installed("ip", "-V") {
            return None;
        }
        // Short: interface names hold 15 bytes.
        let tag = format!("iq{}", std::process::id() % 100_000);
        let names = ["r", "a", "b"].map(|n| format!("{tag}{n}"));
        let net = Network { names };
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().unwrap();
            assert_ok(&out);
        };
        for name in &net.names {
            ip(&["netns", "add", name]);
            ip(&["-n", name, "link", "set", "lo", "up"]);
            net.sysctl(name, "net.ipv4.conf.all.route_localnet=1");
        }
        let server = &net.names[0];
        for (host, subnet) in [(&net.names[1], 10), (&net.names[2], 11)] {
            let (near, far) = (format!("{host}s"), format!("{host}h"));
            ip(&["link", "add", &near, "type", "veth", "peer", "name", &far]);
            ip(&["link", "set", &near, "netns", server]);
            ip(&["link", "set", &far, "netns", host]);
            ip(&[
                "-n",
                server,
                "addr",
                "add",
                &format!("127.0.{subnet}.1/24"),
                "dev",
                &near,
            ]);
            ip(&[
                "-n",
                host,
                "addr",
                "add",
                &format!("127.0.{subnet}.2/24"),
                "dev",
                &far,
            ]);
            ip(&["-n", server, "link", "set", &near, "up"]);
            ip(&["-n", host, "link", "set", &far, "up"]);
            net.sysctl(server, &format!("net.ipv4.conf.{near}.route_localnet=1"));
            net.sysctl(host, &format!("net.ipv4.conf.{far}.route_localnet=1"));
        }
        Some(net)
    }

    fn sysctl(&self, netns: &str, setting: &str) {
        let out = Command::new("ip")
            .args(["netns", "exec", netns, "sysctl", "-qw", setting])
            .output()
            .unwrap();
        assert_ok(&out);
    }

    fn path(&self, i: usize) -> String {
        format!("/run/netns/{}", self.names[i])
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// The server and the two daemons in three network namespaces, joined by
/// veth links: the traffic really goes from one host to another, and a
/// message sent on A is received on B, a reader parked on B woken by A.
#[test]
fn two_hosts_in_their_own_network_namespaces_share_a_queue() {
    if !redis_installed() || common::mount_unavailable().is_some() {
        return;
    }
    let Some(net) = Network::make() else {
        return;
    };
    let port = "6390";
    // Its clients come from other hosts' addresses: out of protected mode.
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.names[0],
            "redis-server",
            "--port",
            port,
        ])
        .args(["--bind", "127.0.10.1 127.0.11.1", "--protected-mode", "no"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Redis { child, port: 6390 };
    let cli = |host: usize, subnet: u8, args: &[&str]| {
        let server = format!("127.0.{subnet}.1");
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &net.names[host],
                "redis-cli",
                "-h",
                &server,
                "-p",
                port,
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let up = eventually(Duration::from_secs(10), || {
        stdout(&cli(1, 10, &["ping"])) == "PONG\n"
    });
    assert!(up, "the server is not reached from the first host");
    let url_a = format!("redis://127.0.10.1:{port}");
    let url_b = format!("redis://127.0.11.1:{port}");
    let a = Mount::start_in(Some(&net.path(1)), &["--queue-store", &url_a]).unwrap();
    let b = Mount::start_in(Some(&net.path(2)), &["--queue-store", &url_b]).unwrap();
    assert_ok(&a.run("touch queues/x && echo across > queues/x"));
    assert!(shows(&b, "x"));
    assert_eq!(stdout(&b.run("cat queues/x")), "across\n");
    let reader = parked_reader(&b, "x");
    assert_ok(&a.run("echo woken > queues/x"));
    assert_eq!(stdout(&reader.wait_with_output().unwrap()), "woken\n");
    // Each host reached the server from its own link.
    let clients = stdout(&cli(2, 11, &["client", "list"]));
    assert!(clients.contains("addr=127.0.10.2:"), "{clients}");
    assert!(clients.contains("addr=127.0.11.2:"), "{clients}");
}

/// The server's password comes from a file (never the command line); a
/// mount without it cannot use the queues, and says so.
#[test]
fn a_password_from_a_file_reaches_a_server_that_asks_for_one() {
    let Some(redis) = Redis::start_with(&["--save", "", "--requirepass", "s3cret"]) else {
        return;
    };
    let dir = common::TempDir::new("password");
    let file = dir.0.join("password");
    std::fs::write(&file, "s3cret\n").unwrap();
    let file = file.to_str().unwrap();
    let url = redis.url();
    let with = ["--queue-store", &url, "--queue-store-password-file", file];
    let Some(a) = Mount::start(&with) else {
        return;
    };
    let b = Mount::start(&with).unwrap();
    assert_ok(&a.run("touch queues/x && echo secret > queues/x"));
    assert!(shows(&b, "x"));
    assert_eq!(stdout(&b.run("cat queues/x")), "secret\n");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", a.pid())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("s3cret"));
    let without = Mount::start(&["--queue-store", &url]).unwrap();
    assert_ok(&without.run("touch queues/y"));
    let out = without
        .python_file("store_write.py", &["queues/y", "no"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "ECOMM\n");
    assert!(without.log().contains("queue store:"), "{}", without.log());
}

/// Two prefixes on one server are two sets of queues.
#[test]
fn two_prefixes_on_one_server_are_two_sets_of_queues() {
    let Some(redis) = Redis::start() else {
        return;
    };
    let url = redis.url();
    let set = |prefix| Mount::start(&["--queue-store", &url, "--queue-store-prefix", prefix]);
    let Some(lab1) = set("lab1") else {
        return;
    };
    let (also_lab1, lab2) = (set("lab1").unwrap(), set("lab2").unwrap());
    assert_ok(&lab1.run("touch queues/mine && echo one > queues/mine"));
    assert!(shows(&also_lab1, "mine"), "the same prefix shares it");
    assert_eq!(stdout(&lab2.run("ls queues")), "");
    assert_ok(&lab2.run("touch queues/mine && echo two > queues/mine"));
    assert_eq!(stdout(&also_lab1.run("cat queues/mine")), "one\n");
    assert_eq!(stdout(&lab2.run("cat queues/mine")), "two\n");
}

/// poll(2) on one mount sees a message sent on the other.
#[test]
fn poll_on_one_mount_sees_a_message_sent_on_the_other() {
    use std::io::Read;
    let (_redis, a, b) = two_hosts!();
    assert_ok(&a.run("touch queues/x"));
    assert!(shows(&b, "x"));
    let mut poller = b
        .python_file("store_poll.py", &["queues/x"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, first) = first_line(&mut poller);
    assert_eq!(first, "not yet\n", "empty, it is not readable");
    assert_ok(&a.run("echo ready > queues/x"));
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "readable\nb'ready\\n'\n");
    assert!(poller.wait().unwrap().success());
}

/// A server restarted (keeping its data) while a reader waits: a write
/// while it is down fails with `ECOMM`; once it is back, the daemons
/// reconnect by themselves and the parked reader is served.
#[test]
fn a_restarted_server_serves_the_callers_parked_across_it() {
    let data = common::TempDir::new("redis-data");
    let keep = [
        "--appendonly",
        "yes",
        "--save",
        "",
        "--dir",
        data.0.to_str().unwrap(),
    ];
    let Some(mut redis) = Redis::start_with(&keep) else {
        return;
    };
    let Some(a) = mount(&redis) else {
        return;
    };
    let b = mount(&redis).unwrap();
    assert_ok(&a.run("touch queues/x"));
    assert!(shows(&b, "x"));
    let reader = parked_reader(&b, "x");
    redis.shut_down();
    let out = a
        .python_file("store_write.py", &["queues/x", "lost"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "ECOMM\n");
    let port = redis.port;
    // Ended already: its drop would signal a pid that may be another's.
    std::mem::forget(redis);
    let _back = Redis::spawn(port, &keep);
    assert_ok(&a.run("echo after > queues/x"));
    assert_eq!(stdout(&reader.wait_with_output().unwrap()), "after\n");
    assert_eq!(stdout(&b.run("ls queues")), "x\n");
}

/// Under `line` framing each line a writer on A ends is a message on B,
/// a line written in several pieces one message, and an unfinished last
/// line a message at the close.
#[test]
fn lines_written_on_one_mount_are_messages_on_the_other() {
    let (_redis, a, b) = two_hosts!();
    let made = "touch queues/lines && python3 -c \"import os; os.setxattr('queues/lines', 'user.ipcfs.framing', b'line')\"";
    assert_ok(&a.run(made));
    assert!(shows(&b, "lines"));
    assert!(eventually(Duration::from_secs(5), || xattr(
        &b,
        "queues/lines",
        "framing"
    ) == "line"));
    let out = a
        .python_file("store_lines.py", &["queues/lines"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "7 3 8 11\n", "each write's count");
    let read = "for i in 1 2 3 4 5; do cat queues/lines; echo '|'; done";
    assert_eq!(
        stdout(&b.run(read)),
        "1\n|\n2\n|\nthree\n|\nbegun and done\n|\ntail|\n"
    );
    assert_eq!(xattr(&a, "queues/lines", "sent"), "5");
}

/// Certificates for a TLS test, made with openssl in `dir`: a CA, and a
/// server certificate for 127.0.0.1 it signed. `None` where openssl is
/// not installed (a failure under CI, which installs it).
fn certificates(dir: &std::path::Path) -> Option<()> {
    if !installed("openssl", "version") {
        return None;
    }
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    let steps: [&[&str]; 4] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=ipcfs test CA",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
            "-days",
            "1",
            "-subj",
            "/CN=another CA",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert_ok(&out);
    }
    Some(())
}

/// A rediss:// URL: the mounts reach the server over TLS, trusting the
/// CA of `--queue-store-ca-file`; a mount that trusts another CA does not
/// reach it, and says so.
#[test]
fn two_mounts_share_a_queue_over_tls() {
    let dir = common::TempDir::new("tls");
    if !redis_installed() || certificates(&dir.0).is_none() {
        return;
    }
    let file = |name: &str| dir.0.join(name).to_str().unwrap().to_string();
    let (cert, key, ca, other) = (
        file("server.pem"),
        file("server.key"),
        file("ca.pem"),
        file("other.pem"),
    );
    let tls = [
        "--port",
        "0",
        "--tls-port",
        "",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut settings = tls.to_vec();
    settings[3] = &port;
    let redis = Redis::spawn(port.parse().unwrap(), &settings);
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let trusting = |ca: &str| Mount::start(&["--queue-store", &url, "--queue-store-ca-file", ca]);
    let Some(a) = trusting(&ca) else {
        return;
    };
    let b = trusting(&ca).unwrap();
    assert_ok(&a.run("touch queues/x && echo sealed > queues/x"));
    assert!(shows(&b, "x"));
    assert_eq!(stdout(&b.run("cat queues/x")), "sealed\n");
    let stranger = trusting(&other).unwrap();
    assert_ok(&stranger.run("touch queues/y"));
    let out = stranger
        .python_file("store_write.py", &["queues/y", "no"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "ECOMM\n");
    assert!(
        stranger.log().contains("queue store:"),
        "{}",
        stranger.log()
    );
}

/// Calls of one Redis command the server has served so far.
fn served(redis: &Redis, command: &str) -> u64 {
    let stats = stdout(&redis.cli(&["info", "commandstats"]));
    let line = format!("cmdstat_{command}:calls=");
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A queue made among many: the other mount reads that one queue from
/// the store, not all of them (before, each one made had every mount read
/// every queue, and a user making queues in a loop kept every daemon's
/// listener busy).
#[test]
fn a_queue_made_among_hundreds_is_read_alone() {
    let (redis, a, b) = two_hosts!();
    assert_ok(&a.run("for i in $(seq 300); do touch queues/q$i; done"));
    assert!(shows(&b, "q300"));
    let before = served(&redis, "hgetall");
    assert_ok(&a.run("touch queues/one-more"));
    assert!(shows(&b, "one-more"));
    let reads = served(&redis, "hgetall") - before;
    assert!(reads <= 2, "{reads} queues read for one made");
}

/// A name another mount made a moment ago, not yet known here: made here
/// too, it takes the queue's owner and mode from the store, not its own
/// maker's (before, this mount kept its maker as the owner: a user could
/// take another's queue by making its name first on a host that had not
/// heard of it).
/// Makes queue `name` in the store as another mount leaves it (as
/// incarnation `made`, owned by uid 4242 and gid 4243, mode 600, holding
/// `messages`), its change not published: as if that mount's event had
/// not reached the mounts of the test yet.
fn made_elsewhere(redis: &Redis, name: &str, made: &str, messages: &[&str]) {
    let (settings, stream) = (format!("ipcfs:{{{name}}}:s"), format!("ipcfs:{{{name}}}:m"));
    let fields = [
        ("made", made),
        ("max_messages", "8"),
        ("max_message_size", "8192"),
        ("framing", "message"),
        ("uid", "4242"),
        ("gid", "4243"),
        ("mode", "384"),
    ];
    let mut hset = vec!["HSET", settings.as_str()];
    hset.extend(fields.iter().flat_map(|(f, v)| [*f, *v]));
    assert_ok(&redis.cli(&hset));
    assert_ok(&redis.cli(&["XGROUP", "CREATE", &stream, "readers", "0", "MKSTREAM"]));
    for m in messages {
        assert_ok(&redis.cli(&["XADD", &stream, "*", "m", m]));
    }
    assert_ok(&redis.cli(&["SADD", "ipcfs:names", name]));
}

#[test]
fn a_name_made_twice_takes_the_owner_the_store_has() {
    let (redis, a) = one_host!();
    made_elsewhere(&redis, "sq", "elsewhere/1", &["theirs\n"]);
    // The create is sent back to the kernel (ESTALE), which looks the
    // name up again and opens the other mount's queue as any open: by
    // then the name has that queue's owner and mode, which the kernel's
    // access check reads.
    assert_eq!(
        stdout(&a.run("echo mine >> queues/sq && stat -c '%u %g %a' queues/sq")),
        "4242 4243 600\n"
    );
    assert_eq!(
        stdout(&a.run("cat queues/sq; cat queues/sq")),
        "theirs\nmine\n"
    );
    assert!(a.log().contains("the kernel opens it"), "{}", a.log());
}

#[test]
fn an_exclusive_create_of_a_name_another_mount_made_first_is_eexist() {
    let (redis, a) = one_host!();
    made_elsewhere(&redis, "sq", "elsewhere/1", &["theirs\n"]);
    // On one host the kernel answers EEXIST from the name it knows; here
    // the store answers it, for a name this mount had not heard of.
    let made = a
        .python_file("exclusive_create.py", &["queues/sq"])
        .output()
        .unwrap();
    assert_eq!(stdout(&made), "EEXIST\n");
    // The name is the other mount's queue: its message is there, and
    // nothing of the refused create went in.
    assert_eq!(stdout(&a.run("cat queues/sq")), "theirs\n");
    assert_eq!(stdout(&a.run("timeout 1 cat queues/sq; echo $?")), "124\n");
    // A name no mount made: the exclusive create makes it.
    let made = a
        .python_file("exclusive_create.py", &["queues/new"])
        .output()
        .unwrap();
    assert_eq!(stdout(&made), "made\n");
    assert_eq!(stdout(&a.run("cat queues/new")), "mine\n");
}

#[test]
fn a_removed_queues_descriptors_fail_eidrm_and_never_reach_the_queue_made_next() {
    let (_redis, a, b) = two_hosts!();
    assert_ok(&a.run("touch queues/q"));
    assert!(shows(&b, "q"));
    let mut held = a
        .python_file("store_removed_descriptors.py", &["q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut line) = first_line(&mut held);
    assert_eq!(line, "open\n");
    // Removed and made again on the other mount, with a message.
    assert_ok(&b.run("rm queues/q && touch queues/q && echo new > queues/q"));
    std::io::Write::write_all(held.stdin.as_mut().unwrap(), b"go\n").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "EIDRM EIDRM\n");
    assert!(held.wait().unwrap().success());
    // The new queue kept its message, and got nothing from the old
    // descriptors; this mount shows it.
    assert!(eventually(Duration::from_secs(5), || {
        xattr(&a, "queues/q", "messages") == "1"
    }));
    assert_eq!(stdout(&a.run("cat queues/q")), "new\n");
    assert_eq!(xattr(&b, "queues/q", "messages"), "0");
}

#[test]
fn a_user_other_than_the_owner_holds_at_most_half_the_places_as_the_store_counts() {
    let (redis, a) = one_host!();
    // Owned by uid 4242, 8 places: root, on this mount, is another user,
    // whose messages in progress may hold 4 of them. (The waiting open's
    // shell lets go of descriptor 3 first, so that the main shell's close
    // ends its description.)
    made_elsewhere(&redis, "sq", "elsewhere/1", &[]);
    assert_ok(&a.run("touch queues/sq"));
    let script = [
        "exec 3>queues/sq 4>queues/sq 5>queues/sq 6>queues/sq",
        "timeout 1 sh -c 'exec 7>queues/sq'; echo \"fifth open: $?\"",
        "python3 -c \"import os; fd = os.open('queues/sq', os.O_WRONLY | os.O_NONBLOCK)",
        "try: os.write(fd, b'x')",
        "except OSError as e: print('write without a place:', e.strerror)\"",
        "(exec 3>&-; timeout 5 sh -c 'exec 7>queues/sq' && echo 'woken by the close') &",
        "sleep 0.5; exec 3>&-; wait",
    ]
    .join("\n");
    assert_eq!(
        stdout(&a.run(&script)),
        "fifth open: 124\n\
         write without a place: Resource temporarily unavailable\n\
         woken by the close\n"
    );
    // The queue was never full: 4 places of 8 were held.
    assert!(
        a.log().contains("holds half the queue's places"),
        "{}",
        a.log()
    );
}

#[test]
fn a_users_queues_hold_at_most_its_share_of_the_server_counted_on_every_mount() {
    let (redis, a, b) = two_hosts!(small_share_mount);
    // uid 4242's queue, where root writes: its messages are 4242's to pay
    // for, 16 KiB in all, whichever mount they go in by.
    made_elsewhere(&redis, "sq", "elsewhere/1", &[]);
    for m in [&a, &b] {
        assert_ok(&m.run("touch queues/sq"));
    }
    let write = "head -c 6000 /dev/zero > queues/sq && echo in";
    assert_eq!(stdout(&a.run(&format!("{write}; {write}"))), "in\nin\n");
    let refused = |m: &Mount| {
        let out = m.run(write);
        (
            stdout(&out),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for m in [&a, &b] {
        let (out, err) = refused(m);
        assert_eq!(out, "", "{err}");
        assert!(err.contains("No space left on device"), "{err}");
    }
    assert_eq!(
        redis.cli(&["HGET", "ipcfs:{sq}:s", "bytes"]).stdout,
        b"12000\n"
    );
    // A reader on B takes one: the share has room again on both mounts.
    assert_eq!(stdout(&b.run("cat queues/sq | wc -c")), "6000\n");
    assert!(eventually(Duration::from_secs(5), || refused(&a).0 == "in\n"));
    assert_eq!(
        redis.cli(&["HGET", "ipcfs:{sq}:s", "bytes"]).stdout,
        b"12000\n"
    );
    // The queue's record (2048 bytes and its name), each message's slot
    // (64 bytes) and the refused writer's place (160) count, beside the
    // messages' bytes.
    let said = "uid 4242's queues in the store hold 14338 bytes of its 16384 \
                (--max-memory-per-user)";
    assert!(a.log().contains(said), "{}", a.log());
}

/// A shared mount of `redis` where one user's queues may hold 16 KiB of
/// the server.
fn small_share_mount(redis: &Redis) -> Option<Mount> {
    let url = redis.url();
    let args = ["--queue-store", &url, "--allow-other"];
    Mount::start(&[&args[..], &["--max-memory-per-user", "16K"]].concat())
}

/// Makes queues q1 … q8 (the test user's, in the mountpoint), saying
/// which were refused.
const MAKE_EIGHT: &str =
    "for q in q1 q2 q3 q4 q5 q6 q7 q8; do touch queues/$q 2>/dev/null || echo \"$q refused\"; done";

/// Two mounts of small shares where the test user made queues q1 … q7 on
/// the first, its whole share (each queue costs the server 2048 bytes and
/// its name: 7 of 16 KiB), seen on both.
fn two_mounts_with_a_full_share(redis: &Redis) -> Option<(Mount, Mount)> {
    let (a, b) = (small_share_mount(redis)?, small_share_mount(redis)?);
    assert_eq!(
        stdout(&as_user(&a, &test_user(), MAKE_EIGHT)),
        "q8 refused\n"
    );
    assert!(shows(&b, "q7"));
    Some((a, b))
}

/// A mount of `redis` that other users may use, as a root daemon serves
/// a lab (`--allow-other`).
fn shared_mount(redis: &Redis) -> Option<Mount> {
    let url = redis.url();
    Mount::start(&["--queue-store", &url, "--allow-other"])
}

#[test]
fn a_create_that_finds_another_users_queue_opens_it_only_as_its_mode_lets() {
    let (redis, a) = one_host!(shared_mount);
    // Two queues another mount made first, which this one has not heard
    // of: uid 4242's, mode 600, and one it opened to writers (622).
    made_elsewhere(&redis, "private", "elsewhere/1", &[]);
    made_elsewhere(&redis, "open", "elsewhere/2", &[]);
    assert_ok(&redis.cli(&["HSET", "ipcfs:{open}:s", "mode", "402"]));
    let user = nobody();
    let out = as_user(&a, &user, "echo mine >> queues/private");
    assert!(
        common::stderr(&out).contains("Permission denied"),
        "{}",
        common::stderr(&out)
    );
    assert_ok(&as_user(&a, &user, "echo mine >> queues/open"));
    // Nothing went into the private queue; the open one has the line.
    let len = |q: &str| redis.cli(&["XLEN", &format!("ipcfs:{{{q}}}:m")]).stdout;
    assert_eq!(
        (len("private"), len("open")),
        (b"0\n".to_vec(), b"1\n".to_vec())
    );
    assert_eq!(
        stdout(&a.run("stat -c '%u %a' queues/private queues/open")),
        "4242 600\n4242 622\n"
    );
}

#[test]
fn between_two_real_users_the_owner_still_opens_when_the_other_holds_its_share() {
    let (_redis, a) = one_host!(shared_mount);
    let (owner, other) = (test_user(), nobody());
    // The owner's queue of 4 places, writable by all.
    let make = "touch queues/q && chmod 666 queues/q && \
        python3 -c \"import os; os.setxattr('queues/q', 'user.ipcfs.max_messages', b'4')\"";
    assert_ok(&as_user(&a, &owner, make));
    let as_ = |(uid, gid): &(String, String), script: &str| {
        format!("setpriv --reuid {uid} --regid {gid} --clear-groups sh -c '{script}'")
    };
    let script = [
        // The other user holds 2 places (its share) for 3 seconds.
        format!("{} &", as_(&other, "exec 3>queues/q 4>queues/q; sleep 3")),
        "sleep 0.5".to_string(),
        as_(
            &other,
            "timeout 1 sh -c \"exec 5>queues/q\"; echo other: $?",
        ),
        as_(
            &owner,
            "timeout 1 sh -c \"exec 5>queues/q\"; echo owner: $?",
        ),
        "wait".to_string(),
    ]
    .join("\n");
    assert_eq!(stdout(&a.run(&script)), "other: 124\nowner: 0\n");
}

#[test]
fn root_of_a_user_namespace_is_held_to_its_users_share_of_the_server() {
    let (redis, a) = one_host!(small_share_mount);
    let user = test_user();
    // Root in its own user namespace is still its user to the mount: its
    // queue is that user's, and so is the share its messages count
    // against (root's own would have none).
    let script = "unshare -r sh -c 'touch queues/mine; \
        for i in 1 2 3; do head -c 6000 /dev/zero > queues/mine || echo refused; done' 2>/dev/null; \
        stat -c %u queues/mine";
    assert_eq!(
        stdout(&as_user(&a, &user, script)),
        format!("refused\n{}\n", user.0)
    );
    assert_eq!(
        redis.cli(&["HGET", "ipcfs:{mine}:s", "bytes"]).stdout,
        b"12000\n"
    );
}

#[test]
fn a_users_queues_count_against_its_share_on_every_mount_and_after_a_restart() {
    let (redis, (_a, b)) = one_host!(two_mounts_with_a_full_share);
    let user = test_user();
    let one_more = "touch queues/x 2>&1";
    let refused = "touch: cannot touch 'queues/x': No space left on device\n";
    assert_eq!(stdout(&as_user(&b, &user, one_more)), refused);
    // A daemon started now counts them as it finds them.
    let Some(c) = small_share_mount(&redis) else {
        return;
    };
    assert_eq!(stdout(&as_user(&c, &user, one_more)), refused);
    // Another user is not held by them.
    assert_ok(&as_user(&c, &nobody(), "touch queues/theirs"));
}

#[test]
fn a_queue_removed_on_another_mount_stops_counting_here_though_the_kernel_had_its_name() {
    let (_redis, a, b) = two_hosts!();
    let used = |m: &Mount| {
        let out = m.run("stat -f -c '%b %f' . | awk '{print $1 - $2}'");
        stdout(&out).trim().parse::<u64>().unwrap()
    };
    let before = used(&b);
    // Made on B: B's kernel keeps the names it looked up and made.
    assert_ok(&b.run("touch queues/lk1 queues/lk2 queues/lk3 && stat queues/lk1 >/dev/null"));
    assert!(used(&b) > before);
    assert!(shows(&a, "lk3"));
    assert_ok(&a.run("rm queues/lk1 queues/lk2 queues/lk3"));
    // B asks its kernel to drop the names: their records are freed,
    // without waiting for the kernel to need the memory.
    assert!(
        eventually(Duration::from_secs(5), || used(&b) == before),
        "{} used, {before} before",
        used(&b)
    );
}

#[test]
fn the_threads_that_wait_on_the_server_get_the_cpu_before_those_that_serve_calls() {
    let (_redis, a) = one_host!();
    // Each task's name and nice value (the 19th field of its stat).
    let tasks = a.run(&format!(
        "for t in /proc/{}/task/*; do echo \"$(cat $t/comm) $(cut -d' ' -f19 $t/stat)\"; done | sort",
        a.pid()
    ));
    let tasks = stdout(&tasks);
    // Another user's calls that keep every CPU busy must not make a step
    // miss its 2 seconds (an attack saw closes fail ECOMM so).
    for store_thread in ["ipcfs-store -10", "ipcfs-store-eve -10"] {
        assert!(tasks.lines().any(|l| l == store_thread), "{tasks}");
    }
    assert!(tasks.lines().any(|l| l == "ipcfs-reactor 0"), "{tasks}");
}

#[test]
fn descriptors_another_user_holds_on_removed_queues_hold_none_of_the_owners_share() {
    let (_redis, (a, b)) = one_host!(two_mounts_with_a_full_share);
    let (owner, other) = (test_user(), nobody());
    // The other user holds O_PATH descriptors of all 7 on both mounts
    // (search permission on queues/ is all it takes) while the owner
    // removes them.
    let hold = "exec python3 -c \"import os, time; fds = [os.open('queues/q%d' % i, os.O_PATH) for i in range(1, 8)]; print('held', flush=True); time.sleep(60)\"";
    let mut holders: Vec<_> = [&a, &b]
        .iter()
        .map(|m| {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", &other.0, "--regid", &other.1, "--clear-groups"]);
            c.args(["sh", "-c", hold]).current_dir(m.path("."));
            c.stdout(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for h in &mut holders {
        assert_eq!(first_line(h).1, "held\n");
    }
    assert_ok(&as_user(
        &a,
        &owner,
        "rm queues/q1 queues/q2 queues/q3 queues/q4 queues/q5 queues/q6 queues/q7",
    ));
    // Gone from the server, they cost the owner nothing on either mount.
    assert!(eventually(Duration::from_secs(5), || {
        stdout(&as_user(&b, &owner, "touch queues/b1 && echo made")) == "made\n"
    }));
    assert_eq!(
        stdout(&as_user(&a, &owner, MAKE_EIGHT)),
        "q7 refused\nq8 refused\n"
    );
    for mut h in holders {
        assert!(h.try_wait().unwrap().is_none(), "still held");
        h.kill().unwrap();
        h.wait().unwrap();
    }
}

#[test]
fn a_chown_moves_what_a_queue_costs_in_the_server_to_its_new_owner_on_every_mount() {
    let (_redis, (a, b)) = one_host!(two_mounts_with_a_full_share);
    let user = test_user();
    assert_ok(&a.run("chown 65534 queues/q1"));
    // B, told by the server, lets the user make one queue more; then A,
    // counting that one too, none.
    let made = || stdout(&as_user(&b, &user, "touch queues/x1 && echo made")) == "made\n";
    assert!(eventually(Duration::from_secs(5), made));
    assert!(shows(&a, "x1"));
    let refused = "touch: cannot touch 'queues/x2': No space left on device\n";
    assert_eq!(stdout(&as_user(&a, &user, "touch queues/x2 2>&1")), refused);
}

/// The test user's queue `sq` on a mount of a small share (16 KiB: its
/// record costs 2048 bytes and its name, 14,334 bytes are left for its
/// messages and places), with room for `max_messages`.
fn users_queue(m: &Mount, max_messages: usize) {
    let make = format!(
        "touch queues/sq && python3 -c \"import os; \
         os.setxattr('queues/sq', 'user.ipcfs.max_messages', b'{max_messages}')\""
    );
    assert_ok(&as_user(m, &test_user(), &make));
}

#[test]
fn messages_in_progress_on_two_mounts_go_in_at_their_close_only_within_the_owners_share() {
    let (redis, a, b) = two_hosts!(small_share_mount);
    users_queue(&a, 100);
    assert!(shows(&b, "sq"));
    // Twelve messages of 2,000 bytes in progress at once, six on each
    // mount, each within the share alone: together 12 × 2,064 bytes. The
    // server takes them as they close while the queue's messages and
    // places fit: 12 places (160 bytes each) and six messages.
    let (on_a, on_b) = (a.path("queues/sq"), b.path("queues/sq"));
    let mut args = vec!["2000".to_string()];
    for _ in 0..6 {
        args.push(on_a.display().to_string());
        args.push(on_b.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = as_user(&a, &test_user(), &py_cmd("closes_past_a_share.py", &args));
    assert_eq!(
        stdout(&out),
        format!("{}{}", "ok\n".repeat(6), "ENOSPC\n".repeat(6))
    );
    let count = |command: &str, key: &str, field: &[&str]| {
        stdout(&redis.cli(&[&[command, key][..], field].concat()))
    };
    assert_eq!(count("HGET", "ipcfs:{sq}:s", &["bytes"]), "12000\n");
    assert_eq!(count("XLEN", "ipcfs:{sq}:m", &[]), "6\n");
    // A refused message gives its place back.
    assert_eq!(count("ZCARD", "ipcfs:{sq}:p", &[]), "0\n");
    let said = "a message of sq refused after 0: the queue's owner holds its share";
    assert!(a.log().contains(said) || b.log().contains(said));
}

#[test]
fn the_places_a_users_writers_hold_count_in_its_share_on_every_mount() {
    let (_redis, a, b) = two_hosts!(small_share_mount);
    users_queue(&a, 1000);
    // 89 places cost 14,240 bytes of the 14,334 left: the 90th open fails.
    let (uid, gid) = test_user();
    let hold = py_cmd("hold_places.py", &["queues/sq", "200"]);
    let mut holder = Command::new("setpriv")
        .args(["--reuid", &uid, "--regid", &gid, "--clear-groups"])
        .args(["sh", "-c", &hold])
        .current_dir(&a.dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (_out, line) = first_line(&mut holder);
    assert_eq!(line, "89 ENOSPC\n");
    assert!(
        a.log()
            .contains("a place in sq refused: the queue's owner holds its share")
    );
    let said = format!("uid {uid}'s queue: a message or place refused by the server");
    assert!(a.log().contains(&said), "{}", a.log());
    // The other mount heard of the places: no queue more for this user.
    let make_one = || stderr(&as_user(&b, &test_user(), "touch queues/o && rm queues/o"));
    assert!(
        eventually(Duration::from_secs(5), || make_one()
            .contains("No space left on device")),
        "{}",
        b.log()
    );
    // The writers close: their places go, and with them the charge.
    drop(holder.stdin.take());
    wait_within(&mut holder, Duration::from_secs(10), "the holder");
    assert!(eventually(Duration::from_secs(5), || make_one().is_empty()));
}

#[test]
fn writers_at_once_on_several_queues_of_one_mount_keep_within_the_owners_share() {
    let (redis, a) = one_host!(small_share_mount);
    // Four queues of the test user's: 8,200 bytes of its 16,384 in
    // records, room for seven messages of 1,000 bytes (1,064 each).
    let make = "for q in q1 q2 q3 q4; do touch queues/$q && python3 -c \
        \"import os; os.setxattr('queues/$q', 'user.ipcfs.max_messages', b'100')\"; done";
    assert_ok(&as_user(&a, &test_user(), make));
    // Sixteen writers at once, four on each queue: the steps on their way
    // count against the share, so no queue's lets in what another's took.
    let args = [
        "1000",
        "16",
        "queues/q1",
        "queues/q2",
        "queues/q3",
        "queues/q4",
    ];
    let out = as_user(&a, &test_user(), &py_cmd("writers_at_once.py", &args));
    let said = stdout(&out);
    let went: usize = said.split(' ').next().unwrap().parse().unwrap();
    assert!((1..=7).contains(&went), "{said}");
    assert!(said.ends_with(" ENOSPC 16\n"), "{said}");
    let number = |args: &[&str]| -> usize { stdout(&redis.cli(args)).trim().parse().unwrap_or(0) };
    let mut cost = 0;
    for q in ["q1", "q2", "q3", "q4"] {
        let (s, m, p) = (
            format!("ipcfs:{{{q}}}:s"),
            format!("ipcfs:{{{q}}}:m"),
            format!("ipcfs:{{{q}}}:p"),
        );
        let messages = number(&["XLEN", &m]);
        cost +=
            2050 + number(&["HGET", &s, "bytes"]) + 64 * messages + 160 * number(&["ZCARD", &p]);
    }
    assert_eq!(cost, 8200 + 1064 * went);
    assert!(cost <= 16384, "{cost} bytes for a share of 16384: {said}");
}
