//! A message queue (`touch queues/q`): the core's [`Queue`] in a cell,
//! its attributes and its row of `status`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::Shared;
use crate::fs::cell::{Cell, truncate_stream};
use crate::fs::node::{AttributeNames, FileKind, Node};
use crate::fs::reply::{Call, FsParking, ParkedOpen, Replies};
use crate::fs::xattr;
use crate::ipc::channel::{Faults, status_column};
use crate::ipc::compose::Framing;
use crate::ipc::queue::Queue;
use crate::ipc::status::StatusRow;
use crate::memory::Account;

/// A queue's attributes: its limits and framing, its channel's faults
/// (labs: channel.rs), and its counters, with what the channel did.
pub const ATTRIBUTES: AttributeNames = AttributeNames {
    settings: crate::ipc::channel::with_fault_settings![
        "max_messages",
        "max_message_size",
        "framing",
    ],
    counters: crate::ipc::channel::with_channel_counters![
        "messages",
        "bytes",
        "sent",
        "received",
        "truncated",
        "dropped",
        "readers",
        "writers",
        "blocked",
    ],
};

/// A queue's node is its cell itself, with no wrapper of its own: one
/// allocation less for each of a mount's many queues.
pub type QueueKind<R> = Cell<Queue<FsParking<R>>, R>;

pub fn make<R: Replies>(
    shared: &Arc<Shared<R>>,
    _name: &[u8],
    account: Arc<Account>,
) -> Result<Node<R>> {
    let c = &shared.config;
    let mut queue = Queue::new(
        c.queue_max_messages,
        c.queue_max_message_size,
        c.queue_framing,
        account,
    );
    queue.set_faults(c.faults);
    let cell: Arc<QueueKind<R>> = Cell::new(queue, shared.clone());
    Ok(Node::File(cell))
}

impl<R: Replies> FileKind<R> for QueueKind<R> {
    /// `st_size`: the mount's largest write (see attr.rs).
    fn size(&self) -> u64 {
        self.shared().config.io.max_write() as u64
    }

    fn open(&self, _shared: &Arc<Shared<R>>, call: &Call, parked: ParkedOpen<R>, flags: i32) {
        self.this().open_with_flags(call, parked, flags);
    }

    fn truncate(&self, size: u64) -> Result<()> {
        truncate_stream(size)
    }

    fn attribute_names(&self) -> AttributeNames {
        ATTRIBUTES
    }

    fn attribute(&self, field: &str) -> Result<String> {
        let q = self.lock();
        let c = q.counters();
        Ok(match field {
            "max_messages" => q.max_messages().to_string(),
            "max_message_size" => q.max_message_size().to_string(),
            "framing" => q.framing().name().to_string(),
            "messages" => c.messages.to_string(),
            "bytes" => c.bytes.to_string(),
            "sent" => c.sent.to_string(),
            "received" => c.received.to_string(),
            "truncated" => c.truncated.to_string(),
            "dropped" => c.dropped.to_string(),
            "readers" => c.readers.to_string(),
            "writers" => c.writers.to_string(),
            "blocked" => c.blocked.to_string(),
            other => match (q.faults().get(other), q.channel_counters().get(other)) {
                (Some(setting), _) => setting,
                (_, Some(count)) => count.to_string(),
                _ => return Err(Error::NoAttribute),
            },
        })
    }

    fn set_attribute(&self, field: &str, value: &str) -> Result<()> {
        match field {
            "max_messages" => {
                let n = xattr::number(value)?;
                self.update(|q, wk| q.set_max_messages(n, wk))
            }
            "max_message_size" => {
                let (n, cap) = (xattr::number(value)?, self.shared().config.io.max_message());
                self.update(|q, _| q.set_max_message_size(n, cap))
            }
            "framing" => {
                let framing = Framing::parse(value)?;
                self.update(|q, _| q.set_framing(framing));
                Ok(())
            }
            f if Faults::SETTINGS.contains(&f) => self.update(|q, _| q.set_fault(f, value)),
            _ => Err(Error::NotSupported),
        }
    }

    fn status(&self, row: StatusRow) -> Option<StatusRow> {
        let q = self.lock();
        let c = q.counters();
        Some(StatusRow {
            kind: "queue",
            bytes: Some(c.bytes),
            messages: Some(c.messages),
            framing: Some(q.framing().name()),
            readers: Some(c.readers),
            writers: Some(c.writers),
            blocked: Some(c.blocked),
            channel: status_column(q.faults(), q.channel_counters()),
            ..row
        })
    }

    fn shut_down(&self) {
        self.shut_down();
    }
}
