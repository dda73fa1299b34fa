//! The seam between a queue shared by several daemons and the store that
//! keeps its messages (Redis: `src/remote/`). The queue's state machine
//! (remote.rs) asks; the store answers later, from its own thread,
//! through [`super::RemoteQueue::stored`]. Nothing here knows Redis.

use crate::error::{Error, Result};

/// A shared queue's settings, the same on every daemon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueSettings {
    pub max_messages: usize,
    pub max_message_size: usize,
    /// Where a stream writer's message ends: `message` (at the close),
    /// `line` or `write` (each write).
    pub framing: crate::ipc::compose::Framing,
    /// The channel's faults (labs), acting where messages are taken.
    pub faults: crate::ipc::channel::Faults,
}

/// A place a message in progress holds in a shared queue: numbered by
/// this daemon, and held by the user who opened the message's
/// description, whose share of the queue's places the store counts (no
/// user but the owner holds more than half of them, as in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Place {
    pub number: u64,
    pub holder: u32,
}

/// What a shared queue holds in the store, as the store last said: its
/// messages, their bytes, and the places messages in progress hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub messages: usize,
    pub bytes: usize,
    pub places: usize,
}

/// One step a queue asks of its store. Every step touches one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Append these messages in order while there is room; a message in
    /// progress that holds `place` goes into it, room or not. `share`:
    /// the most the queue's messages and places may cost the server with
    /// them (its owner's share less what the owner's other queues cost,
    /// remote/usage.rs; `None`: no limit); the messages past it are
    /// refused (`ENOSPC`), the place's too.
    Append {
        messages: Vec<Vec<u8>>,
        place: Option<Place>,
        share: Option<usize>,
    },
    /// Hold a place for a message in progress, if there is room, its
    /// holder is within its half of the places, and the place is within
    /// `share` (as in `Append`; past it `ENOSPC`).
    Reserve { place: Place, share: Option<usize> },
    /// Give a place back unused.
    Release { place: Place },
    /// Acknowledge `acks` (see `Ack`), then take the oldest messages, up
    /// to `count`, for the readers here.
    Take { count: usize, acks: Vec<String> },
    /// Taken messages were received: gone for good.
    Ack { ids: Vec<String> },
    /// A taken message no reader here received: back to the front.
    GiveBack { id: String },
    /// Change a setting on every daemon.
    Set { field: &'static str, value: String },
}

/// The store's answer to a [`StoreOp`]. A queue removed meanwhile is
/// `Err(NotFound)`; a store that cannot be reached `Err(StoreUnreachable)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// How many of the messages went in (the first ones).
    Appended(usize),
    /// An append too long for one step went in as several: the first
    /// `appended` messages went in, then a step failed with `error`.
    Cut {
        appended: usize,
        error: Error,
    },
    /// Whether the place is held (false: the queue is full).
    Reserved(bool),
    /// The place is not held: its holder, not the queue's owner, holds
    /// half the queue's places already (in messages in progress).
    PastShare,
    /// The messages taken, oldest first, each with the id to acknowledge
    /// it by (at least one).
    Taken(Vec<(String, Vec<u8>)>),
    /// None to take; `retry`: when one that another daemon took (and may
    /// have ended with) can be claimed.
    Empty {
        retry: Option<std::time::Duration>,
    },
    Done,
}

/// What a change published by any daemon says of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A message went in; the queue holds this now.
    Put(Counts),
    /// A message (or a place) went out; the queue holds this now.
    Took(Counts),
    /// A place was taken for a message in progress; the queue holds this
    /// now.
    Held(Counts),
    /// A setting changed.
    Set { field: String, value: String },
    /// The store was out of reach and is back: what was asked of it may
    /// have been missed.
    Reconnected,
    /// The queue was removed, by this mount or another: its messages
    /// went with it, and every call on it fails `EIDRM` from now on.
    Removed,
}

/// The store's answer to a create made on this mount.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Created {
    /// The queue is the one made here.
    Made,
    /// Another mount made the name first: the queue is that one, with
    /// its settings, holding this.
    Found {
        settings: QueueSettings,
        counts: Counts,
    },
}

/// Where a shared queue sends its steps. The answer to each comes back
/// through [`super::RemoteQueue::stored`] with the step's `seq`, from the
/// store's thread, never from inside `send`.
pub trait Store: Send + Sync {
    /// Step `seq` for `user` (whom it is for: remote/users.rs). The store
    /// may run the steps of different users in another order than asked
    /// (it serves users in turn), but those of one user in the order
    /// asked.
    fn send(&self, seq: u64, user: u32, op: StoreOp);
}

/// The answer a step gets when the store cannot be reached.
pub fn unreachable<T>() -> Result<T> {
    Err(Error::StoreUnreachable)
}
