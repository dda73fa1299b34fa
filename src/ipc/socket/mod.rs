//! A socket endpoint (`mkdir sockets/NAME`) as a state machine: the
//! socket API — connect, bind, listen, accept, shutdown, close — driven by
//! the commands written to its `ctl` file, and a byte stream (or
//! datagrams) through its `data` file.
//!
//! The socket is non-blocking. A call that cannot go on (a connect in
//! progress, a read with nothing to read, a write the socket cannot take)
//! parks its reply here and arms the socket with the reactor for what it
//! waits for; the reactor's report comes back through [`Endpoint::ready`],
//! which serves the parked callers and re-arms while any is left. An idle
//! endpoint is not armed and costs nothing.
//!
//! Invariants, true between any two calls:
//! - `fd` is `Some` from the first connect or bind until close, and
//!   `token` is its registration with the reactor, if any;
//! - parked reads exist only while the socket had nothing to read, and
//!   parked writes only while it could not take the oldest one's bytes;
//! - a parked `ctl` write is a connect in progress (`state` is
//!   `Connecting`).
//! - descriptors and registrations taken out at close wait in `retired`
//!   until the fs layer deregisters them outside the endpoint's lock
//!   (deregistering inside could wait on a reactor call that waits for
//!   this lock).

mod backlog;
pub mod command;
mod connect;
mod data;
mod datagram;
pub mod errand;
mod listen;
pub mod splice;
pub mod sys;

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use self::command::{Command, Kind, Shut, SocketOption, Target};
pub use self::errand::{Errand, Outcome};
use self::listen::ParkedAccept;
pub use self::listen::{Accepted, DEFAULT_BACKLOG};
use self::sys::Address;
use super::{
    Mode, ParkedRead, ParkedWrite, Parking, Pollers, ReadDone, Step, Unwritten, Wakeups, WriteDone,
};
use crate::error::{Error, Result};
use crate::memory::Account;
use crate::reactor::{Readiness, Token};
use crate::wait::{WaitQueue, WaiterId};

/// The state of an endpoint, as its `status` file says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Unbound,
    Connecting,
    Connected,
    Bound,
    Listening,
    Closed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Unbound => "unbound",
            State::Connecting => "connecting",
            State::Connected => "connected",
            State::Bound => "bound",
            State::Listening => "listening",
            State::Closed => "closed",
        }
    }
}

/// How the endpoint asks the reactor to watch its socket, on behalf of
/// the cell that holds it (which the core cannot name).
pub trait Watch: Send {
    fn watch(&self, fd: BorrowedFd<'_>, interest: Readiness) -> std::io::Result<Token>;
    fn rearm(&self, token: Token, interest: Readiness) -> std::io::Result<()>;
}

/// Who an endpoint acts for, and how: the system calls a command makes
/// run wearing its caller's identity (caller::as_caller), so that the
/// kernel checks them as the caller's own, in the caller's network
/// namespace; those that may block or walk a path run as an errand on a
/// deputy thread, off every serving thread.
pub trait Deputy: Send + Sync {
    /// Runs `call` on this thread as the caller: for system calls that
    /// neither block nor walk a path (socket, bind and connect to an
    /// internet address, listen).
    fn act(&self, call: &mut dyn FnMut() -> Result<()>) -> Result<()>;
    /// Starts `errand` on a deputy thread as the caller; its outcome comes
    /// back through [`Endpoint::errand_done`] with `seq`, from that thread.
    fn send(&self, seq: u64, errand: Errand) -> Result<()>;
    /// What the caller's Unix-domain messages carry as their sender
    /// (`None`: the kernel's own, the daemon's).
    fn credentials(&self) -> Option<sys::Credentials>;
}

/// An errand on a deputy thread, and the command that waits for it.
pub(super) struct Pending<P: Parking> {
    seq: u64,
    id: WaiterId,
    asking: Asking<P>,
    /// What it waits on, in words (for a timeout's reason).
    waits_on: String,
    due: std::time::Instant,
    /// A bind (else a connect).
    bind: bool,
}

/// One open file description of an endpoint's `data` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataEnd {
    pub mode: Mode,
    /// Its key among the endpoint's open descriptions (datagram state).
    pub id: u64,
    /// Opened with `O_DIRECT`: each read and write one datagram.
    pub packet: bool,
}

/// A write waiting for the socket to take its bytes: all of them stay
/// charged (its writer's) until it leaves.
type EndpointWrite<W> = ParkedWrite<W, Unwritten>;

/// A connect or bind that waits for its answer: who waits (the command's
/// reply, its length), the command in words (for `err`), who acts for its
/// caller, and, for a connect in progress, the addresses left to try.
struct Asking<P: Parking> {
    waiter: Connecting<P>,
    what: String,
    deputy: Arc<dyn Deputy>,
    rest: Vec<SocketAddr>,
}

impl<P: Parking> Asking<P> {
    /// Answers it through the wakeups.
    fn answer(self, id: WaiterId, result: Result<()>, wk: &mut EndpointWakeups<P>) {
        self.waiter.answer(id, result, wk);
    }
}

/// Who waits for a connect: the `ctl` write that asked for it, or the
/// open of a dial file, whose descriptor is the connection.
enum Connecting<P: Parking> {
    Ctl { reply: P::Write, len: usize },
    Dial { reply: P::Open, mode: Mode },
}

impl<P: Parking> Connecting<P> {
    /// Puts the connect's answer among the wakeups.
    fn answer(self, id: WaiterId, result: Result<()>, wk: &mut EndpointWakeups<P>) {
        match self {
            Connecting::Ctl { reply, len } => {
                let done = match result {
                    Ok(()) => WriteDone::ok(len),
                    Err(e) => WriteDone::err(e),
                };
                wk.writes.push((id, reply, done));
            }
            Connecting::Dial { reply, mode } => {
                // A dial file reads and writes one datagram per call.
                let end = DataEnd {
                    mode,
                    id: 0,
                    packet: true,
                };
                wk.opens.push((id, reply, result.map(|()| end)));
            }
        }
    }
}

impl EndpointStatus {
    /// The state in words: a connection whose peer reset it is `reset`,
    /// one shut down here in one direction `half-closed` (the `shutdown`
    /// line says which), one whose peer closed its side `peer closed`.
    pub fn state_name(&self) -> &'static str {
        let shut = self.read_shut || self.write_shut;
        match (self.state, self.peer) {
            (State::Connected, Some(sys::Peer::Reset)) => sys::Peer::Reset.name(),
            (State::Connected, _) if shut => "half-closed",
            (State::Connected, Some(peer)) => peer.name(),
            (state, _) => state.name(),
        }
    }
}

/// What an endpoint knows of itself, for its `status`, `local`, `remote`
/// and `err` files and the root `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStatus {
    pub state: State,
    pub kind: Option<Kind>,
    pub local: Option<String>,
    pub remote: Option<String>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub read_shut: bool,
    pub write_shut: bool,
    pub error: Option<String>,
    pub blocked: usize,
    /// What became of a connected stream's peer, if anything.
    pub peer: Option<sys::Peer>,
    /// The socket options that are on.
    pub options: Vec<SocketOption>,
}

pub struct Endpoint<P: Parking> {
    state: State,
    kind: Option<Kind>,
    fd: Option<OwnedFd>,
    token: Option<Token>,
    watch: Box<dyn Watch>,
    read_shut: bool,
    write_shut: bool,
    local: Option<String>,
    remote: Option<String>,
    bytes_in: u64,
    bytes_out: u64,
    error: Option<String>,
    connects: WaitQueue<Asking<P>>,
    reads: WaitQueue<ParkedRead<P::Read, DataEnd>>,
    writes: WaitQueue<EndpointWrite<P::Write>>,
    /// Bytes of a write answered before the socket took them all (see
    /// [`backlog`]): sent before any parked write's.
    backlog: Option<backlog::Backlog>,
    /// A send error on the backlog's bytes, for the next write.
    unreported: Option<Error>,
    /// Closed, but its socket is kept until the backlog is sent.
    closing: bool,
    /// `shutdown wr` waits for the backlog to be sent.
    shut_wr_pending: bool,
    accepts: WaitQueue<ParkedAccept<P::Read>>,
    /// `accept` file descriptions that were given a name: their next read
    /// is the end of file.
    given: std::collections::HashSet<u64>,
    next_accept_end: u64,
    pollers: Pollers<P::Poll>,
    /// What the kept poll handles wait for (cleared when they are told).
    poll_interest: Readiness,
    retired: Vec<(Option<Token>, OwnedFd)>,
    /// Made by a dial file's open: the last close of it closes the socket.
    dialed: bool,
    /// Closes itself with the last descriptor of its `data` (an accepted
    /// connection of an `autoclose` listener).
    autoclose: bool,
    /// A listener's `autoclose`: what its accepted connections get.
    autoclose_accepted: bool,
    /// Open descriptions of its `data`.
    data_held: usize,
    /// `headers on` (datagrams): each datagram read starts with its
    /// sender's address and a newline, each written with where it goes.
    headers: bool,
    /// The datagram being written and read through each open of `data`.
    datagram_ends: std::collections::HashMap<u64, datagram::DatagramEnd>,
    next_data_end: u64,
    /// Who sent the last datagram to a bound, unconnected endpoint: where
    /// its writes go.
    last_sender: Option<nix::sys::socket::SockaddrStorage>,
    /// The channel its datagrams go out through (labs).
    transit: datagram::Transit,
    /// What it holds for its users is charged here: parked writes' data,
    /// datagrams being composed or delayed (`None` in unit tests).
    account: Option<Arc<Account>>,
    shut_down: bool,
    /// What a read found of the peer: a reset (read once, then gone from
    /// the socket) or the end of its stream.
    peer: Option<sys::Peer>,
    /// The socket options set by `ctl` commands, in the order set: applied
    /// to the socket now, or when it is made.
    options: Vec<(SocketOption, bool)>,
    /// What a Unix-domain socket's messages carry as their sender: the
    /// ids of who made the socket (connect, bind) or accepted it.
    creds: Option<sys::Credentials>,
    /// The errand a command waits for, if any (one at a time).
    pending: Option<Pending<P>>,
    next_errand: u64,
}

pub type EndpointWakeups<P> = Wakeups<P, DataEnd>;

impl<P: Parking> Endpoint<P> {
    pub fn new(watch: Box<dyn Watch>) -> Self {
        Endpoint {
            state: State::Unbound,
            kind: None,
            fd: None,
            token: None,
            watch,
            read_shut: false,
            write_shut: false,
            local: None,
            remote: None,
            bytes_in: 0,
            bytes_out: 0,
            error: None,
            connects: WaitQueue::new(),
            reads: WaitQueue::new(),
            writes: WaitQueue::new(),
            backlog: None,
            unreported: None,
            closing: false,
            shut_wr_pending: false,
            accepts: WaitQueue::new(),
            given: std::collections::HashSet::new(),
            next_accept_end: 0,
            pollers: Pollers::default(),
            poll_interest: Readiness::EMPTY,
            retired: Vec::new(),
            dialed: false,
            autoclose: false,
            autoclose_accepted: false,
            data_held: 0,
            headers: false,
            datagram_ends: std::collections::HashMap::new(),
            next_data_end: 0,
            last_sender: None,
            transit: datagram::Transit::new(crate::ipc::channel::Faults::PERFECT),
            account: None,
            shut_down: false,
            peer: None,
            options: Vec::new(),
            creds: None,
            pending: None,
            next_errand: 0,
        }
    }

    /// An endpoint for a connection a listener accepted for `owner` (the
    /// reader of `accept`, whose messages it sends): connected.
    pub fn accepted(
        fd: OwnedFd,
        kind: Kind,
        owner: (u32, u32),
        autoclose: bool,
        watch: Box<dyn Watch>,
    ) -> Self {
        let mut ep = Endpoint::new(watch);
        ep.kind = Some(kind);
        ep.fd = Some(fd);
        ep.autoclose = autoclose;
        if kind.is_unix() {
            ep.creds = sys::Credentials::of_user(owner.0, owner.1);
        }
        ep.connected();
        ep
    }

    /// What became of a connected stream's peer: what a read found, or
    /// what the socket says now.
    fn peer_now(&self) -> Option<sys::Peer> {
        match (&self.fd, self.state, self.kind) {
            (Some(fd), State::Connected, Some(k)) if k.is_stream() => {
                self.peer.or_else(|| sys::peer(fd))
            }
            _ => None,
        }
    }

    /// The endpoint has a socket that `deputy`'s caller made: its Unix-
    /// domain messages name that caller.
    fn made_by(&mut self, deputy: &Arc<dyn Deputy>) {
        if self.kind.is_some_and(Kind::is_unix) {
            self.creds = deputy.credentials();
        }
    }

    pub fn status(&self) -> EndpointStatus {
        EndpointStatus {
            state: self.state,
            kind: self.kind,
            local: self.local.clone(),
            remote: self.remote.clone(),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            read_shut: self.read_shut,
            write_shut: self.write_shut,
            error: self.error.clone(),
            peer: self.peer_now(),
            options: self
                .options
                .iter()
                .filter(|(_, on)| *on)
                .map(|(o, _)| *o)
                .collect(),
            blocked: self.connects.len()
                + usize::from(self.pending.is_some())
                + self.reads.len()
                + self.writes.len()
                + self.accepts.len(),
        }
    }

    /// Descriptors closed and registrations to drop, taken out of the
    /// endpoint (see the invariants).
    pub fn take_retired(&mut self) -> Vec<(Option<Token>, OwnedFd)> {
        std::mem::take(&mut self.retired)
    }

    /// Notes a failure in `err` and logs it.
    fn fail(&mut self, what: &str, e: Error) -> Error {
        log::info!("socket {what}: {e}");
        self.error = Some(format!("{what}: {e}"));
        e
    }

    /// Runs one `ctl` command: `len` is the write's length, its count when
    /// the command succeeds. A connect that goes on, or a bind that waits
    /// for its errand, parks `waiter`. `deputy` acts for the writer.
    pub fn command(
        &mut self,
        id: WaiterId,
        waiter: P::Write,
        data: &[u8],
        deputy: &Arc<dyn Deputy>,
        wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Write, WriteDone> {
        let len = data.len();
        let what = String::from_utf8_lossy(data).trim_end().to_string();
        let done = |r: Result<()>| WriteDone {
            result: r.map(|()| len),
            sigpipe: false,
        };
        let command = match command::parse(data) {
            Ok(c) => c,
            Err(e) => {
                let e = self.fail(&format!("{what:?} ({})", command::why_not(data)), e);
                return Step::Done(waiter, done(Err(e)));
            }
        };
        if let Err((e, why)) = check(&command) {
            let e = self.fail(&format!("{what} ({why})"), e);
            return Step::Done(waiter, done(Err(e)));
        }
        // A connect or a bind is answered through the wakeups, now or when
        // it completes.
        let asking = |waiter, what| Asking {
            waiter: Connecting::Ctl { reply: waiter, len },
            what,
            deputy: deputy.clone(),
            rest: Vec::new(),
        };
        let (result, why) = match command {
            Command::Connect(kind, target) => {
                self.connect(id, asking(waiter, what), kind, target, wk);
                return Step::Parked;
            }
            Command::Bind(kind, target) => {
                self.bind(id, asking(waiter, what), kind, target, wk);
                return Step::Parked;
            }
            Command::Listen(backlog) => {
                let why = self.why_no_listen();
                (self.listen(backlog.unwrap_or(DEFAULT_BACKLOG), deputy), why)
            }
            Command::Shutdown(how) => {
                let why = "shutdown needs a connected endpoint";
                (self.shutdown(how, wk), why)
            }
            Command::Close => {
                self.close(wk);
                (Ok(()), "")
            }
            Command::Set(option, on) => (
                self.set_option(option, on),
                "that option is not for this kind of endpoint",
            ),
            Command::Headers(on) => {
                let datagrams = self.kind.is_none_or(|k| !k.is_stream());
                let result = match datagrams {
                    true => {
                        self.headers = on;
                        Ok(())
                    }
                    false => Err(Error::InvalidArgument),
                };
                (
                    result,
                    "a tcp or unix endpoint has a peer, and no datagrams",
                )
            }
            Command::AutoClose(on) => {
                let stream = self.kind.is_none_or(Kind::is_stream);
                let result = match stream {
                    true => {
                        self.autoclose_accepted = on;
                        Ok(())
                    }
                    false => Err(Error::InvalidArgument),
                };
                (result, "a udp or unixgram endpoint accepts no connections")
            }
        };
        let result = result.map_err(|e| match e {
            Error::InvalidArgument | Error::NotConnected => {
                self.fail(&format!("{what} ({why})"), e)
            }
            _ => self.fail(&what, e),
        });
        Step::Done(waiter, done(result))
    }

    /// Sets a socket option: on the socket now if it has one, and on any
    /// socket it makes later (reuseport must be set before bind).
    fn set_option(&mut self, option: SocketOption, on: bool) -> Result<()> {
        if !option.fits(self.kind) {
            return Err(Error::InvalidArgument);
        }
        if let Some(fd) = &self.fd {
            sys::set_option(fd, option, on)?;
        }
        self.options.retain(|(o, _)| *o != option);
        self.options.push((option, on));
        Ok(())
    }

    /// Why a listen would be refused here, in words.
    fn why_no_listen(&self) -> &'static str {
        match (self.kind, self.state) {
            (Some(k), _) if !k.is_stream() => {
                "a udp or unixgram endpoint does not listen: once bound it receives from anyone"
            }
            (_, State::Listening) => "the endpoint listens already",
            _ => "listen needs a bound tcp or unix endpoint: bind first",
        }
    }

    /// The endpoint's kind is fixed by its first connect or bind.
    fn take_kind(&mut self, kind: Kind) -> Result<()> {
        match self.kind {
            Some(k) if k != kind => Err(Error::InvalidArgument),
            _ => {
                self.kind = Some(kind);
                Ok(())
            }
        }
    }

    fn shutdown(&mut self, how: Shut, wk: &mut EndpointWakeups<P>) -> Result<()> {
        if self.fd.is_none() || self.state != State::Connected {
            return Err(Error::NotConnected);
        }
        // The bytes a write was answered for go before the end of the
        // stream, as they would from a kernel socket's buffer: while they
        // wait, the socket's writing is shut when they are gone.
        let defer = how != Shut::Read && !self.send_backlog();
        let fd = self.fd.as_ref().ok_or(Error::NotConnected)?;
        match (defer, how) {
            (false, _) => sys::shutdown(fd, how.how())?,
            (true, Shut::Both) => sys::shutdown(fd, Shut::Read.how())?,
            (true, _) => {}
        }
        if how != Shut::Read {
            self.shut_wr_pending = defer;
        }
        if how != Shut::Write {
            self.read_shut = true;
            // Readers waiting see the end of the stream.
            for (id, r) in self.reads.drain() {
                wk.reads.push((id, r.reply, ReadDone::Data(Ok(Vec::new()))));
            }
        }
        if how != Shut::Read {
            self.write_shut = true;
            for (id, w) in self.writes.drain() {
                let done = w.end_early(Error::BrokenPipe);
                wk.writes.push((id, w.reply, done));
            }
        }
        self.notify(wk);
        Ok(())
    }

    /// `close()`: the socket goes, every parked caller is answered
    /// (readers see end of file, writers `EPIPE`, a connect
    /// `ECONNRESET`), and every later call finds the endpoint closed.
    pub fn close(&mut self, wk: &mut EndpointWakeups<P>) {
        self.retire_socket();
        self.state = State::Closed;
        self.answer_all(wk, Error::ConnectionReset);
    }

    /// Lets the socket go, or, while bytes a write was answered for wait
    /// to be sent, keeps it until they are (see [`backlog`]).
    fn retire_socket(&mut self) {
        if !self.send_backlog() {
            self.closing = true;
            self.copy_out_backlog();
            return;
        }
        if let Some(fd) = self.fd.take() {
            self.retired.push((self.token.take(), fd));
        }
    }

    fn answer_all(&mut self, wk: &mut EndpointWakeups<P>, connect_error: Error) {
        if let Some(p) = self.pending.take() {
            p.asking.answer(p.id, Err(connect_error), wk);
        }
        for (id, c) in self.connects.drain() {
            c.waiter.answer(id, Err(connect_error), wk);
        }
        for (id, r) in self.reads.drain() {
            wk.reads.push((id, r.reply, ReadDone::Data(Ok(Vec::new()))));
        }
        for (id, w) in self.writes.drain() {
            let done = w.end_early(Error::BrokenPipe);
            wk.writes.push((id, w.reply, done));
        }
        for (id, a) in self.accepts.drain() {
            wk.reads.push((id, a.reply, ReadDone::Data(Ok(Vec::new()))));
        }
        self.notify(wk);
    }

    /// What the parked callers wait for: the reactor's interest.
    fn interest(&self) -> Readiness {
        let mut interest = self.poll_interest;
        if !self.reads.is_empty() || !self.accepts.is_empty() {
            interest |= Readiness::READABLE;
        }
        let backlog_waits = self.backlog.as_ref().is_some_and(|b| b.waits_for_room);
        if !self.writes.is_empty() || !self.connects.is_empty() || backlog_waits {
            interest |= Readiness::WRITABLE;
        }
        interest
    }

    /// Arms the socket for what the parked callers wait for (one-shot:
    /// after a report it is disarmed until armed again).
    /// False when the reactor refused to watch the socket (see
    /// [`Endpoint::arm_or_answer`]).
    fn arm(&mut self) -> bool {
        let interest = self.interest();
        if interest.is_empty() {
            return true;
        }
        let Some(fd) = &self.fd else {
            return true;
        };
        let armed = match self.token {
            Some(token) => self.watch.rearm(token, interest),
            None => self.watch.watch(fd.as_fd(), interest).map(|t| {
                self.token = Some(t);
            }),
        };
        if let Err(e) = armed {
            log::warn!("socket: cannot watch the descriptor: {e}");
            self.error = Some(format!("reactor: {e}"));
            return false;
        }
        true
    }

    /// Arms the socket for its parked callers; if the reactor refuses
    /// (no memory for one more watch), nothing would ever wake them: they
    /// are answered now, with `ENOSPC`.
    fn arm_or_answer(&mut self, wk: &mut EndpointWakeups<P>) {
        if self.arm() {
            return;
        }
        let e = Error::NoSpace;
        self.drop_backlog("a refused watch", e);
        if let Some(p) = self.pending.take() {
            p.asking.answer(p.id, Err(e), wk);
        }
        for (id, c) in self.connects.drain() {
            c.waiter.answer(id, Err(e), wk);
        }
        for (id, r) in self.reads.drain() {
            wk.reads.push((id, r.reply, ReadDone::Data(Err(e))));
        }
        for (id, w) in self.writes.drain() {
            let done = w.end_early(e);
            wk.writes.push((id, w.reply, done));
        }
        for (id, a) in self.accepts.drain() {
            wk.reads.push((id, a.reply, ReadDone::Data(Err(e))));
        }
        self.notify(wk);
    }

    /// The reactor reports the socket ready: finish a connect, serve
    /// parked readers and writers, and arm again while any is left.
    pub fn ready(&mut self, token: Token, events: Readiness, wk: &mut EndpointWakeups<P>) {
        if self.token != Some(token) {
            return; // A report for a socket this endpoint no longer has.
        }
        if self.state == State::Connecting {
            self.finish_connect(wk);
        }
        self.serve(wk);
        if !events.is_empty() {
            // Whatever a poller waited for may have come.
            self.notify(wk);
        }
        self.arm_or_answer(wk);
    }

    fn notify(&mut self, wk: &mut EndpointWakeups<P>) {
        self.pollers.notify_into(&mut wk.polls);
        self.poll_interest = Readiness::EMPTY;
    }
}

/// A command's address as written: a Unix path must be absolute (`EINVAL`:
/// relative to what?). Everything else about an address — a low port, a
/// path the caller may not reach, a path inside the mount — is for the
/// kernel, or the errand, to refuse. A refusal's errno and its reason in
/// words, for `err`.
fn check(command: &Command) -> std::result::Result<(), (Error, &'static str)> {
    match command {
        Command::Connect(_, Target::Path(path)) | Command::Bind(_, Target::Path(path))
            if !path.is_absolute() =>
        {
            Err((Error::InvalidArgument, "a Unix path must be absolute"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{Plain, read_call};

    /// A reactor with no room for one more watch.
    struct Full;
    impl Watch for Full {
        fn watch(&self, _fd: BorrowedFd<'_>, _interest: Readiness) -> std::io::Result<Token> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn rearm(&self, _token: Token, _interest: Readiness) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
    }

    #[test]
    fn a_call_the_reactor_cannot_watch_for_is_answered_at_once() {
        let (ours, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let fd = OwnedFd::from(ours);
        let mut ep: Endpoint<Plain> =
            Endpoint::accepted(fd, Kind::Unix, (0, 0), false, Box::new(Full));
        let end = DataEnd {
            mode: Mode::READ,
            id: 1,
            packet: false,
        };
        let mut wk = Wakeups::default();
        let step = crate::ipc::StreamObject::read(&mut ep, read_call(7, end, 10, false), &mut wk);
        assert!(matches!(step, Step::Parked));
        assert_eq!(wk.reads.len(), 1, "answered, not left waiting for ever");
        assert_eq!(wk.reads[0].0, 7);
        assert_eq!(wk.reads[0].2, ReadDone::Data(Err(Error::NoSpace)));
        assert_eq!(ep.status().blocked, 0);
        assert!(ep.status().error.is_some_and(|e| e.starts_with("reactor:")));
    }
}
