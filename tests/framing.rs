//! A queue's framing through a real mount: where a stream writer's
//! messages end — at the close of the redirection (`message`, the
//! default), at each newline (`line`), or at each write(2) (`write`) —
//! whatever write(2) calls the shell or the program makes.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_ok, eventually, stdout, wait_within, xattr};

fn set_xattr(m: &common::Mount, file: &str, name: &str, value: &str) {
    let out = m
        .python(
            "import os,sys; os.setxattr(sys.argv[1], 'user.ipcfs.'+sys.argv[2], \
             sys.argv[3].encode())",
            &[file, name, value],
        )
        .output()
        .unwrap();
    assert_ok(&out);
}

/// Receives every message queued, each whole (an `O_DIRECT` read is one
/// message), as Python's repr of the list of them.
fn receive_all(m: &common::Mount, file: &str) -> String {
    stdout(&m.python_file("receive_all.py", &[file]).output().unwrap())
        .trim_end()
        .to_string()
}

/// A `bash -c` script run in the mountpoint.
fn bash(m: &common::Mount, script: &str) -> std::process::Output {
    Command::new("timeout")
        .args(["-s", "KILL", "60", "bash", "-c", script])
        .current_dir(m.path(""))
        .output()
        .expect("run bash")
}

#[test]
fn bash_printf_of_two_lines_is_one_message() {
    let m = mount_or_skip!();
    // bash's built-in printf writes this line by line: two write(2)s.
    assert_ok(&bash(&m, "touch queues/q; printf 'b1\\nb2\\n' > queues/q"));
    assert_eq!(receive_all(&m, "queues/q"), "[b'b1\\nb2\\n']");
    assert_ok(&bash(&m, "f() { echo -e 'x\\ny'; }; f > queues/q"));
    assert_eq!(receive_all(&m, "queues/q"), "[b'x\\ny\\n']");
}

#[test]
fn seq_and_cat_of_a_large_file_are_one_message_each_byte_exact() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    set_xattr(&m, "queues/q", "max_message_size", "256K");
    let out = m.run(
        "seq 1 5000 > queues/q; cat queues/q > /tmp/ipcfs-seq-$$; \
         seq 1 5000 | cmp - /tmp/ipcfs-seq-$$ && echo same; rm -f /tmp/ipcfs-seq-$$",
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "same\n");
    assert_eq!(xattr(&m, "queues/q", "sent"), "1");
    // cat writes a file in pieces of its buffer's size.
    let out = m.run(
        "f=/tmp/ipcfs-big-$$; head -c 102400 /dev/urandom > $f; cat $f > queues/q; \
         cat queues/q | cmp - $f && echo same; rm -f $f",
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "same\n");
    assert_eq!(xattr(&m, "queues/q", "sent"), "2");
}

#[test]
fn a_python_writer_with_many_prints_sends_one_message() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let out = m.python_file("many_prints.py", &[]).output().unwrap();
    assert_ok(&out);
    let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
    assert_eq!(stdout(&m.run("cat queues/q")), expected);
    assert_eq!(xattr(&m, "queues/q", "messages"), "0");
}

#[test]
fn each_close_of_a_shared_descriptor_ends_the_message_so_far() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    // `printf a >&3` runs with fd 3 copied onto fd 1, which bash closes
    // after it: each such close ends the message written so far.
    assert_ok(&bash(
        &m,
        "exec 3> queues/q; printf a >&3; printf b >&3; exec 3>&-",
    ));
    assert_eq!(receive_all(&m, "queues/q"), "[b'a', b'b']");
    // A builtin writing to the shell's own stdout closes nothing.
    assert_ok(&bash(&m, "exec > queues/q; printf a; printf b; exec >&-"));
    assert_eq!(receive_all(&m, "queues/q"), "[b'ab']");
    // A child that exits closes its copy: `date` ends a message.
    assert_ok(&m.run("{ echo first; sh -c 'printf second'; echo third; } > queues/q"));
    assert_eq!(
        receive_all(&m, "queues/q"),
        "[b'first\\nsecond', b'third\\n']"
    );
    // Through a pipe to one cat, the whole group is one message.
    assert_ok(&m.run("{ echo first; sh -c 'printf second'; echo third; } | cat > queues/q"));
    assert_eq!(receive_all(&m, "queues/q"), "[b'first\\nsecondthird\\n']");
}

#[test]
fn fsync_ends_a_message_and_an_open_with_nothing_written_sends_nothing() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q; : > queues/q; exec 3> queues/q; exec 3>&-"));
    assert_eq!(xattr(&m, "queues/q", "sent"), "0");
    let out = m
        .python_file("fsync_ends_a_message.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "b'0'\nb'1'\n");
    assert_eq!(receive_all(&m, "queues/q"), "[b'one+', b'two']");
}

#[test]
fn line_framing_makes_each_line_a_message() {
    let m = mount_or_skip!("--queue-max-messages", "1000");
    assert_ok(&m.run("touch queues/q"));
    set_xattr(&m, "queues/q", "framing", "line");
    assert_eq!(xattr(&m, "queues/q", "framing"), "line");
    assert_ok(&m.run("seq 1000 > queues/q"));
    assert_eq!(xattr(&m, "queues/q", "messages"), "1000");
    let out = m.run("for i in $(seq 1000); do cat queues/q; done | cmp - /dev/stdin <<EOF\n$(seq 1000)\nEOF\necho $?");
    assert_eq!(stdout(&out), "0\n", "{}", common::stderr(&out));
    // A last line without a newline is a message at close.
    assert_ok(&m.run("printf 'a\\nb' > queues/q"));
    assert_eq!(receive_all(&m, "queues/q"), "[b'a\\n', b'b']");
    // The mount's default, from the option.
    let m = mount_or_skip!("-o", "queue_framing=line");
    assert_ok(&m.run("touch queues/q; printf 'x\\ny\\n' > queues/q"));
    assert_eq!(receive_all(&m, "queues/q"), "[b'x\\n', b'y\\n']");
}

#[test]
fn write_framing_makes_each_write_a_message() {
    let m = mount_or_skip!("--queue-framing", "write");
    assert_ok(&m.run("touch queues/q"));
    assert_eq!(xattr(&m, "queues/q", "framing"), "write");
    assert_ok(&bash(&m, "printf 'b1\\nb2\\n' > queues/q"));
    assert_eq!(receive_all(&m, "queues/q"), "[b'b1\\n', b'b2\\n']");
}

#[test]
fn a_full_queue_blocks_the_first_write_and_timeout_leaves_nothing_queued() {
    let m = mount_or_skip!("--queue-max-messages", "1");
    assert_ok(&m.run("touch queues/q; echo fill > queues/q"));
    let (out, _) = common::timed(&mut m.sh("timeout 1 sh -c 'printf part > queues/q'"));
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(xattr(&m, "queues/q", "messages"), "1");
    // A writer that got its place goes on whatever the room: here a
    // reader takes the queued message while the writer is mid-message.
    // (Not `{ printf one; sleep 1; printf two; } > q`: sleep is a child
    // whose exit closes its copy of the descriptor, ending the message.)
    let mut writer = m
        .python(
            "import os, time\nfd = os.open('queues/q', os.O_WRONLY)\n\
             os.write(fd, b'one'); time.sleep(0.5); os.write(fd, b'two')\n",
            &[],
        )
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || xattr(
        &m, "queues/q", "blocked"
    ) == "1"));
    assert_eq!(stdout(&m.run("cat queues/q")), "fill\n");
    assert!(wait_within(&mut writer, Duration::from_secs(5), "writer").success());
    assert_eq!(receive_all(&m, "queues/q"), "[b'onetwo']");
    let nonblocking = m
        .python_file("nonblocking_write_to_a_full_queue.py", &[])
        .output()
        .unwrap();
    assert_eq!(stdout(&nonblocking), "EAGAIN\n");
}

#[test]
fn a_writer_killed_mid_message_sends_nothing_and_the_drop_is_counted() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let mut writer = m
        .python_file("half_a_message.py", &[])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(writer.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid: i32 = line.trim().parse().expect("the writer's pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_within(&mut writer, Duration::from_secs(5), "killed writer");
    assert!(eventually(Duration::from_secs(5), || xattr(
        &m, "queues/q", "dropped"
    ) == "1"));
    assert_eq!(xattr(&m, "queues/q", "messages"), "0");
    assert_eq!(xattr(&m, "queues/q", "sent"), "0");
    // One that exits without closing, but not by a signal, sends its
    // message.
    let status = m.python_file("exit_mid_message.py", &[]).status().unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(receive_all(&m, "queues/q"), "[b'whole']");
}

#[test]
fn too_large_a_message_fails_the_crossing_write_and_is_dropped_whole() {
    let m = mount_or_skip!("--queue-max-message-size", "10");
    assert_ok(&m.run("touch queues/q"));
    let out = m
        .python_file("too_large_a_message.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "6\nEMSGSIZE\nEMSGSIZE\nb'1'\n");
    assert_eq!(receive_all(&m, "queues/q"), "[]");
}

/// 16 writers and 16 readers at once in one framing: every message
/// received exactly once, whole, and each writer's in order.
fn many_writers_and_readers(framing: &str) {
    let m = mount_or_skip!("--queue-framing", framing);
    assert_ok(&m.run("touch queues/q"));
    let out = m
        .python_file("framing_writers_and_readers.py", &[framing])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "2400 2400\n", "{framing}");
    assert_eq!(xattr(&m, "queues/q", "messages"), "0");
    assert_eq!(xattr(&m, "queues/q", "dropped"), "0");
}

#[test]
fn sixteen_writers_and_readers_lose_duplicate_and_tear_nothing_under_message_framing() {
    many_writers_and_readers("message");
}

#[test]
fn sixteen_writers_and_readers_lose_duplicate_and_tear_nothing_under_line_framing() {
    many_writers_and_readers("line");
}

#[test]
fn sixteen_writers_and_readers_lose_duplicate_and_tear_nothing_under_write_framing() {
    many_writers_and_readers("write");
}
