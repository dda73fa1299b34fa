//! The shell scripts in examples/ and examples/labs/ run against a real
//! mount. Every `*.sh` there, found when the test runs, must succeed on its
//! own and next to all the others on one mount, must leave no object
//! behind, and must refuse to run without a mountpoint.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{stderr, stdout};

/// The scripts that must exist, whatever else examples/ holds, by their
/// path under examples/.
const REQUIRED: [&str; 8] = [
    "pipes.sh",
    "queues.sh",
    "signals.sh",
    "jobs.sh",
    "tcp-server.sh",
    "tcp-client.sh",
    "udp.sh",
    "unix-client.sh",
];

/// The lab scripts that must exist (ipcfs-labs(7) has an exercise for
/// each), whatever else examples/labs/ holds.
const REQUIRED_LABS: [&str; 5] = [
    "labs/direction.sh",
    "labs/boundaries.sh",
    "labs/connections.sh",
    "labs/buffering.sh",
    "labs/reliability.sh",
];

/// Longest one script may run before it is killed and counted as failed.
const LIMIT: &str = "60";

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Every `*.sh` file in examples/ and then in examples/labs/, each sorted
/// by name.
fn scripts() -> Vec<PathBuf> {
    let mut all = Vec::new();
    for dir in [examples_dir(), examples_dir().join("labs")] {
        let mut list: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sh"))
            .collect();
        list.sort();
        all.extend(list);
    }
    all
}

/// A script's path under examples/: `queues.sh`, `labs/reliability.sh`.
fn name(script: &Path) -> String {
    script
        .strip_prefix(examples_dir())
        .unwrap_or(script)
        .to_string_lossy()
        .into_owned()
}

/// `sh SCRIPT ARGS...`, killed after [`LIMIT`].
fn command(script: &Path, args: &[&Path]) -> Command {
    let mut c = Command::new("timeout");
    c.args(["-s", "KILL", LIMIT, "sh"])
        .arg(script)
        .args(args)
        .stdin(Stdio::null());
    c
}

/// A failed run: how it ended, and all it printed.
fn report(script: &Path, out: &Output) -> String {
    let killed = if out.status.signal() == Some(nix::sys::signal::Signal::SIGKILL as i32) {
        format!(" (killed by timeout after {LIMIT} s?)")
    } else {
        String::new()
    };
    format!(
        "{}: {}{killed}\n--- stdout\n{}--- stderr\n{}",
        name(script),
        out.status,
        stdout(out),
        stderr(out)
    )
}

/// The object lines of `status` (all but the header).
fn objects(m: &common::Mount) -> Vec<String> {
    let text = std::fs::read_to_string(m.path("status")).unwrap();
    text.lines().skip(1).map(str::to_string).collect()
}

#[test]
fn the_documented_scripts_exist() {
    let names: Vec<String> = scripts().iter().map(|p| name(p)).collect();
    for wanted in REQUIRED.iter().chain(&REQUIRED_LABS) {
        assert!(
            names.iter().any(|n| n == wanted),
            "examples/{wanted} is missing (found {names:?})"
        );
    }
}

#[test]
fn every_script_without_a_mountpoint_prints_usage_and_exits_2() {
    for script in scripts() {
        let out = command(&script, &[]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", report(&script, &out));
        let said = format!("{}{}", stdout(&out), stderr(&out)).to_lowercase();
        assert!(said.contains("usage"), "{}", report(&script, &out));
    }
}

#[test]
fn every_script_succeeds_and_cleans_up() {
    let m = mount_or_skip!();
    let mut failures = Vec::new();
    for script in scripts() {
        let out = command(&script, &[&m.dir]).output().unwrap();
        if !out.status.success() {
            failures.push(report(&script, &out));
        } else if name(&script).starts_with("labs/") && !stdout(&out).contains("Question: ") {
            // A lab shows something and asks the student about it.
            failures.push(format!(
                "{} printed no \"Question: \" for the student:\n{}",
                name(&script),
                stdout(&out)
            ));
        } else if !objects(&m).is_empty() {
            failures.push(format!(
                "{} left objects behind:\n{}\n",
                name(&script),
                objects(&m).join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n--- daemon log\n{}",
        failures.join("\n"),
        m.log()
    );
}

#[test]
fn all_scripts_at_once_on_one_mount() {
    let m = mount_or_skip!();
    let children: Vec<(PathBuf, std::process::Child)> = scripts()
        .into_iter()
        .map(|script| {
            let child = command(&script, &[&m.dir])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (script, child)
        })
        .collect();
    let failures: Vec<String> = children
        .into_iter()
        .filter_map(|(script, child)| {
            let out = child.wait_with_output().unwrap();
            (!out.status.success()).then(|| report(&script, &out))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{}\n--- daemon log\n{}",
        failures.join("\n"),
        m.log()
    );
    assert_eq!(objects(&m), Vec::<String>::new(), "objects left behind");
}

/// The example server is a real one: run with a port, it serves 50
/// concurrent curl requests, each by its own handler, each answer the
/// request's own, and exits after the 50th.
#[test]
fn the_example_server_serves_fifty_concurrent_curl_requests() {
    let m = mount_or_skip!();
    if Command::new("curl").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "curl is missing under CI (.ci/run installs it)"
        );
        eprintln!("skipped: needs curl");
        return;
    }
    let script = examples_dir().join("tcp-server.sh");
    let mut server = Command::new("timeout")
        .args(["-s", "KILL", LIMIT, "sh"])
        .arg(&script)
        .arg(&m.dir)
        .args(["0", "50"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    use std::io::BufRead;
    out.read_line(&mut first).unwrap();
    let port = first
        .trim()
        .strip_prefix("serving on 127.0.0.1:")
        .unwrap_or_else(|| panic!("the server said {first:?}"))
        .to_string();
    let clients: Vec<_> = (0..50)
        .map(|i| {
            Command::new("curl")
                .args(["-s", "--max-time", "30"])
                .arg(format!("http://127.0.0.1:{port}/req{i}"))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        let answer = c.wait_with_output().unwrap();
        let text = stdout(&answer);
        assert!(
            text.starts_with("hello from ")
                && text.ends_with(&format!(": you asked for /req{i}\n")),
            "request {i} got {text:?}"
        );
    }
    let mut rest = String::new();
    use std::io::Read;
    out.read_to_string(&mut rest).unwrap();
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}\n{rest}");
    assert_eq!(
        rest.lines().filter(|l| l.starts_with("served ")).count(),
        50
    );
    assert_eq!(objects(&m), Vec::<String>::new(), "objects left behind");
}
