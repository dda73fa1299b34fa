//! The resolved configuration the daemon runs with, and the limits that
//! bound it. The command line (`cli.rs`) is turned into this in one place.

use std::path::PathBuf;

use crate::ipc::channel::Faults;
use crate::ipc::compose::Framing;
use crate::ipc::pipe;
use crate::limits::{IoLimits, KERNEL_DEFAULT_PAGES};

pub const DEFAULT_PIPE_CAPACITY: usize = 65536;
pub const DEFAULT_QUEUE_MAX_MESSAGES: usize = 256;
pub const DEFAULT_QUEUE_MAX_MESSAGE_SIZE: usize = 8192;
pub const DEFAULT_MAX_MEMORY: usize = 256 << 20;
/// A user's share of `--max-memory` when not given: a quarter of it.
pub const DEFAULT_USER_SHARE_DIVISOR: usize = 4;
pub const DEFAULT_MAX_OBJECTS_PER_USER: usize = 1024;
/// Calls one user may have waiting at once: a quarter of an io_uring
/// queue's entries (vendor/fuser's MAX_ENTRIES), so that one user's
/// waiting calls never hold every entry of a CPU's queue.
pub const DEFAULT_MAX_WAITING_PER_USER: usize = 4096;
/// The prefix of a queue store's keys when not given.
pub const DEFAULT_QUEUE_STORE_PREFIX: &str = "ipcfs";
/// How long a message taken by a daemon that ended stays pending before
/// another takes it, when not given.
pub const DEFAULT_QUEUE_STORE_RECLAIM_MS: u64 = 30_000;

/// Where queues live when not in the daemon's memory (`--queue-store`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStore {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// Names this set of queues among others on the same server.
    pub prefix: String,
    /// A file that holds the server's password (else the environment's
    /// `IPCFS_QUEUE_STORE_PASSWORD`, else none): never the command line,
    /// where `ps` shows it.
    pub password_file: Option<PathBuf>,
    /// With a `rediss://` URL: the PEM file of the certificate authority
    /// the server's certificate must come from (else the system's).
    pub ca_file: Option<PathBuf>,
    pub reclaim_ms: u64,
}

impl QueueStore {
    pub fn new(url: &str) -> QueueStore {
        QueueStore {
            url: url.to_string(),
            prefix: DEFAULT_QUEUE_STORE_PREFIX.to_string(),
            password_file: None,
            ca_file: None,
            reclaim_ms: DEFAULT_QUEUE_STORE_RECLAIM_MS,
        }
    }

    fn validate(&self) -> Result<(), String> {
        let tls = self.url.starts_with("rediss://");
        if !tls && !self.url.starts_with("redis://") {
            return Err(format!(
                "--queue-store '{}' is not a redis:// or rediss:// URL",
                self.url
            ));
        }
        if self.ca_file.is_some() && !tls {
            return Err("--queue-store-ca-file needs a rediss:// URL".into());
        }
        let fine = |c: char| c.is_ascii_alphanumeric() || "_.:-".contains(c);
        if self.prefix.is_empty() || !self.prefix.chars().all(fine) {
            return Err(format!(
                "--queue-store-prefix '{}' may hold letters, digits and _.:- only",
                self.prefix
            ));
        }
        if self.reclaim_ms == 0 {
            return Err("--queue-store-reclaim-ms must be at least 1".into());
        }
        Ok(())
    }
}

/// How the kernel is to serve `shm/` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmMode {
    /// Mappings map the file's memory directly (FUSE passthrough) when
    /// the kernel offers it and the daemon may use it (as root); the page
    /// cache otherwise.
    Auto,
    /// Always the page cache (every write through the daemon).
    Cached,
}

impl ShmMode {
    pub fn parse(text: &str) -> Result<ShmMode, String> {
        match text {
            "auto" => Ok(ShmMode::Auto),
            "cached" => Ok(ShmMode::Cached),
            _ => Err(format!("'{text}' is not a shm mode (auto or cached)")),
        }
    }
}

/// How requests travel between the kernel and the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Reads and writes on /dev/fuse (the default).
    Dev,
    /// FUSE over io_uring, which the kernel offers only while
    /// /sys/module/fuse/parameters/enable_uring is Y.
    Uring,
    /// io_uring when the kernel offers it, /dev/fuse otherwise.
    Auto,
}

impl Transport {
    pub fn parse(text: &str) -> Result<Transport, String> {
        match text {
            "dev" => Ok(Transport::Dev),
            "uring" => Ok(Transport::Uring),
            "auto" => Ok(Transport::Auto),
            _ => Err(format!("'{text}' is not a transport (dev, uring or auto)")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub mountpoint: PathBuf,
    /// Others than the mounting user may use the mount; the kernel then
    /// enforces mode bits (`default_permissions`).
    pub allow_other: bool,
    pub default_permissions: bool,
    pub pipe_capacity: usize,
    pub queue_max_messages: usize,
    pub queue_max_message_size: usize,
    /// Where a new queue's stream writers end a message.
    pub queue_framing: Framing,
    pub max_memory: usize,
    /// What one user's objects may hold (root: no share, only the cap);
    /// `None`: a quarter of `max_memory`.
    pub max_memory_per_user: Option<usize>,
    /// How many objects one user may have (root: no limit).
    pub max_objects_per_user: usize,
    /// How many calls of one user may be parked at once (root and the
    /// mount's owner: no limit).
    pub max_waiting_per_user: usize,
    pub shm_mode: ShmMode,
    /// How requests reach the daemon.
    pub transport: Transport,
    /// The channel every new queue and endpoint starts with (labs;
    /// perfect by default; endpoints use it for datagrams only).
    pub faults: Faults,
    /// Clear a stale mount left at the mountpoint by a crashed daemon.
    pub force: bool,
    /// Log filter from `-v`/`-q`, overriding `RUST_LOG` when given.
    pub log_level: Option<log::LevelFilter>,
    /// The mount's source, as `mount(8)` and `/proc/mounts` show it.
    pub fsname: String,
    /// How large a write reaches the daemon whole (see limits.rs).
    pub io: IoLimits,
    /// Where queues live: `None`, in this daemon's memory.
    pub queue_store: Option<QueueStore>,
}

impl Config {
    pub fn new(mountpoint: PathBuf) -> Self {
        Config {
            mountpoint,
            allow_other: false,
            default_permissions: false,
            pipe_capacity: DEFAULT_PIPE_CAPACITY,
            queue_max_messages: DEFAULT_QUEUE_MAX_MESSAGES,
            queue_max_message_size: DEFAULT_QUEUE_MAX_MESSAGE_SIZE,
            queue_framing: Framing::Message,
            max_memory: DEFAULT_MAX_MEMORY,
            max_memory_per_user: None,
            max_objects_per_user: DEFAULT_MAX_OBJECTS_PER_USER,
            max_waiting_per_user: DEFAULT_MAX_WAITING_PER_USER,
            shm_mode: ShmMode::Auto,
            transport: Transport::Dev,
            faults: Faults::PERFECT,
            force: false,
            log_level: None,
            fsname: "ipcfs".to_string(),
            io: IoLimits::new(KERNEL_DEFAULT_PAGES),
            queue_store: None,
        }
    }

    /// Checks every limit against its bounds; the message names the option.
    pub fn validate(&self) -> Result<(), String> {
        if !(pipe::MIN_CAPACITY..=pipe::MAX_CAPACITY).contains(&self.pipe_capacity) {
            return Err(format!(
                "--pipe-capacity must be between {} and {} bytes, not {}",
                pipe::MIN_CAPACITY,
                pipe::MAX_CAPACITY,
                self.pipe_capacity
            ));
        }
        if crate::ipc::queue::max_messages(self.queue_max_messages).is_err() {
            return Err(format!(
                "--queue-max-messages must be between 1 and {}, not {}",
                u32::MAX,
                self.queue_max_messages
            ));
        }
        let largest = self.io.max_message();
        if !(1..=largest).contains(&self.queue_max_message_size) {
            return Err(format!(
                "--queue-max-message-size must be between 1 and {largest} bytes, not {}",
                self.queue_max_message_size
            ));
        }
        if self.max_memory == 0 {
            return Err("--max-memory must be at least 1 byte".into());
        }
        if self.max_memory_per_user == Some(0) {
            return Err("--max-memory-per-user must be at least 1 byte".into());
        }
        if self.max_objects_per_user == 0 {
            return Err("--max-objects-per-user must be at least 1".into());
        }
        if self.max_waiting_per_user == 0 {
            return Err("--max-waiting-per-user must be at least 1".into());
        }
        if let Some(store) = &self.queue_store {
            store.validate()?;
        }
        Ok(())
    }

    /// The per-user limits this configuration gives.
    pub fn user_limits(&self) -> crate::memory::UserLimits {
        crate::memory::UserLimits {
            bytes: self
                .max_memory_per_user
                .unwrap_or(self.max_memory / DEFAULT_USER_SHARE_DIVISOR),
            objects: self.max_objects_per_user,
        }
    }
}

/// Parses a list of channel settings, `loss=0.3,seed=7` (as `--faults`
/// and the mount options take them), onto `faults`.
pub fn parse_faults(text: &str, faults: &mut Faults) -> Result<(), String> {
    for item in text.split(',').filter(|i| !i.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| format!("'{item}' is not NAME=VALUE"))?;
        faults.set(name, value).map_err(|_| {
            if Faults::SETTINGS.contains(&name) {
                format!(
                    "'{item}': {name} takes {}",
                    match name {
                        "delay_ms" | "jitter_ms" => "0 to 60000 milliseconds",
                        "seed" => "a whole number from 0 to 2^64-1",
                        _ => "a probability from 0 to 1",
                    }
                )
            } else {
                format!(
                    "'{name}' is not a channel setting ({})",
                    Faults::SETTINGS.join(", ")
                )
            }
        })?;
    }
    Ok(())
}

/// Parses a byte count: a number with an optional binary suffix
/// (`K`/`KiB`, `M`/`MiB`, `G`/`GiB`, case-insensitive).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(digits_end);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a byte count (try 65536, 64K or 1MiB)"))?;
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(format!("'{text}' has an unknown unit (use K, M or G)")),
    };
    number
        .checked_mul(1usize << shift)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_with_units() {
        let counts = [
            ("65536", 65536),
            ("64K", 65536),
            ("1MiB", 1 << 20),
            ("256m", 256 << 20),
        ];
        for (text, bytes) in counts {
            assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
        }
        for bad in ["12Q", "", "-1"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_valid_and_bounds_are_checked() {
        let mut c = Config::new("/m".into());
        assert_eq!(c.validate(), Ok(()));
        c.pipe_capacity = 100;
        assert!(c.validate().unwrap_err().contains("--pipe-capacity"));
    }
}
