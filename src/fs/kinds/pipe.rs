//! A named pipe served by the daemon (`touch pipes/p`): the core's
//! [`Pipe`] in a cell, its attributes and its row of `status`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::Shared;
use crate::fs::cell::{Cell, truncate_stream};
use crate::fs::node::{AttributeNames, FileKind, Node};
use crate::fs::reply::{Call, FsParking, ParkedOpen, Replies};
use crate::fs::xattr;
use crate::ipc::pipe::Pipe;
use crate::ipc::status::StatusRow;
use crate::memory::Account;

pub const ATTRIBUTES: AttributeNames = AttributeNames {
    settings: &["capacity"],
    counters: &["readers", "writers", "bytes", "blocked"],
};

pub struct PipeKind<R: Replies> {
    cell: Arc<Cell<Pipe<FsParking<R>>, R>>,
    /// `st_size`: the mount's largest write (see attr.rs).
    size: u64,
}

pub fn make<R: Replies>(
    shared: &Arc<Shared<R>>,
    _name: &[u8],
    account: Arc<Account>,
) -> Result<Node<R>> {
    let c = &shared.config;
    let pipe = Pipe::new(c.pipe_capacity, account);
    Ok(Node::File(Arc::new(PipeKind {
        cell: Cell::new(pipe, shared.clone()),
        size: c.io.max_write() as u64,
    })))
}

impl<R: Replies> FileKind<R> for PipeKind<R> {
    fn size(&self) -> u64 {
        self.size
    }

    fn open(&self, _shared: &Arc<Shared<R>>, call: &Call, parked: ParkedOpen<R>, flags: i32) {
        self.cell.open_with_flags(call, parked, flags);
    }

    fn truncate(&self, size: u64) -> Result<()> {
        truncate_stream(size)
    }

    fn attribute_names(&self) -> AttributeNames {
        ATTRIBUTES
    }

    fn attribute(&self, field: &str) -> Result<String> {
        let p = self.cell.lock();
        let value = match field {
            "capacity" => p.capacity(),
            "readers" => p.readers(),
            "writers" => p.writers(),
            "bytes" => p.bytes(),
            "blocked" => p.blocked(),
            _ => return Err(Error::NoAttribute),
        };
        Ok(value.to_string())
    }

    fn set_attribute(&self, field: &str, value: &str) -> Result<()> {
        match field {
            "capacity" => {
                let capacity = xattr::number(value)?;
                self.cell.update(|pipe, wk| pipe.set_capacity(capacity, wk))
            }
            _ => Err(Error::NotSupported),
        }
    }

    fn status(&self, row: StatusRow) -> Option<StatusRow> {
        let p = self.cell.lock();
        Some(StatusRow {
            kind: "pipe",
            bytes: Some(p.bytes()),
            readers: Some(p.readers()),
            writers: Some(p.writers()),
            blocked: Some(p.blocked()),
            ..row
        })
    }

    fn shut_down(&self) {
        self.cell.shut_down();
    }
}
