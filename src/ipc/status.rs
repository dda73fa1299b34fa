//! The two read-only files at the root: `README` and `status`.

/// What `MOUNTPOINT/README` says: each directory with a one-line example.
pub const README: &str = "\
ipcfs: IPC objects as files. See ipcfs(7) for the whole story.

README    this text
status    one line per object, like ipcs(1): cat status

pipes/    named pipes (byte streams, POSIX FIFO semantics)
          touch pipes/p; cat pipes/p & echo hello > pipes/p
queues/   message queues: one redirection is one message, one cat one message
          touch queues/q; echo job > queues/q; cat queues/q
shm/      shared-memory files: seek, truncate and mmap(MAP_SHARED) them
          truncate -s 1M shm/m; dd if=data of=shm/m conv=notrunc
sockets/  socket endpoints, one directory each: mkdir is socket(), rmdir close()
          mkdir sockets/c; echo 'connect tcp 127.0.0.1:80' > sockets/c/ctl
proc/     signals: proc/PID/signal and pgsignal; proc/self is you
          echo TERM > proc/1234/signal; cat proc/self/signal
";

/// A name as `status` prints it, as /proc/mounts does: a space, a
/// backslash and every byte that is not printable ASCII as `\ooo`
/// (octal), so that one row is one object, whatever its name, and names
/// that differ print differently.
pub fn escape_name(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name {
        if b == b' ' || b == b'\\' || !(0x21..=0x7e).contains(&b) {
            out.push_str(&format!("\\{b:03o}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// One object as `status` shows it. `None` prints as `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub kind: &'static str,
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub perm: u16,
    pub bytes: Option<usize>,
    pub messages: Option<usize>,
    /// A queue's framing (where its stream writers' messages end).
    pub framing: Option<&'static str>,
    pub readers: Option<usize>,
    pub writers: Option<usize>,
    pub blocked: Option<usize>,
    /// Who serves the object's data: `daemon`, or `kernel` for FIFO nodes.
    pub served_by: &'static str,
    /// What a faulty channel did (labs), as `lost=N,...`.
    pub channel: Option<String>,
}

impl StatusRow {
    /// A row of `name`, with its owner and mode, served by `served_by`,
    /// and no counters yet (each kind fills in its own).
    pub fn new(name: String, uid: u32, gid: u32, perm: u16, served_by: &'static str) -> Self {
        StatusRow {
            kind: "",
            name,
            uid,
            gid,
            perm,
            bytes: None,
            messages: None,
            framing: None,
            readers: None,
            writers: None,
            blocked: None,
            served_by,
            channel: None,
        }
    }
}

/// The columns. `framing` and `channel` come last, in the order they
/// were added, so that scripts that pick columns by number from before
/// find theirs.
pub const HEADER: [&str; 13] = [
    "type", "name", "uid", "gid", "mode", "bytes", "messages", "readers", "writers", "blocked",
    "served", "framing", "channel",
];

fn opt(v: Option<usize>) -> String {
    v.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// Renders rows as aligned columns under a header line.
pub fn render(rows: &[StatusRow]) -> String {
    let cells: Vec<[String; 13]> = rows
        .iter()
        .map(|r| {
            [
                r.kind.to_string(),
                r.name.clone(),
                r.uid.to_string(),
                r.gid.to_string(),
                format!("{:04o}", r.perm),
                opt(r.bytes),
                opt(r.messages),
                opt(r.readers),
                opt(r.writers),
                opt(r.blocked),
                r.served_by.to_string(),
                r.framing.unwrap_or("-").to_string(),
                r.channel.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(str::to_string);
    for row in std::iter::once(&header).chain(&cells) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join(" ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_as_proc_mounts_does() {
        assert_eq!(escape_name(b"plain-name_1.x"), "plain-name_1.x");
        assert_eq!(escape_name(b"a b\\c"), "a\\040b\\134c");
        assert_eq!(
            escape_name(b"row\nforged\ttab\x1b[31m"),
            "row\\012forged\\011tab\\033[31m"
        );
        assert_eq!(escape_name(b"\xff\xfe\xc3\xa9"), "\\377\\376\\303\\251");
        assert_ne!(escape_name(b"\xff"), escape_name(b"\xfe"));
    }

    #[test]
    fn renders_aligned_columns_with_dashes() {
        let rows = vec![
            StatusRow {
                kind: "pipe",
                name: "jobs".into(),
                uid: 0,
                gid: 0,
                perm: 0o644,
                bytes: Some(5),
                messages: None,
                framing: None,
                readers: Some(1),
                writers: Some(2),
                blocked: Some(0),
                served_by: "daemon",
                channel: None,
            },
            StatusRow {
                kind: "fifo",
                ..StatusRow::new("k".into(), 1000, 1000, 0o600, "kernel")
            },
        ];
        assert_eq!(
            render(&rows),
            "type name uid  gid  mode bytes messages readers writers blocked served framing channel\n\
             pipe jobs 0    0    0644 5     -        1       2       0       daemon -       -\n\
             fifo k    1000 1000 0600 -     -        -       -       -       kernel -       -\n"
        );
    }
}
