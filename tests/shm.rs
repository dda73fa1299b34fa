//! Shared-memory files through a real mount: mappings shared between
//! processes, in both ways the daemon serves them (passthrough to a
//! memory file when it runs as root, the page cache otherwise).

mod common;

use common::{Mount, assert_ok, eventually, stdout, xattr};
use std::time::Duration;

/// Python prelude: `attempt(f)` prints a result or the errno's name.
const ATTEMPT: &str = "import os, errno, sys, mmap, fcntl, struct\n\
    def attempt(f):\n\
    \x20   try:\n        return repr(f())\n\
    \x20   except OSError as e:\n        return errno.errorcode[e.errno]\n";

fn python(m: &Mount, script: &str, args: &[&str]) -> String {
    let out = m
        .python(&format!("{ATTEMPT}{script}"), args)
        .output()
        .unwrap();
    assert_ok(&out);
    stdout(&out)
}

/// Two processes map one file and increment a counter in it 10,000
/// times each under flock: no increment is lost.
fn locked_counter(m: &Mount) {
    assert_ok(&m.run("truncate -s 4096 shm/counter"));
    let out = python(
        m,
        "def work():\n\
        \x20   fd = os.open('shm/counter', os.O_RDWR)\n\
        \x20   mm = mmap.mmap(fd, 4096, mmap.MAP_SHARED)\n\
        \x20   for _ in range(10000):\n\
        \x20       fcntl.flock(fd, fcntl.LOCK_EX)\n\
        \x20       struct.pack_into('Q', mm, 8, struct.unpack_from('Q', mm, 8)[0] + 1)\n\
        \x20       fcntl.flock(fd, fcntl.LOCK_UN)\n\
        \x20   os._exit(0)\n\
        pids = []\n\
        for _ in range(2):\n\
        \x20   pid = os.fork()\n\
        \x20   if pid == 0: work()\n\
        \x20   pids.append(pid)\n\
        print([os.waitpid(p, 0)[1] for p in pids])\n\
        fd = os.open('shm/counter', os.O_RDONLY)\n\
        print(struct.unpack('Q', os.pread(fd, 8, 8))[0])\n",
        &[],
    );
    assert_eq!(out, "[0, 0]\n20000\n");
}

/// A store through one process's mapping is seen at once by another
/// process's read(2), with no msync, and a write(2) by one at once by
/// the other's mapping.
fn stores_are_seen_without_msync(m: &Mount) {
    assert_ok(&m.run("truncate -s 8192 shm/seen"));
    let out = python(
        m,
        "fd = os.open('shm/seen', os.O_RDWR)\n\
        mm = mmap.mmap(fd, 8192, mmap.MAP_SHARED)\n\
        mm[100:105] = b'hello'\n\
        r, w = os.pipe()\n\
        pid = os.fork()\n\
        if pid == 0:\n\
        \x20   other = os.open('shm/seen', os.O_RDWR)\n\
        \x20   got = os.pread(other, 5, 100)\n\
        \x20   os.pwrite(other, b'world', 5000)\n\
        \x20   os.write(w, got)\n\
        \x20   os._exit(0)\n\
        os.waitpid(pid, 0)\n\
        print(os.read(r, 5), mm[5000:5005])\n",
        &[],
    );
    assert_eq!(out, "b'hello' b'world'\n");
}

/// `dd` at an offset writes there and nowhere else; `cmp` reads it back.
fn dd_at_an_offset(m: &Mount) {
    let out = m.run(
        "b=$(mktemp) && head -c 12288 /dev/urandom > $b && \
         dd if=$b of=shm/d bs=4096 seek=5 conv=notrunc status=none && \
         stat -c %s shm/d && \
         dd if=shm/d bs=4096 skip=5 count=3 status=none | cmp - $b && \
         head -c 20480 shm/d | tr -d '\\0' | wc -c; s=$?; rm -f $b; exit $s",
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "32768\n0\n");
}

/// `truncate -s 1M` is the size `stat` gives, and a second mapper sees
/// the growth and the first one's stores in it.
fn truncate_grows_for_every_mapper(m: &Mount) {
    assert_ok(&m.run("truncate -s 4096 shm/grow"));
    let out = python(
        m,
        "fd = os.open('shm/grow', os.O_RDWR)\n\
        small = mmap.mmap(fd, 4096, mmap.MAP_SHARED)\n\
        os.system('truncate -s 1M shm/grow')\n\
        print(os.stat('shm/grow').st_size, os.fstat(fd).st_size)\n\
        big = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED)\n\
        big[(1 << 20) - 1] = 7\n\
        small[0] = 9\n\
        pid = os.fork()\n\
        if pid == 0:\n\
        \x20   other = mmap.mmap(os.open('shm/grow', os.O_RDONLY), 1 << 20, mmap.MAP_SHARED, mmap.PROT_READ)\n\
        \x20   os._exit(other[(1 << 20) - 1] * 10 + other[0] - 70)\n\
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n",
        &[],
    );
    assert_eq!(out, "1048576 1048576\n9\n");
}

/// Past the end of the file a mapping raises SIGBUS, as on tmpfs, and a
/// shrink cuts what every mapper sees.
fn access_past_the_end_is_sigbus(m: &Mount) {
    assert_ok(&m.run("truncate -s 8192 shm/bus"));
    let out = python(
        m,
        "fd = os.open('shm/bus', os.O_RDWR)\n\
        mm = mmap.mmap(fd, 8192, mmap.MAP_SHARED)\n\
        mm[4096] = 1\n\
        os.ftruncate(fd, 4096)\n\
        pid = os.fork()\n\
        if pid == 0:\n\
        \x20   mm[4096] = 2\n\
        \x20   os._exit(0)\n\
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), os.fstat(fd).st_size)\n",
        &[],
    );
    assert_eq!(out, format!("{} 4096\n", -libc::SIGBUS));
}

/// A file removed while mapped keeps working for its mapper; its memory
/// goes back to the mount when the last user is gone.
fn removed_while_mapped_keeps_working(m: &Mount) {
    let free_before = python(m, "print(os.statvfs('.').f_bfree)\n", &[]);
    let out = python(
        m,
        "fd = os.open('shm/gone', os.O_RDWR | os.O_CREAT)\n\
        os.ftruncate(fd, 1 << 20)\n\
        mm = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED)\n\
        os.unlink('shm/gone')\n\
        mm[5:8] = b'abc'\n\
        print('gone' in os.listdir('shm'), os.pread(fd, 3, 5), mm[5:8])\n\
        print(os.statvfs('.').f_bfree)\n",
        &[],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "False b'abc' b'abc'");
    let free: u64 = free_before.trim().parse().unwrap();
    let while_held: u64 = lines[1].parse().unwrap();
    assert_eq!(free - while_held, 256, "1 MiB charged while mapped");
    // Released with the last close (FUSE's RELEASE and FORGET arrive a
    // moment after the process exits).
    assert!(eventually(Duration::from_secs(5), || {
        python(m, "print(os.statvfs('.').f_bfree)\n", &[]) == free_before
    }));
}

/// The whole contract, for one way of serving.
fn coherence(m: &Mount) {
    locked_counter(m);
    stores_are_seen_without_msync(m);
    dd_at_an_offset(m);
    truncate_grows_for_every_mapper(m);
    access_past_the_end_is_sigbus(m);
    removed_while_mapped_keeps_working(m);
}

fn served_by(m: &Mount, name: &str) -> String {
    let status = std::fs::read_to_string(m.path("status")).unwrap();
    let row = status
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no row for {name} in\n{status}"));
    row.split_whitespace().nth(10).unwrap().to_string()
}

#[test]
fn mappings_are_coherent_with_passthrough() {
    let m = mount_or_skip!();
    // Mount tests run as root, where the kernel's passthrough is used.
    assert!(
        m.log().contains("mappings pass through"),
        "passthrough not in use: {}",
        m.log()
    );
    assert_ok(&m.run("touch shm/probe"));
    assert_eq!(served_by(&m, "shm/probe"), "passthrough");
    coherence(&m);
}

#[test]
fn mappings_are_coherent_through_the_page_cache() {
    let m = mount_or_skip!("--shm-mode", "cached");
    assert!(
        m.log().contains("served through the page cache"),
        "{}",
        m.log()
    );
    assert_ok(&m.run("touch shm/probe"));
    assert_eq!(served_by(&m, "shm/probe"), "daemon");
    coherence(&m);
}

/// With passthrough the kernel maps the memory file itself: filling a
/// 64 MiB mapping does not grow the daemon's resident memory by 64 MiB.
#[test]
fn passthrough_holds_one_copy() {
    let m = mount_or_skip!();
    let before = m.rss_kib();
    let out = python(
        &m,
        "fd = os.open('shm/big', os.O_RDWR | os.O_CREAT)\n\
        os.ftruncate(fd, 64 << 20)\n\
        mm = mmap.mmap(fd, 64 << 20, mmap.MAP_SHARED)\n\
        mm[:] = b'x' * (64 << 20)\n\
        print(os.pread(fd, 2, (64 << 20) - 2))\n",
        &[],
    );
    assert_eq!(out, "b'xx'\n");
    let grown_kib = m.rss_kib().saturating_sub(before);
    assert!(grown_kib < 16 << 10, "daemon grew by {grown_kib} KiB");
    assert_eq!(xattr(&m, "shm/big", "size"), (64u64 << 20).to_string());
}

/// Sizes count against --max-memory: growth past it is ENOSPC, whether
/// by truncate, write(2) or fallocate, and nothing already stored is lost.
#[test]
fn growth_past_the_memory_cap_is_enospc() {
    let m = mount_or_skip!("--max-memory", "1M");
    let out = python(
        &m,
        "fd = os.open('shm/cap', os.O_RDWR | os.O_CREAT)\n\
        print(attempt(lambda: os.truncate('shm/cap', 1 << 40)))\n\
        print(attempt(lambda: os.pwrite(fd, b'a' * 4096, 0)))\n\
        print(attempt(lambda: os.pwrite(fd, b'b' * 4096, (1 << 20) - 100)))\n\
        print(attempt(lambda: os.posix_fallocate(fd, 0, 2 << 20)))\n\
        print(os.fstat(fd).st_size, os.pread(fd, 4, 0))\n",
        &[],
    );
    assert_eq!(out, "ENOSPC\n4096\nENOSPC\nENOSPC\n4096 b'aaaa'\n");
    assert!(m.log().contains("--max-memory"), "{}", m.log());
    // The shell's forms fail the same way.
    let out = m.run("truncate -s 1T shm/cap 2>&1; echo $?");
    assert!(
        stdout(&out).contains("No space left on device"),
        "{}",
        stdout(&out)
    );
}

/// Shell creation, `>` truncation, the counters, fallocate's modes and
/// a row of `status`.
#[test]
fn shell_forms_counters_and_fallocate() {
    let m = mount_or_skip!();
    let out = m.run(
        "echo hello > shm/s && echo hi > shm/s && cat shm/s && stat -c '%s %F' shm/s && \
         printf x >> shm/s && cat shm/s",
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "hi\n3 regular file\nhi\nx");
    assert_eq!(xattr(&m, "shm/s", "size"), "4");
    assert_eq!(xattr(&m, "shm/s", "opens"), "0");
    let out = python(
        &m,
        "import ctypes\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]\n\
        def fallocate(fd, mode, off, n):\n\
        \x20   if libc.fallocate(fd, mode, off, n) != 0:\n\
        \x20       return errno.errorcode[ctypes.get_errno()]\n\
        \x20   return os.fstat(fd).st_size\n\
        fd = os.open('shm/f', os.O_RDWR | os.O_CREAT)\n\
        print(fallocate(fd, 0, 0, 8192))\n\
        os.pwrite(fd, b'z' * 8192, 0)\n\
        print(fallocate(fd, 3, 0, 4096), os.pread(fd, 2, 4094), os.pread(fd, 2, 4096))\n\
        print(fallocate(fd, 1, 0, 1 << 20))\n\
        print(os.getxattr('shm/f', 'user.ipcfs.opens'))\n",
        &[],
    );
    // Mode 3 is PUNCH_HOLE | KEEP_SIZE, 1 is KEEP_SIZE alone.
    assert_eq!(out, "8192\n8192 b'\\x00\\x00' b'zz'\nENOTSUP\nb'1'\n");
    let status = std::fs::read_to_string(m.path("status")).unwrap();
    let row = status.lines().find(|l| l.contains(" shm/s ")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((cols[0], cols[5]), ("shm", "4"), "{status}");
    // Other kinds of node are refused in shm/.
    let out = m.run("mkfifo shm/p 2>&1; mkdir shm/d 2>&1; true");
    assert!(
        stdout(&out).matches("Operation not permitted").count() == 2,
        "{}",
        stdout(&out)
    );
}

/// lseek(2) with SEEK_DATA and SEEK_HOLE says where a shared-memory
/// file's data and holes are, as on /dev/shm, and past the end ENXIO;
/// quietly (no warning in the log); served either way.
#[test]
fn seek_data_and_seek_hole_find_the_holes() {
    let passthrough = mount_or_skip!();
    seek_data_and_holes(&passthrough);
    let cached = mount_or_skip!("--shm-mode", "cached");
    seek_data_and_holes(&cached);
}

fn seek_data_and_holes(m: &Mount) {
    let out = m
        .python(
            "import os, errno\n\
             fd = os.open('shm/holes', os.O_CREAT | os.O_RDWR, 0o600)\n\
             os.pwrite(fd, b'a', 0)\n\
             os.ftruncate(fd, 1 << 20)\n\
             os.pwrite(fd, b'b', 1 << 19)\n\
             print(os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE))\n\
             print(os.lseek(fd, 4096, os.SEEK_DATA), os.lseek(fd, (1 << 19) + 1, os.SEEK_HOLE))\n\
             try: os.lseek(fd, 2 << 20, os.SEEK_DATA)\n\
             except OSError as e: print(errno.errorcode[e.errno])\n",
            &[],
        )
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        format!("0 4096\n{} {}\nENXIO\n", 1 << 19, (1 << 19) + 4096),
        "{out:?}"
    );
    assert!(!m.log().contains("Not Implemented"), "{}", m.log());
}
