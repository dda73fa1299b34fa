//! Per-object settings and counters as extended attributes under
//! `user.ipcfs.`. Settings are writable by the owner (or root); counters
//! are read-only. Values are decimal text without a newline.

use super::Object;
use crate::config::parse_bytes;
use crate::error::{Error, Result};

const PIPE_SETTINGS: &[&str] = &["user.ipcfs.capacity"];
const PIPE_COUNTERS: &[&str] = &[
    "user.ipcfs.readers",
    "user.ipcfs.writers",
    "user.ipcfs.bytes",
    "user.ipcfs.blocked",
];
const QUEUE_SETTINGS: &[&str] = &["user.ipcfs.max_messages", "user.ipcfs.max_message_size"];
const QUEUE_COUNTERS: &[&str] = &[
    "user.ipcfs.messages",
    "user.ipcfs.bytes",
    "user.ipcfs.sent",
    "user.ipcfs.received",
    "user.ipcfs.truncated",
    "user.ipcfs.readers",
    "user.ipcfs.writers",
    "user.ipcfs.blocked",
];

/// The settings and the counters of an object kind.
fn names(object: &Object) -> (&'static [&'static str], &'static [&'static str]) {
    match object {
        Object::Pipe(_) => (PIPE_SETTINGS, PIPE_COUNTERS),
        Object::Queue(_) => (QUEUE_SETTINGS, QUEUE_COUNTERS),
        Object::KernelFifo => (&[], &[]),
    }
}

fn is_ours(object: &Object, name: &str) -> bool {
    let (settings, counters) = names(object);
    settings.contains(&name) || counters.contains(&name)
}

/// The attribute names of an object, as `listxattr(2)` wants them:
/// each followed by a NUL.
pub fn list(object: &Object) -> Vec<u8> {
    let (settings, counters) = names(object);
    let mut out = Vec::new();
    for n in settings.iter().chain(counters) {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
    }
    out
}

pub fn get(object: &Object, name: &str) -> Result<String> {
    let Some(field) = name.strip_prefix("user.ipcfs.") else {
        return Err(Error::NoAttribute);
    };
    if !is_ours(object, name) {
        return Err(Error::NoAttribute);
    }
    let value: u64 = match object {
        Object::Pipe(cell) => {
            let p = cell.lock();
            (match field {
                "capacity" => p.capacity(),
                "readers" => p.readers(),
                "writers" => p.writers(),
                "bytes" => p.bytes(),
                _ => p.blocked(),
            }) as u64
        }
        Object::Queue(cell) => {
            let q = cell.lock();
            let c = q.counters();
            match field {
                "max_messages" => q.max_messages() as u64,
                "max_message_size" => q.max_message_size() as u64,
                "messages" => c.messages as u64,
                "bytes" => c.bytes as u64,
                "sent" => c.sent,
                "received" => c.received,
                "truncated" => c.truncated,
                "readers" => c.readers as u64,
                "writers" => c.writers as u64,
                _ => c.blocked as u64,
            }
        }
        Object::KernelFifo => return Err(Error::NoAttribute),
    };
    Ok(value.to_string())
}

/// Sets a setting. `may_change` is whether the caller owns the object (or
/// is root).
pub fn set(object: &Object, name: &str, value: &[u8], may_change: bool) -> Result<()> {
    let (settings, counters) = names(object);
    if counters.contains(&name) {
        log::info!("setxattr {name}: counters are read-only");
        return Err(Error::NotPermitted);
    }
    if !settings.contains(&name) {
        return Err(Error::NotSupported);
    }
    if !may_change {
        log::info!("setxattr {name}: only the owner or root may change it");
        return Err(Error::NotPermitted);
    }
    let text = std::str::from_utf8(value).map_err(|_| Error::InvalidArgument)?;
    let number = parse_bytes(text.trim_end_matches('\n')).map_err(|msg| {
        log::info!("setxattr {name}: {msg}");
        Error::InvalidArgument
    })?;
    let result = match (object, name) {
        (Object::Pipe(cell), "user.ipcfs.capacity") => {
            cell.update(|pipe, wk| pipe.set_capacity(number, wk))
        }
        (Object::Queue(cell), "user.ipcfs.max_messages") => {
            cell.update(|queue, wk| queue.set_max_messages(number, wk))
        }
        (Object::Queue(cell), "user.ipcfs.max_message_size") => {
            cell.update(|queue, _| queue.set_max_message_size(number))
        }
        _ => Err(Error::NotSupported),
    };
    if let Err(e) = result {
        log::info!("setxattr {name}={number}: {e}");
    }
    result
}

/// Our attributes cannot be removed; others do not exist.
pub fn remove(object: &Object, name: &str) -> Result<()> {
    if is_ours(object, name) {
        Err(Error::NotPermitted)
    } else {
        Err(Error::NoAttribute)
    }
}
