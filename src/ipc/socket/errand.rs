//! Errands: what a command asks of the outside world that may block or
//! walk a path — a host name resolved, a Unix path bound or connected —
//! done on a deputy thread, off every serving thread, wearing the caller's
//! identity; the outcome comes back to the endpoint
//! ([`Endpoint::errand_done`](super::Endpoint::errand_done)) as the
//! reactor's reports do.
//!
//! A path walk may enter any filesystem, this mount included (through a
//! symlink, or `/proc/self/root/…`): on a serving thread that would be a
//! request waiting for the very thread that must answer it. On a deputy it
//! is served like anyone's call, and a path in the mount is refused by the
//! device of the file it resolves to, not by its text.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use super::command::{Kind, SocketOption, Target};
use super::sys::{self, Address};
use crate::error::Error;

/// How long an errand may take before its caller is answered `ETIMEDOUT`
/// (a name server that never answers, a path on a hung network
/// filesystem). The deputy may finish later; what it brings back then is
/// dropped.
pub const ERRAND_TIMEOUT: Duration = Duration::from_secs(5);

/// What to do.
#[derive(Debug)]
pub enum Errand {
    /// Resolve `target`, make a socket of `kind` (or use `bound`, a copy of
    /// the endpoint's bound socket) and start a connect to the first
    /// address that takes one.
    Connect {
        kind: Kind,
        target: Target,
        bound: Option<OwnedFd>,
        options: Vec<(SocketOption, bool)>,
    },
    /// Resolve `target`, make a socket of `kind` (with `options`) and
    /// bind it.
    Bind {
        kind: Kind,
        target: Target,
        options: Vec<(SocketOption, bool)>,
    },
}

/// How it went.
#[derive(Debug)]
pub enum Outcome {
    /// A connect started on `fd`: connected already (`at_once`) or going
    /// on; `rest` are the name's other addresses, to try if it fails.
    Connecting {
        fd: OwnedFd,
        at_once: bool,
        rest: Vec<SocketAddr>,
    },
    Bound {
        fd: OwnedFd,
    },
    /// The errno, and the reason in words when the errno alone would not
    /// say it.
    Failed {
        error: Error,
        why: Option<String>,
    },
}

impl Outcome {
    pub fn failed(error: Error, why: impl Into<String>) -> Outcome {
        Outcome::Failed {
            error,
            why: Some(why.into()),
        }
    }

    fn plain(error: Error) -> Outcome {
        Outcome::Failed { error, why: None }
    }
}

impl Errand {
    /// What an errand for `target` waits on, in words, for the reason of
    /// a timeout.
    pub fn waits_on(target: &Target) -> String {
        match target {
            Target::Inet { host, .. } => format!("name resolution of {host}"),
            Target::Path(path) => format!("the path {}", path.display()),
        }
    }

    /// Makes the system calls, on the calling thread (a deputy wearing the
    /// caller's identity). `mountpoint` is this mount's: no Unix path may
    /// resolve into it.
    pub fn run(self, mountpoint: &Path) -> Outcome {
        match self {
            Errand::Connect {
                kind,
                target,
                bound,
                options,
            } => connect(kind, &target, bound, &options, mountpoint),
            Errand::Bind {
                kind,
                target,
                options,
            } => bind(kind, &target, &options, mountpoint),
        }
    }
}

fn connect(
    kind: Kind,
    target: &Target,
    bound: Option<OwnedFd>,
    options: &[(SocketOption, bool)],
    mountpoint: &Path,
) -> Outcome {
    if let Target::Path(path) = target {
        return connect_path(kind, path, bound, options, mountpoint);
    }
    let mut addresses = match addresses(target, mountpoint) {
        Ok(a) => a,
        Err(outcome) => return outcome,
    };
    let mut last = Error::ConnectionRefused;
    let mut bound = bound;
    while !addresses.is_empty() {
        let address = addresses.remove(0);
        // A bound socket is the endpoint's one socket: no other address
        // can be tried with a new one.
        let retry = bound.is_none();
        let fd = match bound.take() {
            Some(fd) => fd,
            None => match sys::open_with(kind, &address, options) {
                Ok(fd) => fd,
                Err(e) => return Outcome::plain(e),
            },
        };
        match sys::connect(&fd, &address) {
            Ok(at_once) => {
                let rest = addresses
                    .into_iter()
                    .filter_map(|a| match a {
                        Address::Inet(s) => Some(s),
                        Address::Unix(_) => None,
                    })
                    .collect();
                return Outcome::Connecting { fd, at_once, rest };
            }
            Err(e) if retry && !addresses.is_empty() => {
                log::debug!("socket connect: {e}; trying the next address");
                last = e;
            }
            Err(e) => return Outcome::plain(e),
        }
    }
    Outcome::plain(last)
}

/// Connects to a Unix path with no gap between the check and the
/// connect: the path is opened (`O_PATH`, symbolic links followed, as the
/// caller), the file it resolves to is checked not to be in the mount,
/// and the connect goes to that very file, through `/proc/self/fd/N`. A
/// link changed in between cannot lead the connect elsewhere.
fn connect_path(
    kind: Kind,
    path: &Path,
    bound: Option<OwnedFd>,
    options: &[(SocketOption, bool)],
    mountpoint: &Path,
) -> Outcome {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path);
    let refused = || {
        Outcome::failed(
            Error::InvalidArgument,
            "a Unix path may not be inside the mount",
        )
    };
    let file = match file {
        Ok(f) => f,
        // Nothing there to connect to; said as a path into the mount if
        // its nearest directory lies there.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && lies_in(path, mountpoint) => {
            return refused();
        }
        Err(e) => return Outcome::plain(Error::from_os(&e)),
    };
    let in_mount = match (file.metadata(), std::fs::metadata(mountpoint)) {
        (Ok(meta), Ok(mount)) => meta.dev() == mount.dev(),
        (Err(e), _) => return Outcome::plain(Error::from_os(&e)),
        (_, Err(_)) => false,
    };
    if in_mount {
        return refused();
    }
    use std::os::fd::AsRawFd;
    let held = format!("/proc/self/fd/{}", file.as_raw_fd());
    let address = match Address::unix(Path::new(&held)) {
        Ok(a) => a,
        Err(e) => return Outcome::plain(e),
    };
    let fd = match bound {
        Some(fd) => fd,
        None => match sys::open_with(kind, &address, options) {
            Ok(fd) => fd,
            Err(e) => return Outcome::plain(e),
        },
    };
    match sys::connect(&fd, &address) {
        Ok(at_once) => Outcome::Connecting {
            fd,
            at_once,
            rest: Vec::new(),
        },
        Err(e) => Outcome::plain(e),
    }
}

/// Binds to a Unix path or a host name's address. (A bind makes a new
/// name, which no descriptor can hold beforehand: a link changed between
/// the check and the bind can lead it into the mount, where no socket can
/// be made, and the bind fails.)
fn bind(
    kind: Kind,
    target: &Target,
    options: &[(SocketOption, bool)],
    mountpoint: &Path,
) -> Outcome {
    let address = match addresses(target, mountpoint) {
        Ok(mut a) => a.remove(0),
        Err(outcome) => return outcome,
    };
    let fd = match sys::open_with(kind, &address, options) {
        Ok(fd) => fd,
        Err(e) => return Outcome::plain(e),
    };
    match sys::bind(&fd, &address) {
        Ok(()) => Outcome::Bound { fd },
        Err(e) => Outcome::plain(e),
    }
}

/// The addresses of a target: a Unix path (refused if it resolves into
/// the mount), or a host name's, resolved.
fn addresses(target: &Target, mountpoint: &Path) -> std::result::Result<Vec<Address>, Outcome> {
    match target {
        Target::Path(path) => {
            if lies_in(path, mountpoint) {
                return Err(Outcome::failed(
                    Error::InvalidArgument,
                    "a Unix path may not be inside the mount",
                ));
            }
            Address::unix(path).map(|a| vec![a]).map_err(Outcome::plain)
        }
        Target::Inet { host, .. } => match target.resolve() {
            Ok(a) => Ok(a.into_iter().map(Address::Inet).collect()),
            Err(e) => Err(Outcome::failed(e, format!("no address found for {host}"))),
        },
    }
}

/// Whether `path`, or the nearest of its directories that exists,
/// resolves (symbolic links followed) to a file of the filesystem mounted
/// at `mountpoint`: compared by device, so no spelling of the path gets
/// past it.
pub fn lies_in(path: &Path, mountpoint: &Path) -> bool {
    let Ok(mount) = std::fs::metadata(mountpoint) else {
        return false;
    };
    for place in path.ancestors() {
        match std::fs::metadata(place) {
            Ok(meta) => return meta.dev() == mount.dev(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            // Not ours to look at: the system call itself will say so.
            Err(_) => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_lies_in_a_filesystem_by_its_device() {
        let dir = std::env::temp_dir().join(format!("ipcfs-errand-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // /proc is another filesystem than the temporary directory's.
        assert!(lies_in(&dir.join("no/such/socket"), &dir));
        assert!(lies_in(
            Path::new("/proc/self/root/proc/1/x"),
            Path::new("/proc")
        ));
        assert!(!lies_in(&dir.join("s"), Path::new("/proc")));
        let link = dir.join("to-proc");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/proc/self", &link).unwrap();
        assert!(
            lies_in(&link.join("sock"), Path::new("/proc")),
            "through a symlink"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_refused_connect_is_an_outcome_with_its_errno() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let errand = Errand::Connect {
            kind: Kind::Tcp,
            target: Target::Inet {
                host: "localhost".into(),
                port,
            },
            bound: None,
            options: Vec::new(),
        };
        match errand.run(Path::new("/nonexistent")) {
            Outcome::Connecting { at_once: false, .. } | Outcome::Failed { .. } => {}
            other => panic!("{other:?}"),
        }
        let errand = Errand::Bind {
            kind: Kind::Unix,
            target: Target::Path("/proc/self/sock".into()),
            options: Vec::new(),
        };
        match errand.run(Path::new("/proc")) {
            Outcome::Failed {
                error: Error::InvalidArgument,
                why: Some(why),
            } => assert_eq!(why, "a Unix path may not be inside the mount"),
            other => panic!("{other:?}"),
        }
    }
}
