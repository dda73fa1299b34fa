//! The man pages and the README: the pages render without a single groff
//! (or mandoc) warning, and what they say is what the code does: every
//! long flag of `ipcfs --help` and every `-o` option, the defaults and
//! limits, the `status` examples, every attribute, every errno, every
//! signal name. The facts are taken from the library's public tables
//! (settings, attribute names, errnos, signal names, mount options) and
//! its status renderer, so that a change to the code without a change to
//! the pages fails here, and moving code does not.
//!
//! groff is needed: without it the page tests skip with a printed reason,
//! except under CI (`.ci/run` installs it), where they fail, so that a
//! broken page cannot pass unnoticed. mandoc's lint runs where mandoc is
//! installed.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ipcfs::cli::{ACCEPTED_NO_OPS, MOUNT_OPTIONS};
use ipcfs::config::{
    Config, DEFAULT_MAX_MEMORY, DEFAULT_PIPE_CAPACITY, DEFAULT_QUEUE_MAX_MESSAGE_SIZE,
    DEFAULT_QUEUE_MAX_MESSAGES, ShmMode,
};
use ipcfs::error::Error;
use ipcfs::fs::kinds::{ATTRIBUTE_PREFIX, ATTRIBUTES};
use ipcfs::interrupt::SWEEP_INTERVAL;
use ipcfs::ipc::channel::{ChannelCounters, Faults, MAX_DELAY_MS, REORDER_HOLD};
use ipcfs::ipc::pipe::{MAX_CAPACITY, MIN_CAPACITY, PIPE_BUF};
use ipcfs::ipc::signal;
use ipcfs::ipc::status::{README, StatusRow, render};
use ipcfs::limits::{IoLimits, KERNEL_DEFAULT_PAGES, PAGE_SIZE, WANTED_PAGES};

const PAGES: [&str; 3] = ["ipcfs.1", "ipcfs.7", "ipcfs-labs.7"];

fn page(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(name)
}

/// A file of the source tree, as text.
fn source(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Whether `text` occurs in some file of `src/`, wherever the code that
/// holds it lives: for what the pages quote of the code (log lines).
fn in_source_tree(text: &str) -> bool {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if std::fs::read_to_string(&path).is_ok_and(|code| code.contains(text)) {
                return true;
            }
        }
    }
    false
}

/// Whether groff can run here. Without it the page tests skip, with a
/// printed reason, on a developer's machine; under CI (which installs
/// it) they fail instead, so that a broken page cannot pass unnoticed.
fn groff_missing() -> bool {
    let found = Command::new("groff")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return false;
    }
    if std::env::var_os("CI").is_some() {
        panic!("groff is not installed: .ci/run installs it (Debian package groff)");
    }
    eprintln!("skipped: groff is not installed (Debian package groff); CI runs this test");
    true
}

fn groff(args: &[&str], page: &Path) -> Output {
    match Command::new("groff").args(args).arg(page).output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "groff is not installed and the man page tests need it: install it \
             (Debian package groff); .ci/run installs it, as CI does"
        ),
        Err(e) => panic!("cannot run groff: {e}"),
    }
}

fn assert_renders_cleanly(args: &[&str], page: &Path) {
    let out = groff(args, page);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "groff {args:?} {} failed ({}):\n{stderr}",
        page.display(),
        out.status
    );
    // groff exits 0 even when it warns: the warnings are only on stderr.
    assert!(
        stderr.is_empty(),
        "groff {args:?} {} warned:\n{stderr}",
        page.display()
    );
}

/// The page as plain text, as a reader sees it, made so that nothing is
/// ever split: no escapes for bold or underline (`-P-c -P-b -P-u`), lines
/// of 2000 characters (`-rLL=2000n`) and no hyphenation (`-rHY=0`), so a
/// flag cannot be broken across lines. groff renders `\-` as U+2212 MINUS
/// SIGN on some systems (Debian maps it to '-'); it is mapped back to '-'.
fn plain_text(page: &Path) -> String {
    let args = [
        "-t",
        "-man",
        "-Tutf8",
        "-P-c",
        "-P-b",
        "-P-u",
        "-rLL=2000n",
        "-rHY=0",
    ];
    let out = groff(&args, page);
    assert!(out.status.success(), "groff {args:?} failed");
    String::from_utf8(out.stdout)
        .expect("groff -Tutf8 writes UTF-8")
        .replace('\u{2212}', "-")
}

/// The text with every run of white space made one space, for phrases
/// that groff may pad for adjustment or after a full stop.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The body of a section (`.SH`, rendered at column 0) or subsection
/// (`.SS`, at column 3) of a rendered page: the lines after its heading up
/// to the next heading of the same or a higher level. Panics if there is no
/// such heading, so that a renamed section fails the test that needs it.
fn section(text: &str, title: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let (start, level) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| {
            let level = indent(l);
            (level <= 3 && l.trim_end() == format!("{}{title}", " ".repeat(level)))
                .then_some((i, level))
        })
        .unwrap_or_else(|| panic!("no section or subsection {title:?} in the page"));
    lines[start + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > level)
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `word` occurs in `text` as a whole word (letters, digits, `-`
/// and `_` do not continue it on either side).
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_flag_char) && !after.is_some_and(is_flag_char)
    })
}

fn is_flag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Whether `flag` occurs in `text` as a whole, not as the start of a
/// longer flag (`--queue-max-message` in `--queue-max-message-size`).
fn contains_flag(text: &str, flag: &str) -> bool {
    contains_word(text, flag)
}

/// Every `--long-flag` in a `--help` text.
fn long_flags(help: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for (at, _) in help.match_indices("--") {
        if help[..at].chars().next_back().is_some_and(is_flag_char) {
            continue;
        }
        let name: String = help[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            flags.insert(format!("--{name}"));
        }
    }
    flags
}

/// The part of `text` from `start` up to the first `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not found in the source"));
    let rest = &text[from..];
    let to = rest
        .find(end)
        .unwrap_or_else(|| panic!("no {end:?} after {start:?} in the source"));
    &rest[..to]
}

#[test]
fn pages_render_without_warnings() {
    if groff_missing() {
        return;
    }
    for name in PAGES {
        let p = page(name);
        // The lint named at the top of each page.
        assert_renders_cleanly(&["-man", "-ww", "-z"], &p);
        // As man(1) formats it for a terminal: with tbl, for a real device,
        // where groff also warns about lines it cannot adjust; and for a
        // narrow terminal of 70 columns.
        assert_renders_cleanly(&["-t", "-man", "-ww", "-Tutf8"], &p);
        assert_renders_cleanly(&["-t", "-man", "-ww", "-Tutf8", "-rLL=70n"], &p);
    }
}

#[test]
fn pages_pass_mandoc_lint() {
    for name in PAGES {
        let p = page(name);
        let out = match Command::new("mandoc").arg("-Tlint").arg(&p).output() {
            Ok(out) => out,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "mandoc is missing under CI (.ci/run installs it)"
                );
                eprintln!("skipping mandoc -Tlint: mandoc is not installed");
                return;
            }
            Err(e) => panic!("cannot run mandoc: {e}"),
        };
        // mandoc prints its findings on stdout and exits non-zero.
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && report.is_empty(),
            "mandoc -Tlint {} ({}):\n{report}",
            p.display(),
            out.status
        );
    }
}

#[test]
fn a_page_with_a_table_asks_man_for_tbl() {
    for name in PAGES {
        let source = std::fs::read_to_string(page(name)).unwrap();
        if source.lines().any(|l| l.starts_with(".TS")) {
            assert_eq!(
                source.lines().next(),
                Some("'\\\" t"),
                "{name} has a table: its first line must be '\\\" t so that man(1) runs tbl"
            );
        }
    }
}

#[test]
fn ipcfs_1_documents_every_long_flag_of_help() {
    if groff_missing() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ipcfs"))
        .arg("--help")
        .output()
        .expect("run ipcfs --help");
    assert!(out.status.success(), "ipcfs --help exited {}", out.status);
    let help = String::from_utf8(out.stdout).expect("--help is UTF-8");
    let flags = long_flags(&help);
    // The extraction itself must work, or the checks below prove nothing.
    for known in ["--allow-other", "--pipe-capacity", "--force", "--help"] {
        assert!(
            flags.contains(known),
            "{known} not found in --help:\n{help}"
        );
    }

    let p = page("ipcfs.1");
    let source = std::fs::read_to_string(&p).unwrap();
    let text = plain_text(&p);
    // The rendered text proves that each flag is shown to the reader (not
    // lost in a comment or a macro). The source proves that its dashes are
    // written `\-`, in both pages: a plain `-` is a hyphen, which many groff
    // installations render as U+2010, which cannot be searched for or pasted
    // into a shell.
    let not_shown: Vec<&String> = flags.iter().filter(|f| !contains_flag(&text, f)).collect();
    assert!(
        not_shown.is_empty(),
        "flags of --help missing from the text of man/ipcfs.1: {not_shown:?}"
    );
    let not_escaped: Vec<&String> = flags
        .iter()
        .filter(|f| !source.contains(&f.replace('-', "\\-")))
        .collect();
    assert!(
        not_escaped.is_empty(),
        "flags not written with \\- in man/ipcfs.1: {not_escaped:?}"
    );
    for name in PAGES {
        let source = std::fs::read_to_string(page(name)).unwrap();
        let typed_plain: Vec<&String> =
            flags.iter().filter(|f| contains_flag(&source, f)).collect();
        assert!(
            typed_plain.is_empty(),
            "flags written with a plain - in man/{name} (write \\- instead): {typed_plain:?}"
        );
    }
}

#[test]
fn ipcfs_1_documents_every_mount_option_of_the_code() {
    if groff_missing() {
        return;
    }
    // The keys `apply_mount_option` acts on (its unit test keeps the
    // table equal to the code) and those it accepts and ignores.
    let keys: Vec<String> = MOUNT_OPTIONS.iter().map(|k| k.to_string()).collect();
    let no_ops: Vec<String> = ACCEPTED_NO_OPS.iter().map(|k| k.to_string()).collect();
    for known in ["allow_other", "queue_max_messages", "fsname", "ro"] {
        assert!(
            keys.iter().any(|k| k == known),
            "{known} not found in cli.rs"
        );
    }
    assert!(no_ops.iter().any(|o| o == "nofail"), "{no_ops:?}");

    let options = section(&plain_text(&page("ipcfs.1")), "OPTIONS");
    let missing: Vec<&String> = keys
        .iter()
        .chain(&no_ops)
        .filter(|k| !contains_word(&options, k))
        .collect();
    assert!(
        missing.is_empty(),
        "-o options of src/cli.rs missing from OPTIONS in man/ipcfs.1: {missing:?}"
    );
}

#[test]
fn ipcfs_1_has_its_sections() {
    if groff_missing() {
        return;
    }
    let text = plain_text(&page("ipcfs.1"));
    for title in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "ENVIRONMENT",
        "EXIT STATUS",
        "FILES",
        "NOTES",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        section(&text, title);
    }
    assert!(section(&text, "ENVIRONMENT").contains("RUST_LOG"));
    let synopsis = words(&section(&text, "SYNOPSIS"));
    for usage in [
        "ipcfs [OPTIONS] MOUNTPOINT",
        "mount.fuse.ipcfs SOURCE MOUNTPOINT [-o OPTIONS]",
    ] {
        assert!(synopsis.contains(usage), "SYNOPSIS lacks {usage:?}");
    }
    let files = section(&text, "FILES");
    for file in [
        "/proc/sys/fs/fuse/max_pages_limit",
        "/sbin/mount.fuse.ipcfs",
    ] {
        assert!(files.contains(file), "FILES lacks {file}");
    }
    // The scripts in examples/ are named where a reader looks for them.
    let scripts: BTreeSet<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.ends_with(".sh"))
                    .collect()
            })
            .unwrap_or_default();
    for script in &scripts {
        assert!(
            contains_word(&files, script),
            "examples/{script} is not named under FILES in man/ipcfs.1"
        );
    }
    assert!(
        files.contains("examples/labs/") && files.contains("ipcfs-labs(7)"),
        "FILES in man/ipcfs.1 should name examples/labs/ and ipcfs-labs(7)"
    );
    let examples = section(&text, "EXAMPLES");
    assert!(
        examples.contains("ipcfs  /mnt/ipc  fuse.ipcfs  allow_other,nofail  0  0"),
        "EXAMPLES lacks the fstab line"
    );
    section(&section(&text, "NOTES"), "Shared memory");
    let see_also = words(&section(&text, "SEE ALSO"));
    for reference in [
        "ipcfs(7)",
        "ipcfs-labs(7)",
        "pipe(7)",
        "fifo(7)",
        "mq_overview(7)",
        "shm_overview(7)",
        "socket(7)",
        "signal(7)",
        "kill(2)",
        "fusermount3(1)",
        "mount(8)",
    ] {
        assert!(
            see_also.contains(reference),
            "SEE ALSO of man/ipcfs.1 lacks {reference}"
        );
    }
}

#[test]
fn ipcfs_7_has_a_table_per_object_and_the_classic_api() {
    if groff_missing() {
        return;
    }
    let text = plain_text(&page("ipcfs.7"));
    for title in [
        "NAME",
        "DESCRIPTION",
        "THE TREE",
        "RULES SHARED BY EVERY OBJECT",
        "PIPES",
        "QUEUES",
        "SHARED MEMORY",
        "SOCKETS",
        "SIGNALS",
        "LABS",
        "LIMITS AND ATTRIBUTES",
        "DIFFERENCES FROM THE KERNEL",
        "ERRORS",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        section(&text, title);
    }
    for object in ["PIPES", "QUEUES", "SHARED MEMORY", "SIGNALS"] {
        let body = section(&text, object);
        assert!(
            body.lines()
                .any(|l| words(l) == "Operation Behaviour errno"),
            "{object} in man/ipcfs.7 has no table of operation, behaviour and errno"
        );
    }
    for object in ["Pipes", "Queues", "Shared memory", "Signals"] {
        let differences = section(&text, "DIFFERENCES FROM THE KERNEL");
        section(&differences, object);
    }
    let api = words(&section(&text, "THE CLASSIC API AS FILE OPERATIONS"));
    for call in [
        "pipe(2)",
        "mkfifo(3)",
        "open(2)",
        "read(2)",
        "write(2)",
        "close(2)",
        "poll(2)",
        "mq_open(3)",
        "mq_send(3)",
        "mq_receive(3)",
        "mq_getattr(3)",
        "mq_setattr(3)",
        "msgsnd(2)",
        "msgrcv(2)",
        "shm_open(3)",
        "ftruncate(2)",
        "mmap(2)",
        "munmap(2)",
        "shm_unlink(3)",
        "kill(2)",
        "sigqueue(3)",
        "killpg(3)",
    ] {
        assert!(
            api.contains(call),
            "THE CLASSIC API AS FILE OPERATIONS in man/ipcfs.7 lacks {call}"
        );
    }
}

#[test]
fn defaults_and_limits_in_the_pages_are_the_codes() {
    if groff_missing() {
        return;
    }
    let one = words(&plain_text(&page("ipcfs.1")));
    let seven = words(&plain_text(&page("ipcfs.7")));
    let expect = |text: &str, name: &str, phrase: String| {
        assert!(text.contains(&phrase), "man/{name} should say \"{phrase}\"");
    };
    let wanted = IoLimits::new(WANTED_PAGES);
    let fallback = IoLimits::new(KERNEL_DEFAULT_PAGES);
    assert_eq!(PAGE_SIZE, 4096, "the pages say pages of 4096 bytes");

    expect(
        &one,
        "ipcfs.1",
        format!(
            "from {MIN_CAPACITY} to {}M ({MAX_CAPACITY}) bytes [default: {DEFAULT_PIPE_CAPACITY}]",
            MAX_CAPACITY >> 20
        ),
    );
    expect(
        &one,
        "ipcfs.1",
        format!(
            "from 1 to {} [default: {DEFAULT_QUEUE_MAX_MESSAGES}]",
            u32::MAX
        ),
    );
    expect(
        &one,
        "ipcfs.1",
        format!(
            "from 1 byte to the largest message the mount can take whole: {} bytes when \
             ipcfs gets {WANTED_PAGES} pages per FUSE request, {} bytes when it gets \
             {KERNEL_DEFAULT_PAGES}",
            wanted.max_message(),
            fallback.max_message()
        ),
    );
    expect(
        &one,
        "ipcfs.1",
        format!("[default: {DEFAULT_QUEUE_MAX_MESSAGE_SIZE}]"),
    );
    expect(
        &one,
        "ipcfs.1",
        format!("[default: {}M]", DEFAULT_MAX_MEMORY >> 20),
    );
    expect(
        &one,
        "ipcfs.1",
        format!("raises it to {WANTED_PAGES} when it is lower"),
    );
    expect(
        &one,
        "ipcfs.1",
        format!(
            "files report {} as their size, and a queue message can be up to {} bytes",
            wanted.max_write(),
            wanted.max_message()
        ),
    );
    expect(
        &one,
        "ipcfs.1",
        format!(
            "a size of {}, and queue messages of up to {} bytes",
            fallback.max_write(),
            fallback.max_message()
        ),
    );
    let sweep = SWEEP_INTERVAL.as_millis();
    expect(&one, "ipcfs.1", format!("Read every {sweep} ms"));

    expect(
        &seven,
        "ipcfs.7",
        format!("As a safety net, every {sweep} ms ipcfs also checks"),
    );
    expect(
        &seven,
        "ipcfs.7",
        format!("every {sweep} ms, behind the kernel"),
    );
    expect(
        &seven,
        "ipcfs.7",
        format!("write of at most {PIPE_BUF} bytes"),
    );
    expect(
        &seven,
        "ipcfs.7",
        format!("from {MIN_CAPACITY} to 16M ({MAX_CAPACITY})"),
    );
    expect(&seven, "ipcfs.7", format!("[{DEFAULT_PIPE_CAPACITY}]"));
    expect(
        &seven,
        "ipcfs.7",
        format!("--queue-max-messages [{DEFAULT_QUEUE_MAX_MESSAGES}]"),
    );
    expect(
        &seven,
        "ipcfs.7",
        format!("--queue-max-message-size [{DEFAULT_QUEUE_MAX_MESSAGE_SIZE}]"),
    );
    expect(
        &seven,
        "ipcfs.7",
        format!("--max-memory [{}M]", DEFAULT_MAX_MEMORY >> 20),
    );
    expect(
        &seven,
        "ipcfs.7",
        format!("ipcfs asks for {WANTED_PAGES} pages"),
    );
    expect(
        &seven,
        "ipcfs.7",
        format!(
            "max_pages × 4096: {} (4 MiB), or {} (1 MiB) with {KERNEL_DEFAULT_PAGES} pages",
            wanted.max_write(),
            fallback.max_write()
        ),
    );
    expect(
        &seven,
        "ipcfs.7",
        format!(
            "(max_pages - 1) × 4096: {}, or {} with {KERNEL_DEFAULT_PAGES} pages",
            wanted.max_message() + 1,
            fallback.max_message() + 1
        ),
    );
    expect(
        &seven,
        "ipcfs.7",
        format!(
            "(max_pages - 1) × 4096 - 1: {}, or {} with {KERNEL_DEFAULT_PAGES} pages",
            wanted.max_message(),
            fallback.max_message()
        ),
    );
    expect(
        &seven,
        "ipcfs.7",
        format!(
            "the mount's max_write ({}, or {} with {KERNEL_DEFAULT_PAGES} pages)",
            wanted.max_write(),
            fallback.max_write()
        ),
    );
}

/// `--shm-mode`: its values and default are the code's, and the log
/// lines that say at mount how `shm/` files are served are quoted in both
/// pages as the code writes them.
#[test]
fn shm_mode_and_its_log_lines_are_the_codes() {
    if groff_missing() {
        return;
    }
    assert_eq!(ShmMode::parse("auto"), Ok(ShmMode::Auto));
    assert_eq!(ShmMode::parse("cached"), Ok(ShmMode::Cached));
    assert!(ShmMode::parse("passthrough").is_err());
    assert_eq!(Config::new(PathBuf::from("m")).shm_mode, ShmMode::Auto);

    let one = plain_text(&page("ipcfs.1"));
    let seven = plain_text(&page("ipcfs.7"));
    let options = words(&section(&one, "OPTIONS"));
    for phrase in [
        "--shm-mode MODE",
        "auto or cached [default: auto]",
        "shm_mode=MODE",
    ] {
        assert!(
            options.contains(phrase),
            "OPTIONS in man/ipcfs.1 should say \"{phrase}\""
        );
    }

    let notes = words(&section(&section(&one, "NOTES"), "Shared memory"));
    let serving = words(&section(
        &section(&seven, "SHARED MEMORY"),
        "Passthrough and the page cache",
    ));
    for line in [
        "shm files: mappings pass through to memory files (FUSE passthrough)",
        "shm files: served through the page cache: ",
        "the daemon is not root",
        "--shm-mode cached",
    ] {
        assert!(in_source_tree(line), "no log line of src/ says {line:?}");
        let line = line.trim_end();
        assert!(
            notes.contains(line),
            "Shared memory in NOTES of man/ipcfs.1 should quote {line:?}"
        );
        assert!(
            serving.contains(line),
            "Passthrough and the page cache in man/ipcfs.7 should quote {line:?}"
        );
    }
    // The values of the `served` column, as kinds/shm.rs writes them.
    for served in ["passthrough", "daemon"] {
        assert!(in_source_tree(&format!("\"{served}\"")), "{served}");
        assert!(contains_word(&serving, served), "{served} in man/ipcfs.7");
        assert!(contains_word(&notes, served), "{served} in man/ipcfs.1");
    }
}

fn row(
    kind: &'static str,
    name: &str,
    owner: (u32, u32, u16),
    bytes_messages: (Option<usize>, Option<usize>),
    counters: Option<[usize; 3]>,
) -> StatusRow {
    StatusRow {
        kind,
        name: name.to_string(),
        uid: owner.0,
        gid: owner.1,
        perm: owner.2,
        bytes: bytes_messages.0,
        messages: bytes_messages.1,
        framing: (kind == "queue").then_some("message"),
        readers: counters.map(|c| c[0]),
        writers: counters.map(|c| c[1]),
        blocked: counters.map(|c| c[2]),
        served_by: if counters.is_some() {
            "daemon"
        } else {
            "kernel"
        },
        channel: None,
    }
}

/// The `channel` column of a queue whose channel did this, as
/// kinds/queue.rs writes it.
fn channel_column(
    lost: u64,
    duplicated: u64,
    reordered: u64,
    corrupted: u64,
    delayed: u64,
) -> String {
    let format = "lost={},duplicated={},reordered={},corrupted={},delayed={}";
    assert!(
        in_source_tree(format),
        "no code of src/ writes the channel column as {format}"
    );
    format!(
        "lost={lost},duplicated={duplicated},reordered={reordered},corrupted={corrupted},delayed={delayed}"
    )
}

#[test]
fn status_examples_are_what_status_renders() {
    if groff_missing() {
        return;
    }
    // The rows of the example in ipcfs(7), in the order status sorts them.
    let user = |perm| (1000, 1000, perm);
    let rows = [
        row("fifo", "pipes/kfifo", user(0o644), (None, None), None),
        row(
            "pipe",
            "pipes/chat",
            user(0o644),
            (Some(0), None),
            Some([1, 0, 1]),
        ),
        row(
            "pipe",
            "pipes/jobs",
            (1000, 100, 0o600),
            (Some(6), None),
            Some([1, 2, 0]),
        ),
        row(
            "queue",
            "queues/jobs",
            user(0o644),
            (Some(10), Some(2)),
            Some([0, 1, 0]),
        ),
        row(
            "queue",
            "queues/tasks",
            user(0o644),
            (Some(0), Some(0)),
            Some([2, 0, 2]),
        ),
        // A shared-memory file: its size, no counters, and how the
        // kernel serves it (kinds/shm.rs; tests/shm.rs checks the code).
        StatusRow {
            served_by: "passthrough",
            ..row("shm", "shm/counter", user(0o600), (Some(4096), None), None)
        },
    ];
    let expected = render(&rows);
    let want: Vec<&str> = expected.lines().collect();
    let text = plain_text(&page("ipcfs.7"));
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(
        lines.windows(want.len()).any(|w| w == want.as_slice()),
        "man/ipcfs.7 should show this status example exactly:\n{expected}"
    );

    // The README's, after its tour.
    let rows = [
        row(
            "pipe",
            "pipes/chat",
            user(0o644),
            (Some(0), None),
            Some([0, 0, 0]),
        ),
        row(
            "queue",
            "queues/jobs",
            user(0o644),
            (Some(5), Some(1)),
            Some([0, 0, 0]),
        ),
    ];
    let expected = format!("$ cat status\n{}", render(&rows));
    assert!(
        source("README.md").contains(&expected),
        "README.md should show this status example exactly:\n{expected}"
    );

    // The labs': a queue whose channel loses 0.3 of 100 messages with the
    // seed 7 (29 lost, 71 left, of 206 bytes), beside the tour's objects
    // in the README, and beside a perfect queue in ipcfs-labs(7).
    let lossy = StatusRow {
        channel: Some(channel_column(29, 0, 0, 0, 0)),
        ..row(
            "queue",
            "queues/lossy",
            user(0o644),
            (Some(206), Some(71)),
            Some([0, 0, 0]),
        )
    };
    let rows = [rows[0].clone(), rows[1].clone(), lossy.clone()];
    let expected = format!("$ cat status\n{}", render(&rows));
    assert!(
        source("README.md").contains(&expected),
        "README.md's Labs should show this status example exactly:\n{expected}"
    );
    let rows = [rows[1].clone(), lossy];
    let expected = render(&rows);
    let want: Vec<&str> = expected.lines().collect();
    let text = plain_text(&page("ipcfs-labs.7"));
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(
        lines.windows(want.len()).any(|w| w == want.as_slice()),
        "man/ipcfs-labs.7 should show this status example exactly:\n{expected}"
    );
}

/// The full attribute names (`user.ipcfs.NAME`) of one kind, settings
/// first, from the library's table.
fn attribute_names(kind: &str) -> Vec<String> {
    let (_, names) = ATTRIBUTES
        .iter()
        .find(|(k, _)| *k == kind)
        .unwrap_or_else(|| panic!("no attribute table for {kind}"));
    let names: Vec<String> = names
        .settings
        .iter()
        .chain(names.counters)
        .map(|field| format!("{ATTRIBUTE_PREFIX}{field}"))
        .collect();
    assert!(!names.is_empty(), "no names for {kind}");
    names
}

#[test]
fn every_attribute_of_the_code_is_documented_and_no_other() {
    if groff_missing() {
        return;
    }
    let pipe = attribute_names("pipe");
    let queue = attribute_names("queue");
    let shm = attribute_names("shm");
    let data = attribute_names("socket data");
    let all: BTreeSet<&String> = pipe.iter().chain(&queue).chain(&shm).chain(&data).collect();
    assert_eq!(
        ATTRIBUTES.len(),
        4,
        "a new kind's attributes need their own section check"
    );
    assert_eq!(
        shm,
        ["user.ipcfs.size", "user.ipcfs.opens"],
        "a shared-memory file's attributes, all counters (the pages say it has no settings)"
    );

    let text = plain_text(&page("ipcfs.7"));
    for (names, subsection) in [
        (&pipe, "Attributes of a pipe"),
        (&queue, "Attributes of a queue"),
        (&shm, "Attributes of a shared-memory file"),
        (&data, "Attributes of a data file"),
    ] {
        let body = section(&text, subsection);
        let missing: Vec<&String> = names.iter().filter(|n| !contains_word(&body, n)).collect();
        assert!(
            missing.is_empty(),
            "{subsection} in man/ipcfs.7 lacks {missing:?}"
        );
    }
    let table = section(&section(&text, "LIMITS AND ATTRIBUTES"), "Attributes");
    let missing: Vec<&&String> = all.iter().filter(|n| !contains_word(&table, n)).collect();
    assert!(
        missing.is_empty(),
        "the attribute table of man/ipcfs.7 lacks {missing:?}"
    );

    // No page names an attribute that the code does not have.
    let documents = [
        ("man/ipcfs.1", plain_text(&page("ipcfs.1"))),
        ("man/ipcfs.7", text),
        ("man/ipcfs-labs.7", plain_text(&page("ipcfs-labs.7"))),
        ("README.md", source("README.md")),
    ];
    for (name, doc) in &documents {
        for (at, _) in doc.match_indices("user.ipcfs.") {
            let rest = &doc[at + "user.ipcfs.".len()..];
            let field: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if field.is_empty() {
                continue; // user.ipcfs.NAME
            }
            let full = format!("user.ipcfs.{field}");
            assert!(
                all.contains(&full),
                "{name} names {full}, which no kind of the code has"
            );
        }
    }

    // The README's getfattr listings are every attribute of a queue and
    // of a shared-memory file, sorted.
    let readme = source("README.md");
    for (names, command) in [
        (&queue, "$ getfattr -d -m - queues/jobs"),
        (&shm, "$ getfattr -d -m - shm/m"),
    ] {
        let listing = between(&readme, command, "\n\n");
        let listed: Vec<&str> = listing
            .lines()
            .filter_map(|l| l.split_once('=').map(|(n, _)| n))
            .collect();
        let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(listed, sorted, "README.md's listing after {command:?}");
    }
}

#[test]
fn every_errno_the_code_returns_is_in_errors() {
    if groff_missing() {
        return;
    }
    // The errnos of the one error type: every errno the code returns,
    // the adapter's ENOTTY for ioctls included.
    let errnos: BTreeSet<String> = Error::ALL
        .iter()
        .map(|e| e.errno_name().to_string())
        .collect();
    assert!(
        errnos.len() >= 20 && errnos.contains("ENOENT") && errnos.contains("EMSGSIZE"),
        "{errnos:?}"
    );
    assert!(errnos.contains("ENOTTY"), "{errnos:?}");

    let errors = section(&plain_text(&page("ipcfs.7")), "ERRORS");
    let entries: BTreeSet<&str> = errors
        .lines()
        .filter(|l| indent(l) == 7)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let missing: Vec<&String> = errnos
        .iter()
        .filter(|e| !entries.contains(e.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "errnos the code returns without an entry in ERRORS of man/ipcfs.7: {missing:?}"
    );
}

#[test]
fn signal_names_in_ipcfs_7_are_the_codes() {
    if groff_missing() {
        return;
    }
    let names = signal::NAMES;
    let aliases: Vec<&str> = signal::ALIASES.iter().map(|(a, _)| *a).collect();
    assert_eq!(names.len(), 31, "{names:?}");
    assert!(!aliases.is_empty());

    let body = section(&plain_text(&page("ipcfs.7")), "SIGNALS");
    let tokens: Vec<&str> = body
        .split_whitespace()
        .map(|t| t.trim_end_matches([',', ';', '.']))
        .collect();
    for (i, name) in names.iter().enumerate() {
        let number = (i + 1).to_string();
        assert!(
            tokens.windows(2).any(|w| w[0] == number && w[1] == *name),
            "SIGNALS in man/ipcfs.7 should list \"{number} {name}\""
        );
    }
    for alias in &aliases {
        assert!(
            contains_word(&body, alias),
            "SIGNALS in man/ipcfs.7 lacks the name {alias}"
        );
    }
}

#[test]
fn readme_sets_up_tours_and_points_to_the_pages() {
    let readme = source("README.md");
    // The first two commands are the set-up: mount, then test.
    let blocks: Vec<&str> = readme
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().trim())
        .collect();
    assert_eq!(
        blocks.get(..2),
        Some(&["cargo run --release -- mountpoint-example", "cargo test"][..]),
        "README.md must start with the two set-up commands"
    );
    for line in [
        "touch pipes/chat",
        "touch queues/jobs",
        "echo job1 > queues/jobs",
        "cat queues/jobs",
        "truncate -s 1M shm/m",
        "mm = mmap.mmap(fd, 4096)",
        "$ getfattr -d -m - shm/m",
        "echo TERM > proc/$!/signal",
        "$ cat status",
        "$ getfattr -d -m - queues/jobs",
        "setfattr -n user.ipcfs.loss -v 0.3 queues/lossy",
        "sh examples/labs/reliability.sh mountpoint-example",
        "man -l man/ipcfs.1",
        "man -l man/ipcfs.7",
        "man -l man/ipcfs-labs.7",
    ] {
        assert!(readme.contains(line), "README.md lacks {line:?}");
    }
    // One row of the objects table per directory of the mount's README,
    // "not yet" exactly for those this version does not have.
    let dirs: Vec<(&str, bool)> = README
        .lines()
        .filter_map(|l| {
            let first = l.split_whitespace().next()?;
            first
                .ends_with('/')
                .then(|| (first, l.contains("not in this version")))
        })
        .collect();
    assert_eq!(dirs.len(), 5, "{dirs:?}");
    for (dir, later) in dirs {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{dir}`")))
            .unwrap_or_else(|| panic!("README.md's table has no row for {dir}"));
        assert_eq!(
            row.contains("not yet"),
            later,
            "README.md's row for {dir} disagrees with the mount's README: {row}"
        );
    }
}

/// A queue's channel (labs), as the code has it: every setting and
/// counter, the longest delay and how long a message is held back for
/// reordering, in LABS of ipcfs(7) and in ipcfs-labs(7).
#[test]
fn the_channel_of_a_queue_is_the_codes() {
    if groff_missing() {
        return;
    }
    let settings = Faults::SETTINGS;
    let counters = ChannelCounters::NAMES;
    let queue = attribute_names("queue");
    for name in settings.iter().chain(&counters) {
        assert!(
            queue.contains(&format!("{ATTRIBUTE_PREFIX}{name}")),
            "{name} is not an attribute of a queue"
        );
    }
    let hold = format!("within {} ms", REORDER_HOLD.as_millis());
    let delay = format!("from 0 to {MAX_DELAY_MS}");

    let seven = plain_text(&page("ipcfs.7"));
    let labs = section(&seven, "LABS");
    for name in settings.iter().chain(&counters) {
        assert!(
            contains_word(&labs, name),
            "LABS in man/ipcfs.7 lacks {name}"
        );
    }
    let labs = words(&labs);
    for phrase in [
        hold.as_str(),
        delay.as_str(),
        "--faults",
        "ipcfs-labs(7)",
        "SplitMix64",
    ] {
        assert!(
            labs.contains(phrase),
            "LABS in man/ipcfs.7 should say {phrase:?}"
        );
    }
    assert!(
        words(&section(&seven, "SEE ALSO")).contains("ipcfs-labs(7)"),
        "SEE ALSO of man/ipcfs.7 lacks ipcfs-labs(7)"
    );

    let text = plain_text(&page("ipcfs-labs.7"));
    for title in [
        "NAME",
        "DESCRIPTION",
        "THE CHANNEL",
        "READING THE COUNTERS",
        "REPEATING A RUN",
        "EXERCISES",
        "PROTOCOLS",
        "FILES",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        section(&text, title);
    }
    let channel = section(&text, "THE CHANNEL");
    for name in settings {
        let full = format!("{ATTRIBUTE_PREFIX}{name}");
        assert!(
            contains_word(&channel, &full),
            "THE CHANNEL in man/ipcfs-labs.7 lacks {full}"
        );
    }
    let channel = words(&channel);
    for phrase in [hold.as_str(), delay.as_str(), "--faults LIST", "-o loss="] {
        assert!(
            channel.contains(phrase),
            "THE CHANNEL in man/ipcfs-labs.7 should say {phrase:?}"
        );
    }
    let counting = section(&text, "READING THE COUNTERS");
    for name in counters {
        let full = format!("{ATTRIBUTE_PREFIX}{name}");
        assert!(
            contains_word(&counting, &full),
            "READING THE COUNTERS in man/ipcfs-labs.7 lacks {full}"
        );
    }
    let see_also = words(&section(&text, "SEE ALSO"));
    for reference in ["ipcfs(7)", "ipcfs(1)"] {
        assert!(
            see_also.contains(reference),
            "SEE ALSO of man/ipcfs-labs.7 lacks {reference}"
        );
    }
}

/// The question a lab script asks: its `echo "Question: ..."` line and
/// the `echo` lines after it, up to the one that says the lab is ok.
fn lab_question(script: &str) -> Option<String> {
    let lines = script
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("echo \"Question: "));
    let mut parts = Vec::new();
    for line in lines {
        let Some(text) = line
            .strip_prefix("echo \"")
            .and_then(|l| l.strip_suffix('"'))
        else {
            break;
        };
        if text.ends_with(".sh: ok") {
            break;
        }
        parts.push(text.replace("\\\"", "\""));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Every lab of examples/labs/ has its exercise in ipcfs-labs(7), ending
/// with the question the script asks, word for word; FILES names every
/// file there.
#[test]
fn every_lab_has_its_exercise_and_question_in_ipcfs_labs_7() {
    if groff_missing() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/labs");
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let scripts: Vec<&String> = files.iter().filter(|n| n.ends_with(".sh")).collect();
    assert!(scripts.len() >= 5, "{files:?}");

    let text = plain_text(&page("ipcfs-labs.7"));
    let exercises = section(&text, "EXERCISES");
    let listed = section(&text, "FILES");
    for file in &files {
        assert!(
            contains_word(&listed, file),
            "examples/labs/{file} is not named under FILES in man/ipcfs-labs.7"
        );
    }
    for script in scripts {
        let code = std::fs::read_to_string(dir.join(script)).unwrap();
        let question = lab_question(&code)
            .unwrap_or_else(|| panic!("examples/labs/{script} asks no question"));
        let exercise = words(&section(&exercises, script));
        assert!(
            exercise.contains(&words(&question)),
            "the exercise {script} in man/ipcfs-labs.7 should end with the script's \
             question:\n{question}"
        );
    }
}

#[test]
fn helpers() {
    let help = "  -v, --verbose...  more\n      --max-memory <BYTES>  cap\n  x--no y -- z";
    let flags: Vec<String> = long_flags(help).into_iter().collect();
    assert_eq!(flags, ["--max-memory", "--verbose"]);
    assert!(contains_flag(
        "use --queue-max-messages N",
        "--queue-max-messages"
    ));
    assert!(!contains_flag(
        "--queue-max-message-size",
        "--queue-max-message"
    ));
    assert!(!contains_flag("x--force", "--force"));

    let text = "TOP\n\nA\n   one\n   Sub\n       x\n   Next\n       y\nB\n   z\n";
    assert_eq!(
        section(text, "A").trim(),
        "one\n   Sub\n       x\n   Next\n       y"
    );
    assert_eq!(section(text, "Sub").trim(), "x");

    let script = "echo hi\necho \"Question: why \\\"this\\\"?\"\n    echo \"And that?\"\necho \"x.sh: ok\"\n";
    assert_eq!(
        lab_question(script).as_deref(),
        Some("Question: why \"this\"? And that?")
    );
    assert_eq!(lab_question("echo hi\n"), None);
}

/// Every directory of source and every kind module, named in
/// ARCHITECTURE.md's map, so that the map cannot fall behind the tree.
#[test]
fn architecture_names_every_module_directory_and_kind() {
    let map = source("ARCHITECTURE.md");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("src")];
    let mut named = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                named.push(format!("{rel}/"));
                dirs.push(path);
            } else if rel.starts_with("src/fs/kinds/") && !rel.ends_with("mod.rs") {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                named.push(format!("`{stem}`"));
            }
        }
    }
    named.extend([
        "benches/ipcfs/".into(),
        "vendor/fuser/".into(),
        "tests/".into(),
    ]);
    assert!(named.iter().any(|n| n == "src/fs/kinds/"), "{named:?}");
    let missing: Vec<&String> = named.iter().filter(|n| !map.contains(n.as_str())).collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not name {missing:?}"
    );
    assert!(
        map.contains("## One queue write, from the kernel to the woken reader"),
        "the walk of one request"
    );
}
