//! splice(2), sendfile(2) and mappings of stream files (issue 15, item
//! 0). The kernel serves all three of a FUSE file through its page cache,
//! even for a direct-I/O file: read-ahead would take stream bytes out to
//! park them in pages, and a page-cache read left waiting held a page
//! lock that put the next writer where `kill -9` could not reach it. Such
//! reads fail at once with EINVAL; nothing is taken from the stream, and
//! programs fall back to read(2).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Mount, assert_ok, stdout, wait_within};

/// Runs `tests/py/NAME`; what it printed.
fn python(m: &Mount, name: &str) -> String {
    let out = m.python_file(name, &[]).output().unwrap();
    assert_ok(&out);
    stdout(&out)
}

#[test]
fn splice_and_sendfile_of_a_pipe_fail_at_once_and_take_nothing() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let out = python(&m, "splice_and_sendfile_of_a_pipe.py");
    assert_eq!(out, "EINVAL\nEINVAL\nTrue\n");
    assert!(m.log().contains("through the page cache"), "{}", m.log());
}

#[test]
fn splice_of_a_queue_fails_and_keeps_the_message() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q; echo kept > queues/q"));
    let out = python(&m, "splice_of_a_queue.py");
    assert_eq!(out, "EINVAL\nb'kept\\n'\n");
}

/// A private mapping of a stream file faults through the page cache: the
/// access is SIGBUS (a shared one is ENODEV, as the kernel says for any
/// direct-I/O file), and the bytes stay in the pipe.
#[test]
fn a_mapping_of_a_pipe_takes_nothing() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let out = python(&m, "mmap_of_a_pipe.py");
    assert_eq!(out, format!("ENODEV\n{} b'abc'\n", -libc::SIGBUS));
}

/// `pv` splices whenever its output is a pipe; it gets EINVAL, falls
/// back to read(2) and moves every byte, in order, while the writer
/// keeps writing. Neither end is left waiting in the kernel.
#[test]
fn pv_through_a_pipe_is_byte_exact() {
    let m = mount_or_skip!();
    if Command::new("pv").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "pv is missing under CI (.ci/run installs it)"
        );
        println!("skipped: pv is not installed");
        return;
    }
    assert_ok(&m.run("touch pipes/p"));
    for round in 0..4 {
        let source = m.path("../source.bin");
        let mut make = Command::new("head");
        make.args(["-c", "3000000", "/dev/urandom"])
            .stdout(std::fs::File::create(&source).unwrap());
        assert!(make.status().unwrap().success());
        let mut reader = m
            .sh("pv -q pipes/p | cat | sha256sum")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let writer = m.run(&format!("cat '{}' > pipes/p", source.display()));
        assert_ok(&writer);
        let status = wait_within(&mut reader, Duration::from_secs(30), "pv");
        assert!(status.success());
        let mut got = String::new();
        std::io::Read::read_to_string(reader.stdout.as_mut().unwrap(), &mut got).unwrap();
        let want = Command::new("sha256sum").arg(&source).output().unwrap();
        let want = stdout(&want);
        assert_eq!(
            got.split_whitespace().next(),
            want.split_whitespace().next(),
            "round {round}: pv delivered other bytes"
        );
        let _ = std::fs::remove_file(&source);
    }
}
