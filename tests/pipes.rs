//! Pipes through a real mount, driven by the tools users use.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_ok, eventually, proc_state, stderr, stdout, timed, wait_within};

/// A process that holds `pipes/NAME` open read-write (a reader and a writer
/// that never read or write) until killed.
fn holder(m: &common::Mount, name: &str) -> std::process::Child {
    let child = m
        .sh(&format!("exec 3<>pipes/{name}; exec sleep 60"))
        .spawn()
        .unwrap();
    let path = m.path(&format!("pipes/{name}"));
    assert!(
        eventually(Duration::from_secs(5), || xattr(&path, "readers") == "1"),
        "holder did not open"
    );
    child
}

fn xattr(path: &std::path::Path, name: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import os,sys; print(os.getxattr(sys.argv[1], 'user.ipcfs.'+sys.argv[2]).decode())")
        .arg(path)
        .arg(name)
        .output()
        .unwrap();
    stdout(&out).trim().to_string()
}

fn kill(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn echo_to_cat_across_two_processes() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let reader = m.sh("cat pipes/p").stdout(Stdio::piped()).spawn().unwrap();
    assert_ok(&m.run("echo hello > pipes/p"));
    let out = reader.wait_with_output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "hello\n");
}

#[test]
fn sixty_four_mib_of_random_data_arrive_intact() {
    let m = mount_or_skip!();
    let tmp = common::TempDir::new("data");
    let src = tmp.0.join("src");
    let dst = tmp.0.join("dst");
    assert_ok(
        &Command::new("head")
            .args(["-c", "64M", "/dev/urandom"])
            .stdout(std::fs::File::create(&src).unwrap())
            .output()
            .unwrap(),
    );
    assert_ok(&m.run("touch pipes/big"));
    let reader = m
        .sh(&format!("cat pipes/big > {}", dst.display()))
        .spawn()
        .unwrap();
    assert_ok(&m.run(&format!(
        "dd if={} of=pipes/big bs=1M status=none",
        src.display()
    )));
    let out = reader.wait_with_output().unwrap();
    assert_ok(&out);
    let sums = Command::new("sha256sum")
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    let lines: Vec<&str> = std::str::from_utf8(&sums.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], lines[1], "checksums differ");
    assert_eq!(std::fs::metadata(&dst).unwrap().len(), 64 << 20);
}

#[test]
fn reader_sees_end_of_file_after_the_last_writer_closes() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let reader = m.sh("cat pipes/p").stdout(Stdio::piped()).spawn().unwrap();
    // Two writers; the reader must not see EOF until both are gone.
    let writers = m
        .sh("exec 3>pipes/p; echo one >&3; (echo two > pipes/p); sleep 0.3; echo three >&3")
        .output()
        .unwrap();
    assert_ok(&writers);
    let out = reader.wait_with_output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "one\ntwo\nthree\n");
}

#[test]
fn writer_without_reader_gets_epipe_and_dies_of_sigpipe() {
    let m = mount_or_skip!();
    // A writer whose reader has gone: its write dies of SIGPIPE.
    let out = m
        .python_file("pipe_writer_dies_of_sigpipe.py", &[])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), format!("{}\n", libc::SIGPIPE), "{out:?}");
    // A program that ignores SIGPIPE sees EPIPE.
    let py = m
        .python_file("pipe_write_without_reader_is_epipe.py", &[])
        .output()
        .unwrap();
    assert_ok(&py);
    assert_eq!(stdout(&py), "EPIPE\n");
}

/// `echo hello > pipes/new` makes the pipe and waits for its reader, as
/// an open of a FIFO for writing would; the reader gets the line. With
/// `O_NONBLOCK` the creating open fails with `ENXIO`, as a FIFO's, and the
/// pipe stays.
#[test]
fn a_write_that_makes_a_pipe_waits_for_its_reader() {
    let m = mount_or_skip!();
    let writer = m
        .sh("/bin/echo hello > pipes/new; echo \"status $?\"")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // It waits, parked, before any reader comes.
    let parked = || common::xattr(&m, "pipes/new", "blocked") == "1";
    assert!(eventually(Duration::from_secs(5), parked));
    let reader = m.run("cat pipes/new");
    assert_eq!(stdout(&reader), "hello\n");
    let out = writer.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "status 0\n");
    let out = m
        .python_file("pipe_nonblocking_create_is_enxio.py", &[])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "ENXIO True\n", "{out:?}");
}

/// A student's first typo must not end their terminal: in an interactive
/// bash, `echo x > pipes/NEWNAME` waits for a reader (no SIGPIPE), and
/// Ctrl-C ends the wait; the shell lives on.
#[test]
fn an_interactive_shell_survives_a_write_to_a_new_pipe() {
    let m = mount_or_skip!();
    let out = m
        .python_file("interactive_shell_writes_a_new_pipe.py", &[])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        "read b'x\\n' True\ninterrupted True\nalive True\n",
        "{out:?}"
    );
}

#[test]
fn nonblocking_read_is_eagain_and_nonblocking_writer_without_reader_is_enxio() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let out = m
        .python_file("pipe_nonblocking_open_and_read.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    // No writer yet: a non-blocking read is end of file, as on a FIFO.
    assert_eq!(stdout(&out), "ENXIO\nb''\nEAGAIN\nb'abc'\n");
}

#[test]
fn four_writers_of_4096_byte_records_never_tear_a_record() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/rec"));
    let out = m
        .python_file("pipe_records_never_tear.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "6553600 [400, 400, 400, 400]\n");
}

#[test]
fn timeout_ends_a_blocked_read_and_a_blocked_open() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    // Blocked in open: no writer has opened.
    let (out, took) = timed(&mut m.sh("timeout 1 cat pipes/p"));
    assert_eq!(out.status.code(), Some(124), "{out:?}");
    assert!(took < Duration::from_secs(2), "open took {took:?}");
    // Blocked in read: a writer is there but writes nothing.
    let mut h = holder(&m, "p");
    let (out, took) = timed(&mut m.sh("timeout 1 cat pipes/p"));
    assert_eq!(out.status.code(), Some(124), "{out:?}");
    assert!(took < Duration::from_secs(2), "read took {took:?}");
    kill(&mut h);
    assert!(eventually(Duration::from_secs(2), || xattr(
        &m.path("pipes/p"),
        "blocked"
    ) == "0"));
}

#[test]
fn kill_9_of_a_blocked_reader_reaps_it() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let mut h = holder(&m, "p");
    let mut reader = Command::new("cat")
        .arg(m.path("pipes/p"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let path = m.path("pipes/p");
    assert!(eventually(Duration::from_secs(5), || xattr(
        &path, "blocked"
    ) == "1"));
    reader.kill().unwrap();
    let status = wait_within(
        &mut reader,
        Duration::from_secs(1),
        "kill -9 of a blocked reader",
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(eventually(Duration::from_secs(1), || xattr(
        &path, "blocked"
    ) == "0"));
    kill(&mut h);
}

#[test]
fn two_writers_blocked_on_a_full_pipe_are_each_ended_alone() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/full"));
    let mut h = holder(&m, "full");
    assert_ok(&m.run("head -c 65536 /dev/zero | dd of=pipes/full bs=64K status=none"));
    assert_eq!(xattr(&m.path("pipes/full"), "bytes"), "65536");
    // The first writer waits longest; the second, parked behind it in the
    // daemon (not in the kernel's inode lock), must end on its own time.
    let mut first = m
        .sh("exec timeout 4 dd if=/dev/zero of=pipes/full bs=100 count=1 status=none")
        .spawn()
        .unwrap();
    let path = m.path("pipes/full");
    assert!(eventually(Duration::from_secs(5), || xattr(
        &path, "blocked"
    ) == "1"));
    let (second, took) =
        timed(&mut m.sh("timeout 1 dd if=/dev/zero of=pipes/full bs=100 count=1 status=none"));
    assert_eq!(second.status.code(), Some(124), "{second:?}");
    assert!(took < Duration::from_secs(2), "second writer took {took:?}");
    assert_eq!(
        first.try_wait().unwrap(),
        None,
        "first writer ended too early"
    );
    assert_ne!(proc_state(first.id()), Some('D'));
    let status = wait_within(&mut first, Duration::from_secs(5), "first writer");
    assert_eq!(status.code(), Some(124));
    assert_eq!(xattr(&path, "bytes"), "65536", "no torn write got in");
    kill(&mut h);
}

#[test]
fn poll_reports_pollin_when_data_arrives_and_pollhup_at_the_end() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let out = m.python_file("pipe_poll.py", &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "idle []\ndata [{}] True\nout [{}]\nhup [{}]\nselect 1\n",
            libc::POLLIN,
            libc::POLLOUT,
            libc::POLLHUP
        )
    );
}

#[test]
fn mkfifo_makes_a_kernel_fifo_node() {
    let m = mount_or_skip!();
    assert_ok(&m.run("mkfifo pipes/k"));
    let out = m.run("stat -c %F pipes/k");
    assert_eq!(stdout(&out), "fifo\n");
    let reader = m.sh("cat pipes/k").stdout(Stdio::piped()).spawn().unwrap();
    assert_ok(&m.run("echo via-kernel > pipes/k"));
    assert_eq!(stdout(&reader.wait_with_output().unwrap()), "via-kernel\n");
    let status = stdout(&m.run("cat status"));
    assert!(
        status.lines().any(|l| l.starts_with("fifo")
            && l.contains("pipes/k")
            && l.ends_with("kernel -       -")),
        "{status}"
    );
}

#[test]
fn touch_and_redirect_create_daemon_pipes_with_owner_mode_and_fixed_size() {
    let m = mount_or_skip!();
    assert_ok(&m.run("umask 027; touch pipes/a; : > pipes/b"));
    let out = m.run("stat -c '%F %a %u %g %s' pipes/a pipes/b");
    // st_size is the mount's largest write: 4 MiB once the daemon (root)
    // has raised fs.fuse.max_pages_limit to 1024 pages.
    let size = common::stream_size();
    assert_eq!(
        stdout(&out),
        format!("regular file 640 0 0 {size}\nregular file 640 0 0 {size}\n")
    );
    // O_EXCL on an existing name.
    let out = m.python_file("pipe_o_excl.py", &[]).output().unwrap();
    assert_eq!(stdout(&out), "EEXIST\n");
    let listing = stdout(&m.run("ls pipes"));
    assert_eq!(listing, "a\nb\n");
}

#[test]
fn wrong_kinds_of_node_are_eperm() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let out = m
        .python_file("wrong_kinds_of_node.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "EPERM\nEPERM\nEPERM\nEPERM\nEPERM\nEPERM\nEPERM\nEPERM\nEINVAL\nok\n"
    );
    // mv across type directories fails with EPERM, not EXDEV (no copy).
    let out = m.run("mv pipes/p queues/p");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    assert_ok(&m.run("test -e pipes/p"));
}

#[test]
fn rm_keeps_open_descriptions_working_and_mv_renames() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/a && mv pipes/a pipes/b && test ! -e pipes/a"));
    let out = m.run(
        "exec 3<>pipes/b; rm pipes/b; test ! -e pipes/b || exit 9; \
         echo still >&3; head -c 6 <&3",
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "still\n");
}

#[test]
fn o_trunc_is_a_no_op_and_data_stays() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let out = m
        .run("exec 3<>pipes/p; printf keep >&3; : > pipes/p; truncate -s 0 pipes/p; head -c 4 <&3");
    assert_ok(&out);
    assert_eq!(stdout(&out), "keep");
}

#[test]
fn capacity_xattr_is_settable_and_counters_are_read_only() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let out = m.python_file("pipe_xattrs.py", &[]).output().unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "['user.ipcfs.blocked', 'user.ipcfs.bytes', 'user.ipcfs.capacity', \
         'user.ipcfs.readers', 'user.ipcfs.writers']\n\
         65536\nok\n8192\nEINVAL\nEINVAL\nEPERM\nENODATA\nEBUSY\n5000 1 1\n"
    );
    // A full pipe of the new capacity: a 4096-byte write no longer fits.
    let out = m.run("cat status");
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("pipe") && l.contains("pipes/p")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn status_lists_each_pipe_with_its_counters() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/one"));
    let mut h = holder(&m, "one");
    assert_ok(&m.run("printf abc > pipes/one"));
    // The writer's close reaches the daemon a moment after close() returns.
    let path = m.path("pipes/one");
    assert!(eventually(Duration::from_secs(5), || xattr(
        &path, "writers"
    ) == "1"));
    let out = stdout(&m.run("cat status"));
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "type", "name", "uid", "gid", "mode", "bytes", "messages", "readers", "writers",
            "blocked", "served", "framing", "channel"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        row,
        [
            "pipe",
            "pipes/one",
            "0",
            "0",
            "0644",
            "3",
            "-",
            "1",
            "1",
            "0",
            "daemon",
            "-",
            "-"
        ]
    );
    kill(&mut h);
}

#[test]
fn readme_describes_every_directory() {
    let m = mount_or_skip!();
    let readme = std::fs::read_to_string(m.path("README")).unwrap();
    for dir in ["pipes/", "queues/", "shm/", "sockets/", "proc/", "status"] {
        assert!(readme.contains(dir), "README lacks {dir}");
    }
    let out = m.run("stat -c '%a' . pipes queues shm sockets proc README status");
    assert_eq!(stdout(&out), "755\n1777\n1777\n1777\n1777\n555\n444\n444\n");
}

/// FUSE's own limit (SPEC §3): an `O_TRUNC` open and an `O_APPEND` write
/// take the kernel's inode lock, so they wait while another writer of the
/// same pipe is parked, and go on once that writer is interrupted or served.
#[test]
fn o_trunc_open_and_append_write_proceed_once_the_parked_writer_is_done() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/full"));
    let mut h = holder(&m, "full");
    let path = m.path("pipes/full");
    assert_ok(&m.run("head -c 65536 /dev/zero | dd of=pipes/full bs=64K status=none"));

    // Interrupted: the truncating open goes on after the parked writer's
    // timeout ends it.
    let mut parked = m
        .sh("exec timeout 1 dd if=/dev/zero of=pipes/full bs=100 count=1 status=none")
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || xattr(
        &path, "blocked"
    ) == "1"));
    let (out, took) = timed(&mut m.sh(": > pipes/full"));
    assert_ok(&out);
    assert!(took >= Duration::from_millis(300), "did not wait: {took:?}");
    assert!(took < Duration::from_secs(3), "waited too long: {took:?}");
    assert_eq!(
        wait_within(&mut parked, Duration::from_secs(2), "parked writer").code(),
        Some(124)
    );

    // Served: the appending write goes on once a reader makes room for the
    // parked writer.
    let mut parked = m
        .sh("exec dd if=/dev/zero of=pipes/full bs=100 count=1 status=none")
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || xattr(
        &path, "blocked"
    ) == "1"));
    let mut append = m.sh("printf x >> pipes/full").spawn().unwrap();
    // It waits in the kernel, for the lock the parked write holds.
    let waits = || proc_state(append.id()) == Some('D');
    assert!(
        eventually(Duration::from_secs(5), waits),
        "the append did not wait behind the parked writer"
    );
    assert_ok(&m.run("head -c 65636 pipes/full > /dev/null"));
    assert!(wait_within(&mut parked, Duration::from_secs(3), "served writer").success());
    assert!(wait_within(&mut append, Duration::from_secs(3), "append").success());
    assert_eq!(xattr(&path, "bytes"), "1");

    // Killed: SIGKILL ends a truncating open that waits behind a parked
    // writer (the wait is uninterruptible by other signals only).
    assert_ok(&m.run("head -c 65535 /dev/zero | dd of=pipes/full bs=64K status=none"));
    let mut parked = m
        .sh("exec dd if=/dev/zero of=pipes/full bs=100 count=1 status=none")
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || xattr(
        &path, "blocked"
    ) == "1"));
    let mut truncating = m.sh("exec sh -c ': > pipes/full'").spawn().unwrap();
    // It waits in the kernel, for the lock the parked write holds.
    let waits = || proc_state(truncating.id()) == Some('D');
    assert!(
        eventually(Duration::from_secs(5), waits),
        "the open did not wait"
    );
    truncating.kill().unwrap();
    let status = wait_within(&mut truncating, Duration::from_secs(2), "killed open");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    assert_eq!(
        parked.try_wait().unwrap(),
        None,
        "the parked writer still waits"
    );
    parked.kill().unwrap();
    wait_within(&mut parked, Duration::from_secs(2), "parked writer");
    kill(&mut h);
}

/// The kernel splits a read larger than its largest FUSE read into pieces,
/// and asks for the next piece only when one comes back full. With the
/// bytes in the pipe a whole number of pieces, that next piece found the
/// pipe empty and waited, although the caller had 16 MiB in hand; a kernel
/// pipe returns them at once.
#[test]
fn a_read_larger_than_a_fuse_read_returns_what_the_pipe_holds() {
    let m = mount_or_skip!();
    let out = m
        .python_file("pipe_read_larger_than_a_fuse_read.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "16777216\n16777216 True\n");
}

/// Large writes that wait are held in the request buffers they came in
/// (up to 8 at once; past that, copied), read out as pieces of the
/// reply: 20 pipes with waiting writers of 1 MiB to 5 KB, read back with
/// reads of 7 B to 1 MiB, must come out whole and in order; a waiting
/// write cut short by a signal reports the pipe's 64 KiB, and the reader
/// gets exactly those.
#[test]
fn large_writes_that_wait_come_out_whole_and_in_order() {
    let m = mount_or_skip!();
    let out = m
        .python_file("pipe_writes_kept_while_they_wait.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "all writers wait: True\n\
         every stream whole and in order: True\n\
         pipes empty: True\n\
         cut short at 65536 reader got the same: True\n"
    );
}

/// 40 writes of 1 MiB waiting at once: 8 held in their request buffers,
/// the rest copied. The daemon's resident memory stays within what
/// ipcfs(7) allows: the cap (48 MiB here), the fixed overhead (about
/// 10 MiB), and at most 44 MiB more for held buffers. (A request buffer
/// zeroed whole on allocation, 16 MiB each, would pass it.)
#[test]
fn large_writes_waiting_at_once_keep_the_daemon_within_its_bound() {
    let m = mount_or_skip!("--max-memory", "48M", "--max-memory-per-user", "48M");
    let pid = m.pid().to_string();
    let out = m
        .python_file("pipe_writes_waiting_at_once.py", &[&pid])
        .output()
        .unwrap();
    assert_ok(&out);
    let said = stdout(&out);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 3, "{said}");
    assert_eq!(lines[0], "all wait: True");
    assert_eq!(lines[2], "all whole: True");
    let rss: u64 = lines[1].strip_prefix("resident ").unwrap().parse().unwrap();
    eprintln!("daemon resident with 40 writes of 1 MiB waiting: {rss} KiB");
    assert!(rss < (48 + 10 + 44) * 1024, "{rss} KiB resident");
}
