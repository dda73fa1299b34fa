//! The store's worker: one thread that runs the steps on one connection,
//! made again whenever it breaks. While it waits for steps it renews the
//! places this daemon holds.
//!
//! No step holds the others back for long: the users of the mount take
//! turns, one step each, each user's steps in the order asked
//! (turns.rs), so one user's flood of steps delays another's by one step
//! a turn, not by the whole flood; an append of more messages than one
//! step carries ([`MOST_PER_STEP`]) goes in as several, each next one at
//! the back of its own user's line; and a step whose caller waits fails
//! (`ECOMM`) rather than run once it has waited [`STEP_TIMEOUT`] in line,
//! its deadline on the server counted from when it was asked. So a close
//! waits at most that long, whatever others ask. Renewing places is the
//! worker's own errand, in no user's line: it runs between two steps at
//! its time.

use std::collections::HashMap;
use std::sync::Weak;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::Instant;

use redis::{Connection, RedisError, Script, Value};

use super::turns::Turns;
use super::{
    Job, Keys, PLACE_LIFETIME, RedisStore, STEP_TIMEOUT, StepDone, StoredQueue, scripts,
    unreachable,
};
use crate::error::{Error, Result};
use crate::ipc::channel::Faults;
use crate::ipc::compose::Framing;
use crate::ipc::queue::store::{Change, Counts, Created, Place, QueueSettings, StoreOp, Stored};

/// The scripts, hashed once: each runs by its hash (EVALSHA), loaded
/// again by the client when the server does not know it. Two sets: with
/// their memory flags (Redis 7 and later), and without (older servers,
/// which check memory at a script's first command that adds).
struct Scripts {
    flagged: ScriptSet,
    plain: ScriptSet,
}

struct ScriptSet {
    create: Script,
    remove: Script,
    append: Script,
    reserve: Script,
    release: Script,
    take: Script,
    ack: Script,
    give_back: Script,
    set: Script,
    renew: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            flagged: ScriptSet::new(true),
            plain: ScriptSet::new(false),
        }
    }
}

impl ScriptSet {
    fn new(flags: bool) -> ScriptSet {
        use scripts::Memory::{Adds, Frees};
        let script = |body: &str, memory| Script::new(&scripts::flagged(body, memory, flags));
        ScriptSet {
            create: script(scripts::CREATE, Adds),
            remove: script(&scripts::remove(), Frees),
            append: script(&scripts::append(), Adds),
            reserve: script(&scripts::reserve(), Adds),
            release: script(&scripts::release(), Frees),
            take: script(&scripts::take(), Frees),
            ack: script(&scripts::ack(), Frees),
            give_back: script(&scripts::give_back(), Frees),
            set: script(&scripts::set(), Frees),
            renew: script(&scripts::renew(), Frees),
        }
    }
}

/// The most messages, and bytes, one append step carries: a longer
/// batch goes in as several steps, each a few milliseconds of the
/// server's time.
pub(super) const MOST_PER_STEP: (usize, usize) = (1024, 1 << 20);

/// The worker thread: ends when the store does.
pub(super) fn run(store: Weak<RedisStore>, jobs: Receiver<Job>) {
    super::hurry_this_thread("worker");
    let scripts = Scripts::new();
    let mut con: Option<Linked> = None;
    let renew_every = PLACE_LIFETIME / 3;
    let mut renewed = Instant::now();
    // The steps in line, one line per user: all those asked so far are
    // in line before the next turn is taken.
    let mut turns: Turns<Job> = Turns::new();
    loop {
        loop {
            match jobs.try_recv() {
                Ok(job) => turns.push(job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if turns.is_empty() {
            match jobs.recv_timeout(renew_every) {
                Ok(job) => turns.push(job),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let Some(store) = store.upgrade() else {
            return;
        };
        let mut worker = Worker {
            store: &store,
            scripts: &scripts,
            con: &mut con,
            flags: true,
        };
        if let Some(job) = turns.pop() {
            if let Some(rest) = worker.run(job) {
                turns.push_rest(rest);
            }
        }
        if renewed.elapsed() >= renew_every {
            renewed = Instant::now();
            if let Err(e) = worker.renew() {
                log::info!("queue store: places not renewed: {e}");
            }
        }
    }
}

/// A connection, and how far the server's clock is ahead of ours.
struct Linked {
    con: Connection,
    /// Server milliseconds minus local milliseconds, at connect.
    skew_ms: i64,
    /// The server reads scripts' memory flags (Redis 7 and later).
    flags: bool,
}

struct Worker<'a> {
    store: &'a RedisStore,
    scripts: &'a Scripts,
    con: &'a mut Option<Linked>,
    /// The flags of the connection the step in progress runs on.
    flags: bool,
}

/// Milliseconds of the local clock since the epoch.
fn local_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Worker<'_> {
    /// Runs `job`; what is left of a long append comes back, to go behind
    /// the steps its user asked meanwhile.
    fn run(&mut self, job: Job) -> Option<Job> {
        match job {
            Job::Queue {
                user,
                name,
                made,
                op,
                done,
                asked,
            } => {
                if asked.elapsed() >= STEP_TIMEOUT && waited_on(&op) {
                    log::warn!(
                        "queue store: a step waited {:?} behind others: it fails without running",
                        asked.elapsed()
                    );
                    done(Err(Error::StoreUnreachable));
                    return None;
                }
                let (op, rest) = split_append(op);
                // Read now, not when asked: a create asked before may have
                // found the queue another mount made.
                let result = self.step(&name, &made.get(), op, asked);
                match (rest, result) {
                    (Some(rest), Ok(Stored::Appended(n))) if n == rest.before => {
                        return Some(Job::Queue {
                            user,
                            name,
                            made,
                            op: StoreOp::Append {
                                messages: rest.messages,
                                place: None,
                                share: rest.share,
                            },
                            done: after_part(n, done),
                            asked: Instant::now(),
                        });
                    }
                    (_, result) => done(result),
                }
            }
            Job::Create { queue, made, done } => {
                let result = self.attempt(Instant::now(), |w, con, _| w.create(con, &queue));
                match &result {
                    Ok((created, incarnation, owner)) => {
                        crate::locks::lock(&self.store.unstored).remove(&queue.name);
                        made.settle(incarnation.clone());
                        if let Created::Found { .. } = created {
                            log::info!(
                                "queue store: {} was made by another mount first: it is that queue",
                                String::from_utf8_lossy(&queue.name)
                            );
                            // Its owner and mode in the tree before the
                            // create is answered: the kernel's next
                            // lookup checks access against them.
                            self.store.tell(&queue.name, owner.clone());
                        }
                    }
                    Err(e) => log::warn!(
                        "queue store: {} not made there ({e}); it will be when the store is reached",
                        String::from_utf8_lossy(&queue.name)
                    ),
                }
                if let Some(done) = done {
                    done(result.map(|(created, ..)| created));
                }
            }
            Job::Remove { name, made, .. } => {
                let asked = Instant::now();
                if let Err(e) = self.attempt(asked, |w, con, _| w.remove(con, &name, &made)) {
                    log::info!(
                        "queue store: {} not removed: {e}",
                        String::from_utf8_lossy(&name)
                    );
                }
            }
        }
        None
    }

    /// Runs `f` on the connection, made first if there is none; a
    /// failure that broke the connection drops it, to be made again by
    /// the next step.
    fn attempt<T>(
        &mut self,
        asked: Instant,
        f: impl FnOnce(&Self, &mut Connection, i64) -> std::result::Result<T, RedisError>,
    ) -> Result<T> {
        let mut linked = match self.con.take() {
            Some(linked) => linked,
            None => self.link()?,
        };
        // The server's clock when the step must have run, counted from
        // when it was asked: later, its caller has been answered `ECOMM`,
        // and the step changes nothing.
        let margin = STEP_TIMEOUT.as_millis() as i64 * 3 / 4;
        let asked_ms = local_ms() - asked.elapsed().as_millis() as i64;
        let deadline = asked_ms + linked.skew_ms + margin;
        self.flags = linked.flags;
        let result = f(self, &mut linked.con, deadline);
        let con = linked;
        let broken = result
            .as_ref()
            .is_err_and(|e| e.is_io_error() || e.is_connection_dropped() || e.is_timeout());
        if !broken {
            *self.con = Some(con);
        }
        result.map_err(|e| store_error(&e))
    }

    /// A new connection, with the skew of the server's clock and whether
    /// the server reads scripts' flags.
    fn link(&self) -> Result<Linked> {
        let mut con = self.store.connect()?;
        let before = local_ms();
        let (secs, micros): (i64, i64) = redis::cmd("TIME")
            .query(&mut con)
            .map_err(|e| unreachable(&e))?;
        let midway = (before + local_ms()) / 2;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query(&mut con)
            .map_err(|e| unreachable(&e))?;
        Ok(Linked {
            con,
            skew_ms: secs * 1000 + micros / 1000 - midway,
            flags: reads_script_flags(&info),
        })
    }

    /// The scripts for the connection in use.
    fn scripts(&self) -> &ScriptSet {
        match self.flags {
            true => &self.scripts.flagged,
            false => &self.scripts.plain,
        }
    }

    fn keys(&self) -> &Keys {
        &self.store.keys
    }

    fn step(&mut self, name: &[u8], made: &str, op: StoreOp, asked: Instant) -> Result<Stored> {
        let place_done = match &op {
            StoreOp::Append { place, .. } => *place,
            StoreOp::Release { place } => Some(*place),
            _ => None,
        };
        let reserved = match &op {
            StoreOp::Reserve { place, .. } => Some(*place),
            _ => None,
        };
        let answer = self.attempt(asked, |w, con, deadline| {
            w.ask(con, name, made, op, deadline)
        })?;
        if place_done.is_none() && reserved.is_none() {
            return answer;
        }
        let mut places = crate::locks::lock(&self.store.places);
        if let Some(place) = place_done {
            if let Some((_, held)) = places.get_mut(name) {
                held.remove(&place);
                if held.is_empty() {
                    places.remove(name);
                }
            }
        }
        if let (Some(place), Ok(Stored::Reserved(true))) = (reserved, &answer) {
            let entry = places.entry(name.to_vec()).or_default();
            entry.0 = made.to_string();
            entry.1.insert(place);
        }
        answer
    }

    /// One step of queue `name`: its answer, or `Err(NotFound)` inside
    /// when the queue is gone.
    fn ask(
        &self,
        con: &mut Connection,
        name: &[u8],
        made: &str,
        op: StoreOp,
        deadline: i64,
    ) -> std::result::Result<Result<Stored>, RedisError> {
        let k = self.keys();
        let (settings, messages, places) = (k.settings(name), k.messages(name), k.places(name));
        let channel = k.channel();
        let s = self.scripts();
        let gone = |n: i64| match n {
            -2 => {
                log::warn!(
                    "queue store: a step reached the server after its caller was answered: it did nothing"
                );
                Err(Error::StoreUnreachable)
            }
            n if n < 0 => Err(Error::NotFound),
            n => Ok(n),
        };
        Ok(match op {
            StoreOp::Append {
                messages: m,
                place,
                share,
            } => {
                let member = place
                    .map(|p| self.store.place_member(p))
                    .unwrap_or_default();
                let mut call = s.append.key(&settings);
                call.key(&messages).key(&places).arg(made);
                call.arg(deadline).arg(member).arg(&channel).arg(name);
                call.arg(share.map(|n| n.to_string()).unwrap_or_default());
                for message in &m {
                    call.arg(message.as_slice());
                }
                let answer: Value = call.invoke(con)?;
                let (went, past_share, counts) = match answer {
                    Value::Array(a) => (number_at(&a, 0), number_at(&a, 1), counts_at(&a, 2)),
                    Value::Int(n) => return Ok(gone(n).map(|n| Stored::Appended(n as usize))),
                    other => {
                        log::warn!("queue store: an append answered {other:?}");
                        return Ok(Err(Error::StoreUnreachable));
                    }
                };
                // What the queue holds now, before the writer is
                // answered: its owner's count in the server takes this
                // write in before the writer's next (usage.rs), whenever
                // the event that says it comes.
                if went > 0 {
                    self.store.tell(name, vec![Change::Put(counts)]);
                }
                if past_share == 0 {
                    return Ok(Ok(Stored::Appended(went)));
                }
                log::warn!(
                    "queue store: a message of {} refused after {went}: the queue's owner \
                     holds its share of the server (--max-memory-per-user)",
                    String::from_utf8_lossy(name)
                );
                match went {
                    0 => Err(Error::NoSpace),
                    appended => Ok(Stored::Cut {
                        appended,
                        error: Error::NoSpace,
                    }),
                }
            }
            StoreOp::Reserve { place, share } => {
                let lifetime = PLACE_LIFETIME.as_millis() as u64;
                let member = self.store.place_member(place);
                let mut call = s.reserve.key(&settings);
                call.key(&messages).key(&places).arg(made);
                call.arg(member).arg(lifetime).arg(place.holder);
                call.arg(share.map(|n| n.to_string()).unwrap_or_default());
                call.arg(&channel).arg(name);
                let n = match call.invoke(con)? {
                    Value::Array(a) => {
                        // Counted before the opener is answered, as an
                        // append's messages are.
                        self.store.tell(name, vec![Change::Held(counts_at(&a, 1))]);
                        1
                    }
                    Value::Int(n) => n,
                    other => {
                        log::warn!("queue store: a reserve answered {other:?}");
                        return Ok(Err(Error::StoreUnreachable));
                    }
                };
                if n == 3 {
                    log::warn!(
                        "queue store: a place in {} refused: the queue's owner holds its \
                         share of the server (--max-memory-per-user)",
                        String::from_utf8_lossy(name)
                    );
                    return Ok(Err(Error::NoSpace));
                }
                gone(n).map(|n| match n {
                    2 => Stored::PastShare,
                    n => Stored::Reserved(n == 1),
                })
            }
            StoreOp::Release { place } => {
                let member = self.store.place_member(place);
                let mut call = s.release.key(&settings);
                call.key(&messages).key(&places).arg(made);
                call.arg(member).arg(&channel).arg(name);
                let n: i64 = call.invoke(con)?;
                gone(n).map(|_| Stored::Done)
            }
            StoreOp::Take { count, acks } => {
                let reclaim = self.store.config.reclaim.as_millis() as u64;
                let mut call = s.take.key(&settings);
                call.key(&messages).key(&places).arg(made);
                call.arg(&self.store.consumer).arg(reclaim).arg(deadline);
                call.arg(count).arg(&channel).arg(name);
                for id in &acks {
                    call.arg(id);
                }
                taken(call.invoke(con)?)
            }
            StoreOp::Ack { ids } => {
                let mut call = s.ack.key(&settings);
                call.key(&messages)
                    .key(&places)
                    .arg(made)
                    .arg(&channel)
                    .arg(name);
                for id in &ids {
                    call.arg(id);
                }
                let n: i64 = call.invoke(con)?;
                gone(n).map(|_| Stored::Done)
            }
            StoreOp::GiveBack { id } => {
                let mut call = s.give_back.key(&settings);
                call.key(&messages).key(&places).arg(made).arg(id);
                call.arg(&self.store.consumer).arg(&channel).arg(name);
                let n: i64 = call.invoke(con)?;
                gone(n).map(|_| Stored::Done)
            }
            StoreOp::Set { field, value } => {
                let mut call = s.set.key(&settings);
                call.arg(made).arg(field).arg(value).arg(&channel).arg(name);
                let n: i64 = call.invoke(con)?;
                gone(n).map(|_| Stored::Done)
            }
        })
    }

    /// Makes queue `q`, or finds the one another mount made first: what
    /// it found, and the queue's incarnation.
    fn create(
        &self,
        con: &mut Connection,
        q: &StoredQueue,
    ) -> std::result::Result<(Created, String, Vec<Change>), RedisError> {
        let k = self.keys();
        let mut call = self.scripts().create.key(k.settings(&q.name));
        call.key(k.messages(&q.name)).arg(&q.made);
        call.arg(q.settings.max_messages)
            .arg(q.settings.max_message_size);
        call.arg(q.settings.framing.name())
            .arg(q.uid)
            .arg(q.gid)
            .arg(q.mode);
        call.arg(k.channel()).arg(q.name.as_slice());
        for field in Faults::SETTINGS {
            call.arg(field)
                .arg(q.settings.faults.get(field).unwrap_or_default());
        }
        let answer: Vec<Value> = call.invoke(con)?;
        redis::cmd("SADD")
            .arg(k.names())
            .arg(q.name.as_slice())
            .query::<()>(con)?;
        Ok(created(&answer, q))
    }

    /// Removes incarnation `made` of queue `name`, if it is still there.
    fn remove(
        &self,
        con: &mut Connection,
        name: &[u8],
        made: &str,
    ) -> std::result::Result<(), RedisError> {
        let k = self.keys();
        let mut call = self.scripts().remove.key(k.settings(name));
        call.key(k.messages(name)).key(k.places(name));
        call.arg(made).arg(k.channel()).arg(name);
        let n: i64 = call.invoke(con)?;
        if n < 0 {
            log::info!(
                "queue store: {} was removed or made again by another mount: nothing removed",
                String::from_utf8_lossy(name)
            );
            return Ok(());
        }
        // The names' set is another key (another shard, in a cluster), so
        // not in the script: a queue made again under the name meanwhile
        // is put back in it.
        let (_, exists): ((), bool) = redis::pipe()
            .srem(k.names(), name)
            .exists(k.settings(name))
            .query(con)?;
        if exists {
            redis::cmd("SADD")
                .arg(k.names())
                .arg(name)
                .query::<()>(con)?;
        }
        Ok(())
    }

    /// Renews every place this daemon holds.
    fn renew(&mut self) -> Result<()> {
        type Held = (Vec<u8>, String, Vec<Place>);
        let held: Vec<Held> = crate::locks::lock(&self.store.places)
            .iter()
            .map(|(name, (made, places))| {
                (name.clone(), made.clone(), places.iter().copied().collect())
            })
            .collect();
        for (name, made, places) in held {
            self.attempt(Instant::now(), |w, con, _| {
                let k = w.keys();
                let mut call = w.scripts().renew.key(k.settings(&name));
                call.key(k.messages(&name)).key(k.places(&name)).arg(&made);
                call.arg(PLACE_LIFETIME.as_millis() as u64);
                for place in places {
                    call.arg(w.store.place_member(place));
                }
                call.invoke::<i64>(con).map(drop)
            })?;
        }
        Ok(())
    }
}

/// Whether the server `INFO server` describes reads a script's flags
/// (its first line, `#!lua`): Redis 7 and later, and Valkey.
fn reads_script_flags(info: &str) -> bool {
    let version = |field: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().split('.').next()?.parse::<u32>().ok())
    };
    version("valkey_version:").is_some()
        || version("redis_version:").is_some_and(|major| major >= 7)
}

/// What a failed step tells its caller: a server past its `maxmemory`
/// refusing what would add to it is `ENOSPC`; anything else, that the
/// store did not answer (`ECOMM`). Logged with its reason either way.
fn store_error(e: &RedisError) -> Error {
    let full = e.code() == Some("OOM") || e.to_string().contains("OOM command not allowed");
    if !full {
        return unreachable(e);
    }
    log::warn!("queue store full (the server's maxmemory): a message or place refused: {e}");
    Error::NoSpace
}

/// Whether a caller waits on `op`'s answer (an append, a place, a take):
/// then it is not run once it is late. Receipts, give-backs, releases and
/// settings always run: late is better than never for them.
fn waited_on(op: &StoreOp) -> bool {
    matches!(
        op,
        StoreOp::Append { .. } | StoreOp::Reserve { .. } | StoreOp::Take { .. }
    )
}

/// The messages of an append left for later steps, after the `before`
/// of its first part.
struct Rest {
    before: usize,
    messages: Vec<Vec<u8>>,
    share: Option<usize>,
}

/// Splits an append longer than one step carries: its first part, and
/// the rest.
fn split_append(op: StoreOp) -> (StoreOp, Option<Rest>) {
    let StoreOp::Append {
        mut messages,
        place,
        share,
    } = op
    else {
        return (op, None);
    };
    let (most, most_bytes) = MOST_PER_STEP;
    let mut bytes = 0;
    let fit = messages
        .iter()
        .take(most)
        .take_while(|m| {
            bytes += m.len();
            bytes <= most_bytes
        })
        .count()
        .max(1);
    let rest = (fit < messages.len()).then(|| Rest {
        before: fit,
        messages: messages.split_off(fit),
        share,
    });
    (
        StoreOp::Append {
            messages,
            place,
            share,
        },
        rest,
    )
}

/// The answer to the rest of an append whose first `before` messages
/// went in: counted with them. A failure after them is a short write
/// (`Cut`), never an error that would hide what went in.
fn after_part(before: usize, done: StepDone) -> StepDone {
    Box::new(move |result| {
        done(match result {
            Ok(Stored::Appended(n)) => Ok(Stored::Appended(before + n)),
            Ok(Stored::Cut { appended, error }) => Ok(Stored::Cut {
                appended: before + appended,
                error,
            }),
            Err(error) => Ok(Stored::Cut {
                appended: before,
                error,
            }),
            other => other,
        })
    })
}

/// A create's answer (scripts.rs): made, or the queue found with its
/// settings (those of `q` where the store's cannot be read), and its
/// owner, group and mode as changes to tell the listener.
fn created(answer: &[Value], q: &StoredQueue) -> (Created, String, Vec<Change>) {
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(n) => n.to_string(),
        _ => String::new(),
    };
    if matches!(answer.first(), Some(Value::Int(1))) {
        let made = answer.get(1).map(text).unwrap_or_default();
        return (Created::Made, made, Vec::new());
    }
    let messages = answer.get(1).map(text).and_then(|n| n.parse().ok());
    let fields: HashMap<String, String> = answer
        .get(2..)
        .unwrap_or_default()
        .chunks(2)
        .filter_map(|pair| Some((text(pair.first()?), text(pair.get(1)?))))
        .collect();
    // Its places are not in the answer: the next event says them.
    let counts = Counts {
        messages: messages.unwrap_or(0),
        bytes: fields
            .get("bytes")
            .and_then(|b| b.parse().ok())
            .unwrap_or(0),
        places: 0,
    };
    let found = Created::Found {
        settings: settings_of(&fields).unwrap_or(q.settings),
        counts,
    };
    let owner = ["uid", "gid", "mode"]
        .into_iter()
        .filter_map(|field| {
            let value = fields.get(field)?.clone();
            Some(Change::Set {
                field: field.to_string(),
                value,
            })
        })
        .collect();
    let made = fields.get("made").cloned().unwrap_or_default();
    (found, made, owner)
}

/// A queue's settings from its hash; `None` if its limits are missing.
fn settings_of(s: &HashMap<String, String>) -> Option<QueueSettings> {
    let number = |field: &str| s.get(field).and_then(|v| v.parse::<usize>().ok());
    let mut faults = Faults::PERFECT;
    for field in Faults::SETTINGS {
        if let Some(value) = s.get(field) {
            // One this daemon cannot read stays perfect.
            let _ = faults.set(field, value);
        }
    }
    Some(QueueSettings {
        max_messages: number("max_messages")?,
        max_message_size: number("max_message_size")?,
        // A framing this daemon does not know is the default's.
        framing: s
            .get("framing")
            .and_then(|f| Framing::parse(f).ok())
            .unwrap_or(Framing::Message),
        faults,
    })
}

/// The whole number at `i` of a script's answer (0 if none is there).
fn number_at(answer: &[Value], i: usize) -> usize {
    match answer.get(i) {
        Some(Value::Int(n)) => *n as usize,
        _ => 0,
    }
}

/// What a queue holds, as a script answered it from `at` on (its
/// `numbers()`: messages, bytes, places).
fn counts_at(answer: &[Value], at: usize) -> Counts {
    Counts {
        messages: number_at(answer, at),
        bytes: number_at(answer, at + 1),
        places: number_at(answer, at + 2),
    }
}

/// A take's answer: `{id, message}`, nil when empty, -1 when gone.
fn taken(value: Value) -> Result<Stored> {
    match value {
        Value::Nil => Ok(Stored::Empty { retry: None }),
        Value::Array(items) if matches!(items.first(), Some(Value::BulkString(w)) if w == b"wait") =>
        {
            let retry = match items.get(1) {
                Some(Value::Int(ms)) if *ms >= 0 => {
                    Some(std::time::Duration::from_millis(*ms as u64))
                }
                _ => None,
            };
            Ok(Stored::Empty { retry })
        }
        Value::Int(-2) => {
            log::warn!(
                "queue store: a take reached the server after its caller gave up: it took nothing"
            );
            Err(Error::StoreUnreachable)
        }
        Value::Int(_) => Err(Error::NotFound),
        Value::Array(items) if !items.is_empty() && items.len() % 2 == 0 => {
            let mut messages = Vec::with_capacity(items.len() / 2);
            for pair in items.chunks(2) {
                match pair {
                    [Value::BulkString(id), Value::BulkString(message)] => {
                        messages.push((String::from_utf8_lossy(id).into_owned(), message.clone()))
                    }
                    other => {
                        log::warn!("queue store: a take answered {other:?}");
                        return Err(Error::StoreUnreachable);
                    }
                }
            }
            Ok(Stored::Taken(messages))
        }
        other => {
            log::warn!("queue store: a take answered {other:?}");
            Err(Error::StoreUnreachable)
        }
    }
}

/// Every queue on the server (`names` `None`), or those of `names` that
/// are, with their settings, owner and length.
pub(super) fn load(
    con: &mut Connection,
    keys: &Keys,
    names: Option<&[Vec<u8>]>,
) -> std::result::Result<Vec<StoredQueue>, RedisError> {
    let names: Vec<Vec<u8>> = match names {
        Some(names) => names.to_vec(),
        None => redis::cmd("SMEMBERS").arg(keys.names()).query(con)?,
    };
    let mut pipe = redis::pipe();
    for name in &names {
        pipe.hgetall(keys.settings(name)).xlen(keys.messages(name));
        pipe.zcard(keys.places(name));
    }
    let answers: Vec<(HashMap<String, String>, usize, usize)> = match names.is_empty() {
        true => Vec::new(),
        false => pipe.query(con)?,
    };
    let number =
        |s: &HashMap<String, String>, field: &str| s.get(field).and_then(|v| v.parse::<u64>().ok());
    Ok(names
        .into_iter()
        .zip(answers)
        .filter_map(|(name, (s, messages, places))| {
            Some(StoredQueue {
                settings: settings_of(&s)?,
                made: s.get("made").cloned().unwrap_or_default(),
                uid: number(&s, "uid")? as u32,
                gid: number(&s, "gid")? as u32,
                mode: number(&s, "mode")? as u32,
                counts: Counts {
                    messages,
                    bytes: number(&s, "bytes").unwrap_or(0) as usize,
                    places,
                },
                name,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACE: Place = Place {
        number: 3,
        holder: 1000,
    };

    fn append(sizes: &[usize]) -> StoreOp {
        let messages = sizes.iter().map(|n| vec![b'm'; *n]).collect();
        StoreOp::Append {
            messages,
            place: Some(PLACE),
            share: Some(SHARE),
        }
    }

    const SHARE: usize = 1 << 20;

    fn count(op: &StoreOp) -> usize {
        match op {
            StoreOp::Append { messages, .. } => messages.len(),
            _ => panic!("not an append"),
        }
    }

    #[test]
    fn an_append_longer_than_one_step_is_split_by_count_and_by_bytes() {
        let (first, rest) = split_append(append(&[8; 2500]));
        assert_eq!(count(&first), 1024);
        assert!(matches!(
            first,
            StoreOp::Append {
                place: Some(PLACE),
                ..
            }
        ));
        assert_eq!(
            rest.map(|r| (r.before, r.messages.len(), r.share)),
            Some((1024, 1476, Some(SHARE)))
        );
        let big = 600 << 10;
        let (first, rest) = split_append(append(&[big, big, big]));
        assert_eq!(count(&first), 1);
        assert_eq!(rest.map(|r| (r.before, r.messages.len())), Some((1, 2)));
        // One message larger than a step's bytes still goes, alone.
        let (first, rest) = split_append(append(&[2 << 20]));
        assert_eq!(count(&first), 1);
        assert!(rest.is_none());
        let (first, rest) = split_append(append(&[8; 1024]));
        assert_eq!(count(&first), 1024);
        assert!(rest.is_none());
        let take = StoreOp::Take {
            count: 1,
            acks: vec![],
        };
        assert!(split_append(take).1.is_none());
    }

    /// A step of queue `name` for `user`, known by its take's count.
    fn step(user: u32, name: &[u8], n: usize) -> Job {
        Job::Queue {
            user,
            name: name.to_vec(),
            made: super::super::Incarnation::known("m".into()),
            op: StoreOp::Take {
                count: n,
                acks: vec![],
            },
            done: Box::new(|_| {}),
            asked: Instant::now(),
        }
    }

    /// What the test knows a job by: a step's count, a create's or a
    /// removal's name.
    fn known(job: Job) -> String {
        match job {
            Job::Queue {
                op: StoreOp::Take { count, .. },
                ..
            } => count.to_string(),
            Job::Queue { .. } => panic!("not a test's step"),
            Job::Create { queue, .. } => format!("create {}", String::from_utf8_lossy(&queue.name)),
            Job::Remove { name, .. } => format!("remove {}", String::from_utf8_lossy(&name)),
        }
    }

    #[test]
    fn a_users_step_waits_one_step_of_another_users_flood_and_a_flood_stays_in_its_users_line() {
        let mut turns = Turns::new();
        for n in 0..1000 {
            turns.push(step(1000, b"q", n));
        }
        turns.push(step(1001, b"q", 5000));
        let settings = QueueSettings {
            max_messages: 4,
            max_message_size: 100,
            framing: Framing::Message,
            faults: Faults::PERFECT,
        };
        let queue = StoredQueue {
            name: b"new".to_vec(),
            made: "m".into(),
            settings,
            uid: 1001,
            gid: 1001,
            mode: 0o600,
            counts: Counts::default(),
        };
        let made = super::super::Incarnation::proposed("m".into());
        turns.push(Job::Create {
            queue,
            made,
            done: None,
        });
        // The flooding user's step of the new queue stays in its own
        // line, behind its flood (and would wait for the create).
        turns.push(step(1000, b"new", 6000));
        turns.push(Job::Remove {
            user: 1001,
            name: b"q".to_vec(),
            made: "m".into(),
        });
        let first: Vec<String> = (0..8).map(|_| known(turns.pop().unwrap())).collect();
        assert_eq!(
            first,
            ["0", "5000", "1", "create new", "2", "remove q", "3", "4"]
        );
        let rest: Vec<String> = std::iter::from_fn(|| turns.pop()).map(known).collect();
        assert_eq!(rest.len(), 996);
        assert_eq!(rest.first().map(String::as_str), Some("5"));
        assert_eq!(rest.last().map(String::as_str), Some("6000"));
    }

    #[test]
    fn script_flags_are_sent_to_servers_that_read_them() {
        assert!(reads_script_flags("# Server\r\nredis_version:7.0.15\r\n"));
        assert!(!reads_script_flags("# Server\r\nredis_version:6.2.6\r\n"));
        assert!(reads_script_flags(
            "redis_version:7.2.4\r\nvalkey_version:8.0.1\r\n"
        ));
        assert!(!reads_script_flags(""));
        let with = scripts::flagged(scripts::CREATE, scripts::Memory::Adds, true);
        assert!(with.starts_with("#!lua\nif redis.call('EXISTS'"), "{with}");
        let frees = scripts::flagged(&scripts::ack(), scripts::Memory::Frees, true);
        assert!(frees.starts_with("#!lua flags=allow-oom\n"));
        let without = scripts::flagged(scripts::CREATE, scripts::Memory::Adds, false);
        assert_eq!(without, scripts::CREATE);
    }

    #[test]
    fn the_rest_of_a_split_append_is_counted_with_its_first_part() {
        let answer = |result| {
            let got = std::sync::Arc::new(std::sync::Mutex::new(None));
            let into = got.clone();
            after_part(1024, Box::new(move |r| *into.lock().unwrap() = Some(r)))(result);
            got.lock().unwrap().take().unwrap()
        };
        assert_eq!(answer(Ok(Stored::Appended(7))), Ok(Stored::Appended(1031)));
        // A failure after the first part is a short write, not an error
        // that would hide what went in.
        assert_eq!(
            answer(Err(Error::StoreUnreachable)),
            Ok(Stored::Cut {
                appended: 1024,
                error: Error::StoreUnreachable
            })
        );
        let cut = Stored::Cut {
            appended: 2,
            error: Error::StoreUnreachable,
        };
        assert_eq!(
            answer(Ok(cut)),
            Ok(Stored::Cut {
                appended: 1026,
                error: Error::StoreUnreachable
            })
        );
    }
}
