//! The man pages: they render without a single groff warning, ipcfs(1)
//! documents every long flag that `ipcfs --help` lists, and the numbers and
//! the `status` example they give are the ones the code uses.
//!
//! groff is required. CI installs it (`.ci/run`); without it these tests
//! fail instead of skipping, so that a broken page cannot pass unnoticed.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ipcfs::config::{
    DEFAULT_MAX_MEMORY, DEFAULT_PIPE_CAPACITY, DEFAULT_QUEUE_MAX_MESSAGE_SIZE,
    DEFAULT_QUEUE_MAX_MESSAGES,
};
use ipcfs::interrupt::SWEEP_INTERVAL;
use ipcfs::ipc::pipe::{MAX_CAPACITY, MIN_CAPACITY, PIPE_BUF};
use ipcfs::ipc::status::{StatusRow, render};

const PAGES: [&str; 2] = ["ipcfs.1", "ipcfs.7"];

fn page(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(name)
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

fn is_flag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Whether `flag` occurs in `text` as a whole, not as the start of a
/// longer flag (`--queue-max-message` in `--queue-max-message-size`).
fn contains_flag(text: &str, flag: &str) -> bool {
    text.match_indices(flag).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + flag.len()..].chars().next();
        !before.is_some_and(is_flag_char) && !after.is_some_and(is_flag_char)
    })
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

#[test]
fn pages_render_without_warnings() {
    for name in PAGES {
        let p = page(name);
        // The lint named at the top of each page.
        assert_renders_cleanly(&["-man", "-ww", "-z"], &p);
        // As man(1) formats it for a terminal: with tbl, for a real device,
        // where groff also warns about lines it cannot adjust.
        assert_renders_cleanly(&["-t", "-man", "-ww", "-Tutf8"], &p);
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
fn defaults_and_limits_in_the_pages_are_the_codes() {
    let one = words(&plain_text(&page("ipcfs.1")));
    let seven = words(&plain_text(&page("ipcfs.7")));
    let expect = |text: &str, name: &str, phrase: String| {
        assert!(text.contains(&phrase), "man/{name} should say \"{phrase}\"");
    };
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
        format!("at least 1 [default: {DEFAULT_QUEUE_MAX_MESSAGES}]"),
    );
    expect(
        &one,
        "ipcfs.1",
        format!("from 1 byte to 1M [default: {DEFAULT_QUEUE_MAX_MESSAGE_SIZE}]"),
    );
    expect(
        &one,
        "ipcfs.1",
        format!("[default: {}M]", DEFAULT_MAX_MEMORY >> 20),
    );
    let sweep = SWEEP_INTERVAL.as_millis();
    expect(&one, "ipcfs.1", format!("Read every {sweep} ms"));
    expect(&seven, "ipcfs.7", format!("Every {sweep} ms"));
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
}

#[test]
fn status_example_in_ipcfs_7_is_what_status_renders() {
    let row = |kind, name: &str, uid, gid, perm, counters: Option<[usize; 4]>| StatusRow {
        kind,
        name: name.to_string(),
        uid,
        gid,
        perm,
        bytes: counters.map(|c| c[0]),
        messages: None,
        readers: counters.map(|c| c[1]),
        writers: counters.map(|c| c[2]),
        blocked: counters.map(|c| c[3]),
        served_by: if counters.is_some() {
            "daemon"
        } else {
            "kernel"
        },
    };
    // The rows of the example, in the order status sorts them.
    let rows = [
        row("fifo", "pipes/kfifo", 1000, 1000, 0o644, None),
        row("pipe", "pipes/chat", 1000, 1000, 0o644, Some([0, 1, 0, 1])),
        row("pipe", "pipes/jobs", 1000, 100, 0o600, Some([6, 1, 2, 0])),
    ];
    let expected = render(&rows);
    let want: Vec<&str> = expected.lines().collect();
    let text = plain_text(&page("ipcfs.7"));
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(
        lines.windows(want.len()).any(|w| w == want.as_slice()),
        "man/ipcfs.7 should show this status example exactly:\n{expected}"
    );
}

#[test]
fn flag_helpers() {
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
}
