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

pub mod command;
mod data;
mod datagram;
mod listen;
pub mod sys;

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use self::command::{Command, Kind, Shut, Target};
use self::data::ended_early;
use self::listen::ParkedAccept;
pub use self::listen::{Accepted, DEFAULT_BACKLOG};
use self::sys::Address;
use super::{Mode, Parking, Pollers, Step, Wakeups, WriteDone};
use crate::error::{Error, Result};
use crate::memory::{Account, Held};
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

/// What the caller of a command may do, and how its Unix-path system
/// calls run: a daemon running as root must never let a user do what
/// that user could not do itself.
pub trait Permits {
    /// Whether the caller may bind this internet port.
    fn may_bind_port(&self, port: u16) -> bool;
    /// Runs a system call on a Unix path with the caller's filesystem
    /// identity (uid, gid, groups), so that the path's permissions are
    /// checked against the caller, not the daemon.
    fn as_caller(&self, call: &mut dyn FnMut() -> Result<()>) -> Result<()>;
    /// Whether a Unix path lies inside the mount itself (refused: the
    /// daemon would wait on itself).
    fn inside_mount(&self, path: &std::path::Path) -> bool;
}

/// No restriction: for the addresses a connect moves on to, which are
/// internet addresses the caller was allowed to connect to.
struct Unrestricted;

impl Permits for Unrestricted {
    fn may_bind_port(&self, _port: u16) -> bool {
        true
    }
    fn as_caller(&self, call: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        call()
    }
    fn inside_mount(&self, _path: &std::path::Path) -> bool {
        false
    }
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

struct ParkedRead<R> {
    reply: R,
    size: usize,
    end: DataEnd,
}

struct ParkedWrite<W> {
    reply: W,
    data: Vec<u8>,
    /// Bytes of `data` sent so far.
    sent: usize,
    /// `data`'s charge, given back when the write leaves, however it does.
    _held: Option<Held>,
}

/// A connect in progress: the command's reply, its length (the write's
/// count when it succeeds), and the addresses left to try.
struct ParkedConnect<P: Parking> {
    waiter: Connecting<P>,
    what: String,
    rest: Vec<SocketAddr>,
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
    /// The state in words; a connection shut down in one direction is
    /// `half-closed`.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Connected if self.read_shut || self.write_shut => "half-closed",
            state => state.name(),
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
    connects: WaitQueue<ParkedConnect<P>>,
    reads: WaitQueue<ParkedRead<P::Read>>,
    writes: WaitQueue<ParkedWrite<P::Write>>,
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
            accepts: WaitQueue::new(),
            given: std::collections::HashSet::new(),
            next_accept_end: 0,
            pollers: Pollers::default(),
            poll_interest: Readiness::EMPTY,
            retired: Vec::new(),
            dialed: false,
            datagram_ends: std::collections::HashMap::new(),
            next_data_end: 0,
            last_sender: None,
            transit: datagram::Transit::new(crate::ipc::channel::Faults::PERFECT),
            account: None,
            shut_down: false,
        }
    }

    /// An endpoint for a connection a listener accepted: connected.
    pub fn accepted(fd: OwnedFd, kind: Kind, watch: Box<dyn Watch>) -> Self {
        let mut ep = Endpoint::new(watch);
        ep.kind = Some(kind);
        ep.fd = Some(fd);
        ep.connected();
        ep
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
            blocked: self.connects.len()
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
    /// the command succeeds. A connect that goes on parks `waiter`.
    pub fn command(
        &mut self,
        id: WaiterId,
        waiter: P::Write,
        data: &[u8],
        permits: &dyn Permits,
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
                let e = self.fail(&format!("{what:?}"), e);
                return Step::Done(waiter, done(Err(e)));
            }
        };
        if let Err((e, why)) = check(&command, permits) {
            let e = self.fail(&format!("{what} ({why})"), e);
            return Step::Done(waiter, done(Err(e)));
        }
        let result = match command {
            Command::Connect(kind, target) => {
                // Answered through the wakeups, now or when it completes.
                let waiter = Connecting::Ctl { reply: waiter, len };
                self.connect(id, waiter, what, kind, target, permits, wk);
                return Step::Parked;
            }
            Command::Bind(kind, target) => self.bind(kind, &target, permits),
            Command::Listen(backlog) => self.listen(backlog.unwrap_or(DEFAULT_BACKLOG)),
            Command::Shutdown(how) => self.shutdown(how, wk),
            Command::Close => {
                self.close(wk);
                Ok(())
            }
        };
        let result = result.map_err(|e| self.fail(&what, e));
        Step::Done(waiter, done(result))
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

    fn address(target: &Target) -> Result<Vec<Address>> {
        match target {
            Target::Path(path) => Ok(vec![Address::unix(path)?]),
            Target::Inet { .. } => Ok(target.resolve()?.into_iter().map(Address::Inet).collect()),
        }
    }

    /// Starts a connect for `waiter`, answered through `wk` — at once, or
    /// from [`Endpoint::ready`] when the socket says how it went.
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &mut self,
        id: WaiterId,
        waiter: Connecting<P>,
        what: String,
        kind: Kind,
        target: Target,
        permits: &dyn Permits,
        wk: &mut EndpointWakeups<P>,
    ) {
        let result = match self.state {
            State::Connected => Err(Error::AlreadyConnected),
            State::Connecting => Err(Error::InProgress),
            State::Listening | State::Closed => Err(Error::InvalidArgument),
            State::Unbound | State::Bound => self.take_kind(kind),
        };
        let addresses = result.and_then(|()| Self::address(&target));
        let mut addresses = match addresses {
            Ok(a) => a,
            Err(e) => {
                let e = self.fail(&what, e);
                return waiter.answer(id, Err(e), wk);
            }
        };
        let rest: Vec<SocketAddr> = addresses
            .iter()
            .skip(1)
            .filter_map(|a| match a {
                Address::Inet(s) => Some(*s),
                Address::Unix(_) => None,
            })
            .collect();
        let first = addresses.remove(0);
        let parked = ParkedConnect { waiter, what, rest };
        self.try_connect(id, parked, first, permits, wk);
    }

    /// A dial file's open (`sockets/tcp/HOST/PORT`): this new endpoint
    /// connects, and the open is answered when it has, its descriptor the
    /// connection. Closing it closes the endpoint.
    #[allow(clippy::too_many_arguments)]
    pub fn dial(
        &mut self,
        id: WaiterId,
        reply: P::Open,
        mode: Mode,
        kind: Kind,
        target: Target,
        permits: &dyn Permits,
        wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Open, Result<DataEnd>> {
        self.dialed = true;
        let what = format!("dial {} {target}", kind.name());
        if let Err((e, why)) = check(&Command::Connect(kind, target.clone()), permits) {
            let e = self.fail(&format!("{what} ({why})"), e);
            return Step::Done(reply, Err(e));
        }
        let waiter = Connecting::Dial { reply, mode };
        self.connect(id, waiter, what, kind, target, permits, wk);
        Step::Parked
    }

    /// Connects to `address`, or on to the next address of `parked` when
    /// it fails at once.
    fn try_connect(
        &mut self,
        id: WaiterId,
        mut parked: ParkedConnect<P>,
        mut address: Address,
        permits: &dyn Permits,
        wk: &mut EndpointWakeups<P>,
    ) {
        let kind = self.kind.expect("taken before connecting");
        loop {
            let started = self.socket_for(kind, &address).and_then(|()| {
                let fd = self.fd.as_ref().expect("just made");
                let mut at_once = false;
                permits.as_caller(&mut || {
                    at_once = sys::connect(fd, &address)?;
                    Ok(())
                })?;
                Ok(at_once)
            });
            match started {
                Ok(true) => {
                    self.connected();
                    self.notify(wk);
                    return parked.waiter.answer(id, Ok(()), wk);
                }
                Ok(false) => {
                    self.state = State::Connecting;
                    self.connects.push(id, parked);
                    self.arm();
                    return;
                }
                Err(e) if !parked.rest.is_empty() && self.state != State::Bound => {
                    log::debug!("socket {}: {e}; trying the next address", parked.what);
                    self.discard_socket();
                    address = Address::Inet(parked.rest.remove(0));
                }
                Err(e) => {
                    if self.state != State::Bound {
                        self.discard_socket();
                    }
                    let e = self.fail(&parked.what, e);
                    return parked.waiter.answer(id, Err(e), wk);
                }
            }
        }
    }

    /// Makes the socket, unless a bind made it already.
    fn socket_for(&mut self, kind: Kind, address: &Address) -> Result<()> {
        if self.fd.is_none() {
            self.fd = Some(sys::open(kind, address)?);
        }
        Ok(())
    }

    /// Drops a socket that never connected (a failed connect leaves an
    /// unusable one); the next connect makes a new one.
    fn discard_socket(&mut self) {
        if let Some(fd) = self.fd.take() {
            self.retired.push((self.token.take(), fd));
        }
        self.state = State::Unbound;
    }

    fn connected(&mut self) {
        self.state = State::Connected;
        let fd = self.fd.as_ref().expect("connected");
        self.local = sys::local_address(fd);
        self.remote = sys::peer_address(fd);
        self.error = None;
    }

    fn bind(&mut self, kind: Kind, target: &Target, permits: &dyn Permits) -> Result<()> {
        if self.state != State::Unbound {
            return Err(Error::AlreadyConnected);
        }
        self.take_kind(kind)?;
        let address = Self::address(target)?.remove(0);
        self.socket_for(kind, &address)?;
        let fd = self.fd.as_ref().expect("just made");
        if let Err(e) = permits.as_caller(&mut || sys::bind(fd, &address)) {
            self.discard_socket();
            return Err(e);
        }
        self.state = State::Bound;
        self.local = sys::local_address(self.fd.as_ref().expect("bound"));
        Ok(())
    }

    fn shutdown(&mut self, how: Shut, wk: &mut EndpointWakeups<P>) -> Result<()> {
        let fd = match (&self.fd, self.state) {
            (Some(fd), State::Connected) => fd,
            _ => return Err(Error::NotConnected),
        };
        sys::shutdown(fd, how.how())?;
        if how != Shut::Write {
            self.read_shut = true;
            // Readers waiting see the end of the stream.
            for (id, r) in self.reads.drain() {
                wk.reads.push((id, r.reply, Ok(Vec::new())));
            }
        }
        if how != Shut::Read {
            self.write_shut = true;
            for (id, w) in self.writes.drain() {
                let done = ended_early(&w, Error::BrokenPipe);
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
        if let Some(fd) = self.fd.take() {
            self.retired.push((self.token.take(), fd));
        }
        self.state = State::Closed;
        self.answer_all(wk, Error::ConnectionReset);
    }

    fn answer_all(&mut self, wk: &mut EndpointWakeups<P>, connect_error: Error) {
        for (id, c) in self.connects.drain() {
            c.waiter.answer(id, Err(connect_error), wk);
        }
        for (id, r) in self.reads.drain() {
            wk.reads.push((id, r.reply, Ok(Vec::new())));
        }
        for (id, w) in self.writes.drain() {
            let done = ended_early(&w, Error::BrokenPipe);
            wk.writes.push((id, w.reply, done));
        }
        for (id, a) in self.accepts.drain() {
            wk.reads.push((id, a.reply, Ok(Vec::new())));
        }
        self.notify(wk);
    }

    /// What the parked callers wait for: the reactor's interest.
    fn interest(&self) -> Readiness {
        let mut interest = self.poll_interest;
        if !self.reads.is_empty() || !self.accepts.is_empty() {
            interest |= Readiness::READABLE;
        }
        if !self.writes.is_empty() || !self.connects.is_empty() {
            interest |= Readiness::WRITABLE;
        }
        interest
    }

    /// Arms the socket for what the parked callers wait for (one-shot:
    /// after a report it is disarmed until armed again).
    fn arm(&mut self) {
        let interest = self.interest();
        if interest.is_empty() {
            return;
        }
        let Some(fd) = &self.fd else {
            return;
        };
        let armed = match self.token {
            Some(token) => self.watch.rearm(token, interest),
            None => self.watch.watch(fd.as_fd(), interest).map(|t| {
                self.token = Some(t);
            }),
        };
        if let Err(e) = armed {
            // Without the reactor nothing would wake them: answer now.
            log::warn!("socket: cannot watch the descriptor: {e}");
            self.error = Some(format!("reactor: {e}"));
        }
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
        self.arm();
    }

    fn finish_connect(&mut self, wk: &mut EndpointWakeups<P>) {
        let Some((id, _)) = self.connects.ids().first().map(|id| (*id, ())) else {
            return;
        };
        let outcome = sys::take_error(self.fd.as_ref().expect("connecting"));
        if outcome == Err(Error::WouldBlock) {
            return;
        }
        let mut c = self.connects.remove(id).expect("the one parked connect");
        match outcome {
            Ok(()) => {
                self.connected();
                c.waiter.answer(id, Ok(()), wk);
            }
            Err(e) if !c.rest.is_empty() => {
                log::debug!("socket {}: {e}; trying the next address", c.what);
                self.discard_socket();
                let next = Address::Inet(c.rest.remove(0));
                self.try_connect(id, c, next, &Unrestricted, wk);
            }
            Err(e) => {
                self.discard_socket();
                let e = self.fail(&c.what, e);
                c.waiter.answer(id, Err(e), wk);
            }
        }
        self.notify(wk);
    }

    fn notify(&mut self, wk: &mut EndpointWakeups<P>) {
        self.pollers.notify_into(&mut wk.polls);
        self.poll_interest = Readiness::EMPTY;
    }
}

/// A command's addresses against what the caller may do: no port below
/// the unprivileged start unless the caller may bind it (`EACCES`, as
/// bind(2)), no relative Unix path (`EINVAL`: relative to what?), and no
/// Unix path inside the mount (`EINVAL`).
/// A refusal's errno and its reason in words, for `err`.
fn check(
    command: &Command,
    permits: &dyn Permits,
) -> std::result::Result<(), (Error, &'static str)> {
    let (bind, target) = match command {
        Command::Connect(_, t) => (false, t),
        Command::Bind(_, t) => (true, t),
        _ => return Ok(()),
    };
    match target {
        Target::Inet { port, .. } if bind && !permits.may_bind_port(*port) => Err((
            Error::AccessDenied,
            "a port this low needs root or CAP_NET_BIND_SERVICE",
        )),
        Target::Path(path) if !path.is_absolute() => {
            Err((Error::InvalidArgument, "a Unix path must be absolute"))
        }
        Target::Path(path) if permits.inside_mount(path) => Err((
            Error::InvalidArgument,
            "a Unix path may not be inside the mount",
        )),
        _ => Ok(()),
    }
}
