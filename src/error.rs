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
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = std::io::Error::from_raw_os_error(self.errno());
        write!(f, "{text}")
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_error_maps_to_eio() {
        let all = [
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
        ];
        for e in all {
            assert_ne!(e.errno(), libc::EIO, "{e:?}");
        }
        assert_eq!(Error::BrokenPipe.errno(), libc::EPIPE);
        assert_eq!(Error::NoReader.errno(), libc::ENXIO);
    }
}
