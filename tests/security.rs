//! A daemon running as root must never let a user do what that user could
//! not do directly. Tested with a real unprivileged user, created here.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

use common::{as_user, assert_ok, nobody, py_cmd, stderr, stdout, test_user};

#[test]
fn a_user_cannot_open_a_private_pipe_of_root_nor_remove_it() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    assert_ok(&m.run("umask 077; touch pipes/secret; umask 000; touch pipes/open"));
    let out = as_user(&m, &user, "exec 3<>pipes/secret");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Permission denied"), "{out:?}");
    let out = as_user(&m, &user, "rm -f pipes/open");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Operation not permitted"), "{out:?}");
    let out = as_user(&m, &user, "mv pipes/open pipes/stolen");
    assert!(!out.status.success(), "{out:?}");
    let out = as_user(&m, &user, "chmod 666 pipes/secret");
    assert!(stderr(&out).contains("Operation not permitted"), "{out:?}");
    // A world-writable pipe of root: the kernel lets the user write it,
    // but its settings stay root's.
    let out = as_user(&m, &user, &py_cmd("setxattr_of_roots_pipe.py", &[]));
    assert_eq!(stdout(&out), format!("{}\n", libc::EPERM), "{out:?}");
    assert_ok(&m.run("test -e pipes/open && test -e pipes/secret"));
}

#[test]
fn a_user_owns_what_it_creates_and_root_may_remove_it() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let out = as_user(
        &m,
        &user,
        "touch pipes/mine && chmod 600 pipes/mine && stat -c '%u %g %a' pipes/mine",
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), format!("{} {} 600\n", user.0, user.1));
    // The user's own pipe works for the user.
    let out = as_user(
        &m,
        &user,
        "exec 3<>pipes/mine; echo mine >&3; head -n 1 <&3",
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "mine\n");
    assert_ok(&m.run("rm pipes/mine"));
}

#[test]
fn without_allow_other_other_users_cannot_reach_the_mount() {
    let m = mount_or_skip!();
    let user = test_user();
    let out = as_user(&m, &user, "ls pipes");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Permission denied"), "{out:?}");
}

/// Root's process, killed when the test ends however it ends.
struct RootsProcess(u32);

impl RootsProcess {
    fn untouched(&self) -> bool {
        common::untouched_by_earlier_signals(self.0)
    }
}

impl Drop for RootsProcess {
    fn drop(&mut self) {
        // SAFETY: kill takes integers; the pid is the test's own child's.
        unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGKILL) };
    }
}

#[test]
fn a_user_may_signal_its_own_processes_and_not_roots() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    // Root's process and the user's writer share a session the daemon can
    // see: it is made here. (A CI runner's session may be led from outside
    // its pid namespace, where getsid(2) answers 0 and ipcfs refuses.)
    let out = Command::new("setsid")
        .args(["-w", "sh", "-c"])
        .arg(format!(
            "sleep 60 >/dev/null 2>&1 & echo $!; exec setpriv --reuid {} --regid {} --clear-groups \
             timeout -s KILL {} python3 '{}' $!",
            user.0,
            user.1,
            common::LIMIT,
            common::py("signal_own_not_roots.py").display()
        ))
        .current_dir(&m.dir)
        .output()
        .unwrap();
    let text = stdout(&out);
    let (pid, said) = text.split_once('\n').expect("a pid, then the results");
    let roots = RootsProcess(pid.parse().unwrap());
    // SIGCONT is the one exception of kill(2): allowed within a session.
    assert_eq!(
        said,
        format!("EPERM EPERM ok\nok {}\n", libc::SIGTERM),
        "{out:?}"
    );
    assert!(roots.untouched(), "root's process was hit");
    // From another session, SIGCONT is refused like any other signal.
    let out = as_user(
        &m,
        &user,
        &format!("setsid -w sh -c '/bin/echo CONT > proc/{}/signal'", roots.0),
    );
    assert!(stderr(&out).contains("Operation not permitted"), "{out:?}");
    assert!(roots.untouched(), "root's process was hit");
    // The group of root's process is out of reach too.
    let out = as_user(
        &m,
        &user,
        &format!("/bin/echo TERM > proc/{}/pgsignal", roots.0),
    );
    assert!(stderr(&out).contains("Operation not permitted"), "{out:?}");
    assert!(roots.untouched(), "root's process was hit");
}

/// Under a root daemon, a user's socket endpoint does only what the user
/// could do: no port below 1024, no Unix socket the user cannot reach,
/// no Unix path inside the mount; the same user binds port 0 and reaches
/// a socket it may.
#[test]
fn a_user_cannot_bind_a_low_port_nor_reach_a_root_only_unix_socket() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let dir = std::env::temp_dir().join(format!("ipcfs-sec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let private = dir.join("private");
    std::fs::create_dir_all(&private).unwrap();
    // Root's socket in a directory only root may enter; and one anyone may.
    let listen = |path: &std::path::Path| {
        let l = std::os::unix::net::UnixListener::bind(path).unwrap();
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        l
    };
    let _secret = listen(&private.join("s"));
    let _open = listen(&dir.join("open"));
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script = format!(
        "mkdir sockets/u1 sockets/u2 sockets/u3 sockets/u4 sockets/u5 || exit 1; \
         echo 'bind tcp 127.0.0.1:80' > sockets/u1/ctl; echo \"low port: $?\"; \
         echo 'bind tcp 127.0.0.1:0' > sockets/u2/ctl; echo \"port 0: $?\"; \
         echo 'connect unix {secret}' > sockets/u3/ctl; echo \"private: $?\"; \
         echo 'connect unix {open}' > sockets/u4/ctl; echo \"open: $?\"; \
         echo \"connect unix $PWD/pipes/x\" > sockets/u5/ctl; echo \"inside: $?\"; \
         cat sockets/u1/err sockets/u3/err sockets/u5/err",
        secret = private.join("s").display(),
        open = dir.join("open").display(),
    );
    let out = as_user(&m, &user, &script);
    let text = stdout(&out);
    assert_eq!(
        text.lines().take(5).collect::<Vec<_>>(),
        [
            "low port: 1",
            "port 0: 0",
            "private: 1",
            "open: 0",
            "inside: 1"
        ],
        "{text}\n{}",
        stderr(&out)
    );
    // (dash's echo reports any failed write as "I/O error": the errnos
    // are in err.)
    let secret = private.join("s");
    let expected_err = format!(
        "bind tcp 127.0.0.1:80 (a port this low needs root or CAP_NET_BIND_SERVICE): \
         Permission denied\n\
         connect unix {}: Permission denied\n",
        secret.display()
    );
    assert!(text.contains(&expected_err), "{text}");
    assert!(
        text.ends_with(" (a Unix path may not be inside the mount): Invalid argument\n"),
        "inside the mount: {text}"
    );
    // Root may.
    assert_ok(&m.run(&format!(
        "mkdir sockets/r && echo 'connect unix {}' > sockets/r/ctl",
        private.join("s").display()
    )));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A flood of one-byte messages by one user (each message costs the
/// daemon its bytes and a slot, both charged) stops at that user's share
/// of --max-memory with ENOSPC; the daemon's resident memory stays under
/// the cap; root and another user still send; draining gives the memory
/// back to the system.
#[test]
fn a_flood_by_one_user_stops_at_its_share_and_others_still_send() {
    let m = mount_or_skip!("--allow-other", "--max-memory", "64M");
    let user = test_user();
    let start = m.rss_kib();
    let flood = py_cmd("queue_flood.py", &[]);
    let out = as_user(&m, &user, &flood);
    assert_eq!(stdout(&out), "ENOSPC True\n", "{out:?}");
    let flooded = m.rss_kib();
    println!("daemon resident: {start} KiB at start, {flooded} KiB after the flood");
    assert!(
        flooded < start + (64 << 10),
        "resident memory {flooded} KiB passed the cap (start {start} KiB)"
    );
    let log = m.log();
    assert!(
        log.contains(&format!("uid {} refused", user.0)) && log.contains("--max-memory-per-user"),
        "{log}"
    );
    // Root and a second user (a uid with no account) still send.
    let out = m.run("echo root > queues/root && cat queues/root");
    assert_eq!(stdout(&out), "root\n");
    let other = Command::new("setpriv")
        .args(["--reuid", "4243", "--regid", "4243", "--clear-groups"])
        .args([
            "sh",
            "-c",
            "touch queues/other && echo two > queues/other && cat queues/other",
        ])
        .current_dir(&m.dir)
        .output()
        .unwrap();
    assert_eq!(stdout(&other), "two\n", "{other:?}");
    // Drained and removed: the memory goes back to the system.
    let drain = py_cmd("drain_flood.py", &[]);
    assert_ok(&as_user(&m, &user, &drain));
    let drained = m.rss_kib();
    println!("daemon resident after draining: {drained} KiB");
    assert!(
        drained < start + (12 << 10),
        "{drained} KiB resident after draining (start {start} KiB, flooded {flooded} KiB)"
    );
}

/// A user may have --max-objects-per-user objects; the next is EMFILE
/// with a log line naming the uid. Root has no such limit.
#[test]
fn objects_per_user_are_limited_with_emfile() {
    let m = mount_or_skip!("--allow-other", "--max-objects-per-user", "3");
    let user = test_user();
    let out = as_user(
        &m,
        &user,
        "touch queues/a pipes/b && mkdir sockets/c && touch shm/d; echo \"rc=$?\"; \
         rm queues/a && touch shm/d && echo again",
    );
    assert!(stderr(&out).contains("Too many open files"), "{out:?}");
    assert_eq!(stdout(&out), "rc=1\nagain\n", "{out:?}");
    assert!(
        m.log()
            .contains(&format!("uid {} may not make another object", user.0)),
        "{}",
        m.log()
    );
    assert_ok(&m.run("touch queues/r1 queues/r2 queues/r3 queues/r4"));
}

/// Users together cannot fill the daemon's descriptor table: with its
/// open-file limit lowered to 600 more than it holds, a user's flood of
/// shared-memory files (a memfd each) stops with EMFILE while root's
/// reserve is left, and root still makes 100 more.
#[test]
fn the_last_descriptors_are_kept_for_root() {
    let m = mount_or_skip!("--allow-other", "--max-objects-per-user", "100000");
    let user = test_user();
    let held = std::fs::read_dir(format!("/proc/{}/fd", m.pid()))
        .unwrap()
        .count() as u64;
    let limit = libc::rlimit {
        rlim_cur: held + 600,
        rlim_max: held + 600,
    };
    // SAFETY: prlimit reads the struct given and writes nothing back.
    let rc = unsafe {
        libc::prlimit(
            m.pid() as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    let flood = py_cmd("shm_flood.py", &[]);
    let out = as_user(&m, &user, &flood);
    assert_eq!(stdout(&out), "EMFILE True\n", "{out:?}");
    assert!(
        m.log().contains("descriptors are kept for root"),
        "{}",
        m.log()
    );
    let out = m.run("for i in $(seq 100); do touch shm/r$i || exit 1; done; echo made");
    assert_eq!(stdout(&out), "made\n", "{out:?}");
}

/// An open signal file holds a descriptor of the daemon's (its pidfd): it
/// counts as an object of its opener's, so that one user holding
/// thousands cannot take the descriptors everyone's signals need.
#[test]
fn open_signal_files_count_as_objects() {
    let m = mount_or_skip!("--allow-other", "--max-objects-per-user", "3");
    let user = test_user();
    let out = as_user(&m, &user, &py_cmd("hold_signal_files.py", &[]));
    assert_eq!(stdout(&out), "EMFILE\nagain\n", "{out:?}");
}

/// A dial file's connection is an object of its opener's: past their
/// limit the open is EMFILE, a closed one gives its place back, and root
/// still dials.
#[test]
fn dial_connections_count_as_objects() {
    let m = mount_or_skip!("--allow-other", "--max-objects-per-user", "3");
    let user = test_user();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = as_user(
        &m,
        &user,
        &py_cmd("hold_dial_connections.py", &[&port.to_string()]),
    );
    assert_eq!(stdout(&out), "EMFILE\nagain\n", "{out:?}");
    assert_ok(&m.run(&format!("exec 3<> sockets/tcp/127.0.0.1/{port}")));
    drop(listener);
}

/// A user in a user namespace of its own (`unshare -Ur`) holds every
/// capability there, and none over the daemon's world: its KILL to root's
/// process, or to that process's group, is refused and the process lives.
/// It still signals its own processes.
#[test]
fn a_user_namespace_gives_no_power_over_roots_processes() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let mut roots = Command::new("sleep")
        .arg("60")
        .process_group(0)
        .spawn()
        .unwrap();
    let script = format!(
        "unshare -Ur sh -c '\
         grep -q \"CapEff:.*1ff\" /proc/self/status && echo capable; \
         /bin/echo KILL > proc/{root}/signal; echo \"signal $?\"; \
         /bin/echo KILL > proc/{root}/pgsignal; echo \"pgsignal $?\"; \
         sleep 60 & echo TERM > proc/$!/signal; wait $!; echo \"own $?\"'",
        root = roots.id()
    );
    let out = as_user(&m, &user, &script);
    assert_eq!(
        stdout(&out),
        "capable\nsignal 1\npgsignal 1\nown 143\n",
        "{out:?}"
    );
    assert_eq!(
        stderr(&out).matches("Operation not permitted").count(),
        2,
        "{out:?}"
    );
    assert!(
        common::untouched_by_earlier_signals(roots.id()),
        "root's process was hit"
    );
    roots.kill().unwrap();
    roots.wait().unwrap();
}

/// A signal sent through ipcfs names its sender: the receiver's siginfo
/// has the writer's process and uid (an `SI_QUEUE` siginfo, value 0), not
/// the daemon's.
#[test]
fn a_signal_names_the_writer_not_the_daemon() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let script = py_cmd("signal_names_its_sender.py", &[]);
    let out = as_user(&m, &user, &script);
    assert_eq!(stdout(&out), "True True True 0\n", "{out:?}");
}

/// The daemon itself is out of a user's reach through its own files: a
/// thread may always signal its own process, so this one case is checked
/// by kill(2)'s rule against the daemon's ids, and refused. The mount
/// keeps serving.
#[test]
fn a_user_cannot_signal_the_daemon_through_it() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let daemon = m.pid();
    let out = as_user(
        &m,
        &user,
        &format!(
            "echo KILL > proc/{daemon}/signal; echo \"signal $?\"; \
             echo STOP > proc/{daemon}/pgsignal; echo \"pgsignal $?\"; \
             echo CONT > proc/{daemon}/signal; echo \"cont $?\""
        ),
    );
    assert_eq!(stdout(&out), "signal 1\npgsignal 1\ncont 1\n", "{out:?}");
    assert_ok(&m.run("touch pipes/alive && ls pipes"));
}

/// Acting threads cannot be signalled by the user they act for: while
/// a user's signal writes run, that user sends SIGKILL to every thread of
/// the daemon, and the daemon lives (an acting thread's real uid is no
/// user's).
#[test]
fn acting_threads_cannot_be_killed_by_their_caller() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let script = py_cmd("kill_acting_threads.py", &[&m.pid().to_string()]);
    let out = as_user(&m, &user, &script);
    assert_eq!(stdout(&out), "hits 0\n", "{out:?}");
    assert_ok(&m.run("touch pipes/alive && ls pipes"));
}

/// A directory of this test's own that every user may use, under /tmp.
fn shared_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ipcfs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    dir
}

/// A user's connects through a root daemon carry the user's identity: a
/// Unix stream server's `SO_PEERCRED` and a datagram server's
/// `SCM_CREDENTIALS` name the user and group (and the daemon's process,
/// which made the call).
#[test]
fn a_unix_peer_sees_the_user_not_root() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let dir = shared_dir("peer");
    let (stream, dgram) = (dir.join("stream"), dir.join("dgram"));
    let mut server = Command::new("timeout")
        // Root's Unix servers, one stream and one datagram, each printing
        // who its first peer is.
        .args(["-s", "KILL", common::LIMIT, "python3"])
        .arg(common::py("unix_peer_servers.py"))
        .args([&stream, &dgram])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    use std::io::BufRead;
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let script = format!(
        "mkdir sockets/s sockets/d && \
         echo 'connect unix {}' > sockets/s/ctl && \
         echo 'connect unixgram {}' > sockets/d/ctl && \
         echo hello > sockets/d/data",
        stream.display(),
        dgram.display()
    );
    assert_ok(&as_user(&m, &user, &script));
    let mut rest = String::new();
    use std::io::Read;
    out.read_to_string(&mut rest).unwrap();
    let _ = server.wait();
    let daemon = m.pid();
    assert_eq!(
        rest,
        format!(
            "stream {daemon} {u} {g}\ndgram {daemon} {u} {g} b'hello\\n'\n",
            u = user.0,
            g = user.1
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A listener a user makes through a root daemon is the user's: its
/// clients see the user (`SO_PEERCRED`), and the socket file is theirs.
#[test]
fn a_listener_shows_its_clients_the_user() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let dir = shared_dir("listen");
    let path = dir.join("l");
    let script = format!(
        "mkdir sockets/l && echo 'bind unix {}' > sockets/l/ctl && echo listen > sockets/l/ctl",
        path.display()
    );
    assert_ok(&as_user(&m, &user, &script));
    let client = "import socket, struct, sys\n\
        c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1])\n\
        print(*struct.unpack('3i', c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1:])\n";
    let out = Command::new("python3")
        .args(["-c", client])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(stdout(&out), format!("{} {}\n", user.0, user.1), "{out:?}");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&path).unwrap());
    assert_eq!(owner.to_string(), user.0, "the socket file is the user's");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Root in a user namespace of its own has CAP_NET_BIND_SERVICE there,
/// and not on the daemon's network: port 81 is refused with EACCES.
#[test]
fn a_user_namespace_binds_no_low_port() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let out = as_user(
        &m,
        &user,
        "unshare -Ur sh -c 'mkdir sockets/p && \
         /bin/echo \"bind tcp 127.0.0.1:81\" > sockets/p/ctl; echo \"bind $?\"; cat sockets/p/err'",
    );
    assert_eq!(
        stdout(&out),
        "bind 1\nbind tcp 127.0.0.1:81 (a port this low needs root or CAP_NET_BIND_SERVICE): \
         Permission denied\n",
        "{out:?}"
    );
}

/// A one-shot TCP server on 127.0.0.1: answers `text` to its first client.
fn answer_once(text: &'static str) -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        if let Ok((mut c, _)) = listener.accept() {
            use std::io::Write;
            let _ = c.write_all(text.as_bytes());
        }
    });
    (port, t)
}

/// Sockets are made in the caller's network namespace: a caller in one
/// of its own (`unshare -n` as root, `unshare -rn` as a user) reaches the
/// server it runs there on 127.0.0.1, through ctl and through a dial
/// file, and not the host's.
#[test]
fn a_caller_in_its_own_network_namespace_reaches_its_own_loopback() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let (host_port, _host) = answer_once("host\n");
    // A server on 127.0.0.1:7007 that answers `inside` twice.
    let server = common::py("loopback_server.py");
    let server = server.display();
    for (who, unshare) in [("root", "unshare -n"), ("user", "unshare -rn")] {
        let script = format!(
            "{unshare} sh -c 'ip link set lo up || exit 9
             python3 \"{server}\" &
             sleep 0.5
             mkdir sockets/{who}1 sockets/{who}2
             echo \"connect tcp 127.0.0.1:7007\" > sockets/{who}1/ctl && cat sockets/{who}1/data
             cat sockets/tcp/127.0.0.1/7007
             /bin/echo \"connect tcp 127.0.0.1:{host_port}\" > sockets/{who}2/ctl; echo \"host $?\"
             wait'"
        );
        let out = if who == "root" {
            m.run(&script)
        } else {
            as_user(&m, &user, &script)
        };
        assert_eq!(stdout(&out), "inside\ninside\nhost 1\n", "{who}: {out:?}");
    }
}

/// No Unix path reaches into the mount itself, however it is spelled:
/// through `/proc/self/root` (no file at all), or a symbolic link. Each is
/// refused with the reason, decided on the file the path resolves to, and
/// the mount keeps serving.
#[test]
fn no_unix_path_reaches_into_the_mount() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let dir = shared_dir("into");
    let link = dir.join("link");
    std::os::unix::fs::symlink(m.dir.join("pipes"), &link).unwrap();
    let mount = m.dir.display();
    let script = format!(
        "mkdir sockets/a sockets/b sockets/c && \
         /bin/echo 'connect unix /proc/self/root{mount}/pipes/x' > sockets/a/ctl; echo \"a $?\"; \
         /bin/echo 'connect unix {link}/y' > sockets/b/ctl; echo \"b $?\"; \
         /bin/echo 'bind unix {link}/z' > sockets/c/ctl; echo \"c $?\"; \
         cat sockets/a/err sockets/b/err sockets/c/err; touch pipes/after && echo served",
        link = link.display()
    );
    let out = as_user(&m, &user, &script);
    let refused = " (a Unix path may not be inside the mount): Invalid argument";
    assert_eq!(
        stdout(&out),
        format!(
            "a 1\nb 1\nc 1\n\
             connect unix /proc/self/root{mount}/pipes/x{refused}\n\
             connect unix {link}/y{refused}\n\
             bind unix {link}/z{refused}\nserved\n",
            link = link.display()
        ),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The daemon in a mount namespace of its own, whose /etc/resolv.conf
/// names a name server on 127.0.0.77 that reads and never answers; the
/// mount is seen only in that namespace, entered with nsenter. Killed
/// (and the namespace with it) when dropped.
struct DeafResolver {
    daemon: std::process::Child,
    dir: std::path::PathBuf,
    _server: std::net::UdpSocket,
    _tmp: common::TempDir,
}

impl DeafResolver {
    fn start() -> Option<DeafResolver> {
        if let Some(reason) = common::mount_unavailable() {
            eprintln!("skipping mount test: {reason}");
            return None;
        }
        let server = std::net::UdpSocket::bind("127.0.0.77:53").expect("a deaf name server");
        let tmp = common::TempDir::new("deaf");
        let dir = tmp.0.join("m");
        std::fs::create_dir(&dir).unwrap();
        let resolv = tmp.0.join("resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.77\n").unwrap();
        // On the transport the other mount tests use (tests/common).
        let transport = std::env::var("IPCFS_TEST_TRANSPORT").unwrap_or_else(|_| "dev".into());
        let daemon = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(
                "mount --bind \"$1\" /etc/resolv.conf && \
                 exec \"$2\" --allow-other --transport \"$4\" \"$3\"",
            )
            .args([
                "sh".as_ref(),
                resolv.as_os_str(),
                common::BIN.as_ref(),
                dir.as_os_str(),
                transport.as_ref(),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(tmp.0.join("daemon.log")).unwrap())
            .spawn()
            .unwrap();
        let me = DeafResolver {
            daemon,
            dir,
            _server: server,
            _tmp: tmp,
        };
        let up = common::eventually(std::time::Duration::from_secs(10), || {
            me.run(None, "test -e README").status.success()
        });
        assert!(up, "the daemon did not mount in its namespace");
        Some(me)
    }

    /// Runs a script in the mount, in the daemon's mount namespace, as
    /// `user` (or root).
    fn run(&self, user: Option<&(String, String)>, script: &str) -> Output {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.daemon.id().to_string(), "-m", "--"]);
        if let Some((uid, gid)) = user {
            c.args(["setpriv", "--reuid", uid, "--regid", gid, "--clear-groups"]);
        }
        c.args(["timeout", "-s", "KILL", common::LIMIT, "sh", "-c"])
            .arg(format!("cd \"$0\" && {script}"))
            .arg(&self.dir)
            .output()
            .unwrap()
    }
}

impl Drop for DeafResolver {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A name server that never answers holds up no one else: while four
/// connects to host names wait on it, parked, another user's pipe write
/// is served at once. Each connect fails after 5 s with the reason, and a
/// connect waiting on it is interrupted at once.
#[test]
fn a_name_server_that_never_answers_holds_up_no_one() {
    let Some(deaf) = DeafResolver::start() else {
        return;
    };
    let user = test_user();
    let waiting = std::thread::spawn({
        let user = user.clone();
        let d = (deaf.daemon.id(), deaf.dir.clone());
        move || {
            let script = "for i in 1 2 3 4; do mkdir sockets/r$i; done
                for i in 1 2 3 4; do
                    (/bin/echo connect tcp never$i.example:80 > sockets/r$i/ctl; echo \"r$i $?\") &
                done
                wait; cat sockets/r1/err";
            Command::new("nsenter")
                .args(["-t", &d.0.to_string(), "-m", "--"])
                .args([
                    "setpriv",
                    "--reuid",
                    &user.0,
                    "--regid",
                    &user.1,
                    "--clear-groups",
                ])
                .args(["timeout", "-s", "KILL", common::LIMIT, "sh", "-c"])
                .arg(format!("cd \"$0\" && {script}"))
                .arg(&d.1)
                .output()
                .unwrap()
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Root, meanwhile: a pipe write and a listing, timed in the shell.
    let out = deaf.run(
        None,
        "cat pipes/p > /dev/null & sleep 0.2
         a=$(date +%s%N); echo x > pipes/p; ls sockets > /dev/null; b=$(date +%s%N)
         wait; echo $(( (b - a) / 1000000 ))",
    );
    let ms: u64 = stdout(&out).trim().parse().expect("milliseconds");
    assert!(ms < 100, "a pipe write took {ms} ms while lookups waited");
    // A connect waiting on the name server ends at once when interrupted.
    let out = deaf.run(
        Some(&user),
        "mkdir sockets/i; a=$(date +%s%N)
         timeout 1 /bin/echo connect tcp interrupted.example:80 > sockets/i/ctl; s=$?
         b=$(date +%s%N); echo \"$s $(( (b - a) / 1000000000 ))\"",
    );
    assert_eq!(stdout(&out), "124 1\n", "{out:?}");
    let out = waiting.join().unwrap();
    let text = stdout(&out);
    let mut lines: Vec<&str> = text.lines().collect();
    let err = lines.pop().unwrap_or_default().to_string();
    lines.sort_unstable();
    assert_eq!(lines, ["r1 1", "r2 1", "r3 1", "r4 1"], "{out:?}");
    assert_eq!(
        err,
        "connect tcp never1.example:80 (name resolution of never1.example gave no answer \
         within 5 s): Connection timed out"
    );
}

/// A set-user-ID root copy of `echo`, in a directory of this test's own:
/// a program that writes what its caller chose with euid 0.
fn setuid_echo(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = shared_dir(tag);
    let echo = dir.join("echo");
    std::fs::copy("/bin/echo", &echo).unwrap();
    std::fs::set_permissions(&echo, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
    (dir, echo)
}

/// The rights of a write are those of the file's opener, as the kernel
/// checks a file's at open: a user hands a signal file or a ctl file it
/// opened to a set-user-ID root program that writes the user's words,
/// and nothing happens that the user could not do. (With the writer's
/// identity, the user killed root's processes and the daemon, connected
/// to root's private sockets as root and bound port 80.)
#[test]
fn a_set_user_id_writer_acts_with_the_openers_rights() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let (dir, echo) = setuid_echo("suid");
    let mut roots = Command::new("sleep").arg("60").spawn().unwrap();
    let daemon = m.pid();
    let script = format!(
        "{echo} KILL > proc/{root}/signal; echo \"root $?\"; \
         {echo} KILL > proc/{daemon}/signal; echo \"daemon $?\"; \
         mkdir sockets/p80 && {echo} 'bind tcp 127.0.0.1:80' > sockets/p80/ctl; echo \"bind $?\"",
        echo = echo.display(),
        root = roots.id()
    );
    let out = as_user(&m, &user, &script);
    assert_eq!(stdout(&out), "root 1\ndaemon 1\nbind 1\n", "{out:?}");
    assert!(
        common::untouched_by_earlier_signals(roots.id()),
        "root's process was hit"
    );
    assert_ok(&m.run("touch pipes/alive"));
    roots.kill().unwrap();
    roots.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// An open signal file holds its process: once that process has ended
/// and been reaped, a write is ESRCH and a read ENOENT-free ESRCH, even if
/// another process got its id (made here with ns_last_pid).
#[test]
fn an_open_signal_file_never_reaches_a_later_process_with_its_id() {
    let m = mount_or_skip!();
    let out = m
        .python_file("signal_file_outlives_its_process.py", &[])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "True ESRCH ESRCH\nTrue\n", "{out:?}");
}

/// Reading an endpoint's `data` is recv(2) on its socket and reading
/// `accept` is accept(2): an endpoint is its owner's alone, as a socket is
/// its process's. Whatever the umask (022 or 000) its directory is 0700,
/// `ctl`, `data` and `accept` 0600 and the files that only tell 0400;
/// another user gets EACCES on all of them, and the owner's `chmod`
/// shares them.
#[test]
fn another_user_cannot_read_an_endpoints_connection() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    assert_ok(&m.run(
        "umask 022 && mkdir sockets/mine && echo 'bind tcp 127.0.0.1:0' > sockets/mine/ctl && \
         echo listen > sockets/mine/ctl && umask 000 && mkdir sockets/open",
    ));
    let out = m.run(
        "stat -c '%n %a' sockets/mine sockets/mine/ctl sockets/mine/data sockets/mine/accept \
         sockets/mine/status sockets/open sockets/open/data sockets/open/status",
    );
    assert_eq!(
        stdout(&out),
        "sockets/mine 700\nsockets/mine/ctl 600\nsockets/mine/data 600\n\
         sockets/mine/accept 600\nsockets/mine/status 400\nsockets/open 700\n\
         sockets/open/data 600\nsockets/open/status 400\n"
    );
    let out = as_user(
        &m,
        &user,
        "cat sockets/mine/data; echo \"data $?\"; cat sockets/mine/accept; echo \"accept $?\"; \
         cat sockets/mine/status; echo \"status $?\"",
    );
    assert_eq!(stdout(&out), "data 1\naccept 1\nstatus 1\n", "{out:?}");
    assert_eq!(
        stderr(&out).matches("Permission denied").count(),
        3,
        "{out:?}"
    );
    // The owner shares by chmod: the user's accept then waits.
    assert_ok(&m.run("chmod 711 sockets/mine && chmod 666 sockets/mine/accept"));
    let out = as_user(
        &m,
        &user,
        "timeout 0.3 cat sockets/mine/accept; echo \"accept $?\"",
    );
    assert_eq!(stdout(&out), "accept 124\n", "{out:?}");
}

/// Names no rename may take: the dial directories (`sockets/tcp`), which
/// root's next dial would then miss, and a live endpoint, which would be
/// left nameless with its callers (rename(2): ENOTEMPTY). The listener
/// renamed over still listens, and dials still work.
#[test]
fn renames_take_no_reserved_name_and_no_live_endpoint() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    assert_ok(&m.run(
        "mkdir -m 777 sockets/srv && echo 'bind tcp 127.0.0.1:0' > sockets/srv/ctl && \
         echo listen > sockets/srv/ctl",
    ));
    let out = as_user(
        &m,
        &user,
        "mkdir sockets/evil sockets/own && echo 'bind tcp 127.0.0.1:0' > sockets/own/ctl && \
         echo listen > sockets/own/ctl; \
         mv -T sockets/evil sockets/tcp; echo \"tcp $?\"; \
         mv -T sockets/evil sockets/udp; echo \"udp $?\"; \
         mv -T sockets/evil sockets/own; echo \"own $?\"; \
         mv -T sockets/evil sockets/srv; echo \"srv $?\"; \
         cut -d' ' -f1 sockets/own/ctl",
    );
    assert_eq!(
        stdout(&out),
        "tcp 1\nudp 1\nown 1\nsrv 1\nlistening\n",
        "{out:?}"
    );
    let err = stderr(&out);
    assert!(err.contains("File exists"), "{err}");
    assert!(err.contains("Directory not empty"), "{err}");
    // Root's, in the sticky sockets/: the kernel refuses it first.
    assert!(err.contains("Operation not permitted"), "{err}");
    let out = m.run("cut -d' ' -f1 sockets/srv/ctl; test -d sockets/tcp/127.0.0.1 && echo dial");
    assert_eq!(stdout(&out), "listening\ndial\n");
}

/// Another user's writes blocked on a pipe one may write are theirs to
/// pay for: their bytes count against the writer's share while they wait
/// (ENOSPC at that share), and the pipe's owner keeps all of its own.
#[test]
fn blocked_writers_pay_for_their_own_bytes() {
    blocked_writers_leave_the_owners_share("pipes/box", "touch pipes/box && chmod 666 pipes/box");
}

/// The same for a queue: batches blocked on another user's full queue are
/// charged to their writer while they wait.
#[test]
fn blocked_queue_writers_pay_for_their_own_bytes() {
    blocked_writers_leave_the_owners_share(
        "queues/box",
        "touch queues/box && chmod 666 queues/box && \
         python3 -c \"import os; os.setxattr('queues/box', 'user.ipcfs.max_messages', b'1')\"",
    );
}

/// A shared mount where each user has a 1 MiB share of 16 MiB.
macro_rules! mount_with_small_shares {
    () => {
        mount_or_skip!(
            "--allow-other",
            "--max-memory",
            "16M",
            "--max-memory-per-user",
            "1M"
        )
    };
}

/// A shared mount where each user has an 8 MiB share of 64 MiB.
macro_rules! mount_with_shares {
    () => {
        mount_or_skip!(
            "--allow-other",
            "--max-memory",
            "64M",
            "--max-memory-per-user",
            "8M"
        )
    };
}

/// The test user makes `object`, which everyone may write (`make`);
/// nobody opens it and blocks six writes on it (blocked_writers_flood.py
/// in tests/py). Those writes stop with ENOSPC at nobody's 8 MiB share,
/// and the owner can still take 7 MiB of its own.
fn blocked_writers_leave_the_owners_share(object: &str, make: &str) {
    let m = mount_with_shares!();
    let owner = test_user();
    assert_ok(&as_user(&m, &owner, make));
    let nobody = nobody();
    let object_arg = object.to_string();
    let flood = std::thread::spawn({
        let dir = m.dir.clone();
        move || {
            Command::new("setpriv")
                .args(["--reuid", &nobody.0, "--regid", &nobody.1, "--clear-groups"])
                .args(["timeout", "-s", "KILL", common::LIMIT, "python3"])
                .arg(common::py("blocked_writers_flood.py"))
                .arg(object_arg)
                .current_dir(&dir)
                .output()
                .unwrap()
        }
    });
    let blocked = || !matches!(common::xattr(&m, object, "blocked").as_str(), "" | "0");
    let five = std::time::Duration::from_secs(5);
    assert!(common::eventually(five, blocked), "nobody's writes park");
    let out = as_user(&m, &owner, "truncate -s 7M shm/mine && echo kept");
    let flood = flood.join().unwrap();
    assert_eq!(
        stdout(&out),
        "kept\n",
        "the owner's share was taken: {out:?}"
    );
    assert_eq!(stdout(&flood), "['ENOSPC']\n", "{flood:?}");
}

/// A Python program, `tests/py/NAME`, run as a user in the mountpoint,
/// that takes hold of something, prints lines ending with `held`, and lets
/// go (its program goes on) when told to.
struct Holding {
    child: std::process::Child,
    /// What it printed, up to and with `held`.
    said: String,
}

impl Holding {
    fn start(m: &common::Mount, user: &(String, String), name: &str) -> Holding {
        use std::io::BufRead;
        let mut child = Command::new("setpriv")
            .args(["--reuid", &user.0, "--regid", &user.1, "--clear-groups"])
            .args(["timeout", "-s", "KILL", common::LIMIT, "python3"])
            .arg(common::py(name))
            .current_dir(&m.dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut said = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        while !said.ends_with("held\n") && out.read_line(&mut said).unwrap() > 0 {}
        Holding { child, said }
    }

    /// Tells it to go on, and waits for its end: whether it succeeded.
    fn finish(mut self) -> bool {
        use std::io::Write;
        let told = self.child.stdin.take().unwrap().write_all(b"\n");
        told.is_ok() && self.child.wait().unwrap().success()
    }
}

/// A user whose writers start messages and never end them holds at most
/// half of another's queue: its next open waits, and another user's
/// message still reaches a reader. (Before, 8 such writers held all 8
/// places, and every other writer waited until they closed.)
#[test]
fn a_user_holding_messages_in_progress_does_not_hold_a_queue_shut() {
    let m = mount_or_skip!("--allow-other");
    assert_ok(&m.run(
        "touch queues/box && chmod 666 queues/box && \
         python3 -c \"import os; os.setxattr('queues/box', 'user.ipcfs.max_messages', b'8')\"",
    ));
    let user = test_user();
    // Its write through a description without a place does not wait in
    // write(2), where it would hold the file's lock and every other
    // writer would wait behind it, uninterruptibly: EAGAIN.
    let held = Holding::start(&m, &user, "hold_messages_in_progress.py");
    assert_eq!(held.said, "EAGAIN\nheld\n");
    // Its fifth open waits for one of its four to end, interruptibly.
    let out = as_user(&m, &user, "timeout 1 sh -c 'exec 3>queues/box'; echo $?");
    assert_eq!(stdout(&out), "124\n", "{out:?}");
    // Another user's messages go in, by `>` and by `>>`, and are read.
    let nobody = nobody();
    let out = as_user(
        &m,
        &nobody,
        "timeout 5 sh -c 'echo hi > queues/box; echo there >> queues/box' && echo sent",
    );
    assert_eq!(stdout(&out), "sent\n", "{out:?}");
    assert_eq!(
        stdout(&m.run("cat queues/box; cat queues/box")),
        "hi\nthere\n"
    );
    // The holder's messages end whole when it closes.
    assert!(held.finish());
    assert_eq!(common::xattr(&m, "queues/box", "messages"), "4");
    assert!(
        m.log()
            .contains("its next message waits for one of them to end")
    );
}

/// Messages in progress in another user's queue are their writer's to
/// pay for until they are whole: a writer past its share gets ENOSPC, and
/// the owner keeps its own share meanwhile. (Before, they were charged to
/// the queue's owner, whose own allocation then failed.)
#[test]
fn messages_in_progress_are_charged_to_their_writer() {
    let m = mount_with_shares!();
    let owner = test_user();
    assert_ok(&as_user(
        &m,
        &owner,
        "touch queues/box && chmod 666 queues/box && \
         python3 -c \"import os; os.setxattr('queues/box', 'user.ipcfs.max_message_size', b'3000000')\"",
    ));
    let nobody = nobody();
    let held = Holding::start(&m, &nobody, "hold_large_messages_in_progress.py");
    assert_eq!(held.said, "3000000 3000000\nENOSPC\nheld\n");
    let out = as_user(&m, &owner, "truncate -s 7M shm/mine && echo kept");
    assert_eq!(
        stdout(&out),
        "kept\n",
        "the owner's share was taken: {out:?}"
    );
    // Whole, they are the queue's, and nothing of them is lost.
    assert!(held.finish());
    assert_eq!(common::xattr(&m, "queues/box", "messages"), "2");
    assert_eq!(common::xattr(&m, "queues/box", "bytes"), "6000000");
}

/// Lookups cost the daemon nothing it keeps: 100,000 `stat`s of distinct
/// dial paths leave its resident memory within the cap plus the fixed
/// overhead ipcfs(7) documents (about 10 MiB). The kernel is asked to
/// drop the entries it no longer uses. (Before, they took the daemon from
/// 4 to 171 MB, outside the cap.)
#[test]
fn lookups_keep_the_daemon_within_its_cap() {
    let m = mount_or_skip!("--allow-other", "--max-memory", "16M");
    let user = test_user();
    let out = as_user(&m, &user, &py_cmd("stat_dial_names.py", &["100000"]));
    assert_eq!(stdout(&out), "looked up\n", "{out:?}");
    let rss = m.rss_kib();
    eprintln!("daemon resident after 100,000 lookups: {rss} KiB");
    assert!(rss < (16 + 10) * 1024, "{rss} KiB resident");
    // A path looked up long ago is found again.
    assert_ok(&m.run("test -f sockets/tcp/10.0.0.0/80"));
}

/// The names a user's lookups make are charged to that user while the
/// kernel holds them: names pinned by descriptors (`O_PATH`, which the
/// kernel's drops cannot free) stop at the user's share with ENOSPC,
/// and the daemon stays within its cap. (Before, a user pinning 76,000
/// names took the daemon from 8 to 95 MB, charged to no one.)
#[test]
fn names_a_user_pins_are_charged_to_it() {
    let m = mount_with_small_shares!();
    let out = as_user(&m, &nobody(), &py_cmd("pin_dial_names.py", &["5000"]));
    // 1 MiB holds 1,024 entries of 1 KiB; each pin makes two (its host's
    // directory and its port), and `tcp` is one.
    assert_eq!(stdout(&out), "511 ENOSPC\n", "{out:?}");
    // Another user still looks names up.
    let out = as_user(&m, &test_user(), "stat -c %F sockets/tcp/127.0.0.1/80");
    assert_eq!(stdout(&out), "regular file\n", "{out:?}");
}

/// One user's lookups make the kernel drop only that user's names: a
/// working directory another user made in a made-up directory stays
/// whole however many names the first looks up. (Before, 4,096 lookups
/// of anyone's dropped everyone's oldest, and a shell's working directory
/// became "(deleted)".)
#[test]
fn one_users_lookups_leave_anothers_names_alone() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let held = Holding::start(&m, &user, "cwd_in_made_up_directory.py");
    assert_eq!(held.said, "held\n");
    let out = as_user(&m, &nobody(), &py_cmd("stat_dial_names.py", &["6000"]));
    assert_eq!(stdout(&out), "looked up\n", "{out:?}");
    assert!(held.finish(), "the working directory was dropped");
}

/// One user may have `--max-waiting-per-user` calls waiting: past it a
/// call that would wait fails with EAGAIN, and another user's calls still
/// wait and are served. (Before, a user's waiting calls had no bound, and
/// over io_uring they could take every entry of a CPU's ring.)
#[test]
fn a_user_waits_in_as_many_calls_as_it_may_and_no_more() {
    let m = mount_or_skip!("--allow-other", "--max-waiting-per-user", "32");
    assert_ok(&m.run("touch queues/box queues/other && chmod 666 queues/box queues/other"));
    let user = test_user();
    let held = Holding::start(&m, &user, "hold_waiting_reads.py");
    assert_eq!(held.said, "EAGAIN\nheld\n");
    // Another user's read waits, and is served.
    let reader = std::thread::spawn({
        let dir = m.dir.clone();
        move || {
            Command::new("setpriv")
                .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
                .args(["timeout", "5", "cat", "queues/other"])
                .current_dir(dir)
                .output()
                .unwrap()
        }
    });
    let waiting = || common::xattr(&m, "queues/other", "blocked") == "1";
    assert!(common::eventually(
        std::time::Duration::from_secs(5),
        waiting
    ));
    assert_ok(&m.run("echo hi > queues/other"));
    assert_eq!(stdout(&reader.join().unwrap()), "hi\n");
    assert!(held.finish());
    assert!(m.log().contains("(--max-waiting-per-user)"));
}

/// A message a reader keeps (it read part of it) is the reader's to pay
/// for: a reader that keeps one byte's read of each message cannot fill
/// the owner's share past the queue's `max_messages`; it stops at its own
/// share with ENOSPC, the message left queued. (Before, the owner paid:
/// one user filled the whole cap at another's expense.)
#[test]
fn a_reader_pays_for_the_messages_it_keeps() {
    use std::io::{BufRead, Write};
    let m = mount_with_small_shares!();
    let owner = test_user();
    let send = format!(
        "touch queues/box && chmod 666 queues/box && {}",
        py_cmd("send_messages.py", &["queues/box", "100", "8000"])
    );
    let out = as_user(&m, &owner, &send);
    assert_eq!(stdout(&out), "100 none\n", "{out:?}");
    let nobody = nobody();
    let mut reader = Command::new("setpriv")
        .args(["--reuid", &nobody.0, "--regid", &nobody.1, "--clear-groups"])
        .args(["timeout", "-s", "KILL", common::LIMIT, "python3"])
        .arg(common::py("keep_received_messages.py"))
        .args(["100", "100"])
        .current_dir(&m.dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(reader.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    assert_eq!(next(), "100 none");
    assert_eq!(next(), "held");
    // The owner's share has room again: what the reader keeps is its own.
    let out = as_user(
        &m,
        &owner,
        &py_cmd("send_messages.py", &["queues/box", "100", "8000"]),
    );
    assert_eq!(stdout(&out), "100 none\n", "{out:?}");
    // The reader stops at its own share: 1 MiB holds 131 messages of
    // 8,000 bytes.
    reader.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert_eq!(next(), "31 ENOSPC");
    assert!(reader.wait().unwrap().success());
    assert_eq!(common::xattr(&m, "queues/box", "messages"), "69");
}

/// Names the kernel can drop never fill a user's share: with 1 MiB (room
/// for 1,024 names), 3,000 `stat`s of distinct made-up names all succeed,
/// as the kernel is asked to drop the oldest once half the share is
/// taken. (Before, the 1,025th failed with ENOSPC, and every create of the
/// user after it, until the kernel dropped its cache.)
#[test]
fn names_the_kernel_can_drop_never_fill_a_share() {
    let m = mount_with_small_shares!();
    let user = test_user();
    let out = as_user(&m, &user, &py_cmd("stat_dial_hosts.py", &["3000"]));
    assert_eq!(stdout(&out), "{'ok': 3000}\n", "{out:?}");
    assert_ok(&as_user(&m, &user, "touch pipes/mine"));
}

/// A packet-mode write of a user at its share of places, on a queue full
/// of that user's messages, fails with EAGAIN instead of waiting in
/// write(2) with the kernel's file lock held (where root's `>>` sat in
/// state D, SIGKILL included, until the user let go).
#[test]
fn a_packet_write_at_its_writers_share_does_not_wait() {
    let m = mount_or_skip!("--allow-other");
    assert_ok(&m.run(
        "touch queues/box && chmod 666 queues/box && \
         python3 -c \"import os; os.setxattr('queues/box', 'user.ipcfs.max_messages', b'4')\"",
    ));
    let held = Holding::start(&m, &test_user(), "packet_write_at_share.py");
    assert_eq!(held.said, "EAGAIN\nheld\n");
    let out = m.run("timeout 5 cat queues/box; echo; timeout 5 sh -c 'echo more >> queues/box'");
    assert_eq!(stdout(&out), "one\n", "{out:?}");
    assert!(out.status.success(), "{out:?}");
    assert!(held.finish());
}

/// One user's flood of refused calls does not silence another's: the log
/// keeps each caller's lines apart (at most 50 a second from one place
/// for one caller). The second user's refusal comes while the first's
/// lines are being left out.
#[test]
fn a_users_flood_of_refusals_leaves_anothers_in_the_log() {
    let m = mount_or_skip!("--allow-other");
    let flooding = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["timeout", "-s", "KILL", common::LIMIT, "python3"])
        .arg(common::py("refused_open_flood.py"))
        .args(["4", "signal"])
        .current_dir(&m.dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let left_out = "more lines like the next were left out";
    assert!(
        common::eventually(std::time::Duration::from_secs(10), || m
            .log()
            .contains(left_out)),
        "the flood was never cut:\n{}",
        m.log()
    );
    let out = as_user(&m, &test_user(), "mkdir queues/refused");
    assert!(stderr(&out).contains("Operation not permitted"), "{out:?}");
    let flood = flooding.wait_with_output().unwrap();
    assert_eq!(stdout(&flood), "True\n", "{flood:?}");
    let log = m.log();
    assert!(
        log.contains("mkdir queues/refused"),
        "{}",
        &log[log.len().saturating_sub(3000)..]
    );
}
