//! Dial files: `sockets/tcp/HOST/PORT` and `sockets/udp/HOST/PORT`, for
//! any host and port. Opening one connects — the open waits, parked,
//! until it has, and fails with the connect's errno — and the descriptor
//! is the connection: `/dev/tcp` for every program, not only bash. Each
//! open is a connection of its own, closed with its last descriptor; none
//! appears as an endpoint directory, and none is listed.

use std::sync::Arc;

use super::socket::{CallerDeputy, endpoint_cell};
use crate::caller::{Caller, Facets, Identity};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fs::Shared;
use crate::fs::attr::Meta;
use crate::fs::cell::truncate_stream;
use crate::fs::node::{Children, FileKind, Node, Synthesizer};
use crate::fs::reply::{Call, ParkedOpen, Replies};
use crate::ipc::Mode;
use crate::ipc::socket::Endpoint;
use crate::ipc::socket::command::{Kind, Target};

/// `tcp` and `udp` in `sockets/`, which users cannot take.
pub fn reserved<R: Replies>(config: &Config) -> Arc<dyn Synthesizer<R>> {
    Arc::new(Protocols {
        size: config.io.max_write() as u64,
    })
}

/// Owner and mode of the dial tree: the caller's, so that it may look.
fn meta(caller: &Caller, perm: u16) -> Meta {
    Meta::new(caller.uid, caller.gid, perm)
}

/// A directory of the dial tree, whose children `children` makes.
fn dial_dir<R: Replies>(
    children: impl Synthesizer<R> + 'static,
    caller: &Caller,
) -> Result<(Node<R>, Meta)> {
    let node = Node::Dir(Children::Synthesized(Arc::new(children)));
    Ok((node, meta(caller, 0o555)))
}

struct Protocols {
    /// `st_size` of a dial file (see attr.rs).
    size: u64,
}

impl<R: Replies> Synthesizer<R> for Protocols {
    fn child(&self, name: &[u8], caller: &Caller) -> Result<(Node<R>, Meta)> {
        let kind = match name {
            b"tcp" => Kind::Tcp,
            b"udp" => Kind::Udp,
            _ => return Err(Error::NotFound),
        };
        let hosts = Hosts {
            kind,
            size: self.size,
        };
        dial_dir(hosts, caller)
    }
}

/// `sockets/tcp/`: a directory for every host name or address.
struct Hosts {
    kind: Kind,
    size: u64,
}

impl<R: Replies> Synthesizer<R> for Hosts {
    fn child(&self, name: &[u8], caller: &Caller) -> Result<(Node<R>, Meta)> {
        let host = std::str::from_utf8(name).map_err(|_| Error::NotFound)?;
        if host.is_empty() || host.len() > 253 {
            return Err(Error::NotFound);
        }
        // `[::1]`, as `local`, `remote` and `ctl` print an IPv6 address, is
        // `::1`; brackets hold an IPv6 address and nothing else.
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) if v6.parse::<std::net::Ipv6Addr>().is_ok() => v6,
            Some(_) => return Err(Error::NotFound),
            None => host,
        };
        let ports = Ports {
            kind: self.kind,
            host: host.to_string(),
            size: self.size,
        };
        dial_dir(ports, caller)
    }
}

/// `sockets/tcp/HOST/`: a dial file for every port.
struct Ports {
    kind: Kind,
    host: String,
    size: u64,
}

impl<R: Replies> Synthesizer<R> for Ports {
    fn child(&self, name: &[u8], caller: &Caller) -> Result<(Node<R>, Meta)> {
        let port: u16 = std::str::from_utf8(name)
            .ok()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse().ok())
            .filter(|p| *p != 0)
            .ok_or(Error::NotFound)?;
        let file = DialFile {
            kind: self.kind,
            target: Target::Inet {
                host: self.host.clone(),
                port,
            },
            size: self.size,
        };
        Ok((Node::File(Arc::new(file)), meta(caller, 0o666)))
    }
}

/// `sockets/tcp/HOST/PORT`: each open a new connection.
struct DialFile {
    kind: Kind,
    target: Target,
    size: u64,
}

impl<R: Replies> FileKind<R> for DialFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn open(&self, shared: &Arc<Shared<R>>, call: &Call, parked: ParkedOpen<R>, flags: i32) {
        // A dial file's connection is its opener's: one of their objects
        // (EMFILE past their --max-objects-per-user, as a descriptor
        // socket(2) makes counts against their own limit), and what it
        // holds for them is charged to them.
        let account = match shared.budget.object_account(call.caller.uid, 0) {
            Ok(account) => account,
            Err(e) => return R::opened(parked.reply, Err(e)),
        };
        let cell = endpoint_cell(shared, |watch| {
            let mut endpoint = Endpoint::new(watch);
            endpoint.set_account(account);
            endpoint
        });
        let opener = Identity::of(&call.caller, Facets::SOCKETS).map(Arc::new);
        let deputy = CallerDeputy::for_opener(opener, &cell, &shared.config.mountpoint);
        let mode = Mode::from_open_flags(flags);
        let (kind, target) = (self.kind, self.target.clone());
        cell.open_with(call, |ep, wk| {
            ep.dial(call.id, parked, mode, kind, target, &deputy, wk)
        });
    }

    fn truncate(&self, size: u64) -> Result<()> {
        truncate_stream(size)
    }
}
