//! The daemon's life: start-up errors, clean shutdown, stale mounts.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    BIN, TempDir, assert_ok, eventually, is_mounted, read_all, refuse, stdout, wait_within, xattr,
};
use nix::sys::signal::Signal;

#[test]
fn missing_and_non_directory_mountpoints_are_one_line_errors() {
    let tmp = TempDir::new("bad");
    let missing = tmp.0.join("nope");
    let err = refuse(&[missing.to_str().unwrap()]);
    assert!(err.contains("no such directory"), "{err}");
    let file = tmp.0.join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = refuse(&[file.to_str().unwrap()]);
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn bad_option_values_exit_2() {
    let tmp = TempDir::new("opt");
    let dir = tmp.0.to_str().unwrap();
    let err = refuse(&["--pipe-capacity", "100", dir]);
    assert!(err.contains("--pipe-capacity"), "{err}");
    let err = refuse(&["-o", "nonsense", dir]);
    assert!(err.contains("unknown mount option"), "{err}");
}

#[test]
fn help_and_version() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert_ok(&out);
    for flag in [
        "--allow-other",
        "--pipe-capacity",
        "--queue-max-messages",
        "--queue-max-message-size",
        "--max-memory",
        "--force",
        "-o",
        "--verbose",
        "--quiet",
        "--version",
    ] {
        assert!(stdout(&out).contains(flag), "--help lacks {flag}");
    }
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!("ipcfs {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_existing_mount_is_refused() {
    let m = mount_or_skip!();
    let err = refuse(&[m.dir.to_str().unwrap()]);
    assert!(err.contains("already mounted"), "{err}");
    assert!(err.contains("fuse"), "{err}");
}

#[test]
fn sigterm_with_a_blocked_reader_unmounts_and_exits_0() {
    let mut m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/q"));
    let mut reader = m
        .sh("exec 3<>pipes/q; cat pipes/q; echo reader-done $?")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        xattr(&m, "pipes/q", "blocked") == "1"
    }));
    m.signal(Signal::SIGTERM);
    let status = m.wait_exit(Duration::from_secs(5)).expect("daemon exits");
    assert_eq!(status.code(), Some(0), "log: {}", m.log());
    assert!(!is_mounted(&m.dir));
    let status = wait_within(&mut reader, Duration::from_secs(5), "blocked reader");
    let out = read_all(reader.stdout.take().unwrap());
    assert!(status.success());
    assert_eq!(
        out, "reader-done 0\n",
        "the blocked read ended with end of file"
    );
    let log = m.log();
    assert!(log.contains("mounted ipcfs on"), "{log}");
    assert!(log.contains("unmounted"), "{log}");
}

#[test]
fn a_stale_mount_is_named_and_force_clears_it() {
    let mut m = mount_or_skip!();
    m.signal(Signal::SIGKILL);
    m.wait_exit(Duration::from_secs(5))
        .expect("killed daemon exits");
    assert!(
        is_mounted(&m.dir),
        "a killed daemon leaves its mount behind"
    );
    let dir = m.dir.to_str().unwrap().to_string();
    let err = refuse(&[&dir]);
    assert!(err.contains("stale mount"), "{err}");
    assert!(err.contains("--force"), "{err}");
    let mut again = Command::new(BIN)
        .args(["--force", &dir])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let readme = m.dir.join("README");
    assert!(
        eventually(Duration::from_secs(10), || std::fs::read(&readme).is_ok()),
        "--force did not remount"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(again.id() as i32),
        Signal::SIGINT,
    )
    .unwrap();
    let status = wait_within(&mut again, Duration::from_secs(5), "forced daemon");
    let err = read_all(again.stderr.take().unwrap());
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("cleared a stale mount"), "{err}");
    assert!(!is_mounted(&m.dir));
}

/// `umount -l` from outside while a reader is blocked: the kernel keeps
/// the session (the reader's file holds the mount) and tells the daemon
/// nothing, but the mount table changes. The daemon answers the reader
/// and exits, within a second.
#[test]
fn a_lazy_unmount_from_outside_answers_blocked_callers_and_ends_the_daemon() {
    let mut m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let mut reader = m
        .sh("cat queues/q; echo \"reader-done $?\"")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        xattr(&m, "queues/q", "blocked") == "1"
    }));
    assert_ok(
        &Command::new("umount")
            .arg("-l")
            .arg(&m.dir)
            .output()
            .unwrap(),
    );
    let unmounted = std::time::Instant::now();
    let status = m.wait_exit(Duration::from_secs(5)).expect("daemon exits");
    let took = unmounted.elapsed();
    assert_eq!(status.code(), Some(0), "log: {}", m.log());
    assert!(took < Duration::from_secs(1), "the daemon took {took:?}");
    assert!(
        m.log().contains("the mount is gone from the mount table"),
        "{}",
        m.log()
    );
    let _ = wait_within(&mut reader, Duration::from_secs(5), "blocked reader");
    let out = read_all(reader.stdout.take().unwrap());
    assert!(out.starts_with("reader-done "), "{out:?}");
}

/// Every refused call says where in its log line: the path in the mount.
#[test]
fn a_refused_call_logs_its_path() {
    let m = mount_or_skip!();
    let _ = m.run("echo x > README; mknod pipes/dev c 1 1; ln -s x pipes/link; rmdir proc");
    let log = m.log();
    for line in [
        "open README: Permission denied",
        "mknod pipes/dev: Operation not permitted",
        "symlink pipes/link: Operation not permitted",
        "rmdir proc: Operation not permitted",
    ] {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
}

/// A caller that makes thousands of refused calls cannot flood the log:
/// one kind of line is written at most 50 times a second, and the next
/// says how many were left out.
#[test]
fn a_flood_of_refused_calls_does_not_flood_the_log() {
    let m = mount_or_skip!();
    let out = m
        .python_file("refused_open_flood.py", &[])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "True\n", "{out:?}");
    let log = m.log();
    assert!(log.len() < 1 << 20, "the log grew to {} bytes", log.len());
    assert!(
        log.contains("more lines like the next were left out (at most 50 a second for one caller)"),
        "{}",
        &log[log.len().saturating_sub(2000)..]
    );
}
