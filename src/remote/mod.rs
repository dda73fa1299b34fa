//! The queue store on Redis (`--queue-store redis://…`): where the
//! queues of every daemon given the same server and prefix live, so that
//! hosts share them. It answers the steps a shared queue asks
//! (`ipc::queue::store`), from its own threads, which alone wait on the
//! server: no thread that serves the filesystem ever does.
//!
//! - One worker thread (worker.rs) runs the steps, each one atomic on the
//!   server (scripts.rs), on one connection made again whenever it
//!   breaks: the users of the mount in turn, each user's steps in the
//!   order asked (turns.rs).
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
mod turns;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ipc::queue::StoredBytes;
use crate::ipc::queue::store::{Change, Counts, Created, Place, QueueSettings, StoreOp, Stored};

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
#[derive(Debug, Clone, PartialEq)]
pub struct StoredQueue {
    pub name: Vec<u8>,
    /// Which queue of that name it is (see [`Incarnation`]).
    pub made: String,
    pub settings: QueueSettings,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    /// What it holds: messages, their bytes, places.
    pub counts: Counts,
}

/// Which queue of its name a mount's node is: a name removed and made
/// again (by any mount) is another queue, which the steps of the old
/// one never reach (scripts.rs). A queue made here proposes its own; the
/// store's answer to its create says which it is (another mount's, if
/// that one made the name first). Read by the worker when it runs a
/// step, so that steps asked before that answer go to the right queue.
#[derive(Debug)]
pub struct Incarnation {
    made: Mutex<String>,
    /// The store said which queue it is (false only for a queue made
    /// here, until the store answers its create).
    settled: AtomicBool,
}

impl Incarnation {
    /// A queue the store has, as it said.
    pub fn known(made: String) -> Arc<Incarnation> {
        Arc::new(Incarnation {
            made: Mutex::new(made),
            settled: AtomicBool::new(true),
        })
    }

    /// A queue made here, not yet in the store.
    pub fn proposed(made: String) -> Arc<Incarnation> {
        let incarnation = Incarnation::known(made);
        incarnation.settled.store(false, Ordering::Relaxed);
        incarnation
    }

    pub fn get(&self) -> String {
        crate::locks::lock(&self.made).clone()
    }

    pub fn is_settled(&self) -> bool {
        self.settled.load(Ordering::Acquire)
    }

    /// The store's answer to the create.
    fn settle(&self, made: String) {
        *crate::locks::lock(&self.made) = made;
        self.settled.store(true, Ordering::Release);
    }
}

/// What the filesystem hears from the store: changes any daemon made.
pub trait Listener: Send + Sync {
    /// Queue `name` was made by some daemon (this one included), as
    /// incarnation `made`.
    fn created(&self, name: &[u8], made: &str);
    /// Incarnation `made` of queue `name` was removed.
    fn removed(&self, name: &[u8], made: &str);
    /// Something changed in queue `name`.
    fn changed(&self, name: &[u8], change: Change);
    /// The subscription was made again after a break: every queue may
    /// have missed changes.
    fn reconnected(&self);
}

/// One step for the worker, and what to do with its answer. Each is for
/// a user, in whose line it waits (turns.rs).
pub(crate) enum Job {
    Queue {
        /// The user it is for, as the queue says (`Store::send`).
        user: u32,
        name: Vec<u8>,
        made: Arc<Incarnation>,
        op: StoreOp,
        done: StepDone,
        /// When it was asked: its caller's wait counts from then.
        asked: std::time::Instant,
    },
    Create {
        queue: StoredQueue,
        made: Arc<Incarnation>,
        done: Option<CreateDone>,
    },
    Remove {
        /// The queue's owner: the unlink's caller is not known here.
        user: u32,
        name: Vec<u8>,
        made: String,
    },
}

impl turns::InLine for Job {
    /// A step's user, as asked; a create's, the queue's owner (who made
    /// it here).
    fn user(&self) -> u32 {
        match self {
            Job::Queue { user, .. } | Job::Remove { user, .. } => *user,
            Job::Create { queue, .. } => queue.uid,
        }
    }

    fn name(&self) -> &[u8] {
        match self {
            Job::Queue { name, .. } | Job::Remove { name, .. } => name,
            Job::Create { queue, .. } => &queue.name,
        }
    }

    /// No step of its name asked after it may run before it (turns.rs).
    fn orders_its_name(&self) -> bool {
        matches!(self, Job::Create { .. } | Job::Remove { .. })
    }
}

/// What a step's caller is told: the store's answer.
pub type StepDone = Box<dyn FnOnce(Result<Stored>) + Send>;

/// What a create made here is told: the store's answer.
pub type CreateDone = Box<dyn FnOnce(Result<Created>) + Send>;

/// The places this daemon holds in one queue, and that queue's
/// incarnation.
type HeldPlaces = (String, HashSet<Place>);

/// A queue made here that the store could not yet be told of.
type Unstored = (StoredQueue, Arc<Incarnation>);

/// The store, shared by every queue of the mount.
pub struct RedisStore {
    config: StoreConfig,
    keys: Keys,
    client: redis::Client,
    /// This daemon among the group's consumers (its pending messages).
    consumer: String,
    jobs: Mutex<Sender<Job>>,
    /// The places this daemon holds, by queue (and its incarnation):
    /// renewed while it runs.
    places: Mutex<HashMap<Vec<u8>, HeldPlaces>>,
    /// Queues made here that the store could not be told of: told again
    /// when it is reached again (`create_unstored`).
    unstored: Mutex<HashMap<Vec<u8>, Unstored>>,
    /// Numbers the incarnations this daemon proposes.
    incarnations: AtomicU64,
    /// The connection `load` reads on.
    reader: Mutex<Option<redis::Connection>>,
    /// Who is told of changes (`listen`), for what the worker learns in
    /// an answer rather than an event: weak, as the listener holds the
    /// store.
    listener: OnceLock<Weak<dyn Listener>>,
    /// What each user's queues hold in the server, as this mount heard.
    pub usage: Arc<StoredBytes>,
}

impl RedisStore {
    /// Checks the URL and starts the worker. The server need not be up:
    /// each step says whether it was reached.
    /// `user_share`: the most bytes one user's queues may hold there.
    pub fn start(config: StoreConfig, user_share: usize) -> Result<Arc<RedisStore>> {
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
            incarnations: AtomicU64::new(0),
            reader: Mutex::new(None),
            listener: OnceLock::new(),
            usage: StoredBytes::new(user_share),
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
        let _ = self.listener.set(Arc::downgrade(&listener));
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("ipcfs-store-events".into())
            .spawn(move || events::run(weak, listener))
            .map(drop)
            .map_err(|_| Error::NoSpace)
    }

    /// Tells the listener of `changes` to queue `name` now, on the
    /// calling thread (the worker), ahead of the events that say them.
    fn tell(&self, name: &[u8], changes: Vec<Change>) {
        if let Some(listener) = self.listener.get().and_then(Weak::upgrade) {
            for change in changes {
                listener.changed(name, change);
            }
        }
    }

    /// Asks `op` of incarnation `made` of queue `name` for `user` (in
    /// whose line it waits); `done` gets the answer on the worker.
    pub fn ask(
        &self,
        user: u32,
        name: &[u8],
        made: &Arc<Incarnation>,
        op: StoreOp,
        done: StepDone,
    ) {
        self.submit(Job::Queue {
            user,
            name: name.to_vec(),
            made: made.clone(),
            op,
            done,
            asked: std::time::Instant::now(),
        });
    }

    /// An incarnation no other queue of any daemon has: this daemon's
    /// name (unique among daemons) and a number.
    pub fn new_incarnation(&self) -> String {
        let n = self.incarnations.fetch_add(1, Ordering::Relaxed);
        format!("{}/{n}", self.consumer)
    }

    /// Makes queue `queue.name` on the server, as incarnation `made`,
    /// unless it exists there: then `made` becomes the queue's. `done` is
    /// told which; a server out of reach fails it, and the queue is kept
    /// to be made there when it is reached.
    pub fn create(&self, queue: StoredQueue, made: Arc<Incarnation>, done: CreateDone) {
        let kept = (queue.clone(), made.clone());
        crate::locks::lock(&self.unstored).insert(queue.name.clone(), kept);
        self.submit(Job::Create {
            queue,
            made,
            done: Some(done),
        });
    }

    /// Asks again to make the queues the server could not be told of.
    pub fn create_unstored(&self) {
        let queues: Vec<Unstored> = crate::locks::lock(&self.unstored)
            .values()
            .cloned()
            .collect();
        for (queue, made) in queues {
            self.submit(Job::Create {
                queue,
                made,
                done: None,
            });
        }
    }

    /// Whether queue `name`, made here, is not yet on the server.
    pub fn is_unstored(&self, name: &[u8]) -> bool {
        crate::locks::lock(&self.unstored).contains_key(name)
    }

    /// Removes queue `name` and its messages from the server, if it is
    /// still incarnation `made` there (not one made since by any mount);
    /// in the line of `owner`, the queue's owner.
    pub fn remove(&self, owner: u32, name: &[u8], made: String) {
        crate::locks::lock(&self.unstored).remove(name);
        self.submit(Job::Remove {
            user: owner,
            name: name.to_vec(),
            made,
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

    /// The place's name on the server: its holder's uid first (what the
    /// reserve script counts a user's places by), then this daemon's
    /// name, so that no two daemons' places meet.
    fn place_member(&self, place: Place) -> String {
        format!("{}:{}/{}", place.holder, self.consumer, place.number)
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

/// How much sooner than the threads that serve the filesystem the
/// store's threads get the CPU back (a nice value): a step's caller
/// waits at most `STEP_TIMEOUT`, and users whose calls keep every CPU
/// busy must not make the thread that waits on the server miss it.
const STORE_THREAD_NICE: i32 = -10;

/// Gives the calling thread (the worker, the listener) the priority of
/// [`STORE_THREAD_NICE`]; where the daemon may not (not root), it keeps
/// its own, said once in the log.
fn hurry_this_thread(name: &str) {
    // SAFETY: gettid and setpriority touch no memory; PRIO_PROCESS with
    // a thread id changes that thread alone on Linux.
    let done = unsafe {
        let tid = libc::gettid() as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, STORE_THREAD_NICE)
    };
    if done != 0 {
        log::info!(
            "queue store: the {name} thread keeps its priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// A server that could not be reached, or that failed a step: logged
/// with its reason, `ECOMM` to the caller.
fn unreachable(e: &redis::RedisError) -> Error {
    log::warn!("queue store: {e}");
    Error::StoreUnreachable
}
