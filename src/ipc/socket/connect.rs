//! How an endpoint connects and binds: a numeric address as its caller,
//! at once; a host name or a Unix path as an errand on a deputy thread,
//! whose outcome comes back through [`Endpoint::errand_done`]; a connect
//! that does not finish at once waits for the reactor (`finish_connect`)
//! and, when it fails, goes on to the next address the name gave.

use super::*;

impl<P: Parking> Endpoint<P> {
    /// Starts a connect, answered through `wk` — at once, or when the
    /// errand or the socket says how it went. A numeric internet address
    /// is connected here, as the caller; a host name or a Unix path goes to
    /// a deputy.
    pub(super) fn connect(
        &mut self,
        id: WaiterId,
        asking: Asking<P>,
        kind: Kind,
        target: Target,
        wk: &mut EndpointWakeups<P>,
    ) {
        let result = match self.state {
            _ if self.pending.is_some() => Err(Error::InProgress),
            State::Connected => Err(Error::AlreadyConnected),
            State::Connecting => Err(Error::InProgress),
            State::Listening | State::Closed => Err(Error::InvalidArgument),
            State::Unbound | State::Bound => self.take_kind(kind),
        };
        if let Err(e) = result {
            let e = self.fail(&asking.what, e);
            return asking.answer(id, Err(e), wk);
        }
        if let Some(address) = target.numeric() {
            return self.try_connect(id, asking, Address::Inet(address), wk);
        }
        let bound = match (&self.fd, self.state) {
            (Some(fd), State::Bound) => match fd.try_clone() {
                Ok(copy) => Some(copy),
                Err(e) => {
                    let e = self.fail(&asking.what, Error::from_os(&e));
                    return asking.answer(id, Err(e), wk);
                }
            },
            _ => None,
        };
        let waits_on = Errand::waits_on(&target);
        let errand = Errand::Connect {
            kind,
            target,
            bound,
            options: self.options.clone(),
        };
        self.start_errand(id, asking, waits_on, errand, wk);
    }

    /// Hands `errand` to the asker's deputy and parks it until the errand
    /// is done ([`Endpoint::errand_done`]) or takes too long (the
    /// deadline).
    fn start_errand(
        &mut self,
        id: WaiterId,
        asking: Asking<P>,
        waits_on: String,
        errand: Errand,
        wk: &mut EndpointWakeups<P>,
    ) {
        let bind = matches!(errand, Errand::Bind { .. });
        self.next_errand += 1;
        let seq = self.next_errand;
        if let Err(e) = asking.deputy.send(seq, errand) {
            let e = self.fail(&asking.what, e);
            return asking.answer(id, Err(e), wk);
        }
        if !bind {
            self.state = State::Connecting;
        }
        self.pending = Some(Pending {
            seq,
            id,
            asking,
            waits_on,
            due: std::time::Instant::now() + errand::ERRAND_TIMEOUT,
            bind,
        });
    }

    /// A deputy is done with errand `seq`: the connect goes on (or is
    /// done), the bind is done, or the command fails with the reason. An
    /// errand whose command was interrupted, timed out or closed meanwhile
    /// is dropped, and its socket with it.
    pub fn errand_done(&mut self, seq: u64, outcome: Outcome, wk: &mut EndpointWakeups<P>) {
        let Some(p) = self.pending.take_if(|p| p.seq == seq) else {
            log::debug!("socket: an errand ended after its command: dropped");
            return;
        };
        let (id, bind) = (p.id, p.bind);
        self.errand_abandoned(&p);
        let mut asking = p.asking;
        match outcome {
            Outcome::Connecting { fd, at_once, rest } if !bind => {
                // A copy of the bound socket comes back: the endpoint has it.
                if self.fd.is_none() {
                    self.fd = Some(fd);
                    self.made_by(&asking.deputy);
                }
                asking.rest = rest;
                if at_once {
                    self.connected();
                    self.notify(wk);
                    asking.answer(id, Ok(()), wk);
                } else {
                    self.state = State::Connecting;
                    self.connects.push(id, asking);
                    self.arm_or_answer(wk);
                }
            }
            Outcome::Bound { fd } if bind => {
                self.fd = Some(fd);
                self.made_by(&asking.deputy);
                self.state = State::Bound;
                self.local = sys::local_address(self.fd.as_ref().expect("bound"));
                self.error = None;
                asking.answer(id, Ok(()), wk);
            }
            Outcome::Failed { error, why } => {
                let what = match why {
                    Some(why) => format!("{} ({why})", asking.what),
                    None => asking.what.clone(),
                };
                let e = self.fail(&what, error);
                asking.answer(id, Err(e), wk);
            }
            other => {
                log::warn!("socket: errand {seq} came back as {other:?}, not what it was for");
                asking.answer(id, Err(Error::InvalidArgument), wk);
            }
        }
    }

    /// An errand's command ends without it: a connect leaves the endpoint
    /// as it was before (bound, or with no socket).
    pub(super) fn errand_abandoned(&mut self, p: &Pending<P>) {
        if !p.bind {
            self.state = if self.fd.is_some() {
                State::Bound
            } else {
                State::Unbound
            };
        }
    }

    /// The pending errand took too long: its command fails with
    /// `ETIMEDOUT` and the reason.
    pub(super) fn errand_timed_out(&mut self, wk: &mut EndpointWakeups<P>) {
        let Some(p) = self.pending.take() else {
            return;
        };
        self.errand_abandoned(&p);
        let secs = errand::ERRAND_TIMEOUT.as_secs();
        let what = format!(
            "{} ({} gave no answer within {secs} s)",
            p.asking.what, p.waits_on
        );
        let e = self.fail(&what, Error::TimedOut);
        p.asking.answer(p.id, Err(e), wk);
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
        deputy: &Arc<dyn Deputy>,
        wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Open, Result<DataEnd>> {
        self.dialed = true;
        let what = format!("dial {} {target}", kind.name());
        if let Err((e, why)) = check(&Command::Connect(kind, target.clone())) {
            let e = self.fail(&format!("{what} ({why})"), e);
            return Step::Done(reply, Err(e));
        }
        let asking = Asking {
            waiter: Connecting::Dial { reply, mode },
            what,
            deputy: deputy.clone(),
            rest: Vec::new(),
        };
        self.connect(id, asking, kind, target, wk);
        Step::Parked
    }

    /// Connects to `address`, as the caller, or on to the next address of
    /// `parked` when it fails at once.
    fn try_connect(
        &mut self,
        id: WaiterId,
        mut parked: Asking<P>,
        mut address: Address,
        wk: &mut EndpointWakeups<P>,
    ) {
        let kind = self.kind.expect("taken before connecting");
        loop {
            let mut made = None;
            let mut at_once = false;
            let existing = self.fd.as_ref();
            let options = &self.options;
            let started = parked.deputy.act(&mut || {
                let fd = match existing {
                    Some(fd) => fd,
                    None => made.insert(sys::open_with(kind, &address, options)?),
                };
                at_once = sys::connect(fd, &address)?;
                Ok(())
            });
            if let Some(fd) = made {
                self.fd = Some(fd);
                self.made_by(&parked.deputy);
            }
            match started {
                Ok(()) if at_once => {
                    self.connected();
                    self.notify(wk);
                    return parked.answer(id, Ok(()), wk);
                }
                Ok(()) => {
                    self.state = State::Connecting;
                    self.connects.push(id, parked);
                    self.arm_or_answer(wk);
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
                    return parked.answer(id, Err(e), wk);
                }
            }
        }
    }

    /// Drops a socket that never connected (a failed connect leaves an
    /// unusable one); the next connect makes a new one.
    pub(super) fn discard_socket(&mut self) {
        if let Some(fd) = self.fd.take() {
            self.retired.push((self.token.take(), fd));
        }
        self.state = State::Unbound;
    }

    pub(super) fn connected(&mut self) {
        self.state = State::Connected;
        let fd = self.fd.as_ref().expect("connected");
        self.local = sys::local_address(fd);
        self.remote = sys::peer_address(fd);
        self.error = None;
    }

    /// Binds, as the caller: a numeric internet address here, a host name
    /// or a Unix path through a deputy. Answered through `wk`.
    pub(super) fn bind(
        &mut self,
        id: WaiterId,
        asking: Asking<P>,
        kind: Kind,
        target: Target,
        wk: &mut EndpointWakeups<P>,
    ) {
        let checked = match self.state {
            _ if self.pending.is_some() => Err((Error::InProgress, "a bind is in progress")),
            State::Unbound => self
                .take_kind(kind)
                .map_err(|e| (e, "the endpoint is of another kind")),
            State::Listening => Err((Error::AlreadyConnected, "the endpoint listens already")),
            State::Connected | State::Connecting => {
                Err((Error::AlreadyConnected, "the endpoint is connected"))
            }
            _ => Err((
                Error::AlreadyConnected,
                "the endpoint has its address already",
            )),
        };
        if let Err((e, why)) = checked {
            let e = self.fail(&format!("{} ({why})", asking.what), e);
            return asking.answer(id, Err(e), wk);
        }
        let Some(address) = target.numeric() else {
            let waits_on = Errand::waits_on(&target);
            let errand = Errand::Bind {
                kind,
                target,
                options: self.options.clone(),
            };
            return self.start_errand(id, asking, waits_on, errand, wk);
        };
        let address = Address::Inet(address);
        let mut made = None;
        let options = &self.options;
        let bound = asking.deputy.act(&mut || {
            let fd = made.insert(sys::open_with(kind, &address, options)?);
            sys::bind(fd, &address)
        });
        let result = match (bound, made) {
            (Ok(()), Some(fd)) => {
                self.local = sys::local_address(&fd);
                self.fd = Some(fd);
                self.state = State::Bound;
                Ok(())
            }
            (Ok(()), None) => Err(Error::InvalidArgument),
            (Err(e), made) => {
                if let Some(fd) = made {
                    self.retired.push((None, fd));
                }
                let what = match e {
                    Error::AccessDenied => format!(
                        "{} (a port this low needs root or CAP_NET_BIND_SERVICE)",
                        asking.what
                    ),
                    _ => asking.what.clone(),
                };
                Err(self.fail(&what, e))
            }
        };
        asking.answer(id, result, wk);
    }

    pub(super) fn finish_connect(&mut self, wk: &mut EndpointWakeups<P>) {
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
                self.try_connect(id, c, next, wk);
            }
            Err(e) => {
                self.discard_socket();
                let e = self.fail(&c.what, e);
                c.waiter.answer(id, Err(e), wk);
            }
        }
        self.notify(wk);
    }
}
