//! A daemon running as root must never let a user do what that user could
//! not do directly. Tested with a real unprivileged user, created here.

mod common;

use std::process::{Command, Output};

use common::{assert_ok, stderr, stdout};

/// uid and gid of an unprivileged user made for these tests.
fn test_user() -> (String, String) {
    const NAME: &str = "ipcfs-test";
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, NAME])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| stdout(&o).trim().to_string())
    };
    if id("-u").is_none() {
        // Concurrent tests may race to create it: "already exists" is fine.
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                NAME,
            ])
            .output();
    }
    let uid = id("-u").expect("test user exists");
    let gid = id("-g").expect("test user has a group");
    assert_ne!(uid, "0");
    (uid, gid)
}

/// Runs a shell script in the mountpoint as the test user.
fn as_user(m: &common::Mount, user: &(String, String), script: &str) -> Output {
    Command::new("setpriv")
        .args(["--reuid", &user.0, "--regid", &user.1, "--clear-groups"])
        .args(["timeout", "-s", "KILL", common::LIMIT, "sh", "-c", script])
        .current_dir(&m.dir)
        .output()
        .unwrap()
}

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
    let out = as_user(
        &m,
        &user,
        "python3 -c \"import os\ntry:\n os.setxattr('pipes/open', 'user.ipcfs.capacity', b'8192')\n\
         except PermissionError as e:\n print(e.errno)\"",
    );
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

#[test]
fn a_user_may_signal_its_own_processes_and_not_roots() {
    let m = mount_or_skip!("--allow-other");
    let user = test_user();
    let mut roots = Command::new("sleep").arg("60").spawn().unwrap();
    let script = format!(
        "python3 -c \"import os, errno\n\
         def send(pid, text):\n\
         \x20   try:\n\
         \x20       fd = os.open('proc/%d/signal' % pid, os.O_WRONLY)\n\
         \x20       os.write(fd, text); return 'ok'\n\
         \x20   except OSError as e:\n\
         \x20       return errno.errorcode[e.errno]\n\
         mine = os.fork()\n\
         if mine == 0:\n\
         \x20   import time; time.sleep(60); os._exit(0)\n\
         print(send({root}, b'TERM'), send({root}, b'0'), send({root}, b'CONT'))\n\
         print(send(mine, b'TERM'), os.waitpid(mine, 0)[1] & 0x7f)\n\
         \"",
        root = roots.id()
    );
    let out = as_user(&m, &user, &script);
    // SIGCONT is the one exception of kill(2): allowed within a session,
    // and the test's processes share one.
    assert_eq!(
        stdout(&out),
        format!("EPERM EPERM ok\nok {}\n", libc::SIGTERM),
        "{out:?}"
    );
    let out = as_user(
        &m,
        &user,
        &format!(
            "setsid -w sh -c '/bin/echo CONT > proc/{}/signal'",
            roots.id()
        ),
    );
    assert!(stderr(&out).contains("Operation not permitted"), "{out:?}");
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        roots.try_wait().unwrap().is_none(),
        "root's process was hit"
    );
    // The group of root's process is out of reach too.
    let out = as_user(
        &m,
        &user,
        &format!("/bin/echo TERM > proc/{}/pgsignal", roots.id()),
    );
    assert!(stderr(&out).contains("Operation not permitted"), "{out:?}");
    assert!(roots.try_wait().unwrap().is_none());
    roots.kill().unwrap();
    roots.wait().unwrap();
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

/// Fills a queue of the calling user with one-byte messages in batch
/// mode, its message limit raised as far as it goes, until a write
/// fails: prints that errno's name and the messages sent.
const FLOOD: &str = "import os, errno, struct\n\
    name = 'queues/flood-%d' % os.getuid()\n\
    os.close(os.open(name, os.O_CREAT | os.O_WRONLY, 0o600))\n\
    os.setxattr(name, 'user.ipcfs.max_messages', str(2**64 - 1).encode())\n\
    fd = os.open(name, os.O_WRONLY | os.O_DIRECT | os.O_DSYNC)\n\
    batch = (struct.pack('<I', 1) + b'x') * 50000\n\
    sent = 0\n\
    try:\n\
    \x20   while True:\n\
    \x20       sent += os.write(fd, batch) // 5\n\
    except OSError as e:\n\
    \x20   print(errno.errorcode[e.errno], sent > 200000)\n";

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
    let flood = format!("python3 -c \"{}\"", FLOOD.replace('"', "\\\""));
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
    let drain = "python3 -c \"import os\n\
        name = 'queues/flood-%d' % os.getuid()\n\
        fd = os.open(name, os.O_RDONLY | os.O_DIRECT | os.O_DSYNC | os.O_NONBLOCK)\n\
        try:\n    while os.read(fd, 1 << 20): pass\n\
        except BlockingIOError: pass\n\
        os.unlink(name)\"";
    assert_ok(&as_user(&m, &user, drain));
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
