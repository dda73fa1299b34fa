//! The queue store on Redis (`--queue-store redis://…`): where the
//! queues of every daemon given the same server and prefix live, so that
//! hosts share them. It answers the steps a shared queue asks
//! (`ipc::queue::store`), from its own threads, which alone wait on the
//! server: no thread that serves the filesystem ever does.
//!
//! - One worker thread (worker.rs) runs the steps in the order they are
//!   asked, each one atomic on the server (scripts.rs), on one
//!   connection made again whenever it breaks.
//! - One listener thread (events.rs) keeps a subscription to the
//!   channel every daemon publishes its changes on, and tells the
//!   filesystem ([`Listener`]); after a break, it tells it to look again.
//!
//! Redis keeps each queue as a stream with one consumer group: a message
//! taken is pending under the daemon that took it until it is
//! acknowledged (received) and deleted. A daemon that ended before its
//! reader received a message leaves it pending; after `reclaim`, the next
//! take by any daemon claims it (XAUTOCLAIM).

mod events;
pub mod keys;
mod scripts;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ipc::queue::store::{Change, QueueSettings, StoreOp, Stored};

pub use self::keys::Keys;

/// How long a step may wait for the server before it fails (`ECOMM`).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a place held for a message in progress lives unless its
/// daemon renews it (it renews its places every third of that).
pub const PLACE_LIFETIME: Duration = Duration::from_secs(30);

/// Where the store is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    pub password: Option<String>,
    /// Names this set of queues among others on the same server.
    pub prefix: String,
    /// How long a message taken by a daemon that ended stays pending
    /// before another daemon takes it.
    pub reclaim: Duration,
    /// With TLS: the certificate authority the server's certificate must
    /// come from, in PEM (`None`: the system's).
    pub ca: Option<Vec<u8>>,
}

/// A queue as the store keeps it: its settings, owner and how many
/// messages it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredQueue {
    pub name: Vec<u8>,
    pub settings: QueueSettings,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub messages: usize,
}

/// What the filesystem hears from the store: changes any daemon made.
pub trait Listener: Send + Sync {
    /// Queue `name` was made by some daemon (this one included).
    fn created(&self, name: &[u8]);
    /// Queue `name` was removed.
    fn removed(&self, name: &[u8]);
    /// Something changed in queue `name`.
    fn changed(&self, name: &[u8], change: Change);
    /// The subscription was made again after a break: every queue may
    /// have missed changes.
    fn reconnected(&self);
}

/// One step for the worker, and what to do with its answer.
pub(crate) enum Job {
    Queue {
        name: Vec<u8>,
        op: StoreOp,
        done: Box<dyn FnOnce(Result<Stored>) + Send>,
    },
    Create {
        queue: StoredQueue,
    },
    Remove {
        name: Vec<u8>,
    },
}

/// The store, shared by every queue of the mount.
pub struct RedisStore {
    config: StoreConfig,
    keys: Keys,
    client: redis::Client,
    /// This daemon among the group's consumers (its pending messages).
    consumer: String,
    jobs: Mutex<Sender<Job>>,
    /// The places this daemon holds, by queue: renewed while it runs.
    places: Mutex<HashMap<Vec<u8>, HashSet<u64>>>,
    /// Queues made here that the store could not be told of: told again
    /// when it is reached again (`create_unstored`).
    unstored: Mutex<HashMap<Vec<u8>, StoredQueue>>,
    /// The connection `load` reads on.
    reader: Mutex<Option<redis::Connection>>,
}

impl RedisStore {
    /// Checks the URL and starts the worker. The server need not be up:
    /// each step says whether it was reached.
    pub fn start(config: StoreConfig) -> Result<Arc<RedisStore>> {
        let client = client(&config)?;
        let consumer = consumer_name();
        let (tx, rx) = std::sync::mpsc::channel();
        let store = Arc::new(RedisStore {
            keys: Keys::new(&config.prefix),
            config,
            client,
            consumer,
            jobs: Mutex::new(tx),
            places: Mutex::new(HashMap::new()),
            unstored: Mutex::new(HashMap::new()),
            reader: Mutex::new(None),
        });
        let weak = Arc::downgrade(&store);
        std::thread::Builder::new()
            .name("ipcfs-store".into())
            .spawn(move || worker::run(weak, rx))
            .map_err(|_| Error::NoSpace)?;
        Ok(store)
    }

    /// Starts the listener thread, which tells `listener` of every change.
    pub fn listen(self: &Arc<Self>, listener: Arc<dyn Listener>) -> Result<()> {
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("ipcfs-store-events".into())
            .spawn(move || events::run(weak, listener))
            .map(drop)
            .map_err(|_| Error::NoSpace)
    }

    /// Asks `op` of queue `name`; `done` gets the answer on the worker.
    pub fn ask(&self, name: &[u8], op: StoreOp, done: Box<dyn FnOnce(Result<Stored>) + Send>) {
        self.submit(Job::Queue {
            name: name.to_vec(),
            op,
            done,
        });
    }

    /// Makes queue `queue.name` on the server, unless it exists there;
    /// while the server cannot be reached, the queue is kept to be made
    /// there later.
    pub fn create(&self, queue: StoredQueue) {
        crate::locks::lock(&self.unstored).insert(queue.name.clone(), queue.clone());
        self.submit(Job::Create { queue });
    }

    /// Asks again to make the queues the server could not be told of.
    pub fn create_unstored(&self) {
        let queues: Vec<StoredQueue> = crate::locks::lock(&self.unstored)
            .values()
            .cloned()
            .collect();
        for queue in queues {
            self.submit(Job::Create { queue });
        }
    }

    /// Whether queue `name`, made here, is not yet on the server.
    pub fn is_unstored(&self, name: &[u8]) -> bool {
        crate::locks::lock(&self.unstored).contains_key(name)
    }

    /// Removes queue `name` and its messages from the server.
    pub fn remove(&self, name: &[u8]) {
        crate::locks::lock(&self.unstored).remove(name);
        self.submit(Job::Remove {
            name: name.to_vec(),
        });
    }

    fn submit(&self, job: Job) {
        // The worker ends only with the store: a send cannot fail while
        // `self` lives.
        let _ = crate::locks::lock(&self.jobs).send(job);
    }

    /// Every queue on the server (`names` `None`), or those of `names`
    /// it has, read on the calling thread: at mount, before serving, and
    /// on the listener's (never a thread that serves the filesystem), on
    /// a connection of their own kept between calls.
    pub fn load(&self, names: Option<&[Vec<u8>]>) -> Result<Vec<StoredQueue>> {
        let mut reader = crate::locks::lock(&self.reader);
        let mut con = match reader.take() {
            Some(con) => con,
            None => self.connect()?,
        };
        let loaded = worker::load(&mut con, &self.keys, names);
        if loaded.is_ok() {
            *reader = Some(con);
        }
        loaded.map_err(|e| unreachable(&e))
    }

    fn connect(&self) -> Result<redis::Connection> {
        let con = self
            .client
            .get_connection_with_timeout(STEP_TIMEOUT)
            .map_err(|e| unreachable(&e))?;
        con.set_read_timeout(Some(STEP_TIMEOUT))
            .and_then(|()| con.set_write_timeout(Some(STEP_TIMEOUT)))
            .map_err(|e| unreachable(&e))?;
        Ok(con)
    }

    /// The place's name on the server: this daemon's, so that no two
    /// daemons' places meet.
    fn place_member(&self, place: u64) -> String {
        format!("{}/{place}", self.consumer)
    }
}

/// The store `q` names, with its password read: from its file (its first
/// line), else the environment's `IPCFS_QUEUE_STORE_PASSWORD`.
pub fn store_config(q: &crate::config::QueueStore) -> std::io::Result<StoreConfig> {
    let password = match &q.password_file {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("--queue-store-password-file {}: {e}", file.display()),
                )
            })?;
            Some(text.lines().next().unwrap_or("").to_string())
        }
        None => std::env::var("IPCFS_QUEUE_STORE_PASSWORD").ok(),
    };
    let ca = match &q.ca_file {
        Some(file) => Some(std::fs::read(file).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("--queue-store-ca-file {}: {e}", file.display()),
            )
        })?),
        None => None,
    };
    Ok(StoreConfig {
        url: q.url.clone(),
        password,
        prefix: q.prefix.clone(),
        reclaim: Duration::from_millis(q.reclaim_ms),
        ca,
    })
}

/// The client for `config`: its URL, with the password set apart.
fn client(config: &StoreConfig) -> Result<redis::Client> {
    use redis::IntoConnectionInfo;
    let bad = |e: redis::RedisError| {
        log::error!("--queue-store {}: {e}", config.url);
        Error::InvalidArgument
    };
    let mut info = config.url.as_str().into_connection_info().map_err(bad)?;
    if let Some(password) = &config.password {
        let settings = info.redis_settings().clone().set_password(password);
        info = info.set_redis_settings(settings);
    }
    if !config.url.starts_with("rediss://") {
        return redis::Client::open(info).map_err(bad);
    }
    // rustls is built with one provider, ring: it is the default (a
    // second call finds it installed already). rustls deprecates ring's
    // provider for its lack of post-quantum key exchange; its other one,
    // aws-lc-rs, needs a build of AWS-LC (cmake, nasm) that a fresh
    // machine lacks.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let _ = provider.install_default();
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: config.ca.clone(),
    };
    redis::Client::build_with_tls(info, certificates).map_err(bad)
}

/// A name no other daemon has: host, process and start time.
fn consumer_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{host}:{}:{started:x}", std::process::id())
}

/// A server that could not be reached, or that failed a step: logged
/// with its reason, `ECOMM` to the caller.
fn unreachable(e: &redis::RedisError) -> Error {
    log::warn!("queue store: {e}");
    Error::StoreUnreachable
}
