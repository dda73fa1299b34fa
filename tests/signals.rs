//! Signals through proc/PID/signal and pgsignal, on a real mount.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::{assert_ok, eventually, stdout, wait_within};

/// Writes `text` to `proc/PID/FILE` from Python and prints the outcome:
/// `ok` or the errno's name (ENOENT when the open itself fails).
fn send(m: &common::Mount, pid: u32, file: &str, text: &str) -> String {
    let out = m
        .python_file("send_signal.py", &[&pid.to_string(), file, text])
        .output()
        .unwrap();
    stdout(&out).trim().to_string()
}

fn sleeper() -> Child {
    Command::new("sleep").arg("60").spawn().unwrap()
}

/// Starts `tests/py/NAME`, a Python program that prints its pid, then
/// "ready" once set up; returns it, its output and the Python process's
/// own pid (the child is the `timeout` that guards it).
fn python_receiver(m: &common::Mount, name: &str) -> (Child, BufReader<ChildStdout>, u32) {
    let mut child = m
        .python_file(name, &[])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let pid: u32 = next_line(&mut lines).trim().parse().unwrap();
    assert_eq!(next_line(&mut lines), "ready\n");
    (child, lines, pid)
}

fn next_line(lines: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    line
}

#[test]
fn term_ends_a_sleep_child() {
    let m = mount_or_skip!();
    let mut child = sleeper();
    assert_ok(&m.run(&format!("echo TERM > proc/{}/signal", child.id())));
    let status = wait_within(&mut child, Duration::from_secs(2), "signalled sleep");
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}

#[test]
fn usr1_runs_a_shell_trap() {
    let m = mount_or_skip!();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("trap 'echo got-usr1; exit 0' USR1; echo ready; while :; do sleep 0.05; done")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    assert_eq!(send(&m, child.id(), "signal", "usr1\n"), "ok");
    line.clear();
    lines.read_line(&mut line).unwrap();
    assert_eq!(line, "got-usr1\n");
    assert!(wait_within(&mut child, Duration::from_secs(2), "trapping shell").success());
}

#[test]
fn a_value_queued_with_usr1_reaches_si_value() {
    let m = mount_or_skip!();
    // Python's siginfo has no si_value field; for SI_QUEUE signals its
    // si_status is read from the same bytes, so it shows sival_int.
    let (mut child, mut lines, pid) = python_receiver(&m, "sigwaitinfo_receiver.py");
    assert_eq!(send(&m, pid, "signal", "USR1 42"), "ok");
    assert_eq!(
        next_line(&mut lines),
        format!("True {} 42 True\n", libc::SI_QUEUE)
    );
    assert_eq!(send(&m, pid, "signal", "RTMIN+2\n"), "ok");
    assert_eq!(next_line(&mut lines), "2\n");
    assert!(wait_within(&mut child, Duration::from_secs(2), "receiver").success());
}

#[test]
fn zero_probes_and_bad_requests_send_nothing() {
    let m = mount_or_skip!();
    let mut child = sleeper();
    let pid = child.id();
    assert_eq!(send(&m, pid, "signal", "0"), "ok");
    for bad in ["FOO", "99", "TERM junk", "TERM\nBOGUS", "\n", "RTMIN+99"] {
        assert_eq!(send(&m, pid, "signal", bad), "EINVAL", "{bad:?}");
    }
    assert!(
        common::untouched_by_earlier_signals(pid),
        "a refused write sent something"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_dead_process_is_enoent_or_esrch() {
    let m = mount_or_skip!();
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    assert_eq!(send(&m, pid, "signal", "TERM"), "ENOENT");
    assert!(!m.path(&format!("proc/{pid}")).exists());
    // Opened while alive, written after it died and was reaped: ESRCH.
    // (A zombie, like for kill(2), still takes signals.)
    let out = m
        .python_file("signal_file_of_a_reaped_process.py", &[])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "ESRCH\n");
}

#[test]
fn proc_self_is_the_callers_process() {
    let m = mount_or_skip!();
    let out = m.run("echo $$; exec readlink proc/self");
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], lines[1]);
    let out = m
        .python_file("proc_self_in_a_thread.py", &[])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "True True\n", "a thread sees its process");
    let listing = stdout(&m.run("ls proc"));
    assert!(listing.lines().any(|l| l == "self"));
    assert!(listing.lines().any(|l| l == "1"), "{listing}");
}

#[test]
fn pgsignal_reaches_every_process_of_a_group() {
    let m = mount_or_skip!();
    let mut leader = Command::new("sh")
        .arg("-c")
        .arg("sleep 60 & sleep 60 & wait")
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = leader.id();
    let members = || ipcfs_group_members(pgid);
    assert!(eventually(Duration::from_secs(5), || members() == 3));
    // Signal the group through one of its sleeps, not the leader.
    let sleeper_pid = group_pids(pgid).into_iter().find(|p| *p != pgid).unwrap();
    assert_eq!(send(&m, sleeper_pid, "pgsignal", "TERM"), "ok");
    let status = wait_within(&mut leader, Duration::from_secs(3), "group leader");
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    assert!(eventually(Duration::from_secs(3), || members() == 0));
}

/// A group whose leader has ended still takes a signal by any member's
/// id (the kernel's kill(2) to its id), but not one with a value, which
/// only a pidfd of the leader can carry to a group.
#[test]
fn pgsignal_reaches_a_group_whose_leader_has_ended() {
    let m = mount_or_skip!();
    let mut leader = Command::new("sh")
        .args(["-c", "sleep 60 & echo $!"])
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pgid = leader.id();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(leader.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let member: u32 = line.trim().parse().unwrap();
    assert!(
        leader.wait().unwrap().success(),
        "the leader ends and is reaped"
    );
    assert_eq!(group_pids(pgid), vec![member]);
    assert_eq!(send(&m, member, "pgsignal", "USR1 5"), "EINVAL");
    assert_eq!(send(&m, member, "pgsignal", "TERM"), "ok");
    assert!(eventually(Duration::from_secs(3), || group_pids(pgid).is_empty()));
}

fn group_pids(pgid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let after = s.rsplit_once(')')?.1.to_string();
                    let state = after.split_whitespace().next()?.to_string();
                    let group: u32 = after.split_whitespace().nth(2)?.parse().ok()?;
                    Some(group == pgid && state != "Z")
                })
                .unwrap_or(false)
        })
        .collect()
}

fn ipcfs_group_members(pgid: u32) -> usize {
    group_pids(pgid).len()
}

#[test]
fn reading_signal_shows_caught_and_blocked_signals() {
    let m = mount_or_skip!();
    let (mut child, _lines, pid) = python_receiver(&m, "caught_and_blocked.py");
    assert_eq!(send(&m, pid, "signal", "USR2"), "ok");
    let text = std::fs::read_to_string(m.path(&format!("proc/{pid}/signal"))).unwrap();
    let line = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(line("caught:").contains(&"USR1".to_string()), "{text}");
    assert!(line("blocked:").contains(&"USR2".to_string()), "{text}");
    assert!(line("pending:").contains(&"USR2".to_string()), "{text}");
    assert!(line("ignored:").contains(&"PIPE".to_string()), "{text}");
    child.kill().unwrap();
    child.wait().unwrap();
}
