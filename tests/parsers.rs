//! Property tests of the parsers of what users write: signal requests
//! (`proc/PID/signal`), attribute values (setxattr), batch records, mount
//! options and flags, and socket `ctl` commands. Each must never panic,
//! must read every documented form as documented, and must refuse bad
//! input with the errno ipcfs(7) gives for it — the exact
//! `ipcfs::error::Error`, not merely an error.
//!
//! No mount: the parsers are called directly, and setxattr goes through
//! an `Fs` driven without a kernel.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::OnceLock;

use clap::Parser;
use proptest::prelude::*;

use ipcfs::caller::Caller;
use ipcfs::cli::{ACCEPTED_NO_OPS, Args, MOUNT_OPTIONS};
use ipcfs::config::{Config, ShmMode, parse_bytes};
use ipcfs::error::Error;
use ipcfs::fs::Fs;
use ipcfs::fs::attr::{FileType, Ino};
use ipcfs::fs::{tree, xattr};
use ipcfs::fuse::reply::FuseReplies;
use ipcfs::ipc::compose::Framing;
use ipcfs::ipc::records;
use ipcfs::ipc::signal::{ALIASES, NAMES, SignalSpec, parse_request, parse_signal};
use ipcfs::ipc::socket::command::{self, Command, Kind, Shut, Target};
use ipcfs::limits::IoLimits;

const EINVAL: Error = Error::InvalidArgument;

/// Enough cases to find what a grammar hides, few enough for seconds; no
/// failure files written into the repository.
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------
// Signal requests
// ---------------------------------------------------------------------

fn rtmin() -> i32 {
    libc::SIGRTMIN()
}

fn rtmax() -> i32 {
    libc::SIGRTMAX()
}

/// A number ipcfs(7) says is a signal: 0 (the probe), 1 to 31, and
/// SIGRTMIN to SIGRTMAX.
fn is_signal_number(n: i128) -> bool {
    n == 0 || (1..=31).contains(&n) || (i128::from(rtmin())..=i128::from(rtmax())).contains(&n)
}

/// `word` with each letter upper or lower case as `bits` say.
fn mixed_case(word: &str, bits: u64) -> String {
    word.chars()
        .enumerate()
        .map(|(i, c)| {
            if (bits >> (i % 64)) & 1 == 1 {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// Decimal digits as a number, saturating far above any `u64`.
fn decimal(digits: &str) -> i128 {
    digits.bytes().fold(0i128, |n, d| {
        n.saturating_mul(10).saturating_add(i128::from(d - b'0'))
    })
}

/// The signal a word names, from ipcfs(7) ("Writing a signal"): a name
/// of the table or an alias, in any case, with or without `SIG`; a
/// number; `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n` within RTMIN to RTMAX.
fn documented_signal(word: &str) -> Option<i32> {
    let number = |digits: &str| {
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| decimal(digits))
    };
    if let Some(n) = number(word) {
        return is_signal_number(n).then_some(n as i32);
    }
    let upper = word.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(i) = NAMES.iter().position(|n| *n == name) {
        return Some(i as i32 + 1);
    }
    if let Some((_, n)) = ALIASES.iter().find(|(a, _)| *a == name) {
        return Some(*n);
    }
    let realtime = |n: i128| {
        (i128::from(rtmin())..=i128::from(rtmax()))
            .contains(&n)
            .then_some(n as i32)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return match rest {
            "" => Some(rtmin()),
            _ => realtime(i128::from(rtmin()) + number(rest.strip_prefix('+')?)?),
        };
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return match rest {
            "" => Some(rtmax()),
            _ => realtime(i128::from(rtmax()) - number(rest.strip_prefix('-')?)?),
        };
    }
    None
}

/// A signal as a user may write it, and its number: a name of the table,
/// an alias or a real-time name in range (any case, with or without
/// `SIG`), or a number that is a signal.
fn signal_word() -> impl Strategy<Value = (String, i32)> {
    let span = rtmax() - rtmin();
    let classic = (0..NAMES.len()).prop_map(|i| (NAMES[i].to_string(), i as i32 + 1));
    let alias = (0..ALIASES.len()).prop_map(|i| (ALIASES[i].0.to_string(), ALIASES[i].1));
    let low = (0..=span).prop_map(|k| (format!("RTMIN+{k}"), rtmin() + k));
    let high = (0..=span).prop_map(|k| (format!("RTMAX-{k}"), rtmax() - k));
    let ends = prop_oneof![
        Just(("RTMIN".to_string(), rtmin())),
        Just(("RTMAX".to_string(), rtmax())),
    ];
    let named = (
        prop_oneof![4 => classic, 1 => alias, 1 => low, 1 => high, 1 => ends],
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|((name, n), sig, case)| {
            let prefix = if sig { "SIG" } else { "" };
            (mixed_case(&format!("{prefix}{name}"), case), n)
        });
    let number =
        prop_oneof![Just(0i32), 1..=31i32, rtmin()..=rtmax()].prop_map(|n| (n.to_string(), n));
    prop_oneof![3 => named, 1 => number]
}

/// Words built from the pieces of the grammar, mostly not signals:
/// `SIGRT`, `RTMIN+12`, `TERM9`, `SIGSIGHUP`, `+5`, `x-`.
fn grammar_word() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("SIG".to_string()),
        Just("RT".to_string()),
        Just("MIN".to_string()),
        Just("MAX".to_string()),
        Just("+".to_string()),
        Just("-".to_string()),
        (0..NAMES.len()).prop_map(|i| NAMES[i].to_string()),
        (0..ALIASES.len()).prop_map(|i| ALIASES[i].0.to_lowercase()),
        "[0-9]{1,3}",
        "[A-Za-z]{1,3}",
        "[^\\s]",
    ];
    prop::collection::vec(piece, 1..5).prop_map(|pieces| pieces.concat())
}

/// White space around a word: spaces and tabs.
fn pad() -> impl Strategy<Value = String> {
    "[ \t]{0,3}"
}

fn spec(signo: i32, value: Option<i32>) -> SignalSpec {
    SignalSpec { signo, value }
}

/// Every name and alias, in every documented spelling, with and without
/// a trailing newline: the whole table, not a sample.
#[test]
fn every_signal_name_and_alias_parses_to_its_number() {
    let table = NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| (*name, i as i32 + 1))
        .chain(ALIASES.iter().copied());
    for (name, signo) in table {
        for prefix in ["", "SIG", "sig", "Sig"] {
            for word in [
                format!("{prefix}{name}"),
                format!("{prefix}{}", name.to_lowercase()),
                mixed_case(&format!("{prefix}{name}"), 0x5555_5555_5555_5555),
            ] {
                assert_eq!(parse_signal(&word), Ok(signo), "{word}");
                for text in [word.clone(), format!("{word}\n"), format!("  {word}\t\n")] {
                    assert_eq!(
                        parse_request(text.as_bytes()),
                        Ok(vec![spec(signo, None)]),
                        "{text:?}"
                    );
                }
            }
        }
    }
    // The numbers the C library keeps for itself are not signals.
    for kept in 32..rtmin() {
        assert_eq!(parse_signal(&kept.to_string()), Err(EINVAL), "{kept}");
    }
}

proptest! {
    #![proptest_config(cases(1024))]

    /// Any bytes at all: a list of signals, or `EINVAL`; never a panic,
    /// never another errno, never an empty list, never a number that is
    /// not a signal.
    #[test]
    fn any_bytes_are_a_request_or_einval(data in prop::collection::vec(any::<u8>(), 0..64)) {
        match parse_request(&data) {
            Ok(specs) => {
                prop_assert!(!specs.is_empty());
                for s in specs {
                    prop_assert!(is_signal_number(i128::from(s.signo)), "{s:?}");
                }
            }
            Err(e) => prop_assert_eq!(e, EINVAL),
        }
    }

    /// Any text: the same, with lines, spaces and the grammar's words.
    #[test]
    fn any_text_is_a_request_or_einval(
        lines in prop::collection::vec(
            prop::collection::vec(prop_oneof![grammar_word(), "\\PC{0,6}"], 0..4),
            0..4,
        ),
        newline in prop_oneof![Just("\n"), Just("\r\n"), Just("\n\n")],
    ) {
        let text: Vec<String> = lines.iter().map(|words| words.join(" ")).collect();
        let text = text.join(newline);
        match parse_request(text.as_bytes()) {
            Ok(specs) => prop_assert!(!specs.is_empty()),
            Err(e) => prop_assert_eq!(e, EINVAL, "{:?}", text),
        }
    }

    /// A word is the signal ipcfs(7) says it names, or `EINVAL`.
    #[test]
    fn a_word_is_the_documented_signal_or_einval(word in prop_oneof![grammar_word(), "\\PC{0,12}"]) {
        let expected = documented_signal(&word).ok_or(EINVAL);
        prop_assert_eq!(parse_signal(&word), expected, "{:?}", word);
        // A whole write of the word alone says the same.
        if !word.trim().is_empty() && !word.contains(char::is_whitespace) {
            prop_assert_eq!(
                parse_request(format!("{word}\n").as_bytes()),
                expected.map(|n| vec![spec(n, None)])
            );
        }
    }

    /// Any spelling of a signal, padded, with or without a newline, with
    /// or without a value.
    #[test]
    fn a_signal_line_parses_to_its_number_and_value(
        (word, signo) in signal_word(),
        value in prop::option::of(any::<i32>()),
        before in pad(),
        between in "[ \t]{1,3}",
        after in pad(),
        newline in prop_oneof![Just(""), Just("\n"), Just("\r\n")],
    ) {
        prop_assert_eq!(parse_signal(&word), Ok(signo), "{}", word);
        let line = match value {
            None => format!("{before}{word}{after}{newline}"),
            Some(v) => format!("{before}{word}{between}{v}{after}{newline}"),
        };
        prop_assert_eq!(parse_request(line.as_bytes()), Ok(vec![spec(signo, value)]), "{:?}", line);
    }

    /// Numbers: 0, 1 to 31 and SIGRTMIN to SIGRTMAX are signals; any
    /// other number, however large, is `EINVAL`.
    #[test]
    fn a_number_is_a_signal_only_in_range(
        n in prop_oneof![3 => 0u64..=80, 1 => any::<u64>()],
        huge in "[1-9][0-9]{19,40}",
    ) {
        let expected = if is_signal_number(i128::from(n)) { Ok(n as i32) } else { Err(EINVAL) };
        prop_assert_eq!(parse_signal(&n.to_string()), expected, "{}", n);
        prop_assert_eq!(
            parse_request(format!("{n}\n").as_bytes()),
            expected.map(|s| vec![spec(s, None)])
        );
        prop_assert_eq!(parse_signal(&huge), Err(EINVAL));
        prop_assert_eq!(parse_signal(&format!("-{n}")), Err(EINVAL));
    }

    /// Real-time names: `RTMIN+n` and `RTMAX-n` within RTMIN to RTMAX,
    /// in any case and with or without `SIG`; past either end `EINVAL`;
    /// a sign the other way `EINVAL`. `RTMAX-n` for any n.
    #[test]
    fn realtime_names_are_signals_within_the_range(
        k in 0..=2 * (libc::SIGRTMAX() - libc::SIGRTMIN()) + 2,
        far in any::<u64>(),
        sig in any::<bool>(),
        case in any::<u64>(),
    ) {
        let word = |name: String| mixed_case(&format!("{}{name}", if sig { "SIG" } else { "" }), case);
        let in_range = |n: i32| if (rtmin()..=rtmax()).contains(&n) { Ok(n) } else { Err(EINVAL) };
        prop_assert_eq!(parse_signal(&word(format!("RTMIN+{k}"))), in_range(rtmin() + k));
        prop_assert_eq!(parse_signal(&word(format!("RTMAX-{k}"))), in_range(rtmax() - k));
        prop_assert_eq!(parse_signal(&word(format!("RTMIN-{k}"))), Err(EINVAL));
        prop_assert_eq!(parse_signal(&word(format!("RTMAX+{k}"))), Err(EINVAL));
        let expected = if far <= (rtmax() - rtmin()) as u64 { Ok(rtmax() - far as i32) } else { Err(EINVAL) };
        prop_assert_eq!(parse_signal(&word(format!("RTMAX-{far}"))), expected);
        // And `RTMIN+n` for any n: one that would overflow the sum too.
        let expected = if far <= (rtmax() - rtmin()) as u64 { Ok(rtmin() + far as i32) } else { Err(EINVAL) };
        prop_assert_eq!(parse_signal(&word(format!("RTMIN+{far}"))), expected);
        let edge = i32::MAX as u64 - (far % 64);
        prop_assert_eq!(parse_signal(&word(format!("RTMIN+{edge}"))), Err(EINVAL));
    }

    /// A value is an `int`: anything outside -2^31 .. 2^31-1, or not a
    /// number, is `EINVAL`.
    #[test]
    fn a_value_out_of_range_or_not_a_number_is_einval(
        (word, _) in signal_word(),
        big in prop_oneof![i64::from(i32::MAX) + 1..=i64::MAX, i64::MIN..i64::from(i32::MIN)],
        junk in "[a-zA-Z_.][a-zA-Z0-9_.]{0,8}",
    ) {
        prop_assert_eq!(parse_request(format!("{word} {big}\n").as_bytes()), Err(EINVAL));
        prop_assert_eq!(parse_request(format!("{word} {junk}\n").as_bytes()), Err(EINVAL));
        prop_assert_eq!(parse_request(format!("{word} 1.5").as_bytes()), Err(EINVAL));
    }

    /// One signal per line, blank lines skipped, in order; any bad line,
    /// a third word, or bytes that are not UTF-8 fail the whole write.
    #[test]
    fn a_request_is_all_its_lines_or_einval(
        lines in prop::collection::vec(
            prop_oneof![
                4 => (signal_word(), prop::option::of(any::<i32>()))
                    .prop_map(|((w, n), v)| Some((w, n, v))),
                1 => Just(None),
            ],
            1..6,
        ),
        bad_at in any::<prop::sample::Index>(),
        bad in prop_oneof![
            grammar_word().prop_filter("not a signal", |w| documented_signal(w).is_none()),
            signal_word().prop_map(|(w, _)| format!("{w} 1 2")),
            signal_word().prop_map(|(w, _)| format!("{w}x")),
        ],
    ) {
        let text: Vec<String> = lines
            .iter()
            .map(|l| match l {
                Some((w, _, None)) => w.clone(),
                Some((w, _, Some(v))) => format!("{w} {v}"),
                None => " \t".to_string(),
            })
            .collect();
        let expected: Vec<SignalSpec> = lines.iter().flatten().map(|(_, n, v)| spec(*n, *v)).collect();
        let whole = text.join("\n") + "\n";
        if expected.is_empty() {
            prop_assert_eq!(parse_request(whole.as_bytes()), Err(EINVAL), "no signal at all");
        } else {
            prop_assert_eq!(parse_request(whole.as_bytes()), Ok(expected));
        }
        let mut with_bad = text.clone();
        with_bad.insert(bad_at.index(text.len() + 1), bad);
        prop_assert_eq!(parse_request((with_bad.join("\n") + "\n").as_bytes()), Err(EINVAL));
        let mut not_utf8 = whole.into_bytes();
        not_utf8.insert(bad_at.index(not_utf8.len() + 1), 0xff);
        prop_assert_eq!(parse_request(&not_utf8), Err(EINVAL));
    }
}

// ---------------------------------------------------------------------
// Attribute values: numbers and framings
// ---------------------------------------------------------------------

/// The units ipcfs(1) documents for byte counts, and their shifts.
const UNITS: [(&str, u32); 7] = [
    ("", 0),
    ("B", 0),
    ("K", 10),
    ("KiB", 10),
    ("M", 20),
    ("MiB", 20),
    ("G", 30),
];
const MORE_UNITS: [(&str, u32); 1] = [("GiB", 30)];

fn unit() -> impl Strategy<Value = (String, u32)> {
    ((0..UNITS.len() + MORE_UNITS.len()), any::<u64>()).prop_map(|(i, case)| {
        let (u, shift) = UNITS.iter().chain(&MORE_UNITS).nth(i).copied().unwrap();
        (mixed_case(u, case), shift)
    })
}

/// A byte count as ipcfs(1) documents it: digits, then an optional unit
/// in any case; no sign, no space inside. `None` for anything else or a
/// count too large.
fn documented_bytes(text: &str) -> Option<usize> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(end);
    if digits.is_empty() {
        return None;
    }
    let shift = UNITS
        .iter()
        .chain(&MORE_UNITS)
        .find(|(u, _)| u.eq_ignore_ascii_case(unit))?
        .1;
    let n = decimal(digits).checked_mul(1i128 << shift)?;
    usize::try_from(n).ok()
}

/// Text from the pieces of byte counts, mostly not one: `12k`, `-5`,
/// `3KiBx`, `1.5M`, `+7`, thirty digits.
fn bytes_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[0-9]{1,7}",
        1 => unit().prop_map(|(u, _)| u),
        1 => prop::sample::select(vec!["-", "+", ".", "x", "i", "B", "e", "_", "0x"]).prop_map(str::to_string),
    ];
    prop::collection::vec(piece, 0..5).prop_map(|p| p.concat())
}

/// One `Fs`, driven without a mount, whose queues and pipes the setxattr
/// properties set.
struct Objects {
    fs: Fs<FuseReplies>,
}

fn me() -> Caller {
    Caller::this_thread()
}

fn objects() -> &'static Objects {
    static OBJECTS: OnceLock<Objects> = OnceLock::new();
    OBJECTS.get_or_init(|| {
        let c = me();
        let fs = Fs::new(Config::new(PathBuf::from("m")), (c.uid, c.gid)).expect("an fs");
        Objects { fs }
    })
}

impl Objects {
    /// The object `dir/name`, made on first use.
    fn object(&self, dir: &str, name: &str) -> Ino {
        let parent = self
            .fs
            .lookup(&me(), tree::ROOT, dir.as_bytes())
            .expect("the fixed tree")
            .attr
            .ino;
        match self.fs.lookup(&me(), parent, name.as_bytes()) {
            Ok(found) => found.attr.ino,
            Err(_) => {
                self.fs
                    .mknod(&me(), parent, name.as_bytes(), 0o644, FileType::Regular)
                    .expect("a new object")
                    .ino
            }
        }
    }

    fn set(&self, ino: Ino, field: &str, value: &[u8]) -> Result<(), Error> {
        self.fs.setxattr(
            &me(),
            ino,
            &format!("{}{field}", xattr::ATTRIBUTE_PREFIX),
            value,
        )
    }

    fn get(&self, ino: Ino, field: &str) -> String {
        let value = self
            .fs
            .getxattr(ino, &format!("{}{field}", xattr::ATTRIBUTE_PREFIX))
            .expect("the attribute exists");
        String::from_utf8(value).expect("decimal text")
    }
}

proptest! {
    #![proptest_config(cases(1024))]

    /// Every u64 in decimal is itself, with or without a trailing newline.
    #[test]
    fn a_decimal_number_round_trips(n in prop_oneof![any::<u64>(), 0u64..1000]) {
        prop_assert_eq!(xattr::number(&n.to_string()), Ok(n as usize));
        prop_assert_eq!(xattr::number(&format!("{n}\n")), Ok(n as usize));
    }

    /// A unit in any case multiplies; a product past 2^64 is `EINVAL`.
    #[test]
    fn a_number_with_a_unit_is_its_bytes(n in prop_oneof![0u64..100_000, any::<u64>()], (unit, shift) in unit()) {
        let expected: Result<usize, Error> = usize::try_from(u128::from(n) << shift).map_err(|_| EINVAL);
        prop_assert_eq!(xattr::number(&format!("{n}{unit}")), expected, "{}{}", n, unit);
        prop_assert_eq!(
            parse_bytes(&format!("{n}{unit}")).map_err(|_| EINVAL),
            expected
        );
    }

    /// Negative numbers, numbers of 2^64 and beyond, and any text that is
    /// not a byte count are `EINVAL`.
    #[test]
    fn anything_else_is_einval(
        n in any::<u64>(),
        past in prop_oneof![Just(1u128 << 64), (1u128 << 64)..=u128::MAX],
        text in prop_oneof![bytes_like(), "\\PC{0,10}"],
    ) {
        prop_assert_eq!(xattr::number(&format!("-{n}")), Err(EINVAL));
        prop_assert_eq!(xattr::number(&past.to_string()), Err(EINVAL));
        prop_assert_eq!(xattr::number(&format!("{past}K")), Err(EINVAL));
        // Without white space, which the documents do not speak of, a
        // text is the count it documents or EINVAL.
        if !text.contains(char::is_whitespace) {
            let expected = documented_bytes(&text).ok_or(EINVAL);
            prop_assert_eq!(xattr::number(&text), expected, "{:?}", text);
            prop_assert_eq!(parse_bytes(&text).map_err(|_| EINVAL), expected, "{:?}", text);
        } else {
            match xattr::number(&text) {
                Ok(_) => {}
                Err(e) => prop_assert_eq!(e, EINVAL),
            }
        }
    }

    /// Only `message`, `line` and `write` are framings; every other word,
    /// another case of one or one with spaces included, is `EINVAL`.
    #[test]
    fn only_the_documented_framings_parse(
        i in 0..Framing::ALL.len(),
        case in any::<u64>(),
        before in "[ \t\n]{0,2}",
        after in "[ \t\n]{0,2}",
        other in "\\PC{0,10}",
    ) {
        let (name, framing) = Framing::ALL[i];
        prop_assert_eq!(Framing::parse(name), Ok(framing));
        prop_assert_eq!(framing.name(), name);
        let variant = format!("{before}{}{after}", mixed_case(name, case));
        let documented = |t: &str| Framing::ALL.iter().find(|(n, _)| *n == t).map(|(_, f)| *f);
        prop_assert_eq!(Framing::parse(&variant), documented(&variant).ok_or(EINVAL), "{:?}", variant);
        prop_assert_eq!(Framing::parse(&other), documented(&other).ok_or(EINVAL), "{:?}", other);
    }

    /// setxattr of a queue's numbers: decimal text with a trailing
    /// newline allowed and units accepted; `max_messages` 1 to 2³² − 1,
    /// `max_message_size` 1 to the mount's largest message; anything else
    /// `EINVAL`, and the setting stays as it was.
    #[test]
    fn setxattr_of_a_queue_takes_the_documented_numbers(
        n in prop_oneof![0u64..2, 0u64..(1 << 21), any::<u64>()],
        (unit, shift) in unit(),
        newline in any::<bool>(),
        junk in bytes_like(),
    ) {
        let objects = objects();
        let q = objects.object("queues", "numbers");
        let value = format!("{n}{unit}{}", if newline { "\n" } else { "" });
        let bytes = usize::try_from(u128::from(n) << shift).ok();
        let largest = Config::new(PathBuf::from("m")).io.max_message();
        for (field, valid) in [
            ("max_messages", bytes.filter(|b| (1..=u32::MAX as usize).contains(b))),
            ("max_message_size", bytes.filter(|b| (1..=largest).contains(b))),
        ] {
            let before = objects.get(q, field);
            match valid {
                Some(b) => {
                    prop_assert_eq!(objects.set(q, field, value.as_bytes()), Ok(()), "{} {:?}", field, value);
                    prop_assert_eq!(objects.get(q, field), b.to_string());
                }
                None => {
                    prop_assert_eq!(objects.set(q, field, value.as_bytes()), Err(EINVAL), "{} {:?}", field, value);
                    prop_assert_eq!(objects.get(q, field), before);
                }
            }
            let before = objects.get(q, field);
            if documented_bytes(&junk).is_none() {
                prop_assert_eq!(objects.set(q, field, junk.as_bytes()), Err(EINVAL), "{} {:?}", field, junk);
                prop_assert_eq!(objects.get(q, field), before);
            }
        }
        // Bytes that are not UTF-8 are no number.
        let mut not_utf8 = n.to_string().into_bytes();
        not_utf8.push(0xff);
        prop_assert_eq!(objects.set(q, "max_messages", &not_utf8), Err(EINVAL));
    }

    /// setxattr of a pipe's capacity: 4096 to 16M, else `EINVAL`.
    #[test]
    fn setxattr_of_a_pipe_takes_a_capacity_in_bounds(
        n in prop_oneof![0u64..(1 << 25), any::<u64>()],
        (unit, shift) in unit(),
    ) {
        let objects = objects();
        let p = objects.object("pipes", "capacity");
        let value = format!("{n}{unit}\n");
        let before = objects.get(p, "capacity");
        match usize::try_from(u128::from(n) << shift) {
            Ok(b) if (4096..=16 << 20).contains(&b) => {
                prop_assert_eq!(objects.set(p, "capacity", value.as_bytes()), Ok(()));
                prop_assert_eq!(objects.get(p, "capacity"), b.to_string());
            }
            _ => {
                prop_assert_eq!(objects.set(p, "capacity", value.as_bytes()), Err(EINVAL), "{:?}", value);
                prop_assert_eq!(objects.get(p, "capacity"), before);
            }
        }
    }

    /// setxattr of a queue's framing: its name; any other value `EINVAL`.
    #[test]
    fn setxattr_of_a_framing_takes_its_name(
        i in 0..Framing::ALL.len(),
        other in prop_oneof!["\\PC{0,10}", "[a-z]{1,8}"],
    ) {
        let objects = objects();
        let q = objects.object("queues", "framing");
        let (name, _) = Framing::ALL[i];
        prop_assert_eq!(objects.set(q, "framing", name.as_bytes()), Ok(()));
        prop_assert_eq!(objects.get(q, "framing"), name);
        if Framing::ALL.iter().all(|(n, _)| *n != other.trim_end_matches('\n')) {
            prop_assert_eq!(objects.set(q, "framing", other.as_bytes()), Err(EINVAL), "{:?}", other);
            prop_assert_eq!(objects.get(q, "framing"), name);
        }
    }
}

// ---------------------------------------------------------------------
// Batch records
// ---------------------------------------------------------------------

fn batch(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        records::append(&mut out, m);
    }
    out
}

/// Messages of 1 to 300 bytes, and a largest message that takes them.
fn messages() -> impl Strategy<Value = (Vec<Vec<u8>>, usize)> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..=300), 1..12).prop_flat_map(|ms| {
        let longest = ms.iter().map(Vec::len).max().unwrap_or(1);
        (Just(ms), longest..=8192usize)
    })
}

proptest! {
    #![proptest_config(cases(1024))]

    /// What `append` writes, `parse` reads back, message for message.
    #[test]
    fn records_round_trip((ms, max) in messages()) {
        let data = batch(&ms);
        let expected: Vec<&[u8]> = ms.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(records::parse(&data, max), Ok(expected));
        let longest = ms.iter().map(Vec::len).max().unwrap();
        prop_assert_eq!(records::parse(&data, longest), Ok(ms.iter().map(Vec::as_slice).collect()));
    }

    /// A write that ends anywhere keeps the whole records before the end;
    /// ending inside the first record (or at once) is `EINVAL`.
    #[test]
    fn a_cut_write_keeps_the_whole_records_before_the_cut(
        (ms, max) in messages(),
        cut in any::<prop::sample::Index>(),
    ) {
        let data = batch(&ms);
        let cut = cut.index(data.len() + 1);
        let mut whole = Vec::new();
        let mut end = 0;
        for m in &ms {
            end += records::record_len(m);
            if end > cut {
                break;
            }
            whole.push(m.as_slice());
        }
        let expected = if whole.is_empty() { Err(EINVAL) } else { Ok(whole) };
        prop_assert_eq!(records::parse(&data[..cut], max), expected, "cut at {}", cut);
    }

    /// A length field of 0 anywhere in the write is `EINVAL`, one over the
    /// largest message `EMSGSIZE`, whatever whole records come before it
    /// and whatever follows it.
    #[test]
    fn a_bad_length_refuses_the_whole_write(
        (ms, max) in messages(),
        at in any::<prop::sample::Index>(),
        over in any::<u32>(),
        tail in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let at = at.index(ms.len() + 1);
        let zero = {
            let mut d = batch(&ms[..at]);
            d.extend_from_slice(&0u32.to_le_bytes());
            d.extend_from_slice(&tail);
            d
        };
        prop_assert_eq!(records::parse(&zero, max), Err(EINVAL));
        let len = u32::try_from(max as u64 + 1 + u64::from(over) % (u64::from(u32::MAX) - max as u64))
            .expect("a length field");
        let long = {
            let mut d = batch(&ms[..at]);
            d.extend_from_slice(&len.to_le_bytes());
            d.extend_from_slice(&tail);
            d
        };
        prop_assert_eq!(records::parse(&long, max), Err(Error::MessageTooLong), "length {}", len);
        // Also as the whole, well-formed record of a message too long.
        let message = vec![7u8; max + 1 + (over % 64) as usize];
        let mut d = batch(&ms[..at]);
        records::append(&mut d, &message);
        prop_assert_eq!(records::parse(&d, max), Err(Error::MessageTooLong));
    }

    /// Any bytes and any largest message: whole records that span a
    /// prefix of the bytes, or `EINVAL` or `EMSGSIZE`; never a panic.
    #[test]
    fn any_bytes_are_records_or_an_errno(
        data in prop::collection::vec(any::<u8>(), 0..96),
        max in prop_oneof![0usize..64, any::<usize>()],
        lengths in prop::collection::vec(0u32..24, 0..4),
    ) {
        // Some inputs with small length fields, so that records occur.
        let mut input = Vec::new();
        let mut rest = data.as_slice();
        for len in &lengths {
            input.extend_from_slice(&len.to_le_bytes());
            let take = (*len as usize).min(rest.len());
            input.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        input.extend_from_slice(rest);
        for bytes in [&data, &input] {
            match records::parse(bytes, max) {
                Ok(ms) => {
                    prop_assert!(!ms.is_empty());
                    let again = batch(&ms.iter().map(|m| m.to_vec()).collect::<Vec<_>>());
                    prop_assert!(bytes.starts_with(&again));
                    for m in ms {
                        prop_assert!(!m.is_empty() && m.len() <= max);
                    }
                }
                Err(e) => prop_assert!(e == EINVAL || e == Error::MessageTooLong, "{:?}", e),
            }
        }
    }
}

// ---------------------------------------------------------------------
// Mount options and flags
// ---------------------------------------------------------------------

fn config_of(args: &[&str]) -> Result<Config, String> {
    let argv = std::iter::once("ipcfs").chain(args.iter().copied());
    Args::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .into_config(IoLimits::new(1024))
}

/// The `-o` options that take no value; ipcfs(1) documents each other
/// option of the table as `NAME=VALUE`.
const FLAGS: [&str; 4] = ["allow_other", "default_permissions", "force", "ro"];

/// The `-o` options that take a value: the table but the flags.
fn valued() -> Vec<&'static str> {
    MOUNT_OPTIONS
        .iter()
        .copied()
        .filter(|k| !FLAGS.contains(k))
        .collect()
}

/// The byte-count options, the bounds ipcfs(1) gives each, and the
/// setting each sets.
#[allow(clippy::type_complexity)]
fn byte_options() -> [(&'static str, usize, usize, fn(&Config) -> usize); 4] {
    let largest = IoLimits::new(1024).max_message();
    [
        ("pipe_capacity", 4096, 16 << 20, |c| c.pipe_capacity),
        ("queue_max_message_size", 1, largest, |c| {
            c.queue_max_message_size
        }),
        ("max_memory", 1, usize::MAX, |c| c.max_memory),
        ("max_memory_per_user", 1, usize::MAX, |c| {
            c.max_memory_per_user.unwrap_or(0)
        }),
    ]
}

#[test]
fn the_option_tables_are_what_these_tests_know() {
    for key in FLAGS {
        assert!(MOUNT_OPTIONS.contains(&key), "{key}");
    }
    for key in ["allow_other", "default_permissions", "force"] {
        assert!(config_of(&["-o", key, "m"]).is_ok(), "{key}");
    }
    // The accepted no-ops change nothing.
    let plain = config_of(&["m"]).unwrap();
    for key in ACCEPTED_NO_OPS {
        assert_eq!(config_of(&["-o", key, "m"]), Ok(plain.clone()), "{key}");
    }
    assert!(
        config_of(&["-o", "ro", "m"])
            .unwrap_err()
            .contains("read-only")
    );
}

proptest! {
    #![proptest_config(cases(1024))]

    /// Any `-o` text, any flag value: a config or an error message, never
    /// a panic.
    #[test]
    fn any_mount_options_are_a_config_or_a_message(
        options in prop::collection::vec(
            prop_oneof![
                "\\PC{0,24}",
                (prop::sample::select(MOUNT_OPTIONS.to_vec()), "(=[a-zA-Z0-9_=.,-]{0,12})?")
                    .prop_map(|(k, v)| format!("{k}{v}")),
            ],
            0..4,
        ),
        flag in prop::sample::select(vec![
            "--pipe-capacity", "--queue-max-messages", "--queue-max-message-size",
            "--queue-framing", "--max-memory", "--max-memory-per-user",
            "--max-objects-per-user", "--shm-mode",
        ]),
        value in prop_oneof![bytes_like(), "\\PC{0,12}"],
    ) {
        let mut args = Vec::new();
        for o in &options {
            args.push("-o".to_string());
            args.push(o.clone());
        }
        args.push(format!("{flag}={value}"));
        args.push("m".to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(msg) = config_of(&args) {
            prop_assert!(!msg.trim().is_empty());
        }
        // The flag's value alone: an error names the flag.
        if let Err(msg) = config_of(&[&format!("{flag}={value}"), "m"]) {
            prop_assert!(msg.contains(flag), "{}", msg);
        }
    }

    /// An option that is not in the table is refused, and the message
    /// quotes it, wherever it stands among good ones.
    #[test]
    fn an_unknown_option_is_named(
        key in "[a-z_][a-z0-9_]{0,15}",
        value in "(=[a-zA-Z0-9_.=-]{0,8})?",
        first in any::<bool>(),
    ) {
        prop_assume!(!MOUNT_OPTIONS.contains(&key.as_str()));
        prop_assume!(!ACCEPTED_NO_OPS.contains(&key.as_str()) || !value.is_empty());
        let option = format!("{key}{value}");
        let group = if first { format!("{option},rw") } else { format!("allow_other,nosuid,{option}") };
        let msg = config_of(&["-o", &group, "m"]).unwrap_err();
        prop_assert!(msg.contains(&format!("-o {option}")), "{}", msg);
        prop_assert!(msg.contains("unknown mount option"), "{}", msg);
    }

    /// An option of the table that needs a value is refused without one
    /// (the message names it), and with an empty one.
    #[test]
    fn a_valued_option_without_its_value_is_refused(
        key in prop::sample::select(valued()),
        others in "(rw,|allow_other,)?",
    ) {
        let msg = config_of(&["-o", &format!("{others}{key}"), "m"]).unwrap_err();
        prop_assert!(msg.contains(key), "{}", msg);
        prop_assert!(config_of(&["-o", &format!("{others}{key}="), "m"]).is_err(), "{}=", key);
    }

    /// Byte counts through `-o` and through the flag set the same value,
    /// within the documented bounds; out of them, an error.
    #[test]
    fn byte_options_take_byte_counts_in_bounds(
        i in 0..4usize,
        n in prop_oneof![0u64..(1 << 25), any::<u64>()],
        (unit, shift) in unit(),
    ) {
        let (key, low, high, field) = byte_options()[i];
        let value = format!("{n}{unit}");
        let flag = format!("--{}={value}", key.replace('_', "-"));
        let by_option = config_of(&["-o", &format!("{key}={value}"), "m"]);
        let by_flag = config_of(&[&flag, "m"]);
        match usize::try_from(u128::from(n) << shift) {
            Ok(b) if (low..=high).contains(&b) => {
                prop_assert_eq!(by_option.as_ref().map(field), Ok(b));
                prop_assert_eq!(by_flag.map(|c| field(&c)), Ok(b));
            }
            _ => {
                prop_assert!(by_option.is_err(), "{} = {:?}", key, value);
                prop_assert!(by_flag.unwrap_err().contains(&key.replace('_', "-")));
            }
        }
    }

    /// Counts of messages and objects are plain numbers, at least 1; a
    /// queue's messages at most 2³² − 1.
    #[test]
    fn counts_are_plain_numbers(
        n in prop_oneof![0u64..4, (1u64 << 32) - 2..(1 << 32) + 2, any::<u64>()],
        (unit, _) in unit(),
    ) {
        for (key, field, most) in [
            ("queue_max_messages", (|c: &Config| c.queue_max_messages) as fn(&Config) -> usize, u64::from(u32::MAX)),
            ("max_objects_per_user", |c: &Config| c.max_objects_per_user, u64::MAX),
        ] {
            let got = config_of(&["-o", &format!("{key}={n}"), "m"]);
            if n == 0 || n > most {
                prop_assert!(got.is_err());
            } else {
                prop_assert_eq!(got.map(|c| field(&c)), Ok(n as usize));
            }
            if !unit.is_empty() {
                prop_assert!(config_of(&["-o", &format!("{key}={n}{unit}"), "m"]).is_err(), "{} {}{}", key, n, unit);
            }
        }
    }

    /// The word-valued options take their words only.
    #[test]
    fn framing_and_shm_mode_take_their_words(word in "[a-z]{1,8}", i in 0..Framing::ALL.len()) {
        let (name, framing) = Framing::ALL[i];
        prop_assert_eq!(
            config_of(&["-o", &format!("queue_framing={name}"), "m"]).map(|c| c.queue_framing),
            Ok(framing)
        );
        let framing_of = config_of(&["-o", &format!("queue_framing={word}"), "m"]);
        match Framing::parse(&word) {
            Ok(f) => prop_assert_eq!(framing_of.map(|c| c.queue_framing), Ok(f)),
            Err(_) => prop_assert!(framing_of.is_err()),
        }
        let mode_of = config_of(&["-o", &format!("shm_mode={word}"), "m"]).map(|c| c.shm_mode);
        match word.as_str() {
            "auto" => prop_assert_eq!(mode_of, Ok(ShmMode::Auto)),
            "cached" => prop_assert_eq!(mode_of, Ok(ShmMode::Cached)),
            _ => prop_assert!(mode_of.is_err()),
        }
    }
}

// ---------------------------------------------------------------------
// Socket ctl commands
// ---------------------------------------------------------------------

/// An internet address as a command writes it, and what it parses to.
fn inet_address() -> impl Strategy<Value = (String, Target)> {
    let host = prop_oneof![
        any::<Ipv4Addr>().prop_map(|ip| (ip.to_string(), ip.to_string())),
        any::<Ipv6Addr>().prop_map(|ip| (format!("[{ip}]"), ip.to_string())),
        "[a-z][a-z0-9-]{0,12}(\\.[a-z][a-z0-9-]{0,8}){0,3}".prop_map(|h| (h.clone(), h)),
    ];
    (host, any::<u16>()).prop_map(|((written, host), port)| {
        (format!("{written}:{port}"), Target::Inet { host, port })
    })
}

/// A Unix-domain path: one word, no white space.
fn unix_path() -> impl Strategy<Value = String> {
    "/\\S{0,30}"
}

/// A documented command, as written, and what it parses to.
fn documented_command() -> impl Strategy<Value = (String, Command)> {
    let inet_kind = prop::sample::select(vec![Kind::Tcp, Kind::Udp]);
    let unix_kind = prop::sample::select(vec![Kind::Unix, Kind::Unixgram]);
    let verb = any::<bool>();
    let make = |connect: bool, kind: Kind, address: String, target: Target| {
        let (word, command) = if connect {
            ("connect", Command::Connect(kind, target))
        } else {
            ("bind", Command::Bind(kind, target))
        };
        (format!("{word} {} {address}", kind.name()), command)
    };
    prop_oneof![
        (verb, inet_kind, inet_address()).prop_map(move |(c, k, (a, t))| make(c, k, a, t)),
        (verb, unix_kind, unix_path()).prop_map(move |(c, k, p)| make(
            c,
            k,
            p.clone(),
            Target::Path(PathBuf::from(p))
        )),
        Just(("listen".to_string(), Command::Listen(None))),
        any::<u32>().prop_map(|n| (format!("listen {n}"), Command::Listen(Some(n)))),
        prop::sample::select(vec![
            ("rd", Shut::Read),
            ("wr", Shut::Write),
            ("rdwr", Shut::Both)
        ])
        .prop_map(|(w, s)| (format!("shutdown {w}"), Command::Shutdown(s))),
        Just(("close".to_string(), Command::Close)),
    ]
}

/// A command's words with any spacing between and around them, and
/// with or without the trailing newline.
fn spaced(command: &str, gaps: &[String], newline: bool) -> String {
    let mut out = gaps[0].clone();
    for (i, word) in command.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
            out.push_str(&gaps[(i + 1) % gaps.len()]);
        }
        out.push_str(word);
    }
    out.push_str(&gaps[gaps.len() - 1]);
    if newline {
        out.push('\n');
    }
    out
}

proptest! {
    #![proptest_config(cases(1024))]

    /// Any bytes: a command or `EINVAL`, never a panic; a trailing
    /// newline changes nothing.
    #[test]
    fn any_bytes_are_a_command_or_einval(
        data in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..48),
            "\\PC{0,40}".prop_map(String::into_bytes),
            (prop::sample::select(vec!["connect", "bind", "listen", "shutdown", "close"]), "\\PC{0,30}")
                .prop_map(|(v, rest)| format!("{v} {rest}").into_bytes()),
        ],
    ) {
        let got = command::parse(&data);
        if let Err(e) = &got {
            prop_assert_eq!(*e, EINVAL);
        }
        let mut with_newline = data.clone();
        with_newline.push(b'\n');
        prop_assert_eq!(command::parse(&with_newline), got);
    }

    /// Every documented form parses to its command, however it is spaced,
    /// with or without the trailing newline; an address prints back as
    /// written.
    #[test]
    fn documented_commands_parse(
        (text, expected) in documented_command(),
        gaps in prop::collection::vec("[ \t]{0,2}", 4),
        newline in any::<bool>(),
    ) {
        prop_assert_eq!(command::parse(text.as_bytes()), Ok(expected.clone()), "{:?}", text);
        let spaced = spaced(&text, &gaps, newline);
        prop_assert_eq!(command::parse(spaced.as_bytes()), Ok(expected.clone()), "{:?}", spaced);
        if let Command::Connect(_, target) | Command::Bind(_, target) = &expected {
            prop_assert!(text.ends_with(&format!(" {target}")), "{} / {}", text, target);
        }
    }

    /// Malformed commands are `EINVAL`: a port past 65535 or none, an
    /// IPv6 address without brackets, an empty host, another kind or
    /// verb, a shutdown of another word, a backlog that is no u32, a word
    /// too many, two commands in one write, bytes that are not UTF-8.
    #[test]
    fn malformed_commands_are_einval(
        verb in prop::sample::select(vec!["connect", "bind"]),
        inet in prop::sample::select(vec!["tcp", "udp"]),
        ip in any::<Ipv4Addr>(),
        v6 in any::<Ipv6Addr>(),
        port in 65536u64..,
        other_kind in "[a-z]{1,9}",
        other_verb in "[a-z]{1,9}",
        backlog in prop_oneof![(1u64 << 32).., Just(u64::MAX)],
        (first, _) in documented_command(),
        (second, _) in documented_command(),
        extra in "[a-z0-9]{1,6}",
    ) {
        let bad = [
            format!("{verb} {inet} {ip}:{port}"),
            format!("{verb} {inet} {ip}"),
            format!("{verb} {inet} {ip}:"),
            format!("{verb} {inet} {v6}:80"),
            format!("{verb} {inet} [{v6}:80"),
            format!("{verb} {inet} :80"),
            format!("{verb} {inet} []:80"),
            format!("{verb} {inet}"),
            verb.to_string(),
            format!("listen {backlog}"),
            "listen -1".to_string(),
            format!("close {extra}"),
            format!("{first}\n{second}"),
            format!("{first}\n{second}\n"),
        ];
        for text in &bad {
            prop_assert_eq!(command::parse(text.as_bytes()), Err(EINVAL), "{:?}", text);
        }
        if !["tcp", "udp", "unix", "unixgram"].contains(&other_kind.as_str()) {
            let text = format!("{verb} {other_kind} {ip}:80");
            prop_assert_eq!(command::parse(text.as_bytes()), Err(EINVAL), "{:?}", text);
        }
        if !["connect", "bind", "listen", "shutdown", "close"].contains(&other_verb.as_str()) {
            for text in [other_verb.clone(), format!("{other_verb} tcp {ip}:80")] {
                prop_assert_eq!(command::parse(text.as_bytes()), Err(EINVAL), "{:?}", text);
            }
        }
        if !["rd", "wr", "rdwr"].contains(&extra.as_str()) {
            let text = format!("shutdown {extra}");
            prop_assert_eq!(command::parse(text.as_bytes()), Err(EINVAL), "{:?}", text);
        }
        // A word too many, except where it makes another form (`listen N`).
        if first != "listen" {
            let text = format!("{first} {extra}");
            prop_assert_eq!(command::parse(text.as_bytes()), Err(EINVAL), "{:?}", text);
        }
        let mut not_utf8 = first.into_bytes();
        not_utf8.push(0xff);
        prop_assert_eq!(command::parse(&not_utf8), Err(EINVAL));
    }
}
