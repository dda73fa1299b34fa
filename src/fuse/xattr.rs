//! Per-object settings and counters as extended attributes under
//! `user.ipcfs.`. Settings are writable by the owner (or root); counters
//! are read-only. Values are decimal text without a newline.

use super::Object;
use crate::config::parse_bytes;
use crate::error::{Error, Result};

const CAPACITY: &str = "user.ipcfs.capacity";
const PIPE_ATTRS: [&str; 5] = [
    CAPACITY,
    "user.ipcfs.readers",
    "user.ipcfs.writers",
    "user.ipcfs.bytes",
    "user.ipcfs.blocked",
];

/// The attribute names of an object, as `listxattr(2)` wants them:
/// each followed by a NUL.
pub fn list(object: &Object) -> Vec<u8> {
    let names: &[&str] = match object {
        Object::Pipe(_) => &PIPE_ATTRS,
        Object::KernelFifo => &[],
    };
    let mut out = Vec::new();
    for n in names {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
    }
    out
}

pub fn get(object: &Object, name: &str) -> Result<String> {
    let Object::Pipe(cell) = object else {
        return Err(Error::NoAttribute);
    };
    let pipe = cell.lock();
    let value = match name {
        CAPACITY => pipe.capacity(),
        "user.ipcfs.readers" => pipe.readers(),
        "user.ipcfs.writers" => pipe.writers(),
        "user.ipcfs.bytes" => pipe.bytes(),
        "user.ipcfs.blocked" => pipe.blocked(),
        _ => return Err(Error::NoAttribute),
    };
    Ok(value.to_string())
}

/// Sets a setting. `may_change` is whether the caller owns the object (or
/// is root).
pub fn set(object: &Object, name: &str, value: &[u8], may_change: bool) -> Result<()> {
    let Object::Pipe(cell) = object else {
        return Err(Error::NotSupported);
    };
    if !PIPE_ATTRS.contains(&name) {
        return Err(Error::NotSupported);
    }
    if name != CAPACITY {
        log::info!("setxattr {name}: counters are read-only");
        return Err(Error::NotPermitted);
    }
    if !may_change {
        return Err(Error::NotPermitted);
    }
    let text = std::str::from_utf8(value).map_err(|_| Error::InvalidArgument)?;
    let capacity = parse_bytes(text.trim_end_matches('\n')).map_err(|msg| {
        log::info!("setxattr {name}: {msg}");
        Error::InvalidArgument
    })?;
    cell.update(|pipe, wk| pipe.set_capacity(capacity, wk))
}

/// Our attributes cannot be removed; others do not exist.
pub fn remove(object: &Object, name: &str) -> Result<()> {
    match object {
        Object::Pipe(_) if PIPE_ATTRS.contains(&name) => Err(Error::NotPermitted),
        _ => Err(Error::NoAttribute),
    }
}
