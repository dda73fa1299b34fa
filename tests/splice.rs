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

/// Python prelude: `attempt(f)` prints a result or the errno's name.
const ATTEMPT: &str = "import os, errno, sys, mmap\n\
    def attempt(f):\n\
    \x20   try:\n        return repr(f())\n\
    \x20   except OSError as e:\n        return errno.errorcode[e.errno]\n";

fn python(m: &Mount, script: &str) -> String {
    let out = m
        .python(&format!("{ATTEMPT}{script}"), &[])
        .output()
        .unwrap();
    assert_ok(&out);
    stdout(&out)
}

#[test]
fn splice_and_sendfile_of_a_pipe_fail_at_once_and_take_nothing() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let out = python(
        &m,
        "w = os.open('pipes/p', os.O_RDWR)\n\
        data = bytes(range(256)) * 200\n\
        os.write(w, data)\n\
        r = os.open('pipes/p', os.O_RDONLY)\n\
        pr, pw = os.pipe()\n\
        print(attempt(lambda: os.splice(r, pw, 65536)))\n\
        out = os.open('/dev/null', os.O_WRONLY)\n\
        print(attempt(lambda: os.sendfile(out, r, None, 65536)))\n\
        got = b''\n\
        while len(got) < len(data):\n\
        \x20   got += os.read(r, 1 << 20)\n\
        print(got == data)\n",
    );
    assert_eq!(out, "EINVAL\nEINVAL\nTrue\n");
    assert!(m.log().contains("through the page cache"), "{}", m.log());
}

#[test]
fn splice_of_a_queue_fails_and_keeps_the_message() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q; echo kept > queues/q"));
    let out = python(
        &m,
        "r = os.open('queues/q', os.O_RDONLY)\n\
        pr, pw = os.pipe()\n\
        print(attempt(lambda: os.splice(r, pw, 4096)))\n\
        print(os.read(r, 4096))\n",
    );
    assert_eq!(out, "EINVAL\nb'kept\\n'\n");
}

/// A private mapping of a stream file faults through the page cache: the
/// access is SIGBUS (a shared one is ENODEV, as the kernel says for any
/// direct-I/O file), and the bytes stay in the pipe.
#[test]
fn a_mapping_of_a_pipe_takes_nothing() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let out = python(
        &m,
        "fd = os.open('pipes/p', os.O_RDWR)\n\
        os.write(fd, b'abc')\n\
        print(attempt(lambda: mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ)))\n\
        mm = mmap.mmap(fd, 4096, mmap.MAP_PRIVATE, mmap.PROT_READ)\n\
        pid = os.fork()\n\
        if pid == 0:\n\
        \x20   mm[0]\n\
        \x20   os._exit(0)\n\
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), os.read(fd, 10))\n",
    );
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
