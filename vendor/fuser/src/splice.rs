//! Replies whose data sit in a pipe (ipcfs patch): the filesystem puts a
//! reply's header and data at the head of a pipe, and the reply is
//! spliced from there into /dev/fuse, so its data are copied once, by the
//! kernel, straight into the reader's pages (`fuse_dev_splice_write`),
//! and never through the daemon's memory.

use std::io;
use std::os::fd::AsRawFd;
use std::os::fd::BorrowedFd;

use zerocopy::IntoBytes;

use crate::ll::fuse_abi as abi;

/// Bytes of the header that goes in front of a reply's data.
pub(crate) const HEADER_LEN: usize = size_of::<abi::fuse_out_header>();

/// The header of a successful reply to request `unique` carrying `len`
/// bytes of data: what goes into the pipe before the data. `None` if such
/// a reply is longer than FUSE can carry.
pub(crate) fn header(unique: u64, len: usize) -> Option<[u8; HEADER_LEN]> {
    let header = abi::fuse_out_header {
        len: u32::try_from(HEADER_LEN + len).ok()?,
        error: 0,
        unique,
    };
    let mut bytes = [0; HEADER_LEN];
    bytes.copy_from_slice(header.as_bytes());
    Some(bytes)
}

/// Moves the `total` bytes at the head of `pipe` (a header and its data)
/// into /dev/fuse as one reply. Splice takes a pipe's buffers whole or
/// not at all: on failure the bytes are either still in the pipe (the
/// kernel refused before taking them) or gone with the reply (its caller
/// was gone, or the kernel failed the request).
pub(crate) fn splice_into(dev: BorrowedFd<'_>, pipe: BorrowedFd<'_>, total: usize) -> io::Result<()> {
    // SAFETY: splice(2) between two descriptors we borrow, no pointers.
    let moved = unsafe {
        libc::splice(
            pipe.as_raw_fd(),
            std::ptr::null_mut(),
            dev.as_raw_fd(),
            std::ptr::null_mut(),
            total,
            libc::SPLICE_F_MOVE,
        )
    };
    match moved {
        -1 => Err(io::Error::last_os_error()),
        n if n as usize == total => Ok(()),
        n => Err(io::Error::other(format!("spliced {n} of {total} reply bytes"))),
    }
}

/// How many bytes `pipe` holds.
pub(crate) fn bytes_in(pipe: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int at the pointer given.
    if unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Reads the `total` bytes at the head of `pipe` (which holds them).
pub(crate) fn read_out(pipe: BorrowedFd<'_>, total: usize) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0; total];
    let mut at = 0;
    while at < total {
        match nix::unistd::read(pipe, &mut bytes[at..]) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(n) => at += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(bytes)
}
