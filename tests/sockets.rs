//! Socket endpoints through a real mount, against real peers the tests
//! start (Python's `socket` on 127.0.0.1, ::1 and a Unix path).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Mount, assert_ok, eventually, stdout, timed, wait_within};

/// A Python server, `tests/py/NAME`, that prints its port (or "ready") on
/// its first line, killed when dropped.
struct Peer {
    child: Child,
    /// What the server printed first: its port.
    first: String,
}

impl Peer {
    fn start(name: &str, args: &[&str]) -> Peer {
        // Not under timeout(1), whose death would leave python holding
        // the test's pipes: each peer program ends itself after two
        // minutes (signal.alarm).
        let mut child = Command::new("python3")
            .arg("-B")
            .arg(common::py(name))
            .args(args)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut first)
            .unwrap();
        Peer {
            child,
            first: first.trim().to_string(),
        }
    }

    fn port(&self) -> &str {
        &self.first
    }

    /// The rest of what the server printed, once it exits by itself.
    fn output(mut self) -> String {
        let status = wait_within(&mut self.child, Duration::from_secs(30), "peer");
        let mut rest = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut rest).unwrap();
        assert!(status.success(), "peer failed: {rest}");
        rest
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_shell_tcp_client_gets_an_echo_servers_reply() {
    let m = mount_or_skip!();
    let peer = Peer::start("upper_echo_server.py", &["127.0.0.1"]);
    let out = m.run(&format!(
        "mkdir sockets/c && echo 'connect tcp 127.0.0.1:{}' > sockets/c/ctl && \
         exec 3<> sockets/c/data && echo hello >&3 && head -c 6 <&3 && \
         cat sockets/c/ctl && cat sockets/c/remote",
        peer.port()
    ));
    assert_ok(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "HELLO");
    assert!(lines[1].starts_with("connected tcp 127.0.0.1:"), "{text}");
    assert!(
        lines[1].ends_with(&format!(" 127.0.0.1:{}", peer.port())),
        "{text}"
    );
    assert_eq!(lines[2], format!("127.0.0.1:{}", peer.port()));
    let status = stdout(&m.run("cat sockets/c/status"));
    assert!(
        status.starts_with("state: connected\nkind: tcp\n"),
        "{status}"
    );
    assert!(status.contains("bytes_in: 6\nbytes_out: 6\n"), "{status}");
    let root = stdout(&m.run("cat status"));
    assert!(
        root.lines()
            .any(|l| l.starts_with("socket") && l.contains("sockets/c")),
        "{root}"
    );
}

#[test]
fn ipv6_and_host_names_connect() {
    let m = mount_or_skip!();
    let v6 = Peer::start("upper_echo_server.py", &["::1"]);
    let out = m.run(&format!(
        "mkdir sockets/six && echo 'connect tcp [::1]:{}' > sockets/six/ctl && \
         exec 3<> sockets/six/data && printf abc >&3 && head -c 3 <&3",
        v6.port()
    ));
    assert_ok(&out);
    assert_eq!(stdout(&out), "ABC");
    // A dial path takes an IPv6 address bare or in brackets, as `remote`
    // prints it; brackets around anything else name nothing.
    for host in ["::1", "[::1]"] {
        let out = m.run(&format!(
            "exec 3<> sockets/tcp/{host}/{} && printf def >&3 && head -c 3 <&3",
            v6.port()
        ));
        assert_eq!(stdout(&out), "DEF", "{host}: {out:?}");
    }
    let out = m.run("test -e 'sockets/tcp/[localhost]'");
    assert_eq!(out.status.code(), Some(1));
    let v4 = Peer::start("upper_echo_server.py", &["127.0.0.1"]);
    // localhost may resolve to ::1 first: the next address is tried.
    let out = m.run(&format!(
        "mkdir sockets/named && echo 'connect tcp localhost:{}' > sockets/named/ctl && \
         exec 3<> sockets/named/data && printf xyz >&3 && head -c 3 <&3",
        v4.port()
    ));
    assert_ok(&out);
    assert_eq!(stdout(&out), "XYZ");
}

#[test]
fn a_connect_to_a_closed_port_is_econnrefused_and_err_says_so() {
    let m = mount_or_skip!();
    let out = m.python_file("connect_errors.py", &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "ECONNREFUSED\nEINVAL\nEINVAL\nEINVAL\nENOTCONN\nENOTCONN\n"
    );
    assert_ok(&m.run("rmdir sockets/c; mkdir sockets/c"));
    let out = m.run("echo 'connect tcp 127.0.0.1:1' > sockets/c/ctl; cat sockets/c/err");
    assert_eq!(
        stdout(&out),
        "connect tcp 127.0.0.1:1: Connection refused\n"
    );
}

#[test]
fn sixteen_mib_each_way_with_equal_checksums() {
    let m = mount_or_skip!();
    // The peer sends 16 MiB while it receives 16 MiB, then prints the
    // digest of what it received.
    let peer = Peer::start("sha256_peer.py", &[]);
    let out = m.run(&format!(
        "mkdir sockets/big && echo 'connect tcp 127.0.0.1:{}' > sockets/big/ctl && \
         {{ head -c 16777216 /dev/urandom > /tmp/ipcfs-16m-$$; \
           cat /tmp/ipcfs-16m-$$ > sockets/big/data & \
           cat sockets/big/data | sha256sum; wait; \
           sha256sum < /tmp/ipcfs-16m-$$; rm -f /tmp/ipcfs-16m-$$; \
           echo 'shutdown wr' > sockets/big/ctl; }}",
        peer.port()
    ));
    assert_ok(&out);
    let text = stdout(&out);
    let sums: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    let expected = {
        let mut data = Vec::new();
        while data.len() < 16 << 20 {
            data.extend(0u8..251);
        }
        data.truncate(16 << 20);
        let out = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(&data)?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(sums[0], expected.split(' ').next().unwrap(), "received");
    let got = peer.output();
    assert_eq!(got.trim(), format!("16777216 {}", sums[1]), "sent");
}

/// How many of the daemon's descriptors are pipes.
fn pipes(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("pipe:"))
        .count()
}

#[test]
fn reads_of_mixed_sizes_get_the_stream_in_order_large_ones_through_a_pipe() {
    let m = mount_or_skip!();
    mixed_reads(&m, &[]);
}

#[test]
fn a_unix_stream_endpoint_reads_large_and_small_in_order() {
    let m = mount_or_skip!();
    let dir = UnixDir::new("mixed");
    mixed_reads(&m, &[&dir.socket()]);
}

/// A directory of its own for a Unix server's socket, removed when
/// dropped.
struct UnixDir(std::path::PathBuf);

impl UnixDir {
    fn new(tag: &str) -> UnixDir {
        let dir = std::env::temp_dir().join(format!("ipcfs-unix-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        UnixDir(dir)
    }

    /// Where the server's socket goes.
    fn socket(&self) -> String {
        self.0.join("s.sock").to_str().unwrap().to_string()
    }
}

impl Drop for UnixDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `dial_reads_of_mixed_sizes.py` with `args` (none: over TCP; a
/// path: a unix stream endpoint), and checks what it read and that the
/// large reads went through a pipe (over /dev/fuse only).
fn mixed_reads(m: &Mount, args: &[&str]) {
    let before = pipes(m.pid());
    let out = m
        .python_file("dial_reads_of_mixed_sizes.py", args)
        .output()
        .unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    // The first line is the peer's port, or "ready".
    let said: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(said, ["25165824 bytes in order", "end of stream"]);
    // Over /dev/fuse the large reads were answered from a pipe, which the
    // daemon keeps, empty, for the next; over io_uring, by copies.
    let after = pipes(m.pid());
    if std::env::var("IPCFS_TEST_TRANSPORT").as_deref() == Ok("uring") {
        assert_eq!(after, before, "no pipe over io_uring");
    } else {
        assert!(
            after >= before + 2,
            "no splice pipe: {before} pipes, then {after}"
        );
    }
}

/// `early` where the mount answers large stream writes before the socket
/// takes them, else `waits` (see [`common::writes_answered_early`]).
fn answered_early() -> &'static str {
    match common::writes_answered_early() {
        true => "early",
        false => "waits",
    }
}

#[test]
fn a_large_stream_write_is_answered_before_the_socket_takes_it() {
    let m = mount_or_skip!();
    let dir = UnixDir::new("early");
    let mode = answered_early();
    let out = m
        .python_file("stream_writes_answered_early.py", &[&dir.socket(), mode])
        .output()
        .unwrap();
    let expected = match mode {
        "early" => {
            "first write 524288\n\
             pollout False\n\
             nonblocking write EAGAIN\n\
             second write waits True\n\
             server got first then second True\n\
             second write 100000\n\
             third write 524288\n\
             close returned True\n\
             server got third after the close True\n\
             fourth write 524288\n\
             err says send True\n\
             write after EPIPE\n\
             write after that EPIPE\n\
             f: write 524288, then shutdown wr\n\
             f: the server got it whole, then the end True True\n\
             g: write 524288, then rmdir\n\
             g: the server got it whole, then the end True True\n"
        }
        _ => "first write waits True\nserver got it True\nfirst write 524288\n",
    };
    assert_eq!(stdout(&out), expected, "{out:?}\n{}", m.log());
}

#[test]
fn a_dial_files_last_close_hands_answered_bytes_to_the_kernel() {
    let m = mount_or_skip!();
    let mode = answered_early();
    let out = m
        .python_file("dial_last_close_hands_over_bytes.py", &[mode])
        .output()
        .unwrap();
    let expected = match mode {
        "early" => {
            "non-blocking writes filled the socket True\n\
             the blocking write returned True [524288]\n\
             closed\n\
             the server got every byte, then the end True\n"
        }
        _ => {
            "non-blocking writes filled the socket True\n\
             the blocking write waits True\n\
             the server got every byte, then the end True\n"
        }
    };
    assert_eq!(stdout(&out), expected, "{out:?}\n{}", m.log());
}

/// At unmount, the bytes of a write answered early that the socket has not
/// taken yet are handed to the kernel, which sends them after the daemon
/// exits: the server, reading only then, gets every byte.
#[test]
fn unmount_hands_answered_bytes_to_the_kernel() {
    let mut m = mount_or_skip!();
    if !common::writes_answered_early() {
        eprintln!("skipping: this mount answers no write early (io_uring, or not root)");
        return;
    }
    let mut child = m
        .python_file("dial_last_close_hands_over_bytes.py", &["unmount"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(child.stdout.take().unwrap());
    let mut lines = String::new();
    while !lines.ends_with("closed\n") {
        assert_ne!(said.read_line(&mut lines).unwrap(), 0, "{lines}");
    }
    m.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(m.wait_exit(Duration::from_secs(10)).is_some(), "no exit");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"go\n").unwrap();
    std::io::Read::read_to_string(&mut said, &mut lines).unwrap();
    wait_within(&mut child, Duration::from_secs(30), "writer");
    assert_eq!(
        lines,
        "non-blocking writes filled the socket True\n\
         the blocking write returned True [524288]\n\
         closed\n\
         the server got every byte, then the end True\n",
        "{}",
        m.log()
    );
}

#[test]
fn shutdown_wr_gives_the_peer_eof_and_the_reply_still_comes() {
    let m = mount_or_skip!();
    let peer = Peer::start("count_bytes_peer.py", &[]);
    let out = m.run(&format!(
        "mkdir sockets/h && echo 'connect tcp 127.0.0.1:{}' > sockets/h/ctl && \
         printf 'twelve bytes' > sockets/h/data && echo 'shutdown wr' > sockets/h/ctl && \
         cat sockets/h/data; echo; sed -n '1p;5p' sockets/h/status; \
         printf more > sockets/h/data",
        peer.port()
    ));
    assert_eq!(
        stdout(&out),
        "got 12 bytes\nstate: half-closed\nshutdown: wr\n"
    );
    assert!(
        common::stderr(&out).contains("Broken pipe") || !out.status.success(),
        "a write after shutdown wr fails"
    );
}

#[test]
fn a_blocked_read_ends_with_timeout_and_rmdir_closes_the_connection() {
    let m = mount_or_skip!();
    let peer = Peer::start("eof_or_data_peer.py", &[]);
    assert_ok(&m.run(&format!(
        "mkdir sockets/w && echo 'connect tcp 127.0.0.1:{}' > sockets/w/ctl",
        peer.port()
    )));
    let (out, took) = timed(&mut m.sh("timeout 1 cat sockets/w/data"));
    assert_eq!(out.status.code(), Some(124));
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let mut reader = m.sh("cat sockets/w/data").spawn().unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        stdout(&m.run("sed -n 8p sockets/w/status")) == "blocked: 1\n"
    }));
    assert_ok(&m.run("rmdir sockets/w"));
    assert!(wait_within(&mut reader, Duration::from_secs(5), "reader").success());
    assert_eq!(peer.output(), "eof\n");
    assert_eq!(stdout(&m.run("ls sockets")), "");
}

#[test]
fn a_unix_stream_endpoint_talks_to_a_unix_server() {
    let m = mount_or_skip!();
    let dir = UnixDir::new("talk");
    let path = dir.socket();
    let peer = Peer::start("reverse_unix_peer.py", &[&path]);
    let out = m.run(&format!(
        "mkdir sockets/u && echo 'connect unix {path}' > sockets/u/ctl && \
         exec 3<> sockets/u/data && printf stressed >&3 && cat <&3; echo; \
         cat sockets/u/remote",
    ));
    assert_ok(&out);
    assert_eq!(stdout(&out), format!("desserts\n{path}\n"));
    drop(peer);
}

#[test]
fn a_bind_to_a_port_in_use_is_eaddrinuse() {
    let m = mount_or_skip!();
    let peer = Peer::start("upper_echo_server.py", &["127.0.0.1"]);
    let out = m
        .python_file("bind_in_use.py", &[peer.port()])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "EADDRINUSE\n20\n['bound', 'tcp']\n");
}

#[test]
fn poll_on_data_reports_pollin_when_the_peer_sends() {
    let m = mount_or_skip!();
    let peer = Peer::start("late_sender_peer.py", &[]);
    let out = m
        .python_file("socket_poll_data.py", &[peer.port()])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "[]\nTrue b'late'\n");
}

#[test]
fn only_the_owner_removes_an_endpoint_and_names_are_kept_apart() {
    let m = mount_or_skip!();
    assert_ok(&m.run("mkdir sockets/x"));
    let out = m.run("mkdir sockets/x");
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("File exists"));
    let out = m.run("touch sockets/file; mkfifo sockets/f2");
    assert!(!out.status.success());
    assert_eq!(
        stdout(&m.run("ls sockets/x")),
        "accept\nctl\ndata\nerr\nlocal\nremote\nstatus\n"
    );
    assert_ok(&m.run("rm -r sockets/x"));
    assert_eq!(stdout(&m.run("ls sockets")), "");
}

#[test]
fn a_shell_tcp_server_serves_a_python_client() {
    let m = mount_or_skip!();
    assert_ok(&m.run(
        "mkdir sockets/srv && echo 'bind tcp 127.0.0.1:0' > sockets/srv/ctl && \
         echo listen > sockets/srv/ctl",
    ));
    let port = stdout(&m.run("cut -d: -f2 sockets/srv/local"))
        .trim()
        .to_string();
    // The server: accept one connection, answer what it reads.
    let server = m
        .sh("conn=$(cat sockets/srv/accept) && echo \"$conn\" && \
             read -r line < sockets/$conn/data && \
             echo \"hello $line\" > sockets/$conn/data && rmdir sockets/$conn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let client = m.python_file("line_client.py", &[&port]).output().unwrap();
    assert_ok(&client);
    assert_eq!(stdout(&client), "hello python\n");
    let out = server.wait_with_output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "srv.1\n");
    let ls = stdout(&m.run("ls sockets"));
    assert_eq!(ls, "srv\n", "the connection's endpoint went with rmdir");
}

#[test]
fn accept_names_each_connection_and_is_owned_by_its_reader() {
    let m = mount_or_skip!();
    let out = m.python_file("accept_names.py", &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "EINVAL\nb'l.1\\n' b'' b'l.2\\n'\nb'' b'l.4\\n'\n\
         ['l', 'l.1', 'l.2', 'l.3', 'l.4']\n['connected', 'tcp']\nb'to one'\n"
    );
}

#[test]
fn a_blocked_accept_ends_with_timeout() {
    let m = mount_or_skip!();
    assert_ok(&m.run(
        "mkdir sockets/q && echo 'bind tcp 127.0.0.1:0' > sockets/q/ctl && \
         echo listen > sockets/q/ctl",
    ));
    let (out, took) = timed(&mut m.sh("timeout 1 cat sockets/q/accept"));
    assert_eq!(out.status.code(), Some(124));
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(stdout(&m.run("sed -n 8p sockets/q/status")), "blocked: 0\n");
}

/// The daemon's threads, by /proc.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

#[test]
fn a_thousand_idle_connections_add_no_daemon_threads() {
    let m = mount_or_skip!();
    let peer = Peer::start("thousand_connections_peer.py", &[]);
    let before = threads(m.pid());
    let out = m
        .python_file("thousand_connects.py", &[peer.port()])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "1000\n");
    assert_eq!(
        threads(m.pid()),
        before,
        "one reactor thread serves them all"
    );
}

#[test]
fn a_dial_file_fetches_a_page_from_http_server() {
    let m = mount_or_skip!();
    let dir = std::env::temp_dir().join(format!("ipcfs-www-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<p>served by python</p>\n").unwrap();
    let server = Peer::start("http_server.py", &[dir.to_str().unwrap()]);
    let out = m.run(&format!(
        "exec 3<> sockets/tcp/127.0.0.1/{port} && \
         printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3",
        port = server.port()
    ));
    assert_ok(&out);
    let page = stdout(&out);
    assert!(page.starts_with("HTTP/1.0 200 OK\r\n"), "{page}");
    assert!(
        page.ends_with("\r\n\r\n<p>served by python</p>\n"),
        "{page}"
    );
    // Each open is its own connection; none is an endpoint directory.
    assert_eq!(stdout(&m.run("ls -a sockets")), ".\n..\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dial_files_fail_with_the_connects_errno_and_keep_their_names() {
    let m = mount_or_skip!();
    let out = m.python_file("dial_errors.py", &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "ECONNREFUSED\nEHOSTDOWN\nEEXIST\nEEXIST\nTrue False\n"
    );
}

#[test]
fn a_udp_dial_file_keeps_datagram_boundaries() {
    let m = mount_or_skip!();
    let peer = Peer::start("udp_reverse_peer.py", &[]);
    let out = m
        .python_file("udp_dial.py", &[peer.port()])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "b'eno' b'dnoces'\n");
    assert_eq!(peer.output(), "[b'one', b'second']\n");
}

#[test]
fn udp_endpoints_keep_boundaries_one_open_one_datagram() {
    let m = mount_or_skip!();
    let peer = Peer::start("udp_collect_peer.py", &[]);
    // bash writes printf's lines one by one: still one datagram. An
    // O_DIRECT write is one datagram by itself.
    let out = m.run(&format!(
        "mkdir sockets/u && echo 'connect udp 127.0.0.1:{}' > sockets/u/ctl && \
         printf 'a\\nb\\n' > sockets/u/data && \
         {{ printf one; printf two; }} > sockets/u/data && \
         printf x | dd of=sockets/u/data oflag=direct status=none && \
         head -c 5 sockets/u/data; echo; cat sockets/u/data; echo",
        peer.port()
    ));
    assert_ok(&out);
    assert_eq!(stdout(&out), "first\nsecond\n");
    assert_eq!(peer.output(), "[b'a\\nb\\n', b'onetwo', b'x']\n");
}

/// Makes `sockets/NAME` a UDP endpoint bound to a free port on 127.0.0.1;
/// the port.
fn bound_udp_endpoint(m: &Mount, name: &str) -> String {
    assert_ok(&m.run(&format!(
        "mkdir sockets/{name} && echo 'bind udp 127.0.0.1:0' > sockets/{name}/ctl"
    )));
    stdout(&m.run(&format!("cut -d: -f2 sockets/{name}/local")))
        .trim()
        .to_string()
}

/// The rest of a datagram a short read left waits for the next reads,
/// charged to memory; past the cap it is dropped, as a datagram socket
/// drops what a short read does not take: the next read is end of file.
#[test]
fn a_datagram_rest_past_the_memory_cap_is_dropped() {
    let m = mount_or_skip!("--max-memory", "48K");
    let port = bound_udp_endpoint(&m, "srv");
    let out = m
        .python_file("datagram_rest_past_the_cap.py", &[&port])
        .output()
        .unwrap();
    assert_ok(&out);
    // 1000 bytes: the rest (400) fits and is read next; 60000: it does
    // not, and the next read is end of file.
    assert_eq!(stdout(&out), "600 400\n600 0\n");
    assert!(
        m.log()
            .contains("the last 59400 bytes of a datagram dropped"),
        "{}",
        m.log()
    );
}

#[test]
fn a_bound_udp_endpoint_answers_its_most_recent_sender() {
    let m = mount_or_skip!();
    let port = bound_udp_endpoint(&m, "srv");
    let out = m
        .python_file("udp_answers_its_sender.py", &[&port])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "ENOTCONN\nb'ping'\nb'pong'\n");
}

/// A bound UDP server learns who sent each datagram: after a read,
/// `remote` (and `status`) name its sender, as recvfrom(2) would; with
/// two clients, each in turn.
#[test]
fn remote_names_the_sender_of_each_datagram_read() {
    let m = mount_or_skip!();
    let port = bound_udp_endpoint(&m, "srv");
    assert_eq!(stdout(&m.run("cat sockets/srv/remote")), "");
    let out = m
        .python_file("udp_remote_names_the_sender.py", &[&port])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        "b'hi' True\nb'hi' True\nb'hi' True\n",
        "{out:?}"
    );
}

#[test]
fn unixgram_endpoints_exchange_datagrams_both_ways() {
    let m = mount_or_skip!();
    let dir = std::env::temp_dir().join(format!("ipcfs-dgram-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = dir.join("d.sock");
    let client = dir.join("c.sock");
    let (server, client) = (server.to_str().unwrap(), client.to_str().unwrap());
    let peer = Peer::start("unixgram_peer.py", &[server]);
    let out = m.run(&format!(
        "mkdir sockets/g && echo 'bind unixgram {client}' > sockets/g/ctl && \
         echo 'connect unixgram {server}' > sockets/g/ctl && \
         printf 'x\\ny\\n' > sockets/g/data && printf z > sockets/g/data && \
         cat sockets/g/data; echo; cat sockets/g/data; echo; sed -n 2p sockets/g/status",
    ));
    assert_ok(&out);
    assert_eq!(stdout(&out), "reply one\nreply two\nkind: unixgram\n");
    assert_eq!(peer.output(), "[b'x\\ny\\n', b'z']\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn poll_on_accept_reports_a_waiting_connection() {
    let m = mount_or_skip!();
    let out = m
        .python_file("socket_poll_accept.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "[]\nTrue b'l.1\\n'\n");
}

/// A server that closes its side, and one that resets: `status` and
/// `ctl` say so (`peer closed`, `reset`), as `ss` would show CLOSE-WAIT
/// and a closed connection, before and after the endpoint reads.
#[test]
fn status_shows_a_peer_that_closed_or_reset() {
    let m = mount_or_skip!();
    let server = Peer::start("close_then_reset_peer.py", &[]);
    let port = server.port();
    let out = m.run(&format!(
        "mkdir sockets/a sockets/b && \
         echo 'connect tcp 127.0.0.1:{port}' > sockets/a/ctl && sleep 0.3 && \
         grep state: sockets/a/status && cat sockets/a/data && echo && \
         grep state: sockets/a/status && \
         echo 'connect tcp 127.0.0.1:{port}' > sockets/b/ctl && \
         printf x > sockets/b/data && sleep 0.3 && grep state: sockets/b/status && cut -d' ' -f1 sockets/b/ctl; \
         cat sockets/b/data; grep state: sockets/b/status"
    ));
    assert_eq!(
        stdout(&out),
        "state: peer closed\nbye\nstate: peer closed\nstate: reset\nreset\nstate: reset\n",
        "{out:?}"
    );
}

/// A refused command says why in `err`, not only its errno: a command
/// that is none, a listen on a udp endpoint, a bind of a listener.
#[test]
fn err_says_why_a_command_was_refused() {
    let m = mount_or_skip!();
    let out = m.run(
        "mkdir sockets/u sockets/l && \
         /bin/echo listne > sockets/u/ctl; cat sockets/u/err; \
         echo 'bind udp 127.0.0.1:0' > sockets/u/ctl && \
         /bin/echo listen > sockets/u/ctl; cat sockets/u/err; \
         echo 'bind tcp 127.0.0.1:0' > sockets/l/ctl && echo listen > sockets/l/ctl && \
         /bin/echo 'bind tcp 127.0.0.1:0' > sockets/l/ctl; cat sockets/l/err",
    );
    assert_eq!(
        stdout(&out),
        "\"listne\" (not a command: connect, bind, listen, shutdown, close, nodelay, keepalive, \
         reuseport, broadcast, autoclose or headers): Invalid argument\n\
         listen (a udp or unixgram endpoint does not listen: once bound it receives from anyone): \
         Invalid argument\n\
         bind tcp 127.0.0.1:0 (the endpoint listens already): \
         Transport endpoint is already connected\n",
        "{out:?}"
    );
}

/// Socket options are ctl commands: reuseport set before the bind lets two
/// endpoints listen on one port (without it the bind is EADDRINUSE);
/// options on are listed in status; one that does not fit the kind is
/// refused, with the reason.
#[test]
fn socket_options_are_ctl_commands() {
    let m = mount_or_skip!();
    let out = m.run(
        "cd sockets && mkdir a b c d && \
         echo 'reuseport on' > a/ctl && echo 'bind tcp 127.0.0.1:0' > a/ctl && \
         echo listen > a/ctl && port=$(cut -d: -f2 a/local) && \
         echo 'reuseport on' > b/ctl && echo \"bind tcp 127.0.0.1:$port\" > b/ctl && \
         echo listen > b/ctl && echo shared; \
         /bin/echo \"bind tcp 127.0.0.1:$port\" > c/ctl; echo \"alone $?\"; \
         echo 'nodelay on' > a/ctl && echo 'keepalive on' > a/ctl && \
         echo 'reuseport off' > a/ctl && \
         echo 'broadcast on' > d/ctl && echo 'bind udp 127.0.0.1:0' > d/ctl && \
         grep -h options: a/status d/status c/status; \
         /bin/echo 'nodelay on' > d/ctl; cat d/err",
    );
    assert_eq!(
        stdout(&out),
        "shared\nalone 1\noptions: nodelay keepalive\noptions: broadcast\noptions: -\n\
         nodelay on (that option is not for this kind of endpoint): Invalid argument\n",
        "{out:?}"
    );
}

/// A TCP listener `sockets/NAME` on a free port of 127.0.0.1, with
/// `autoclose on`; returns its port.
fn autoclose_listener(m: &Mount, name: &str) -> String {
    assert_ok(&m.run(&format!(
        "mkdir sockets/{name} && echo 'bind tcp 127.0.0.1:0' > sockets/{name}/ctl && \
         echo listen > sockets/{name}/ctl && echo 'autoclose on' > sockets/{name}/ctl"
    )));
    stdout(&m.run(&format!("cut -d: -f2 sockets/{name}/local")))
        .trim()
        .to_string()
}

/// A listener's `autoclose on`: each connection it accepts closes, and its
/// directory goes, with the last descriptor of its `data`, also when its
/// handler is killed mid-way; without it, a connection stays until rmdir.
#[test]
fn autoclose_connections_go_with_their_last_descriptor() {
    let m = mount_or_skip!();
    let port = autoclose_listener(&m, "srv");
    let mut clients = m.python_file("three_clients.py", &[&port]).spawn().unwrap();
    let out = m.run(
        "a=$(cat sockets/srv/accept) && exec 3<>sockets/$a/data && head -c 2 <&3 && echo && \
         exec 3>&- && sleep 0.2; test -e sockets/$a || echo \"$a gone\"; \
         b=$(cat sockets/srv/accept) && sh -c 'exec 4<>sockets/$0/data; kill -9 $$' $b; \
         sleep 0.2; test -e sockets/$b || echo \"$b gone\"; \
         echo 'autoclose off' > sockets/srv/ctl && c=$(cat sockets/srv/accept) && \
         exec 3<>sockets/$c/data && exec 3>&- && sleep 0.2 && ls sockets",
    );
    let _ = clients.wait();
    assert_eq!(
        stdout(&out),
        "hi\nsrv.1 gone\nsrv.2 gone\nsrv\nsrv.3\n",
        "{out:?}"
    );
}

/// `headers on`: a datagram server of many clients reads each datagram
/// with its sender's address on a first line, and answers any client by
/// writing that address first: no race between reading `data` and
/// `remote`.
#[test]
fn headers_carry_each_datagrams_sender_and_destination() {
    let m = mount_or_skip!();
    let port = bound_udp_endpoint(&m, "srv");
    assert_ok(&m.run("echo 'headers on' > sockets/srv/ctl"));
    let out = m.python_file("udp_headers.py", &[&port]).output().unwrap();
    assert_eq!(
        stdout(&out),
        "True b're: from a' b're: from b'\n",
        "{out:?}"
    );
}

/// The daemon's descriptors.
fn daemon_fds(m: &Mount) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", m.pid()))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Sockets let go of — a dial file's at its last close, a failed
/// connect's, an accepted connection's that closes with its last
/// descriptor (`autoclose on`) — are closed at once, their reactor
/// registration first: the daemon's descriptors come back to where they
/// were.
#[test]
fn sockets_let_go_of_are_closed_at_once() {
    let m = mount_or_skip!();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // A first dial: what the daemon opens once for good (its own network
    // namespace, to come back to after acting) is not counted.
    assert_ok(&m.run(&format!(
        "mkdir sockets/f && exec 3<> sockets/tcp/127.0.0.1/{port}"
    )));
    let srv = autoclose_listener(&m, "srv");
    let before = daemon_fds(&m);
    assert_ok(&m.run(&format!(
        "i=0; while [ $i -lt 50 ]; do exec 3<> sockets/tcp/127.0.0.1/{port}; exec 3<&-; \
         i=$((i + 1)); done; \
         i=0; while [ $i -lt 20 ]; do \
         echo 'connect tcp 127.0.0.1:{closed}' > sockets/f/ctl 2>/dev/null; i=$((i + 1)); done; \
         i=0; while [ $i -lt 20 ]; do exec 4<> sockets/tcp/127.0.0.1/{srv}; \
         a=$(cat sockets/srv/accept) && exec 5<> sockets/$a/data && exec 5<&- 4<&- || exit 1; \
         i=$((i + 1)); done; \
         true"
    )));
    let back = || daemon_fds(&m) <= before;
    assert!(
        eventually(Duration::from_secs(5), back),
        "{before} descriptors before, {} after",
        daemon_fds(&m)
    );
    drop(listener);
}
