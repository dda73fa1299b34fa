//! A stream socket's bytes for a large read, received into a pipe rather
//! than into the daemon's memory: behind the reply's header, so that the
//! adapter splices header and data into the reply whole, and the only
//! copy of the bytes is the kernel's, from the pipe's pages (which hold
//! the socket's own buffers, taken by reference) into the reader's.
//!
//! Received into a `Vec`, the same bytes were copied twice on the
//! daemon's time: socket to `Vec`, `Vec` to the reply.
//!
//! Invariant: a pipe in the pool is empty. A [`Spliced`] holds a pipe
//! whose head is its header and bytes; the reply takes them out, and the
//! pipe goes back to the pool only if it is then empty. On any failure a
//! pipe is closed, never pooled.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::errno::Errno;

use super::sys;
use crate::error::Result;
use crate::wait::WaiterId;

/// Reads asking for less, or sockets holding less, are received by
/// recv(2): below this the two extra system calls of a splice cost more
/// than the copy they save.
pub const MIN_SPLICE: usize = 32 * 1024;

/// Empty pipes kept for the next large read: one per read being answered
/// at once is enough; more are closed.
const POOL_MAX: usize = 4;

/// Pipe sizes tried, largest first. A pipe's room is counted in buffers
/// (one per page or socket fragment), so a big pipe lets a splice take a
/// whole 1 MiB read; above `fs.pipe-max-size` (1 MiB by default) only a
/// daemon with `CAP_SYS_RESOURCE` gets one.
const PIPE_SIZES: [libc::c_int; 2] = [2 << 20, 1 << 20];

/// Pipes open at most, pooled or holding a read's bytes: past this (many
/// parked readers of one endpoint served at once), reads are received by
/// recv(2), so that reads never cost the daemon more than 32 descriptors.
const MAX_PIPES: usize = 16;

static POOL: Mutex<Vec<Pipe>> = Mutex::new(Vec::new());

/// Pipes open, in the pool or out.
static OPEN: AtomicUsize = AtomicUsize::new(0);

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// Bytes it can hold.
    room: usize,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pipe {
    fn take() -> Option<Pipe> {
        if let Some(pipe) = crate::locks::lock(&POOL).pop() {
            return Some(pipe);
        }
        if OPEN.fetch_add(1, Ordering::Relaxed) >= MAX_PIPES {
            OPEN.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        // From here the count is the new pipe's: dropped with it, or
        // given back now if it is not made.
        let made = Self::make();
        if made.is_none() {
            OPEN.fetch_sub(1, Ordering::Relaxed);
        }
        made
    }

    fn make() -> Option<Pipe> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| log::debug!("no pipe to splice a read into: {e}"))
            .ok()?;
        let fd = write.as_raw_fd();
        // SAFETY: fcntl(2) on a descriptor we own, with integer arguments.
        let room = PIPE_SIZES
            .iter()
            .map(|&size| unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, size) })
            .find(|&got| got > 0)
            // SAFETY: as above.
            .unwrap_or_else(|| unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) });
        let room = usize::try_from(room).ok().filter(|&r| r > 0)?;
        Some(Pipe { read, write, room })
    }

    /// Back into the pool, if empty (the invariant), else closed.
    fn give_back(self) {
        if bytes_in(self.read.as_fd()) != Some(0) {
            log::warn!("a splice pipe was not emptied by its reply; closed");
            return;
        }
        let mut pool = crate::locks::lock(&POOL);
        if pool.len() < POOL_MAX {
            pool.push(self);
        }
    }
}

/// Bytes a socket or pipe holds (FIONREAD); `None` if it will not say.
fn bytes_in(fd: BorrowedFd<'_>) -> Option<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int at the pointer given.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    (rc == 0).then(|| usize::try_from(n).unwrap_or(0))
}

/// A read's answer, received by recv(2) or left in a pipe.
pub enum Received {
    Bytes(Vec<u8>),
    Spliced(Spliced),
}

impl Received {
    pub fn into_bytes(self) -> Result<Vec<u8>> {
        match self {
            Received::Bytes(bytes) => Ok(bytes),
            Received::Spliced(spliced) => spliced.into_bytes(),
        }
    }
}

impl From<Result<Received>> for crate::ipc::ReadDone {
    fn from(answer: Result<Received>) -> Self {
        match answer {
            Ok(Received::Spliced(spliced)) => crate::ipc::ReadDone::Spliced(spliced),
            Ok(Received::Bytes(bytes)) => crate::ipc::ReadDone::Data(Ok(bytes)),
            Err(e) => crate::ipc::ReadDone::Data(Err(e)),
        }
    }
}

/// `len` bytes of a socket waiting in a pipe behind their reply's header
/// (`header_len` bytes): the adapter moves both into the reply.
pub struct Spliced {
    pipe: Option<Pipe>,
    /// The call whose reply's header is in the pipe.
    id: WaiterId,
    header_len: usize,
    len: usize,
}

impl std::fmt::Debug for Spliced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spliced({} bytes)", self.len)
    }
}

impl Spliced {
    /// The call whose reply's header the pipe holds: only its reply may
    /// be spliced from it.
    pub fn call(&self) -> WaiterId {
        self.id
    }

    /// The data's length, without the header.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pipe's read end, whose head is the header and the data.
    pub fn pipe(&self) -> BorrowedFd<'_> {
        self.pipe.as_ref().expect("held until dropped").read.as_fd()
    }

    /// The reply took header and data out of the pipe.
    pub fn sent(mut self) {
        if let Some(pipe) = self.pipe.take() {
            pipe.give_back();
        }
    }

    /// The data, read out of the pipe (for a reply that cannot take a
    /// pipe); the header is dropped.
    pub fn into_bytes(mut self) -> Result<Vec<u8>> {
        let pipe = self.pipe.take().expect("held until dropped");
        let mut all = vec![0; self.header_len + self.len];
        read_exact(pipe.read.as_fd(), &mut all)?;
        pipe.give_back();
        all.drain(..self.header_len);
        Ok(all)
    }
}

impl Drop for Spliced {
    fn drop(&mut self) {
        if self.pipe.is_some() {
            log::warn!("{} received bytes dropped unanswered", self.len);
        }
    }
}

fn read_exact(fd: BorrowedFd<'_>, mut into: &mut [u8]) -> Result<()> {
    while !into.is_empty() {
        match nix::unistd::read(fd, into) {
            // The pipe holds what it is asked for: it cannot end early.
            Ok(0) => return Err(sys::error(Errno::EIO)),
            Ok(n) => into = &mut into[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(sys::error(e)),
        }
    }
    Ok(())
}

/// How a reply's header is made: for call `id`, in front of `len` bytes
/// of data (`None`: the reply cannot take a pipe).
pub type Header = fn(id: WaiterId, len: usize) -> Option<[u8; 16]>;

/// Errors of a splice that are not the socket's: recv(2) is tried
/// instead. Any other is the socket's own error, which the splice took
/// (the kernel reports a socket's error once) and is returned.
const NOT_THE_SOCKETS: [Errno; 6] = [
    Errno::EAGAIN,
    Errno::EINVAL,
    Errno::ENOMEM,
    Errno::EFAULT,
    Errno::ENOSYS,
    Errno::EOPNOTSUPP,
];

/// Receives up to `size` bytes of the stream socket `fd`, for call `id`
/// whose reply's header is `header(id, n)` when there is a `reply`
/// (`None`: bytes only). As [`sys::recv`]: `None` would block, an empty
/// answer is the peer's end of stream.
pub fn receive(
    fd: &OwnedFd,
    size: usize,
    reply: Option<(WaiterId, Header)>,
) -> Result<Option<Received>> {
    let recv = || Ok(sys::recv(fd, size)?.map(Received::Bytes));
    let Some((id, header)) = reply.filter(|_| size >= MIN_SPLICE) else {
        return recv();
    };
    // What the socket holds is what a splice can take: only this daemon
    // reads it, under the endpoint's lock.
    let held = bytes_in(fd.as_fd()).unwrap_or(0);
    let wanted = size.min(held);
    // Asked before any pipe is made: whether this reply can take one.
    if wanted < MIN_SPLICE || header(id, wanted).is_none() {
        return recv();
    }
    let Some(pipe) = Pipe::take() else {
        return recv();
    };
    // The header takes one buffer of the pipe, a page.
    let n = wanted.min(pipe.room.saturating_sub(page_size()));
    let header = match header(id, n) {
        Some(header) if n >= MIN_SPLICE => header,
        // A pipe too small to be worth it (the system refused to grow it).
        _ => {
            pipe.give_back();
            return recv();
        }
    };
    if nix::unistd::write(&pipe.write, &header) != Ok(header.len()) {
        // An empty pipe always takes 16 bytes; this one is broken, and
        // closed.
        return recv();
    }
    // SAFETY: splice(2) between two descriptors we own, no pointers.
    let got = unsafe {
        libc::splice(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            pipe.write.as_raw_fd(),
            std::ptr::null_mut(),
            n,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    let failed = (got < 0).then(Errno::last);
    let came = usize::try_from(got).unwrap_or(0);
    let spliced = Spliced {
        pipe: Some(pipe),
        id,
        header_len: header.len(),
        len: came,
    };
    if came == n {
        return Ok(Some(Received::Spliced(spliced)));
    }
    // Short (the pipe ran out of buffers: a socket of small fragments)
    // or failed: what came is read out, and the rest stays in the socket.
    log::debug!("splice of {n} socket bytes took {got}: read out");
    let bytes = spliced.into_bytes()?;
    match failed {
        _ if !bytes.is_empty() => Ok(Some(Received::Bytes(bytes))),
        Some(e) if !NOT_THE_SOCKETS.contains(&e) => Err(sys::error(e)),
        // Nothing came, and the socket said nothing of its own: recv(2)
        // says what it has (its end of stream, its error, nothing yet).
        _ => recv(),
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf(3) takes an integer and returns one.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use super::*;

    /// The tests share the process's pipes: one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn pair() -> (UnixStream, OwnedFd) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        theirs.set_nonblocking(true).unwrap();
        (ours, OwnedFd::from(theirs))
    }

    fn any(_: WaiterId, _: usize) -> Option<[u8; 16]> {
        Some([0xAB; 16])
    }

    fn none(_: WaiterId, _: usize) -> Option<[u8; 16]> {
        None
    }

    fn ones(_: WaiterId, _: usize) -> Option<[u8; 16]> {
        Some([1; 16])
    }

    fn twos(_: WaiterId, _: usize) -> Option<[u8; 16]> {
        Some([2; 16])
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_large_read_leaves_header_and_bytes_in_a_pipe_in_order() {
        let _serial = crate::locks::lock(&SERIAL);
        let (mut peer, fd) = pair();
        let sent = pattern(100_000);
        let writer = std::thread::spawn(move || {
            peer.write_all(&sent).unwrap();
            peer
        });
        let peer = writer.join().unwrap();
        let header = [0xAB; 16];
        fn made(id: WaiterId, n: usize) -> Option<[u8; 16]> {
            assert_eq!(
                (id, n),
                (7, 60_000),
                "the read's size, which the socket holds"
            );
            Some([0xAB; 16])
        }
        let got = receive(&fd, 60_000, Some((7, made)));
        let Ok(Some(Received::Spliced(spliced))) = got else {
            panic!("not spliced");
        };
        assert_eq!((spliced.call(), spliced.len()), (7, 60_000));
        let mut all = vec![0; 16 + 60_000];
        read_exact(spliced.pipe(), &mut all).unwrap();
        assert_eq!(&all[..16], &header);
        assert_eq!(&all[16..], &pattern(100_000)[..60_000]);
        spliced.sent();
        // The rest is the next read's; below MIN_SPLICE, by recv(2).
        let Ok(Some(rest)) = receive(&fd, 30_000, Some((7, made))) else {
            panic!("no rest");
        };
        assert!(
            matches!(rest, Received::Bytes(_)),
            "a small read is received"
        );
        assert_eq!(
            rest.into_bytes().unwrap(),
            &pattern(100_000)[60_000..90_000]
        );
        let Ok(Some(Received::Bytes(rest))) = receive(&fd, 60_000, Some((8, any))) else {
            panic!("no rest");
        };
        assert_eq!(
            rest,
            &pattern(100_000)[90_000..],
            "a small rest is received"
        );
        drop(peer);
        let Ok(Some(Received::Bytes(end))) = receive(&fd, 60_000, Some((8, any))) else {
            panic!("no end of stream");
        };
        assert!(end.is_empty(), "the peer's end of stream");
    }

    #[test]
    fn a_reply_that_cannot_take_a_pipe_gets_bytes() {
        let _serial = crate::locks::lock(&SERIAL);
        let (mut peer, fd) = pair();
        peer.write_all(&pattern(50_000)).unwrap();
        let Ok(Some(Received::Bytes(got))) = receive(&fd, 1 << 20, Some((1, none))) else {
            panic!("not received");
        };
        assert_eq!(got, pattern(50_000));
        assert!(
            matches!(receive(&fd, 1 << 20, Some((1, none))), Ok(None)),
            "would block"
        );
    }

    #[test]
    fn spliced_bytes_read_out_without_their_header_and_the_pipe_is_reused_empty() {
        let _serial = crate::locks::lock(&SERIAL);
        let (mut peer, fd) = pair();
        peer.write_all(&pattern(40_000)).unwrap();
        let Ok(Some(Received::Spliced(s))) = receive(&fd, 1 << 20, Some((1, ones))) else {
            panic!("not spliced");
        };
        assert_eq!(s.into_bytes().unwrap(), pattern(40_000));
        peer.write_all(&pattern(40_000)[..33_000]).unwrap();
        let Ok(Some(Received::Spliced(s))) = receive(&fd, 1 << 20, Some((2, twos))) else {
            panic!("not spliced");
        };
        let mut head = [0; 17];
        read_exact(s.pipe(), &mut head).unwrap();
        assert_eq!(
            head[..16],
            [2; 16],
            "a fresh header, nothing left before it"
        );
        assert_eq!(head[16], pattern(1)[0]);
        let mut sink = Vec::new();
        let mut pipe = std::fs::File::from(s.pipe().try_clone_to_owned().unwrap());
        let mut rest = vec![0; 33_000 - 1];
        pipe.read_exact(&mut rest).unwrap();
        sink.extend_from_slice(&rest);
        assert_eq!(sink, &pattern(40_000)[1..33_000]);
        s.sent();
    }

    #[test]
    fn past_the_pipes_allowed_reads_are_received_as_bytes() {
        let _serial = crate::locks::lock(&SERIAL);
        let mut held = Vec::new();
        let mut peers = Vec::new();
        for _ in 0..MAX_PIPES {
            let (mut peer, fd) = pair();
            peer.write_all(&pattern(40_000)).unwrap();
            let Ok(Some(Received::Spliced(s))) = receive(&fd, 1 << 20, Some((1, ones))) else {
                panic!("not spliced while pipes are left");
            };
            held.push(s);
            peers.push(peer);
        }
        let (mut peer, fd) = pair();
        peer.write_all(&pattern(40_000)).unwrap();
        let Ok(Some(Received::Bytes(got))) = receive(&fd, 1 << 20, Some((1, ones))) else {
            panic!("a pipe past the cap");
        };
        assert_eq!(got, pattern(40_000));
        for s in held {
            assert_eq!(s.into_bytes().unwrap(), pattern(40_000));
        }
        assert!(
            OPEN.load(Ordering::Relaxed) <= POOL_MAX,
            "only the pool's stay open"
        );
    }
}
