//! Shared-memory files through a real mount: mappings shared between
//! processes, in both ways the daemon serves them (passthrough to a
//! memory file when it runs as root, the page cache otherwise).

mod common;

use common::{Mount, assert_ok, eventually, stdout, xattr};
use std::time::Duration;

/// Runs `tests/py/NAME`; what it printed.
fn python(m: &Mount, name: &str) -> String {
    let out = m.python_file(name, &[]).output().unwrap();
    assert_ok(&out);
    stdout(&out)
}

/// The mount's free blocks, by statvfs(2).
fn free_blocks(m: &Mount) -> String {
    let out = m
        .python("import os; print(os.statvfs('.').f_bfree)", &[])
        .output()
        .unwrap();
    assert_ok(&out);
    stdout(&out)
}

/// Two processes map one file and increment a counter in it 10,000
/// times each under flock: no increment is lost.
fn locked_counter(m: &Mount) {
    assert_ok(&m.run("truncate -s 4096 shm/counter"));
    let out = python(m, "shm_locked_counter.py");
    assert_eq!(out, "[0, 0]\n20000\n");
}

/// A store through one process's mapping is seen at once by another
/// process's read(2), with no msync, and a write(2) by one at once by
/// the other's mapping.
fn stores_are_seen_without_msync(m: &Mount) {
    assert_ok(&m.run("truncate -s 8192 shm/seen"));
    let out = python(m, "shm_stores_seen_without_msync.py");
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
    let out = python(m, "shm_truncate_grows.py");
    assert_eq!(out, "1048576 1048576\n9\n");
}

/// Past the end of the file a mapping raises SIGBUS, as on tmpfs, and a
/// shrink cuts what every mapper sees.
fn access_past_the_end_is_sigbus(m: &Mount) {
    assert_ok(&m.run("truncate -s 8192 shm/bus"));
    let out = python(m, "shm_past_the_end_is_sigbus.py");
    assert_eq!(out, format!("{} 4096\n", -libc::SIGBUS));
}

/// A file removed while mapped keeps working for its mapper; its memory
/// goes back to the mount when the last user is gone.
fn removed_while_mapped_keeps_working(m: &Mount) {
    let free_before = free_blocks(m);
    let out = python(m, "shm_removed_while_mapped.py");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "False b'abc' b'abc'");
    let free: u64 = free_before.trim().parse().unwrap();
    let while_held: u64 = lines[1].parse().unwrap();
    assert_eq!(free - while_held, 256, "1 MiB charged while mapped");
    // Released with the last close (FUSE's RELEASE and FORGET arrive a
    // moment after the process exits).
    assert!(eventually(Duration::from_secs(5), || {
        free_blocks(m) == free_before
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
    let out = python(&m, "shm_fill_64_mib.py");
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
    let out = python(&m, "shm_growth_past_the_cap.py");
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
    let out = python(&m, "shm_fallocate.py");
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
        .python_file("shm_seek_data_and_hole.py", &[])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        format!("0 4096\n{} {}\nENXIO\n", 1 << 19, (1 << 19) + 4096),
        "{out:?}"
    );
    assert!(!m.log().contains("Not Implemented"), "{}", m.log());
}
