//! The command line: clap's derive, turned into a plain [`Config`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Parser};

use crate::config::{Config, QueueStore, ShmMode, Transport, parse_bytes, parse_faults};
use crate::ipc::compose::Framing;
use crate::limits::IoLimits;

#[derive(Debug, Parser)]
#[command(
    name = "ipcfs",
    version,
    about = "Mount a filesystem whose files are IPC objects: named pipes, message queues, \
             shared memory, socket endpoints and signals to processes.",
    after_help = "Runs in the foreground until Ctrl-C, SIGTERM or umount. \
                  Logs go to stderr; RUST_LOG sets the filter (default: info). \
                  See ipcfs(1) and ipcfs(7)."
)]
pub struct Args {
    /// Directory to mount on
    pub mountpoint: PathBuf,

    /// Let other users use the mount (the kernel then enforces mode bits)
    #[arg(long)]
    pub allow_other: bool,

    /// Buffer size of a new pipe in bytes, 4096 to 16M [default: 65536]
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub pipe_capacity: Option<usize>,

    /// Messages a new queue holds before writers block, 1 to 4294967295
    /// [default: 256]
    #[arg(long, value_name = "N")]
    pub queue_max_messages: Option<usize>,

    /// Largest message of a new queue in bytes [default: 8192]
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub queue_max_message_size: Option<usize>,

    /// Where a new queue's stream writers end a message: message (at close
    /// or fsync), line, or write [default: message]
    #[arg(long, value_name = "FRAMING", value_parser = parse_framing)]
    pub queue_framing: Option<Framing>,

    /// Cap on all buffered data of the mount together [default: 256M]
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_memory: Option<usize>,

    /// What one user's objects may hold together (and, apart, its queues
    /// in a --queue-store server); root is held to --max-memory only
    /// [default: a quarter of --max-memory]
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_memory_per_user: Option<usize>,

    /// How many objects one user may have; root has no limit [default: 1024]
    #[arg(long, value_name = "N")]
    pub max_objects_per_user: Option<usize>,

    /// How many calls of one user may wait in the daemon at once (blocked
    /// reads, writes and opens); past it a call that would wait fails with
    /// EAGAIN. Root and the mount's owner have no limit [default: 4096]
    #[arg(long, value_name = "N")]
    pub max_waiting_per_user: Option<usize>,

    /// The channel every new queue and socket endpoint starts with, for
    /// labs: a comma-separated list of loss=P, duplicate=P, reorder=P,
    /// corrupt=P (probabilities 0 to 1), delay_ms=MS, jitter_ms=MS and
    /// seed=N [default: a perfect channel]
    #[arg(long, value_name = "LIST")]
    pub faults: Option<String>,

    /// How shm/ files are served: auto (mappings map the file's memory
    /// directly when the daemon runs as root, else the page cache) or
    /// cached (always the page cache) [default: auto]
    #[arg(long, value_name = "MODE", value_parser = ShmMode::parse)]
    pub shm_mode: Option<ShmMode>,

    /// How requests reach the daemon: dev (reads and writes on /dev/fuse),
    /// uring (FUSE over io_uring; the kernel offers it only while
    /// /sys/module/fuse/parameters/enable_uring is Y) or auto (uring when
    /// offered, else dev) [default: dev]
    #[arg(long, value_name = "TRANSPORT", value_parser = Transport::parse)]
    pub transport: Option<Transport>,

    /// Keep queues/ in Redis, shared by every mount given the same server
    /// and prefix: redis://HOST:PORT[/DB] [default: in this daemon's memory]
    #[arg(long, value_name = "URL")]
    pub queue_store: Option<String>,

    /// The prefix of the store's keys, so that several independent sets
    /// of queues share one server [default: ipcfs]
    #[arg(long, value_name = "PREFIX")]
    pub queue_store_prefix: Option<String>,

    /// A file holding the store's password (else the environment's
    /// IPCFS_QUEUE_STORE_PASSWORD; never on the command line)
    #[arg(long, value_name = "FILE")]
    pub queue_store_password_file: Option<PathBuf>,

    /// With a rediss:// URL: the PEM file of the certificate authority the
    /// server's certificate must come from [default: the system's]
    #[arg(long, value_name = "FILE")]
    pub queue_store_ca_file: Option<PathBuf>,

    /// How long a message taken by a daemon that ended before its reader
    /// received it waits before another daemon takes it [default: 30000]
    #[arg(long, value_name = "MS")]
    pub queue_store_reclaim_ms: Option<u64>,

    /// Clear a stale mount left at MOUNTPOINT by a crashed daemon first
    #[arg(long)]
    pub force: bool,

    /// Mount options, comma-separated, as mount(8) passes them
    /// (allow_other, pipe_capacity=BYTES, max_memory=BYTES, ...)
    #[arg(short = 'o', value_name = "OPTIONS", action = ArgAction::Append)]
    pub options: Vec<String>,

    /// More log output (-v debug, -vv trace)
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less log output (-q warnings only, -qq errors only)
    #[arg(short, long, action = ArgAction::Count)]
    pub quiet: u8,
}

/// When ipcfs runs as a mount(8) helper (installed as `mount.fuse.ipcfs`),
/// mount calls it as `mount.fuse.ipcfs SOURCE MOUNTPOINT [-sfnv] [-o
/// OPTIONS] [-t TYPE] [-N NAMESPACE]`. Returns the same request in ipcfs's
/// own words (`ipcfs -o fsname=SOURCE -o OPTIONS MOUNTPOINT`), or `None`
/// when not called under a `mount.` name.
pub fn mount_helper_argv(argv: &[OsString]) -> Option<Result<Vec<OsString>, String>> {
    let name = Path::new(argv.first()?)
        .file_name()?
        .to_string_lossy()
        .into_owned();
    if !name.starts_with("mount.") {
        return None;
    }
    let mut positional = Vec::new();
    let mut options = Vec::new();
    let mut rest = argv[1..].iter();
    while let Some(arg) = rest.next() {
        match arg.to_str() {
            Some("-o") => options.extend(rest.next().cloned()),
            Some("-t" | "-N") => {
                rest.next();
            }
            Some(flag) if flag.starts_with('-') && flag.len() > 1 => {
                if let Some(opts) = flag.strip_prefix("-o") {
                    options.push(opts.into());
                }
                // -s (sloppy), -f (fake), -n (no mtab), -v (verbose): nothing to do.
            }
            _ => positional.push(arg.clone()),
        }
    }
    let (Some(mountpoint), Some(source), None) =
        (positional.pop(), positional.pop(), positional.pop())
    else {
        return Some(Err(format!("usage: {name} SOURCE MOUNTPOINT [-o OPTIONS]")));
    };
    let mut out: Vec<OsString> = vec!["ipcfs".into()];
    let mut fsname = OsString::from("fsname=");
    fsname.push(&source);
    out.extend(["-o".into(), fsname]);
    for o in options {
        out.extend(["-o".into(), o]);
    }
    out.push(mountpoint);
    Some(Ok(out))
}

/// The `-o` options ipcfs acts on (or refuses with a reason, as `ro`):
/// the table ipcfs(1) documents, kept equal to `apply_mount_option` by a
/// unit test.
pub const MOUNT_OPTIONS: &[&str] = crate::ipc::channel::with_fault_settings![
    "allow_other",
    "default_permissions",
    "force",
    "pipe_capacity",
    "queue_max_messages",
    "queue_max_message_size",
    "queue_framing",
    "max_memory",
    "max_memory_per_user",
    "max_objects_per_user",
    "max_waiting_per_user",
    "shm_mode",
    "transport",
    "fsname",
    "queue_store",
    "queue_store_prefix",
    "queue_store_password_file",
    "queue_store_ca_file",
    "queue_store_reclaim_ms",
    "ro",
];

/// `-o` options that mount(8), fstab and mount.fuse pass along and that
/// mean nothing more to ipcfs than the defaults it already has.
pub const ACCEPTED_NO_OPS: &[&str] = &[
    "rw", "defaults", "auto", "noauto", "user", "users", "nouser", "nofail", "_netdev", "dev",
    "nodev", "suid", "nosuid", "exec", "noexec", "atime", "noatime", "relatime", "async",
];

impl Args {
    /// Resolves flags and `-o` options into one [`Config`]; `-o` options
    /// come after the flags, so the later one wins as in mount(8).
    pub fn into_config(self, io: IoLimits) -> Result<Config, String> {
        let mut c = Config::new(self.mountpoint);
        c.io = io;
        c.allow_other = self.allow_other;
        c.force = self.force;
        if let Some(v) = self.pipe_capacity {
            c.pipe_capacity = v;
        }
        if let Some(v) = self.queue_max_messages {
            c.queue_max_messages = v;
        }
        if let Some(v) = self.queue_max_message_size {
            c.queue_max_message_size = v;
        }
        if let Some(v) = self.queue_framing {
            c.queue_framing = v;
        }
        if let Some(v) = self.max_memory {
            c.max_memory = v;
        }
        if let Some(v) = self.max_memory_per_user {
            c.max_memory_per_user = Some(v);
        }
        if let Some(v) = self.max_objects_per_user {
            c.max_objects_per_user = v;
        }
        if let Some(v) = self.max_waiting_per_user {
            c.max_waiting_per_user = v;
        }
        if let Some(v) = self.shm_mode {
            c.shm_mode = v;
        }
        if let Some(v) = self.transport {
            c.transport = v;
        }
        if let Some(list) = &self.faults {
            parse_faults(list, &mut c.faults).map_err(|e| format!("--faults {e}"))?;
        }
        if let Some(url) = &self.queue_store {
            c.queue_store = Some(QueueStore::new(url));
        }
        let store_option = |name: &str| format!("--{name} needs --queue-store");
        if let Some(prefix) = self.queue_store_prefix {
            let store = c
                .queue_store
                .as_mut()
                .ok_or(store_option("queue-store-prefix"))?;
            store.prefix = prefix;
        }
        if let Some(file) = self.queue_store_password_file {
            let store =
                (c.queue_store.as_mut()).ok_or(store_option("queue-store-password-file"))?;
            store.password_file = Some(file);
        }
        if let Some(file) = self.queue_store_ca_file {
            let store = (c.queue_store.as_mut()).ok_or(store_option("queue-store-ca-file"))?;
            store.ca_file = Some(file);
        }
        if let Some(ms) = self.queue_store_reclaim_ms {
            let store = c
                .queue_store
                .as_mut()
                .ok_or(store_option("queue-store-reclaim-ms"))?;
            store.reclaim_ms = ms;
        }
        for group in &self.options {
            for option in group.split(',').filter(|o| !o.is_empty()) {
                apply_mount_option(&mut c, option)?;
            }
        }
        if c.allow_other {
            c.default_permissions = true;
        }
        c.log_level = match (self.verbose, self.quiet) {
            (0, 0) => None,
            (1, _) => Some(log::LevelFilter::Debug),
            (v, _) if v >= 2 => Some(log::LevelFilter::Trace),
            (_, 1) => Some(log::LevelFilter::Warn),
            _ => Some(log::LevelFilter::Error),
        };
        c.validate()?;
        Ok(c)
    }
}

/// A framing's name, for `--queue-framing` and `-o queue_framing=`.
fn parse_framing(text: &str) -> Result<Framing, String> {
    Framing::parse(text).map_err(|_| format!("'{text}' is not a framing (message, line or write)"))
}

fn apply_mount_option(c: &mut Config, option: &str) -> Result<(), String> {
    let (key, value) = match option.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (option, None),
    };
    let bytes = |v: Option<&str>| -> Result<usize, String> {
        parse_bytes(v.ok_or_else(|| format!("-o {key} needs a value ({key}=...)"))?)
            .map_err(|e| format!("-o {key}: {e}"))
    };
    let flag = |on: &mut bool| -> Result<(), String> {
        match value {
            None => {
                *on = true;
                Ok(())
            }
            Some(_) => Err(format!("-o {key} takes no value")),
        }
    };
    match key {
        "allow_other" => flag(&mut c.allow_other)?,
        "default_permissions" => flag(&mut c.default_permissions)?,
        "force" => flag(&mut c.force)?,
        "pipe_capacity" => c.pipe_capacity = bytes(value)?,
        "queue_max_messages" => {
            c.queue_max_messages = value
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("-o {option}: needs a whole number of messages"))?
        }
        "queue_max_message_size" => c.queue_max_message_size = bytes(value)?,
        "queue_framing" => {
            c.queue_framing = parse_framing(
                value.ok_or("-o queue_framing needs a value (message, line or write)")?,
            )?
        }
        "max_memory" => c.max_memory = bytes(value)?,
        "max_memory_per_user" => c.max_memory_per_user = Some(bytes(value)?),
        "max_objects_per_user" => {
            c.max_objects_per_user = value
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("-o {option}: needs a whole number of objects"))?
        }
        "max_waiting_per_user" => {
            c.max_waiting_per_user = value
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("-o {option}: needs a whole number of calls"))?
        }
        "loss" | "duplicate" | "reorder" | "corrupt" | "delay_ms" | "jitter_ms" | "seed" => {
            parse_faults(option, &mut c.faults).map_err(|e| format!("-o {e}"))?
        }
        "shm_mode" => {
            c.shm_mode = ShmMode::parse(value.ok_or("-o shm_mode needs a value (auto or cached)")?)?
        }
        "transport" => {
            c.transport =
                Transport::parse(value.ok_or("-o transport needs a value (dev, uring or auto)")?)?
        }
        "fsname" => {
            c.fsname = value
                .filter(|v| !v.is_empty())
                .ok_or("-o fsname needs a value")?
                .to_string()
        }
        "queue_store" => {
            let url = value.filter(|v| !v.is_empty());
            c.queue_store = Some(QueueStore::new(
                url.ok_or("-o queue_store needs a value (redis://HOST:PORT)")?,
            ))
        }
        "queue_store_prefix"
        | "queue_store_password_file"
        | "queue_store_ca_file"
        | "queue_store_reclaim_ms" => {
            let value = value.ok_or_else(|| format!("-o {key} needs a value"))?;
            let store = c
                .queue_store
                .as_mut()
                .ok_or_else(|| format!("-o {key} needs -o queue_store= before it"))?;
            match key {
                "queue_store_prefix" => store.prefix = value.to_string(),
                "queue_store_password_file" => store.password_file = Some(value.into()),
                "queue_store_ca_file" => store.ca_file = Some(value.into()),
                _ => {
                    store.reclaim_ms = value
                        .parse()
                        .map_err(|_| format!("-o {option}: needs a whole number of ms"))?
                }
            }
        }
        "ro" => return Err("-o ro: ipcfs cannot be mounted read-only".into()),
        k if value.is_none() && ACCEPTED_NO_OPS.contains(&k) => {}
        _ => return Err(format!("-o {option}: unknown mount option")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_option_table_is_what_apply_mount_option_knows() {
        let known = |option: &str| match apply_mount_option(&mut Config::new("/m".into()), option) {
            Ok(()) => true,
            Err(msg) => !msg.contains("unknown mount option"),
        };
        for key in MOUNT_OPTIONS {
            assert!(known(key) || known(&format!("{key}=1")), "{key}");
        }
        for key in ACCEPTED_NO_OPS {
            assert!(known(key), "{key}");
        }
        let unknown = apply_mount_option(&mut Config::new("/m".into()), "bogus_option");
        assert!(unknown.unwrap_err().contains("unknown mount option"));
        // And every key the match knows is in the table: each that is not
        // there is rejected as unknown, so the table cannot lag behind.
        let source = include_str!("cli.rs");
        let body = &source[source.find("fn apply_mount_option").unwrap()..];
        let body = &body[..body.find("\n}\n").unwrap()];
        for line in body.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix('"') {
                let key = &rest[..rest.find('"').unwrap()];
                assert!(
                    MOUNT_OPTIONS.contains(&key),
                    "{key} is not in MOUNT_OPTIONS"
                );
            }
        }
    }

    fn config(args: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["ipcfs"];
        argv.extend_from_slice(args);
        Args::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .into_config(IoLimits::new(1024))
    }

    #[test]
    fn a_queue_store_is_a_redis_url_with_its_options() {
        let c = config(&[
            "--queue-store",
            "redis://h:6379/2",
            "--queue-store-prefix",
            "lab",
            "m",
        ])
        .unwrap();
        let store = c.queue_store.unwrap();
        assert_eq!(store.url, "redis://h:6379/2");
        assert_eq!(store.prefix, "lab");
        assert_eq!(store.reclaim_ms, 30_000);
        assert_eq!(store.password_file, None);
        let o = "queue_store=redis://h,queue_store_reclaim_ms=500,queue_store_password_file=/p";
        let store = config(&["-o", o, "m"]).unwrap().queue_store.unwrap();
        assert_eq!((store.reclaim_ms, store.prefix.as_str()), (500, "ipcfs"));
        assert_eq!(store.password_file, Some("/p".into()));
        // A store's mount may be shared by users, as any mount.
        let shared = config(&["-o", "queue_store=redis://h,allow_other", "m"]).unwrap();
        assert!(shared.allow_other && shared.queue_store.is_some());
        for bad in [
            &["--queue-store-prefix", "lab", "m"][..],
            &["-o", "queue_store_prefix=lab", "m"],
            &[
                "--queue-store",
                "redis://h:6379",
                "--queue-store-ca-file",
                "/ca",
                "m",
            ],
            &["--queue-store", "http://h", "m"],
            &[
                "--queue-store",
                "redis://h",
                "--queue-store-prefix",
                "a{b}",
                "m",
            ],
        ] {
            assert!(config(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flags_and_mount_options_resolve_to_one_config() {
        let c = config(&[
            "--pipe-capacity",
            "8K",
            "-o",
            "allow_other,max_memory=1M",
            "m",
        ])
        .unwrap();
        assert_eq!(c.pipe_capacity, 8192);
        assert_eq!(c.max_memory, 1 << 20);
        assert!(c.allow_other);
        assert!(c.default_permissions, "allow_other implies it");
        assert_eq!(c.mountpoint, PathBuf::from("m"));
    }

    #[test]
    fn mount_helper_options_are_accepted() {
        let c = config(&["-o", "rw,nosuid,nodev,noauto,_netdev", "m"]).unwrap();
        assert!(!c.allow_other);
    }

    #[test]
    fn bad_values_are_refused_with_the_option_named() {
        assert!(
            config(&["--pipe-capacity", "1", "m"])
                .unwrap_err()
                .contains("--pipe-capacity")
        );
        assert!(config(&["-o", "bogus", "m"]).unwrap_err().contains("bogus"));
        assert!(
            config(&["-o", "ro", "m"])
                .unwrap_err()
                .contains("read-only")
        );
        assert!(config(&["-o", "pipe_capacity", "m"]).is_err());
        assert!(
            config(&["-o", "pipe_capacity=abc", "m"])
                .unwrap_err()
                .contains("-o pipe_capacity")
        );
        assert!(
            config(&["-o", "allow_other=0", "m"])
                .unwrap_err()
                .contains("takes no value")
        );
        assert!(
            config(&["-o", "shm_mode=fast", "m"])
                .unwrap_err()
                .contains("auto or cached")
        );
        assert_eq!(
            config(&["--shm-mode", "cached", "m"]).unwrap().shm_mode,
            ShmMode::Cached
        );
        assert_eq!(config(&["m"]).unwrap().transport, Transport::Dev);
        assert_eq!(
            config(&["-o", "transport=auto", "m"]).unwrap().transport,
            Transport::Auto
        );
        assert_eq!(
            config(&["--transport", "uring", "m"]).unwrap().transport,
            Transport::Uring
        );
        assert_eq!(
            config(&["--transport", "uring", "-o", "transport=dev", "m"])
                .unwrap()
                .transport,
            Transport::Dev
        );
        assert!(
            config(&["-o", "transport=ring", "m"])
                .unwrap_err()
                .contains("dev, uring or auto")
        );
        let c = config(&["--max-memory", "64M", "m"]).unwrap();
        assert_eq!(c.user_limits().bytes, 16 << 20, "a quarter by default");
        assert_eq!(c.user_limits().objects, 1024);
        let c = config(&["-o", "max_memory_per_user=1M,max_objects_per_user=7", "m"]).unwrap();
        assert_eq!(
            (c.user_limits().bytes, c.user_limits().objects),
            (1 << 20, 7)
        );
        assert!(config(&["--max-objects-per-user", "0", "m"]).is_err());
        assert_eq!(config(&["m"]).unwrap().max_waiting_per_user, 4096);
        let c = config(&["-o", "max_waiting_per_user=9", "m"]).unwrap();
        assert_eq!(c.max_waiting_per_user, 9);
        let c = config(&["--max-waiting-per-user", "12", "m"]).unwrap();
        assert_eq!(c.max_waiting_per_user, 12);
        assert!(config(&["--max-waiting-per-user", "0", "m"]).is_err());
        assert!(config(&["-o", "max_waiting_per_user=x", "m"]).is_err());
    }

    #[test]
    fn mount_helper_calls_become_ipcfs_calls() {
        let argv = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(mount_helper_argv(&argv(&["ipcfs", "m"])), None);
        let got = mount_helper_argv(&argv(&[
            "/sbin/mount.fuse.ipcfs",
            "ipcfs",
            "/mnt/ipc",
            "-n",
            "-o",
            "rw,allow_other",
            "-t",
            "fuse.ipcfs",
        ]));
        assert_eq!(
            got,
            Some(Ok(argv(&[
                "ipcfs",
                "-o",
                "fsname=ipcfs",
                "-o",
                "rw,allow_other",
                "/mnt/ipc"
            ])))
        );
        let c = Args::try_parse_from(got.unwrap().unwrap())
            .unwrap()
            .into_config(IoLimits::new(1024))
            .unwrap();
        assert!(c.allow_other);
        assert!(matches!(
            mount_helper_argv(&argv(&["mount.fuse.ipcfs", "only-one"])),
            Some(Err(_))
        ));
    }

    #[test]
    fn verbosity() {
        assert_eq!(config(&["m"]).unwrap().log_level, None);
        assert_eq!(
            config(&["-v", "m"]).unwrap().log_level,
            Some(log::LevelFilter::Debug)
        );
        assert_eq!(
            config(&["-qq", "m"]).unwrap().log_level,
            Some(log::LevelFilter::Error)
        );
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
