//! What a socket endpoint's `ctl` file takes: one command per write,
//! `connect tcp 127.0.0.1:8080`, `bind unix /tmp/s`, `listen 16`,
//! `shutdown wr`, `close`, `nodelay on`; and the addresses in them.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use crate::error::{Error, Result};

/// The kind of socket an endpoint becomes at its first connect or bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Udp,
    /// A Unix-domain stream socket.
    Unix,
    /// A Unix-domain datagram socket.
    Unixgram,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tcp => "tcp",
            Kind::Udp => "udp",
            Kind::Unix => "unix",
            Kind::Unixgram => "unixgram",
        }
    }

    fn parse(word: &str) -> Result<Kind> {
        Ok(match word {
            "tcp" => Kind::Tcp,
            "udp" => Kind::Udp,
            "unix" => Kind::Unix,
            "unixgram" => Kind::Unixgram,
            _ => return Err(Error::InvalidArgument),
        })
    }

    /// Byte stream (tcp, unix) or datagrams (udp, unixgram).
    pub fn is_stream(self) -> bool {
        matches!(self, Kind::Tcp | Kind::Unix)
    }

    pub fn is_unix(self) -> bool {
        matches!(self, Kind::Unix | Kind::Unixgram)
    }
}

/// Where a command points: an internet address as written (resolved by
/// [`Target::resolve`]) or a Unix-domain path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `HOST:PORT`, `[V6]:PORT`.
    Inet {
        host: String,
        port: u16,
    },
    Path(PathBuf),
}

impl std::fmt::Display for Target {
    /// As a command writes it: `HOST:PORT`, `[V6]:PORT`, a path.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Inet { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Target::Inet { host, port } => write!(f, "{host}:{port}"),
            Target::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Target {
    /// An internet target whose host is an address already (no lookup).
    pub fn numeric(&self) -> Option<SocketAddr> {
        match self {
            Target::Inet { host, port } => host
                .parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, *port)),
            Target::Path(_) => None,
        }
    }

    /// The addresses of an internet target, IPv4 and IPv6 as the resolver
    /// gives them; a numeric one needs no lookup.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>> {
        let Target::Inet { host, port } = self else {
            return Err(Error::InvalidArgument);
        };
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, *port)]);
        }
        match (host.as_str(), *port).to_socket_addrs() {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if addrs.is_empty() {
                    Err(Error::NoSuchHost)
                } else {
                    Ok(addrs)
                }
            }
            Err(e) => {
                log::info!("{host}: {e}");
                Err(Error::NoSuchHost)
            }
        }
    }
}

/// How `shutdown` closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shut {
    Read,
    Write,
    Both,
}

impl Shut {
    pub fn how(self) -> libc::c_int {
        match self {
            Shut::Read => libc::SHUT_RD,
            Shut::Write => libc::SHUT_WR,
            Shut::Both => libc::SHUT_RDWR,
        }
    }
}

/// The socket options users ask for, as `ctl` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketOption {
    /// `TCP_NODELAY`: small writes go at once (no Nagle).
    NoDelay,
    /// `SO_KEEPALIVE`: an idle connection is probed.
    KeepAlive,
    /// `SO_REUSEPORT`: several sockets bind one port (set before bind).
    ReusePort,
    /// `SO_BROADCAST`: a udp endpoint may send to a broadcast address.
    Broadcast,
}

impl SocketOption {
    pub const ALL: [SocketOption; 4] = [
        SocketOption::NoDelay,
        SocketOption::KeepAlive,
        SocketOption::ReusePort,
        SocketOption::Broadcast,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SocketOption::NoDelay => "nodelay",
            SocketOption::KeepAlive => "keepalive",
            SocketOption::ReusePort => "reuseport",
            SocketOption::Broadcast => "broadcast",
        }
    }

    fn parse(word: &str) -> Option<SocketOption> {
        Self::ALL.into_iter().find(|o| o.name() == word)
    }

    /// Whether an endpoint of `kind` can have it (`None`: any kind).
    pub fn fits(self, kind: Option<Kind>) -> bool {
        match (self, kind) {
            (_, None) => true,
            (SocketOption::NoDelay, Some(k)) => k == Kind::Tcp,
            (SocketOption::KeepAlive, Some(k)) => k.is_stream(),
            (SocketOption::ReusePort, Some(k)) => !k.is_unix(),
            (SocketOption::Broadcast, Some(k)) => k == Kind::Udp,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Connect(Kind, Target),
    Bind(Kind, Target),
    Listen(Option<u32>),
    Shutdown(Shut),
    Close,
    /// A socket option on or off.
    Set(SocketOption, bool),
    /// Whether each datagram read starts with its sender's address and a
    /// newline, and each written with the address it goes to.
    Headers(bool),
    /// Whether the connections a listener accepts from now on close, and
    /// leave the tree, with the last descriptor of their `data`.
    AutoClose(bool),
}

/// Parses one command; a trailing newline is allowed. Bad syntax is
/// `EINVAL`.
pub fn parse(text: &[u8]) -> Result<Command> {
    let text = std::str::from_utf8(text).map_err(|_| Error::InvalidArgument)?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["connect", kind, address] => {
            let kind = Kind::parse(kind)?;
            Ok(Command::Connect(kind, target(kind, address)?))
        }
        ["bind", kind, address] => {
            let kind = Kind::parse(kind)?;
            Ok(Command::Bind(kind, target(kind, address)?))
        }
        ["listen"] => Ok(Command::Listen(None)),
        ["listen", backlog] => backlog
            .parse()
            .map(|b| Command::Listen(Some(b)))
            .map_err(|_| Error::InvalidArgument),
        ["shutdown", how] => Ok(Command::Shutdown(match *how {
            "rd" => Shut::Read,
            "wr" => Shut::Write,
            "rdwr" => Shut::Both,
            _ => return Err(Error::InvalidArgument),
        })),
        ["close"] => Ok(Command::Close),
        ["headers", "on"] => Ok(Command::Headers(true)),
        ["headers", "off"] => Ok(Command::Headers(false)),
        ["autoclose", "on"] => Ok(Command::AutoClose(true)),
        ["autoclose", "off"] => Ok(Command::AutoClose(false)),
        [option, on_off] if SocketOption::parse(option).is_some() => {
            let option = SocketOption::parse(option).expect("just parsed");
            match *on_off {
                "on" => Ok(Command::Set(option, true)),
                "off" => Ok(Command::Set(option, false)),
                _ => Err(Error::InvalidArgument),
            }
        }
        _ => Err(Error::InvalidArgument),
    }
}

/// Why [`parse`] refused `text`, in words, for `err` and the log.
pub fn why_not(text: &[u8]) -> &'static str {
    let Ok(text) = std::str::from_utf8(text) else {
        return "not text";
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [] => "no command",
        ["connect" | "bind", kind, address] => match Kind::parse(kind) {
            Err(_) => "not a kind: tcp, udp, unix or unixgram",
            Ok(k) if target(k, address).is_err() => "not an address: HOST:PORT or [IPV6]:PORT",
            Ok(_) => "a good command",
        },
        ["connect" | "bind", ..] => "a kind and an address: connect tcp HOST:PORT",
        ["listen", ..] => "listen takes at most a backlog, a number",
        ["shutdown", ..] => "shutdown takes rd, wr or rdwr",
        ["close", ..] => "close takes nothing",
        ["autoclose", ..] => "autoclose takes on or off",
        ["headers", ..] => "headers takes on or off",
        [option, ..] if SocketOption::parse(option).is_some() => "an option takes on or off",
        _ => {
            "not a command: connect, bind, listen, shutdown, close, \
             nodelay, keepalive, reuseport, broadcast, autoclose or headers"
        }
    }
}

fn target(kind: Kind, address: &str) -> Result<Target> {
    if kind.is_unix() {
        return Ok(Target::Path(PathBuf::from(address)));
    }
    let (host, port) = address.rsplit_once(':').ok_or(Error::InvalidArgument)?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').ok_or(Error::InvalidArgument)?,
        None if host.contains(':') => return Err(Error::InvalidArgument),
        None => host,
    };
    if host.is_empty() {
        return Err(Error::InvalidArgument);
    }
    let port = port.parse().map_err(|_| Error::InvalidArgument)?;
    Ok(Target::Inet {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(host: &str, port: u16) -> Target {
        Target::Inet {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn commands_parse() {
        assert_eq!(
            parse(b"connect tcp 127.0.0.1:8080\n"),
            Ok(Command::Connect(Kind::Tcp, inet("127.0.0.1", 8080)))
        );
        assert_eq!(
            parse(b"connect udp [::1]:53"),
            Ok(Command::Connect(Kind::Udp, inet("::1", 53)))
        );
        assert_eq!(
            parse(b"bind tcp localhost:0"),
            Ok(Command::Bind(Kind::Tcp, inet("localhost", 0)))
        );
        assert_eq!(
            parse(b"connect unix /run/x.sock"),
            Ok(Command::Connect(
                Kind::Unix,
                Target::Path("/run/x.sock".into())
            ))
        );
        assert_eq!(parse(b"listen"), Ok(Command::Listen(None)));
        assert_eq!(parse(b"listen 16\n"), Ok(Command::Listen(Some(16))));
        assert_eq!(parse(b"shutdown wr"), Ok(Command::Shutdown(Shut::Write)));
        assert_eq!(parse(b"close\n"), Ok(Command::Close));
    }

    #[test]
    fn bad_commands_are_einval() {
        for bad in [
            &b"connect"[..],
            b"connect sctp 1.2.3.4:5",
            b"connect tcp 1.2.3.4",
            b"connect tcp ::1:80",
            b"connect tcp [::1:80",
            b"connect tcp :80",
            b"connect tcp host:99999",
            b"listen many",
            b"shutdown both",
            b"close now",
            b"",
            b"\xff",
        ] {
            assert_eq!(
                parse(bad),
                Err(Error::InvalidArgument),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_refused_command_says_why() {
        for (text, why) in [
            (
                "listne",
                "not a command: connect, bind, listen, shutdown, close, nodelay, keepalive, \
                 reuseport, broadcast, autoclose or headers",
            ),
            ("nodelay yes", "an option takes on or off"),
            (
                "connect tpc 1.2.3.4:5",
                "not a kind: tcp, udp, unix or unixgram",
            ),
            (
                "connect tcp nowhere",
                "not an address: HOST:PORT or [IPV6]:PORT",
            ),
            ("bind tcp", "a kind and an address: connect tcp HOST:PORT"),
            ("listen many", "listen takes at most a backlog, a number"),
            ("shutdown up", "shutdown takes rd, wr or rdwr"),
            ("close now", "close takes nothing"),
            ("", "no command"),
        ] {
            assert!(parse(text.as_bytes()).is_err(), "{text}");
            assert_eq!(why_not(text.as_bytes()), why, "{text}");
        }
    }

    #[test]
    fn numeric_addresses_need_no_lookup_and_names_resolve() {
        assert_eq!(
            inet("127.0.0.1", 9).resolve(),
            Ok(vec!["127.0.0.1:9".parse().unwrap()])
        );
        assert_eq!(
            inet("::1", 9).resolve(),
            Ok(vec!["[::1]:9".parse().unwrap()])
        );
        let local = inet("localhost", 9).resolve().unwrap();
        assert!(local.iter().all(|a| a.ip().is_loopback()), "{local:?}");
        assert_eq!(
            inet("no-such-host.invalid", 9).resolve(),
            Err(Error::NoSuchHost)
        );
    }
}
