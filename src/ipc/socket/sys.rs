//! The socket system calls an endpoint makes, non-blocking, with their
//! errors as the one error type. `None` means "would block".

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, Backlog, MsgFlags, SockFlag, SockType, SockaddrLike, SockaddrStorage,
    UnixAddr, sockopt,
};

use super::command::{Kind, SocketOption};
use crate::error::{Error, Result};

pub(super) fn error(e: Errno) -> Error {
    Error::from_os(&std::io::Error::from_raw_os_error(e as i32))
}

/// An address an endpoint connects or binds to.
pub enum Address {
    Inet(SocketAddr),
    Unix(UnixAddr),
}

impl Address {
    pub fn unix(path: &Path) -> Result<Address> {
        UnixAddr::new(path).map(Address::Unix).map_err(error)
    }

    fn family(&self) -> AddressFamily {
        match self {
            Address::Inet(SocketAddr::V4(_)) => AddressFamily::Inet,
            Address::Inet(SocketAddr::V6(_)) => AddressFamily::Inet6,
            Address::Unix(_) => AddressFamily::Unix,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&dyn SockaddrLike) -> T) -> T {
        match self {
            Address::Inet(a) => f(&SockaddrStorage::from(*a)),
            Address::Unix(u) => f(u),
        }
    }
}

/// A new non-blocking, close-on-exec socket of `kind` for `address`.
pub fn open(kind: Kind, address: &Address) -> Result<OwnedFd> {
    let ty = if kind.is_stream() {
        SockType::Stream
    } else {
        SockType::Datagram
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    socket::socket(address.family(), ty, flags, None).map_err(error)
}

/// Starts a connect: `Ok(true)` when connected at once, `Ok(false)` when
/// it goes on (wait for writable, then [`take_error`]).
pub fn connect(fd: &OwnedFd, address: &Address) -> Result<bool> {
    match address.with(|a| socket::connect(fd.as_raw_fd(), a)) {
        Ok(()) => Ok(true),
        Err(Errno::EINPROGRESS) => Ok(false),
        // A Unix socket whose listener's backlog is full.
        Err(Errno::EAGAIN) => Err(Error::WouldBlock),
        Err(e) => Err(error(e)),
    }
}

/// The outcome of a connect that went on: `SO_ERROR`.
pub fn take_error(fd: &OwnedFd) -> Result<()> {
    match socket::getsockopt(fd, sockopt::SocketError) {
        Ok(0) => Ok(()),
        Ok(errno) => Err(error(Errno::from_raw(errno))),
        Err(e) => Err(error(e)),
    }
}

pub fn bind(fd: &OwnedFd, address: &Address) -> Result<()> {
    if let Address::Inet(_) = address {
        // As servers do: a port in TIME_WAIT may be bound again at once.
        socket::setsockopt(fd, sockopt::ReuseAddr, &true).map_err(error)?;
    }
    address
        .with(|a| socket::bind(fd.as_raw_fd(), a))
        .map_err(error)
}

pub fn listen(fd: &OwnedFd, backlog: u32) -> Result<()> {
    let backlog = Backlog::new(backlog.min(i32::MAX as u32) as i32).map_err(error)?;
    socket::listen(fd, backlog).map_err(error)
}

/// A connection waiting on a listening socket, non-blocking and
/// close-on-exec.
pub fn accept(fd: &OwnedFd) -> Result<Option<OwnedFd>> {
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    match socket::accept4(fd.as_raw_fd(), flags) {
        // SAFETY: accept4 returned a new descriptor that nothing else owns.
        Ok(raw) => Ok(Some(unsafe { OwnedFd::from_raw_fd(raw) })),
        Err(Errno::EAGAIN) => Ok(None),
        Err(e) => Err(error(e)),
    }
}

/// The credentials a Unix-domain message carries (`SCM_CREDENTIALS`, for
/// a receiver with `SO_PASSCRED`): the daemon's process, and the user and
/// group of the caller it sends for, not the sending thread's (the
/// daemon's). Only a daemon running as root may name another user; one
/// that is not sends with its own, which the kernel fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials(libc::ucred);

impl Credentials {
    pub fn of_user(uid: u32, gid: u32) -> Option<Credentials> {
        // SAFETY: geteuid and getpid have no memory effects.
        let (root, pid) = unsafe { (libc::geteuid() == 0, libc::getpid()) };
        root.then_some(Credentials(libc::ucred { pid, uid, gid }))
    }
}

/// Sends what it can of `data` (with `creds`, on a Unix-domain socket);
/// never raises SIGPIPE in the daemon.
pub fn send(fd: &OwnedFd, data: &[u8], creds: Option<Credentials>) -> Result<Option<usize>> {
    send_message(fd, data, None, creds)
}

fn send_message(
    fd: &OwnedFd,
    data: &[u8],
    to: Option<&SockaddrStorage>,
    creds: Option<Credentials>,
) -> Result<Option<usize>> {
    let sent = match creds {
        None => match to {
            Some(to) => socket::sendto(fd.as_raw_fd(), data, to, MsgFlags::MSG_NOSIGNAL),
            None => socket::send(fd.as_raw_fd(), data, MsgFlags::MSG_NOSIGNAL),
        },
        Some(Credentials(ucred)) => {
            let creds = socket::UnixCredentials::from(ucred);
            let control = [socket::ControlMessage::ScmCredentials(&creds)];
            let iov = [std::io::IoSlice::new(data)];
            socket::sendmsg(fd.as_raw_fd(), &iov, &control, MsgFlags::MSG_NOSIGNAL, to)
        }
    };
    match sent {
        Ok(n) => Ok(Some(n)),
        Err(Errno::EAGAIN) => Ok(None),
        Err(e) => Err(error(e)),
    }
}

/// Receives up to `size` bytes (one datagram, on a datagram socket);
/// `Some(empty)` is the peer's end of stream.
pub fn recv(fd: &OwnedFd, size: usize) -> Result<Option<Vec<u8>>> {
    let fd = fd.as_raw_fd();
    // SAFETY: recv(2) writes at most `size` bytes at `at` and says how
    // many.
    let got = unsafe { receive_into_new(size, |at| libc::recv(fd, at, size, 0)) };
    match got {
        Ok(buf) => Ok(Some(buf)),
        Err(Errno::EAGAIN) => Ok(None),
        Err(e) => Err(error(e)),
    }
}

/// A new vector of the bytes `receive` wrote into its `size` bytes of
/// spare capacity, none of them zeroed first (a 1 MiB read of a socket
/// that held 64 KiB zeroed the whole mebibyte before; a datagram read,
/// 64 KiB for each datagram however small), or the call's errno.
///
/// # Safety
///
/// `receive` writes at most `size` bytes at the pointer it is given and
/// returns how many, or a negative count on failure (errno set).
unsafe fn receive_into_new(
    size: usize,
    receive: impl FnOnce(*mut libc::c_void) -> libc::ssize_t,
) -> std::result::Result<Vec<u8>, Errno> {
    let mut buf = Vec::<u8>::with_capacity(size);
    let n = receive(buf.as_mut_ptr().cast());
    if n < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the caller's promise: `n` ≤ `size` bytes were written at
    // the start of the capacity.
    unsafe { buf.set_len(n as usize) };
    Ok(buf)
}

pub fn shutdown(fd: &OwnedFd, how: libc::c_int) -> Result<()> {
    let how = match how {
        libc::SHUT_RD => socket::Shutdown::Read,
        libc::SHUT_WR => socket::Shutdown::Write,
        _ => socket::Shutdown::Both,
    };
    match socket::shutdown(fd.as_raw_fd(), how) {
        // Already shut, or the peer went first: nothing left to do.
        Ok(()) | Err(Errno::ENOTCONN) => Ok(()),
        Err(e) => Err(error(e)),
    }
}

/// What became of a connected stream's peer, as `ss` would show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// It closed its side (or shut it down for writing): the end of the
    /// stream comes after what is unread.
    Closed,
    /// It reset the connection.
    Reset,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Closed => "peer closed",
            Peer::Reset => "reset",
        }
    }
}

/// How a connected stream's peer stands now, without reading: a pending
/// error is a reset, a hang-up of its side a close.
pub fn peer(fd: &OwnedFd) -> Option<Peer> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 {
        return None;
    }
    if pfd.revents & libc::POLLERR != 0 {
        Some(Peer::Reset)
    } else if pfd.revents & (libc::POLLRDHUP | libc::POLLHUP) != 0 {
        Some(Peer::Closed)
    } else {
        None
    }
}

/// A new socket of `kind` for `address` (see [`open`]) with `options`
/// set, in order.
pub fn open_with(
    kind: Kind,
    address: &Address,
    options: &[(SocketOption, bool)],
) -> Result<OwnedFd> {
    let fd = open(kind, address)?;
    for (option, on) in options {
        set_option(&fd, *option, *on)?;
    }
    Ok(fd)
}

/// Sets a socket option on or off.
pub fn set_option(fd: &OwnedFd, option: SocketOption, on: bool) -> Result<()> {
    let set = match option {
        SocketOption::NoDelay => socket::setsockopt(fd, sockopt::TcpNoDelay, &on),
        SocketOption::KeepAlive => socket::setsockopt(fd, sockopt::KeepAlive, &on),
        SocketOption::ReusePort => socket::setsockopt(fd, sockopt::ReusePort, &on),
        SocketOption::Broadcast => socket::setsockopt(fd, sockopt::Broadcast, &on),
    };
    set.map_err(error)
}

/// An address in words: `127.0.0.1:8080`, `[::1]:80`, a Unix path;
/// `None` for an unnamed Unix socket (one never bound).
pub fn describe(address: &SockaddrStorage) -> Option<String> {
    match address.as_unix_addr() {
        Some(unix) => unix.path().map(|p| p.display().to_string()),
        None => Some(address.to_string()),
    }
}

pub fn local_address(fd: &OwnedFd) -> Option<String> {
    socket::getsockname::<SockaddrStorage>(fd.as_raw_fd())
        .ok()
        .and_then(|a| describe(&a))
}

pub fn peer_address(fd: &OwnedFd) -> Option<String> {
    socket::getpeername::<SockaddrStorage>(fd.as_raw_fd())
        .ok()
        .and_then(|a| describe(&a))
}

/// Receives one datagram of up to `size` bytes and who sent it (for a
/// bound, unconnected datagram socket).
pub fn recv_from(fd: &OwnedFd, size: usize) -> Result<Option<(Vec<u8>, Option<SockaddrStorage>)>> {
    let fd = fd.as_raw_fd();
    // SAFETY: plain data, all zeros a valid (empty) address.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut from_len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let from_at = (&raw mut from).cast::<libc::sockaddr>();
    // SAFETY: recvfrom(2) writes at most `size` bytes at `at` and says how
    // many, and at most `from_len` bytes of address at `from_at`.
    let got = unsafe {
        receive_into_new(size, |at| {
            libc::recvfrom(fd, at, size, 0, from_at, &mut from_len)
        })
    };
    match got {
        Ok(buf) => {
            // SAFETY: `from` holds the `from_len` bytes recvfrom wrote.
            let from = unsafe { SockaddrStorage::from_raw(from_at.cast_const(), Some(from_len)) };
            Ok(Some((buf, from)))
        }
        Err(Errno::EAGAIN) => Ok(None),
        Err(e) => Err(error(e)),
    }
}

/// Sends one datagram to `to` (with `creds`, on a Unix-domain socket).
pub fn send_to(
    fd: &OwnedFd,
    data: &[u8],
    to: &SockaddrStorage,
    creds: Option<Credentials>,
) -> Result<Option<usize>> {
    send_message(fd, data, Some(to), creds)
}

/// Bytes `fd`'s send buffer holds now, as the kernel counts them against
/// `SO_SNDBUF` (a TCP socket's queued bytes, a Unix socket's bytes its
/// peer has not read yet), with their overhead.
fn send_buffer_held(fd: &impl AsRawFd) -> Result<usize> {
    const SK_MEMINFO_WMEM_ALLOC: usize = 2;
    const SK_MEMINFO_WMEM_QUEUED: usize = 5;
    let mut info = [0u32; 9];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` is writable for `len` bytes, which the kernel does
    // not exceed and sets to what it wrote.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(error(Errno::last()));
    }
    let held = info[SK_MEMINFO_WMEM_ALLOC].max(info[SK_MEMINFO_WMEM_QUEUED]);
    Ok(held as usize)
}

/// Sets `fd`'s send buffer to `bytes` past `net.core.wmem_max`
/// (`SO_SNDBUFFORCE`, which needs `CAP_NET_ADMIN`). The kernel doubles
/// what it is given, for its overhead.
fn force_send_buffer(fd: &impl AsFd, bytes: usize) -> Result<()> {
    socket::setsockopt(fd, sockopt::SndBufForce, &bytes.div_ceil(2)).map_err(error)
}

/// Makes room in `fd`'s send buffer for `more` bytes beyond what it holds
/// now, so that a send of them takes them all at once: for bytes a
/// write was told went in that must reach the kernel before the socket
/// closes. The kernel counts each buffer's headers against the room too:
/// little beside 64 KiB segments, but a peer that advertises a small
/// window gets small segments, whose headers can cost as much as their
/// bytes (a 4 KiB window: 40% more). So the room asked for is four times
/// the bytes, and 64 KiB besides; room is only a limit, not memory taken.
pub fn make_room(fd: &OwnedFd, more: usize) -> Result<()> {
    // A TCP socket also refuses bytes while more than
    // `net.ipv4.tcp_notsent_lowat` wait unsent, whatever its room: that
    // limit goes (an error here is a socket that has none).
    let no_limit: libc::c_int = libc::c_int::MAX;
    // SAFETY: the option's value is a c_int read from `no_limit`.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&no_limit as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    let room = send_buffer_held(fd)? + more.saturating_mul(4) + (64 << 10);
    force_send_buffer(fd, room)
}

/// Makes `fd`'s close reset the connection (`SO_LINGER` of 0), so that
/// a peer whose stream lost bytes sees a reset, never a clean end.
pub fn reset_on_close(fd: &OwnedFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    if let Err(e) = socket::setsockopt(fd, sockopt::Linger, &linger) {
        log::debug!("socket: SO_LINGER: {e}");
    }
}

/// Set at unmount: no write is answered early from then on, so room is
/// made (see [`make_room`]) only for the backlogs there were then.
static EARLY_ANSWERS_STOPPED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

pub fn stop_answering_early() {
    EARLY_ANSWERS_STOPPED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether a large stream write may be answered before the socket takes
/// it: the daemon may make room at unmount, which has not begun.
pub fn may_answer_early() -> bool {
    may_make_room() && !EARLY_ANSWERS_STOPPED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Whether this daemon may make room past `net.core.wmem_max` in any
/// socket it serves: it has `CAP_NET_ADMIN` (tried once, on a socket of
/// its own) in the initial user namespace, which every network namespace
/// a caller can be in is under. A daemon in another user namespace could
/// make room only in some callers' sockets, so it makes none.
pub fn may_make_room() -> bool {
    static MAY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MAY.get_or_init(|| {
        let probe = socket::socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        );
        let capable = probe.is_ok_and(|fd| force_send_buffer(&fd, 1 << 20).is_ok());
        let may = capable && in_the_initial_user_namespace();
        match (capable, may) {
            (_, true) => log::info!(
                "sockets: room can be made in send buffers, so large stream writes \
                 are answered before the socket takes them (over /dev/fuse)"
            ),
            (false, _) => log::info!(
                "sockets: no room can be made in send buffers (no CAP_NET_ADMIN): \
                 stream writes wait for the socket"
            ),
            (true, false) => log::info!(
                "sockets: no room is made in send buffers (the daemon runs in a user \
                 namespace): stream writes wait for the socket"
            ),
        }
        may
    })
}

/// Whether this process's user namespace is the initial one: its user ID
/// map is the identity over all IDs.
fn in_the_initial_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|map| {
        let fields: Vec<&str> = map.split_whitespace().collect();
        fields == ["0", "0", "4294967295"]
    })
}
