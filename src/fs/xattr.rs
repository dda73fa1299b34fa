//! Per-object settings and counters as extended attributes under
//! `user.ipcfs.`, for every kind alike: the kind names them
//! ([`FileKind::attribute_names`]) and reads and sets them; the rules of
//! who may and what errno answers what live here. Values are decimal
//! text without a newline.

use super::node::FileKind;
use super::reply::Replies;
use crate::config::parse_bytes;
use crate::error::{Error, Result};

/// The prefix of every extended attribute of ipcfs.
pub const ATTRIBUTE_PREFIX: &str = "user.ipcfs.";

/// The field of one of ipcfs's names (`user.ipcfs.FIELD`) that `kind`
/// has; `None` for any other name.
fn field_of<'a, R: Replies>(kind: &dyn FileKind<R>, name: &'a str) -> Option<&'a str> {
    let field = name.strip_prefix(ATTRIBUTE_PREFIX)?;
    kind.attribute_names().contains(field).then_some(field)
}

/// The attribute names, as `listxattr(2)` wants them: each followed by a NUL.
pub fn list<R: Replies>(kind: &dyn FileKind<R>) -> Vec<u8> {
    let names = kind.attribute_names();
    let mut out = Vec::new();
    for field in names.settings.iter().chain(names.counters) {
        out.extend_from_slice(ATTRIBUTE_PREFIX.as_bytes());
        out.extend_from_slice(field.as_bytes());
        out.push(0);
    }
    out
}

pub fn get<R: Replies>(kind: &dyn FileKind<R>, name: &str) -> Result<Vec<u8>> {
    let field = field_of(kind, name).ok_or(Error::NoAttribute)?;
    Ok(kind.attribute(field)?.into_bytes())
}

/// Sets a setting. `may_change` is whether the caller owns the object
/// (or is root).
pub fn set<R: Replies>(
    kind: &dyn FileKind<R>,
    name: &str,
    value: &[u8],
    may_change: bool,
) -> Result<()> {
    let names = kind.attribute_names();
    let field = name.strip_prefix(ATTRIBUTE_PREFIX).unwrap_or("");
    if names.counters.contains(&field) {
        log::info!("setxattr {name}: counters are read-only");
        return Err(Error::NotPermitted);
    }
    if !names.settings.contains(&field) {
        return Err(Error::NotSupported);
    }
    if !may_change {
        log::info!("setxattr {name}: only the owner or root may change it");
        return Err(Error::NotPermitted);
    }
    let text = std::str::from_utf8(value).map_err(|_| Error::InvalidArgument)?;
    // One trailing newline, as `echo` writes it; `line\n\n` is no value.
    let text = text.strip_suffix('\n').unwrap_or(text);
    kind.set_attribute(field, text)
        .inspect_err(|e| log::info!("setxattr {name}={text:?}: {e}"))
}

/// A numeric setting's value: a byte count or number, with an optional
/// binary suffix (`64K`).
pub fn number(text: &str) -> Result<usize> {
    parse_bytes(text).map_err(|msg| {
        log::info!("setxattr: {msg}");
        Error::InvalidArgument
    })
}

/// Our attributes cannot be removed; others do not exist.
pub fn remove<R: Replies>(kind: &dyn FileKind<R>, name: &str) -> Result<()> {
    match field_of(kind, name) {
        Some(_) => Err(Error::NotPermitted),
        None => Err(Error::NoAttribute),
    }
}
