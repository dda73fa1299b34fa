//! The one error type of ipcfs and its one mapping to errno.
//!
//! Every failure the core or the adapter can report is a variant here; the
//! FUSE adapter turns it into an errno with [`Error::errno`] and nothing else.
//! There is deliberately no catch-all variant that would map to `EIO`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// No object or directory entry of that name (`ENOENT`).
    NotFound,
    /// The name is taken (`EEXIST`).
    Exists,
    /// The operation is not allowed on this kind of node, or not by this caller (`EPERM`).
    NotPermitted,
    /// The caller lacks permission by mode bits (`EACCES`).
    AccessDenied,
    /// Malformed argument or value (`EINVAL`).
    InvalidArgument,
    /// The call would block and the caller asked not to (`EAGAIN`).
    WouldBlock,
    /// The caller got a signal while parked (`EINTR`).
    Interrupted,
    /// Write to a pipe with no reader (`EPIPE`); the adapter also sends `SIGPIPE`.
    BrokenPipe,
    /// Non-blocking open for writing of a pipe with no reader (`ENXIO`).
    NoReader,
    /// The mount's memory cap (`--max-memory`) would be exceeded (`ENOSPC`).
    NoSpace,
    /// A name component is not a directory (`ENOTDIR`).
    NotDirectory,
    /// The node is a directory (`EISDIR`).
    IsDirectory,
    /// No such extended attribute (`ENODATA`).
    NoAttribute,
    /// The caller's buffer is too small for the value (`ERANGE`).
    Range,
    /// Extended attribute namespace we do not store (`ENOTSUP`).
    NotSupported,
    /// The value is in use and cannot shrink below what is held (`EBUSY`).
    Busy,
    /// The handle does not belong to this node or mode (`EBADF`).
    BadHandle,
    /// A message bigger than the queue takes, or than the reader's buffer
    /// in packet mode (`EMSGSIZE`).
    MessageTooLong,
    /// No such process (`ESRCH`).
    NoProcess,
    /// A name longer than 255 bytes (`ENAMETOOLONG`).
    NameTooLong,
    /// The daemon is unmounting: a parked call is answered with this (`ESHUTDOWN`).
    ShuttingDown,
    /// Nothing listens at the address (`ECONNREFUSED`).
    ConnectionRefused,
    /// The address is bound already (`EADDRINUSE`).
    AddressInUse,
    /// The address is not one of this machine's (`EADDRNOTAVAIL`).
    AddressNotAvailable,
    /// A socket endpoint's data used before it is connected (`ENOTCONN`).
    NotConnected,
    /// A connect or bind of an endpoint that has one already (`EISCONN`).
    AlreadyConnected,
    /// A connection attempt timed out (`ETIMEDOUT`).
    TimedOut,
    /// No route to the host (`EHOSTUNREACH`).
    HostUnreachable,
    /// No route to the network (`ENETUNREACH`).
    NetworkUnreachable,
    /// The peer reset the connection (`ECONNRESET`).
    ConnectionReset,
    /// A connect is already under way on the endpoint (`EALREADY`).
    InProgress,
    /// A host name that does not resolve (`EHOSTDOWN`).
    NoSuchHost,
    /// An ioctl, such as a terminal's, that no file of ipcfs has (`ENOTTY`).
    NotATerminal,
    /// The user has as many objects as `--max-objects-per-user` allows,
    /// or the daemon is out of descriptors (`EMFILE`).
    TooManyObjects,
    /// A rename onto a directory that has entries (`ENOTEMPTY`).
    NotEmpty,
    /// The queue store (`--queue-store`) did not answer: a message that
    /// was to end there did not (`ECOMM`).
    StoreUnreachable,
    /// A queue kept in the store was removed (by any mount) while this
    /// descriptor was open: its messages went with it (`EIDRM`, as
    /// `msgrcv(2)` says of a removed queue).
    Removed,
    /// A create found the name made by another mount of the queue store
    /// since the kernel looked it up (`ESTALE`): the kernel looks the
    /// name up again and opens what is there, checking access itself.
    Stale,
}

impl Error {
    /// The errno this error is reported as. Exhaustive on purpose: adding a
    /// variant forces a decision here.
    pub fn errno(self) -> i32 {
        match self {
            Error::NotFound => libc::ENOENT,
            Error::Exists => libc::EEXIST,
            Error::NotPermitted => libc::EPERM,
            Error::AccessDenied => libc::EACCES,
            Error::InvalidArgument => libc::EINVAL,
            Error::WouldBlock => libc::EAGAIN,
            Error::Interrupted => libc::EINTR,
            Error::BrokenPipe => libc::EPIPE,
            Error::NoReader => libc::ENXIO,
            Error::NoSpace => libc::ENOSPC,
            Error::NotDirectory => libc::ENOTDIR,
            Error::IsDirectory => libc::EISDIR,
            Error::NoAttribute => libc::ENODATA,
            Error::Range => libc::ERANGE,
            Error::NotSupported => libc::ENOTSUP,
            Error::Busy => libc::EBUSY,
            Error::BadHandle => libc::EBADF,
            Error::MessageTooLong => libc::EMSGSIZE,
            Error::NoProcess => libc::ESRCH,
            Error::NameTooLong => libc::ENAMETOOLONG,
            Error::ShuttingDown => libc::ESHUTDOWN,
            Error::ConnectionRefused => libc::ECONNREFUSED,
            Error::AddressInUse => libc::EADDRINUSE,
            Error::AddressNotAvailable => libc::EADDRNOTAVAIL,
            Error::NotConnected => libc::ENOTCONN,
            Error::AlreadyConnected => libc::EISCONN,
            Error::TimedOut => libc::ETIMEDOUT,
            Error::HostUnreachable => libc::EHOSTUNREACH,
            Error::NetworkUnreachable => libc::ENETUNREACH,
            Error::ConnectionReset => libc::ECONNRESET,
            Error::InProgress => libc::EALREADY,
            Error::NoSuchHost => libc::EHOSTDOWN,
            Error::NotATerminal => libc::ENOTTY,
            Error::TooManyObjects => libc::EMFILE,
            Error::NotEmpty => libc::ENOTEMPTY,
            Error::StoreUnreachable => libc::ECOMM,
            Error::Removed => libc::EIDRM,
            Error::Stale => libc::ESTALE,
        }
    }

    /// Every error, for the tables of the docs: ipcfs(7) documents each
    /// errno (tests/man.rs checks it against this list).
    pub const ALL: [Error; 38] = [
        Error::NotFound,
        Error::Exists,
        Error::NotPermitted,
        Error::AccessDenied,
        Error::InvalidArgument,
        Error::WouldBlock,
        Error::Interrupted,
        Error::BrokenPipe,
        Error::NoReader,
        Error::NoSpace,
        Error::NotDirectory,
        Error::IsDirectory,
        Error::NoAttribute,
        Error::Range,
        Error::NotSupported,
        Error::Busy,
        Error::BadHandle,
        Error::MessageTooLong,
        Error::NoProcess,
        Error::NameTooLong,
        Error::ShuttingDown,
        Error::ConnectionRefused,
        Error::AddressInUse,
        Error::AddressNotAvailable,
        Error::NotConnected,
        Error::AlreadyConnected,
        Error::TimedOut,
        Error::HostUnreachable,
        Error::NetworkUnreachable,
        Error::ConnectionReset,
        Error::InProgress,
        Error::NoSuchHost,
        Error::NotATerminal,
        Error::TooManyObjects,
        Error::NotEmpty,
        Error::StoreUnreachable,
        Error::Removed,
        Error::Stale,
    ];

    /// The errno's symbolic name (`ENOENT`), as the man page lists it.
    pub fn errno_name(self) -> &'static str {
        match self {
            Error::NotFound => "ENOENT",
            Error::Exists => "EEXIST",
            Error::NotPermitted => "EPERM",
            Error::AccessDenied => "EACCES",
            Error::InvalidArgument => "EINVAL",
            Error::WouldBlock => "EAGAIN",
            Error::Interrupted => "EINTR",
            Error::BrokenPipe => "EPIPE",
            Error::NoReader => "ENXIO",
            Error::NoSpace => "ENOSPC",
            Error::NotDirectory => "ENOTDIR",
            Error::IsDirectory => "EISDIR",
            Error::NoAttribute => "ENODATA",
            Error::Range => "ERANGE",
            Error::NotSupported => "ENOTSUP",
            Error::Busy => "EBUSY",
            Error::BadHandle => "EBADF",
            Error::MessageTooLong => "EMSGSIZE",
            Error::NoProcess => "ESRCH",
            Error::NameTooLong => "ENAMETOOLONG",
            Error::ShuttingDown => "ESHUTDOWN",
            Error::ConnectionRefused => "ECONNREFUSED",
            Error::AddressInUse => "EADDRINUSE",
            Error::AddressNotAvailable => "EADDRNOTAVAIL",
            Error::NotConnected => "ENOTCONN",
            Error::AlreadyConnected => "EISCONN",
            Error::TimedOut => "ETIMEDOUT",
            Error::HostUnreachable => "EHOSTUNREACH",
            Error::NetworkUnreachable => "ENETUNREACH",
            Error::ConnectionReset => "ECONNRESET",
            Error::InProgress => "EALREADY",
            Error::NoSuchHost => "EHOSTDOWN",
            Error::NotATerminal => "ENOTTY",
            Error::TooManyObjects => "EMFILE",
            Error::NotEmpty => "ENOTEMPTY",
            Error::StoreUnreachable => "ECOMM",
            Error::Removed => "EIDRM",
            Error::Stale => "ESTALE",
        }
    }
}

impl Error {
    /// The error of a failed system call on a socket: its errno, as the
    /// variant that carries it. An errno no variant names is logged and
    /// reported as `EINVAL`, never as `EIO`.
    pub fn from_os(e: &std::io::Error) -> Error {
        let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
        if let Some(known) = Error::ALL.iter().find(|v| v.errno() == errno) {
            return *known;
        }
        match errno {
            libc::ENOTSUP => Error::NotSupported,
            libc::ENOTDIR | libc::ELOOP => Error::NotFound,
            libc::EPROTOTYPE | libc::EAFNOSUPPORT | libc::EDESTADDRREQ => Error::InvalidArgument,
            libc::ENOBUFS | libc::ENOMEM => Error::NoSpace,
            libc::ECONNABORTED => Error::ConnectionReset,
            _ => {
                log::warn!("system call failed with {e}: reported as EINVAL");
                Error::InvalidArgument
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The C library's words for the errno, without Rust's
        // " (os error N)".
        let text = std::io::Error::from_raw_os_error(self.errno()).to_string();
        let words = text.split(" (os error").next().unwrap_or(&text);
        write!(f, "{words}")
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_error_maps_to_eio() {
        for e in Error::ALL {
            assert_ne!(e.errno(), libc::EIO, "{e:?}");
        }
        assert_eq!(Error::BrokenPipe.errno(), libc::EPIPE);
        assert_eq!(Error::NoReader.errno(), libc::ENXIO);
    }

    #[test]
    fn names_are_the_errnos() {
        for e in Error::ALL {
            let name = e.errno_name();
            let text = std::io::Error::from_raw_os_error(e.errno()).to_string();
            assert!(name.starts_with('E'), "{e:?}");
            assert!(!text.contains("Unknown"), "{e:?}: {text}");
        }
        let distinct: std::collections::BTreeSet<i32> =
            Error::ALL.iter().map(|e| e.errno()).collect();
        assert_eq!(distinct.len(), Error::ALL.len(), "one errno per error");
        assert_eq!(Error::NotSupported.errno_name(), "ENOTSUP");
        assert_eq!(Error::NotSupported.errno(), libc::ENOTSUP);
        assert_eq!(Error::NotATerminal.errno(), libc::ENOTTY);
    }
}
