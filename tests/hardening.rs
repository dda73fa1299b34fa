//! Findings of the shared-mount review, each shown through a real mount:
//! `status` cannot be forged by a name, pipe data does not outlive its
//! last descriptor, setxattr's flags are honoured and `df -i` adds up.

mod common;

use common::{assert_ok, stdout};

#[test]
fn status_escapes_names_so_a_row_is_one_object() {
    let m = mount_or_skip!();
    let out = m
        .python_file("status_escapes_names.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    let names: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "queues/\\376",
            "queues/\\377",
            "queues/back\\134slash",
            "queues/esc\\033[31m",
            "queues/row\\012queue\\040x\\0400\\0400\\0400644\\0401\\0401\\0400\\0400\\0400\\040daemon",
            "queues/tab\\011and\\040space",
        ],
        "{text}"
    );
    assert_eq!(text.lines().count(), 7, "one line per object:\n{text}");
}

#[test]
fn pipe_data_goes_with_the_last_descriptor() {
    let m = mount_or_skip!();
    // Written through an O_RDWR open, then every descriptor closed: a new
    // reader must not get OLD before the next writer's data. (The kernel
    // reports the last close a moment after close() returns.)
    assert_ok(&m.run("touch pipes/s; exec 3<>pipes/s; printf OLD >&3; exec 3>&-"));
    let ends = |n: &str| {
        let out = m
            .python(
                "import os, sys\nprint(os.getxattr('pipes/s', 'user.ipcfs.' + sys.argv[1]).decode())\n",
                &[n],
            )
            .output()
            .unwrap();
        stdout(&out).trim().to_string()
    };
    assert!(common::eventually(
        std::time::Duration::from_secs(5),
        || { ends("readers") == "0" && ends("writers") == "0" }
    ));
    let out = m.run("exec 4<>pipes/s; printf NEW >&4; timeout 2 dd bs=100 count=1 status=none <&4");
    assert_ok(&out);
    assert_eq!(stdout(&out), "NEW");
    let out = m
        .python(
            "import os\nprint(os.getxattr('pipes/s', 'user.ipcfs.bytes'))\n",
            &[],
        )
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "b'0'\n");
}

#[test]
fn setxattr_flags_and_statfs_counts() {
    let m = mount_or_skip!();
    let out = m
        .python_file("setxattr_flags_and_statfs.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out), "EEXIST\nok\nENODATA\n3 True\n");
}

/// ipcfs(7)'s idioms for programs that treat a pipe as a regular file:
/// `tail -c +N` of the pipe itself fails on its seek; through `cat` it
/// works.
#[test]
fn the_documented_idioms_for_seeking_programs_work() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch pipes/p"));
    let out = m.run(
        "exec 3<>pipes/p; printf 'hello world\\n' >&3; \
         timeout 2 tail -c +3 pipes/p; echo \"tail: $?\"",
    );
    assert_eq!(stdout(&out), "tail: 1\n", "tail seeks and fails");
    let out = m.run("(printf 'hello world\\n' > pipes/p &); timeout 2 cat pipes/p | tail -c +3");
    assert_eq!(stdout(&out), "llo world\n");
}

/// A status snapshot is memory held for the open's life: it counts
/// against --max-memory, so open descriptors of status cannot grow the
/// daemon past the cap.
#[test]
fn status_snapshots_count_against_the_memory_cap() {
    // 100 queues' records (1024 bytes and a 4-byte name each) and about
    // 16 KiB more: room for one or two snapshots of their status.
    let m = mount_or_skip!("--max-memory", "116K");
    let out = m
        .python_file("hold_status_snapshots.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    let (errno, held) = text.trim().split_once(' ').unwrap();
    assert_eq!(errno, "ENOSPC");
    let held: usize = held.parse().unwrap();
    assert!(
        (1..=3).contains(&held),
        "16 KiB of room holds about one: {held}"
    );
}

/// A write parked on a socket whose peer does not read holds its bytes
/// in the daemon: they are charged, so parked writes cannot take the
/// daemon past --max-memory; one that would is ENOSPC at once. (Where a
/// large write is answered before the socket takes it, its bytes are
/// held, and charged, all the same: the first write returns, and the
/// second, which would wait behind it, is ENOSPC.)
#[test]
fn parked_socket_writes_are_charged() {
    let m = mount_or_skip!("--max-memory", "1536K");
    let out = m
        .python_file("parked_socket_writes.py", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    let mut lines = text.lines();
    let first = match common::writes_answered_early() {
        true => "[1048576, 'ENOSPC']",
        false => "['ENOSPC']",
    };
    assert_eq!(lines.next(), Some(first), "{text}");
    let second = lines.next().unwrap();
    assert!(second.ends_with("False"), "the first write ended: {text}");
}
