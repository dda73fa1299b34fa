//! Findings of the shared-mount review, each shown through a real mount:
//! `status` cannot be forged by a name, pipe data does not outlive its
//! last descriptor, setxattr's flags are honoured and `df -i` adds up.

mod common;

use common::{assert_ok, stdout};

#[test]
fn status_escapes_names_so_a_row_is_one_object() {
    let m = mount_or_skip!();
    let script = "import os\n\
        for name in (b'row\\nqueue x 0 0 0644 1 1 0 0 0 daemon', b'tab\\tand space', \
                     b'back\\\\slash', b'esc\\x1b[31m', b'\\xff', b'\\xfe'):\n\
        \x20   os.close(os.open(b'queues/' + name, os.O_CREAT | os.O_WRONLY))\n\
        print(open('status').read(), end='')\n";
    let out = m.python(script, &[]).output().unwrap();
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
    let script = "import os, errno\n\
        for n in ('a', 'b', 'c'): open('queues/' + n, 'w').close()\n\
        def attempt(f):\n\
        \x20   try: f(); return 'ok'\n\
        \x20   except OSError as e: return errno.errorcode[e.errno]\n\
        q = 'queues/a'\n\
        print(attempt(lambda: os.setxattr(q, 'user.ipcfs.max_messages', b'5', os.XATTR_CREATE)))\n\
        print(attempt(lambda: os.setxattr(q, 'user.ipcfs.max_messages', b'5', os.XATTR_REPLACE)))\n\
        print(attempt(lambda: os.setxattr(q, 'user.other', b'5', os.XATTR_REPLACE)))\n\
        s = os.statvfs('.')\n\
        print(s.f_files - s.f_ffree, s.f_ffree > 0)\n";
    let out = m.python(script, &[]).output().unwrap();
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
    let script = "import os, errno\n\
        for i in range(100): open('queues/q%03d' % i, 'w').close()\n\
        held = []\n\
        try:\n\
        \x20   while len(held) < 100: held.append(os.open('status', os.O_RDONLY))\n\
        except OSError as e: print(errno.errorcode[e.errno], len(held))\n\
        for fd in held: os.close(fd)\n";
    let out = m.python(script, &[]).output().unwrap();
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
/// daemon past --max-memory; one that would is ENOSPC at once.
#[test]
fn parked_socket_writes_are_charged() {
    let m = mount_or_skip!("--max-memory", "1536K");
    let script = "import os, socket, threading, time, errno\n\
        srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)\n\
        os.mkdir('sockets/c')\n\
        with open('sockets/c/ctl', 'w') as c: c.write('connect tcp 127.0.0.1:%d\\n' % srv.getsockname()[1])\n\
        peer, _ = srv.accept()\n\
        fd = os.open('sockets/c/data', os.O_WRONLY | os.O_NONBLOCK)\n\
        try:\n\
        \x20   while True: os.write(fd, b'x' * 65536)\n\
        except BlockingIOError: pass\n\
        out = []\n\
        def write():\n\
        \x20   try: out.append(os.write(os.open('sockets/c/data', os.O_WRONLY), b'y' * (1 << 20)))\n\
        \x20   except OSError as e: out.append(errno.errorcode[e.errno])\n\
        first = threading.Thread(target=write); first.start(); time.sleep(0.5)\n\
        write()\n\
        print(out)\n\
        os.rmdir('sockets/c'); first.join(5); peer.close()\n\
        print(out[1:], first.is_alive())\n";
    let out = m.python(script, &[]).output().unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("['ENOSPC']"), "{text}");
    let second = lines.next().unwrap();
    assert!(second.ends_with("False"), "the first write ended: {text}");
}
