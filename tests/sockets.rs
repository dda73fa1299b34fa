//! Socket endpoints through a real mount, against real peers the tests
//! start (Python's `socket` on 127.0.0.1, ::1 and a Unix path).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Mount, assert_ok, eventually, stdout, timed, wait_within};

/// A Python server that prints its port (or "ready") on its first line,
/// killed when dropped.
struct Peer {
    child: Child,
    /// What the server printed first: its port.
    first: String,
}

impl Peer {
    fn start(script: &str, args: &[&str]) -> Peer {
        // Not under timeout(1), whose death would leave python holding
        // the test's pipes: python ends itself after two minutes.
        let script = format!("import signal; signal.alarm(120)\n{script}");
        let mut child = Command::new("python3")
            .args(["-c", &script])
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

/// Echoes each connection's bytes back in upper case, forever.
const ECHO: &str = "import socket, sys, threading\n\
    family = socket.AF_INET6 if sys.argv[1] == '::1' else socket.AF_INET\n\
    s = socket.socket(family); s.bind((sys.argv[1], 0)); s.listen()\n\
    print(s.getsockname()[1], flush=True)\n\
    def serve(c):\n\
    \x20   while True:\n\
    \x20       d = c.recv(65536)\n\
    \x20       if not d: break\n\
    \x20       c.sendall(d.upper())\n\
    \x20   c.close()\n\
    while True:\n\
    \x20   c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()\n";

#[test]
fn a_shell_tcp_client_gets_an_echo_servers_reply() {
    let m = mount_or_skip!();
    let peer = Peer::start(ECHO, &["127.0.0.1"]);
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
    let v6 = Peer::start(ECHO, &["::1"]);
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
    let v4 = Peer::start(ECHO, &["127.0.0.1"]);
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
    let script = "import os, errno\n\
        os.mkdir('sockets/c')\n\
        fd = os.open('sockets/c/ctl', os.O_WRONLY)\n\
        try: os.write(fd, b'connect tcp 127.0.0.1:1\\n')\n\
        except OSError as e: print(errno.errorcode[e.errno])\n\
        for bad in (b'connect sctp 1.2.3.4:5', b'connect tcp nowhere', b'listen x'):\n\
        \x20   try: os.write(fd, bad)\n\
        \x20   except OSError as e: print(errno.errorcode[e.errno])\n\
        d = os.open('sockets/c/data', os.O_RDWR)\n\
        for f in (lambda: os.read(d, 10), lambda: os.write(d, b'x')):\n\
        \x20   try: f()\n\
        \x20   except OSError as e: print(errno.errorcode[e.errno])\n";
    let out = m.python(script, &[]).output().unwrap();
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
    let peer = Peer::start(
        "import socket, hashlib, threading\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         print(s.getsockname()[1], flush=True)\n\
         c, _ = s.accept()\n\
         data = bytes(range(251)) * (16 * 1024 * 1024 // 251 + 1)\n\
         data = data[:16 * 1024 * 1024]\n\
         t = threading.Thread(target=lambda: (c.sendall(data), c.shutdown(socket.SHUT_WR)))\n\
         t.start()\n\
         h = hashlib.sha256(); n = 0\n\
         while True:\n\
         \x20   d = c.recv(1 << 20)\n\
         \x20   if not d: break\n\
         \x20   h.update(d); n += len(d)\n\
         t.join()\n\
         print(n, h.hexdigest())\n",
        &[],
    );
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

#[test]
fn shutdown_wr_gives_the_peer_eof_and_the_reply_still_comes() {
    let m = mount_or_skip!();
    let peer = Peer::start(
        "import socket\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         print(s.getsockname()[1], flush=True)\n\
         c, _ = s.accept(); got = b''\n\
         while True:\n\
         \x20   d = c.recv(100)\n\
         \x20   if not d: break\n\
         \x20   got += d\n\
         c.sendall(b'got %d bytes' % len(got)); c.close()\n",
        &[],
    );
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
    let peer = Peer::start(
        "import socket\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         print(s.getsockname()[1], flush=True)\n\
         c, _ = s.accept()\n\
         print('eof' if c.recv(10) == b'' else 'data', flush=True)\n",
        &[],
    );
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
    let dir = std::env::temp_dir().join(format!("ipcfs-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let path = path.to_str().unwrap();
    let peer = Peer::start(
        "import socket, sys, os\n\
         s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()\n\
         print('ready', flush=True)\n\
         c, _ = s.accept(); c.sendall(c.recv(100)[::-1]); c.close()\n",
        &[path],
    );
    let out = m.run(&format!(
        "mkdir sockets/u && echo 'connect unix {path}' > sockets/u/ctl && \
         exec 3<> sockets/u/data && printf stressed >&3 && cat <&3; echo; \
         cat sockets/u/remote",
    ));
    assert_ok(&out);
    assert_eq!(stdout(&out), format!("desserts\n{path}\n"));
    drop(peer);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bind_to_a_port_in_use_is_eaddrinuse() {
    let m = mount_or_skip!();
    let peer = Peer::start(ECHO, &["127.0.0.1"]);
    let script = "import os, errno, sys\n\
        os.mkdir('sockets/b')\n\
        fd = os.open('sockets/b/ctl', os.O_WRONLY)\n\
        try: os.write(fd, ('bind tcp 127.0.0.1:%s' % sys.argv[1]).encode())\n\
        except OSError as e: print(errno.errorcode[e.errno])\n\
        print(os.write(fd, b'bind tcp 127.0.0.1:0'))\n\
        print(open('sockets/b/ctl').read().split()[:2])\n";
    let out = m.python(script, &[peer.port()]).output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "EADDRINUSE\n20\n['bound', 'tcp']\n");
}

#[test]
fn poll_on_data_reports_pollin_when_the_peer_sends() {
    let m = mount_or_skip!();
    let peer = Peer::start(
        "import socket, time\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         print(s.getsockname()[1], flush=True)\n\
         c, _ = s.accept(); time.sleep(0.5); c.sendall(b'late'); time.sleep(5)\n",
        &[],
    );
    let script = "import os, select, sys\n\
        os.mkdir('sockets/p')\n\
        with open('sockets/p/ctl', 'w') as f: f.write('connect tcp 127.0.0.1:%s' % sys.argv[1])\n\
        d = os.open('sockets/p/data', os.O_RDWR | os.O_NONBLOCK)\n\
        p = select.poll(); p.register(d, select.POLLIN)\n\
        print(p.poll(0))\n\
        ev = p.poll(5000)\n\
        print([e & select.POLLIN for _, e in ev] == [select.POLLIN], os.read(d, 10))\n";
    let out = m.python(script, &[peer.port()]).output().unwrap();
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
    let client = m
        .python(
            "import socket, sys\n\
             c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n\
             c.sendall(b'python\\n')\n\
             got = b''\n\
             while True:\n\
             \x20   d = c.recv(100)\n\
             \x20   if not d: break\n\
             \x20   got += d\n\
             print(got.decode(), end='')\n",
            &[&port],
        )
        .output()
        .unwrap();
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
    let script = "import os, socket, errno\n\
        os.mkdir('sockets/l')\n\
        ctl = os.open('sockets/l/ctl', os.O_WRONLY)\n\
        a = os.open('sockets/l/accept', os.O_RDONLY)\n\
        try: os.read(a, 100)\n\
        except OSError as e: print(errno.errorcode[e.errno])\n\
        os.write(ctl, b'bind tcp 127.0.0.1:0'); os.write(ctl, b'listen 4')\n\
        port = int(open('sockets/l/local').read().split(':')[1])\n\
        clients = [socket.create_connection(('127.0.0.1', port)) for _ in range(2)]\n\
        print(os.read(a, 100), os.read(a, 100), os.read(a, 100))\n\
        os.mkdir('sockets/l.3')\n\
        c3 = socket.create_connection(('127.0.0.1', port))\n\
        print(os.read(a, 100), os.read(a, 100))\n\
        print(sorted(os.listdir('sockets')))\n\
        print(open('sockets/l.2/ctl').read().split()[:2])\n\
        os.write(os.open('sockets/l.1/data', os.O_WRONLY), b'to one')\n\
        print(clients[0].recv(10))\n";
    let out = m.python(script, &[]).output().unwrap();
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
    let peer = Peer::start(
        "import socket, time\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(2048)\n\
         print(s.getsockname()[1], flush=True)\n\
         conns = []\n\
         while len(conns) < 1000: conns.append(s.accept()[0])\n\
         time.sleep(60)\n",
        &[],
    );
    let before = threads(m.pid());
    let script = "import os, sys\n\
        for i in range(1000):\n\
        \x20   os.mkdir('sockets/c%d' % i)\n\
        \x20   with open('sockets/c%d/ctl' % i, 'w') as f: f.write('connect tcp 127.0.0.1:' + sys.argv[1])\n\
        print(sum(open('sockets/c%d/ctl' % i).read().startswith('connected') for i in range(1000)))\n";
    let out = m.python(script, &[peer.port()]).output().unwrap();
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
    let server = Peer::start(
        "import http.server, socketserver, sys, os\n\
         os.chdir(sys.argv[1])\n\
         class Quiet(http.server.SimpleHTTPRequestHandler):\n\
         \x20   def log_message(self, *a): pass\n\
         s = socketserver.TCPServer(('127.0.0.1', 0), Quiet)\n\
         print(s.server_address[1], flush=True)\n\
         s.serve_forever()\n",
        &[dir.to_str().unwrap()],
    );
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
    let script = "import os, errno\n\
        for path in ('sockets/tcp/127.0.0.1/1', 'sockets/tcp/no-such-host.invalid/80'):\n\
        \x20   try: os.open(path, os.O_RDWR)\n\
        \x20   except OSError as e: print(errno.errorcode[e.errno])\n\
        for name in ('tcp', 'udp'):\n\
        \x20   try: os.mkdir('sockets/' + name)\n\
        \x20   except OSError as e: print(errno.errorcode[e.errno])\n\
        print(os.path.isdir('sockets/udp/example'), os.path.exists('sockets/tcp/h/0'))\n";
    let out = m.python(script, &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "ECONNREFUSED\nEHOSTDOWN\nEEXIST\nEEXIST\nTrue False\n"
    );
}

#[test]
fn a_udp_dial_file_keeps_datagram_boundaries() {
    let m = mount_or_skip!();
    let peer = Peer::start(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))\n\
         print(s.getsockname()[1], flush=True)\n\
         got = []\n\
         for _ in range(2):\n\
         \x20   d, a = s.recvfrom(100); got.append(d); s.sendto(d[::-1], a)\n\
         print(got, flush=True)\n",
        &[],
    );
    let script = "import os, sys\n\
        fd = os.open('sockets/udp/127.0.0.1/' + sys.argv[1], os.O_RDWR)\n\
        os.write(fd, b'one'); os.write(fd, b'second')\n\
        print(os.read(fd, 100), os.read(fd, 100))\n";
    let out = m.python(script, &[peer.port()]).output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "b'eno' b'dnoces'\n");
    assert_eq!(peer.output(), "[b'one', b'second']\n");
}

#[test]
fn udp_endpoints_keep_boundaries_one_open_one_datagram() {
    let m = mount_or_skip!();
    let peer = Peer::start(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))\n\
         print(s.getsockname()[1], flush=True)\n\
         got = []\n\
         for _ in range(3):\n\
         \x20   d, a = s.recvfrom(65536); got.append(d)\n\
         s.sendto(b'first reply', a); s.sendto(b'second', a)\n\
         print(got, flush=True)\n",
        &[],
    );
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
        .python(
            "import os, socket, sys\n\
         c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for size in (1000, 60000):\n\
         \x20   c.sendto(b'x' * size, ('127.0.0.1', int(sys.argv[1])))\n\
         \x20   fd = os.open('sockets/srv/data', os.O_RDONLY)\n\
         \x20   print(len(os.read(fd, 600)), len(os.read(fd, 65536)))\n\
         \x20   os.close(fd)\n",
            &[&port],
        )
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
        .python(
            "import os, socket, errno, sys\n\
         fd = os.open('sockets/srv/data', os.O_WRONLY)\n\
         try: os.write(fd, b'to nobody')\n\
         except OSError as e: print(errno.errorcode[e.errno])\n\
         c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         c.sendto(b'ping', ('127.0.0.1', int(sys.argv[1])))\n\
         print(open('sockets/srv/data', 'rb').read())\n\
         with open('sockets/srv/data', 'wb') as f: f.write(b'pong')\n\
         print(c.recvfrom(100)[0])\n",
            &[&port],
        )
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
        .python(
            "import os, socket, sys\n\
         a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(('127.0.0.1', 0))\n\
         b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(('127.0.0.1', 0))\n\
         for c in (a, b, a):\n\
         \x20   c.sendto(b'hi', ('127.0.0.1', int(sys.argv[1])))\n\
         \x20   data = open('sockets/srv/data', 'rb').read()\n\
         \x20   remote = open('sockets/srv/remote').read()\n\
         \x20   print(data, remote == '127.0.0.1:%d\\n' % c.getsockname()[1])\n",
            &[&port],
        )
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
    let peer = Peer::start(
        "import socket, sys\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])\n\
         print('ready', flush=True)\n\
         got = []\n\
         for _ in range(2):\n\
         \x20   d, a = s.recvfrom(100); got.append(d)\n\
         s.sendto(b'reply one', a); s.sendto(b'reply two', a)\n\
         print(got, flush=True)\n",
        &[server],
    );
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
    let script = "import os, select, socket, threading, time\n\
        os.mkdir('sockets/l')\n\
        with open('sockets/l/ctl', 'w') as f: f.write('bind tcp 127.0.0.1:0')\n\
        with open('sockets/l/ctl', 'w') as f: f.write('listen')\n\
        port = int(open('sockets/l/local').read().split(':')[1])\n\
        a = os.open('sockets/l/accept', os.O_RDONLY)\n\
        p = select.poll(); p.register(a, select.POLLIN)\n\
        print(p.poll(0))\n\
        threading.Thread(target=lambda: (time.sleep(0.3), socket.create_connection(('127.0.0.1', port)))).start()\n\
        print([e for _, e in p.poll(5000)] == [select.POLLIN], os.read(a, 100))\n";
    let out = m.python(script, &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "[]\nTrue b'l.1\\n'\n");
}

/// A server that closes its side, and one that resets: `status` and
/// `ctl` say so (`peer closed`, `reset`), as `ss` would show CLOSE-WAIT
/// and a closed connection, before and after the endpoint reads.
#[test]
fn status_shows_a_peer_that_closed_or_reset() {
    let m = mount_or_skip!();
    let server = Peer::start(
        "import socket, struct\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         print(s.getsockname()[1], flush=True)\n\
         c, _ = s.accept(); c.sendall(b'bye'); c.close()\n\
         c, _ = s.accept(); c.recv(1)\n\
         c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()\n",
        &[],
    );
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

/// A listener's `autoclose on`: each connection it accepts closes, and its
/// directory goes, with the last descriptor of its `data`, also when its
/// handler is killed mid-way; without it, a connection stays until rmdir.
#[test]
fn autoclose_connections_go_with_their_last_descriptor() {
    let m = mount_or_skip!();
    assert_ok(&m.run(
        "mkdir sockets/srv && echo 'bind tcp 127.0.0.1:0' > sockets/srv/ctl && \
         echo listen > sockets/srv/ctl && echo 'autoclose on' > sockets/srv/ctl",
    ));
    let port = stdout(&m.run("cut -d: -f2 sockets/srv/local"))
        .trim()
        .to_string();
    let mut clients = m
        .python(
            "import socket, sys, time\n\
             for i in range(3):\n\
             \x20   c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n\
             \x20   c.sendall(b'hi'); time.sleep(0.5)\n",
            &[&port],
        )
        .spawn()
        .unwrap();
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
    let out = m
        .python(
            "import os, socket, sys\n\
         a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(('127.0.0.1', 0))\n\
         b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(('127.0.0.1', 0))\n\
         a.sendto(b'from a', ('127.0.0.1', int(sys.argv[1])))\n\
         b.sendto(b'from b', ('127.0.0.1', int(sys.argv[1])))\n\
         got = [open('sockets/srv/data', 'rb').read() for _ in range(2)]\n\
         for g in got:\n\
         \x20   head, body = g.split(b'\\n', 1)\n\
         \x20   with open('sockets/srv/data', 'wb') as f: f.write(head + b'\\nre: ' + body)\n\
         print(got[0] == b'127.0.0.1:%d\\nfrom a' % a.getsockname()[1], a.recv(100), b.recv(100))\n",
            &[&port],
        )
        .output()
        .unwrap();
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
/// connect's — are closed at once, their reactor registration first: the
/// daemon's descriptors come back to where they were.
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
    let before = daemon_fds(&m);
    assert_ok(&m.run(&format!(
        "i=0; while [ $i -lt 50 ]; do exec 3<> sockets/tcp/127.0.0.1/{port}; exec 3<&-; \
         i=$((i + 1)); done; \
         i=0; while [ $i -lt 20 ]; do \
         echo 'connect tcp 127.0.0.1:{closed}' > sockets/f/ctl 2>/dev/null; i=$((i + 1)); done; \
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
