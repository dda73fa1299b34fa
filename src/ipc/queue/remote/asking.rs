//! A shared queue's calls that wait on the store: each asked as a step,
//! answered when the store says (or waiting for room, in order, while it
//! says the queue is full), and the messages a writer composes.

use super::*;

impl<P: Parking> RemoteQueue<P> {
    /// Something may have made room: the calls waiting for it ask again.
    pub(super) fn room_changed(&mut self) {
        self.room_changes += 1;
        self.room_blocked = false;
    }

    /// Asks a call's step of the store.
    /// What it may add counts for the queue's owner until the answer, so
    /// that the share the steps of the owner's other queues carry leaves
    /// it out (usage.rs).
    pub(super) fn ask_now(&mut self, id: WaiterId, asking: Asking<P>) -> u64 {
        let op = self.op_of(&asking);
        let adds = match &op {
            StoreOp::Append { messages, .. } => Counts {
                messages: messages.len(),
                bytes: messages.iter().map(Vec::len).sum(),
                places: 0,
            },
            StoreOp::Reserve { .. } => Counts {
                places: 1,
                ..Counts::default()
            },
            _ => Counts::default(),
        };
        let asked = Asked {
            room_changes: self.room_changes,
            _sending: self
                .stored
                .sending(self.budget.uid(), usage::contents_cost(adds)),
        };
        self.send(op, InFlight::Call(id, asking, asked))
    }

    /// The step a call that waits on the store asks, with what the queue
    /// may cost in all now (its owner's share, usage.rs).
    pub(super) fn op_of(&mut self, asking: &Asking<P>) -> StoreOp {
        let share = self.stored.share_left(self.budget.uid());
        match asking {
            Asking::Open { place, .. } | Asking::Start { place, .. } => StoreOp::Reserve {
                place: *place,
                share,
            },
            Asking::Write { out, .. } => StoreOp::Append {
                messages: out.messages.iter().cloned().collect(),
                place: out.place,
                share,
            },
            Asking::Flush { message, .. } => StoreOp::Append {
                messages: vec![message.bytes.clone()],
                place: message.place,
                share,
            },
        }
    }

    /// Asks the store for a call, unless calls wait for room before it:
    /// then it waits behind them (`EAGAIN` if it may not wait).
    /// An open of a user with opens waiting for its share waits behind
    /// them.
    pub(super) fn ask(&mut self, id: WaiterId, asking: Asking<P>, wk: &mut RemoteWakeups<P>) {
        if let Asking::Open { end, .. } = &asking {
            if self.for_share.has(end.opener) {
                self.for_share.wait(end.opener, id, asking, false);
                return;
            }
        }
        if self.for_room.is_empty() && self.retrying.is_none() {
            self.ask_now(id, asking);
        } else if Self::may_wait(&asking) {
            self.for_room.push(id, asking);
        } else {
            self.answer(id, asking, Err(Error::WouldBlock), wk);
        }
    }

    pub(super) fn may_wait(asking: &Asking<P>) -> bool {
        match asking {
            Asking::Write { nonblock, .. } | Asking::Start { nonblock, .. } => !nonblock,
            Asking::Open { .. } | Asking::Flush { .. } => true,
        }
    }

    /// Asks again for the call at the front of those waiting for room.
    pub(super) fn retry_for_room(&mut self) {
        if self.retrying.is_some() || self.room_blocked || self.shut_down {
            return;
        }
        if let Some((id, asking)) = self.for_room.pop_front() {
            self.retrying = Some(self.ask_now(id, asking));
        }
    }

    /// A call's step was answered.
    pub(super) fn answered(
        &mut self,
        id: WaiterId,
        asking: Asking<P>,
        asked_at: u64,
        result: Result<Stored>,
        wk: &mut RemoteWakeups<P>,
    ) {
        let opener = match &asking {
            Asking::Open { end, .. } => Some(end.opener),
            _ => None,
        };
        match (opener, &result) {
            // An open past its user's share waits apart, in that user's
            // turn; a write that would start a message does not wait (as
            // in memory: the kernel holds the file's lock meanwhile).
            (Some(user), Ok(Stored::PastShare)) if !self.shut_down => {
                log::debug!("shared queue: uid {user} holds its share of places: its open waits");
                if let Some(asking) = self.for_share.wait(user, id, asking, true) {
                    self.ask_now(id, asking);
                }
                return;
            }
            (Some(user), _) => self.for_share.answered(user),
            (None, _) => {}
        }
        match (asking, result) {
            (Asking::Open { reply, end, place }, Ok(Stored::Reserved(true))) => {
                self.composing.insert(
                    end.id,
                    Composing {
                        place: Some(place),
                        ..Composing::default()
                    },
                );
                self.writers += 1;
                wk.opens.push((id, reply, Ok(end)));
            }
            (
                Asking::Start {
                    reply,
                    end,
                    data,
                    place,
                    ..
                },
                Ok(Stored::Reserved(true)),
            ) => {
                self.composing.entry(end.id).or_default().place = Some(place);
                let done = self.compose(end, &data);
                wk.writes.push((id, reply, done));
            }
            (
                Asking::Write {
                    reply,
                    mut out,
                    mut went,
                    nonblock,
                    _charge,
                },
                Ok(Stored::Appended(n)),
            ) => {
                out.place = None;
                for _ in out.messages.drain(..n.min(out.messages.len())) {
                    went += out.counts.pop_front().unwrap_or(0);
                    self.sent += 1;
                }
                if out.messages.is_empty() {
                    let done = match out.rest {
                        Some((end, rest)) if !rest.is_empty() => {
                            let done = self.compose(end, &rest);
                            WriteDone::stopped(went + done.result.unwrap_or(0), Error::WouldBlock)
                        }
                        _ => WriteDone::ok(went),
                    };
                    wk.writes.push((id, reply, done));
                } else if nonblock || self.shut_down {
                    wk.writes
                        .push((id, reply, WriteDone::stopped(went, Error::WouldBlock)));
                } else {
                    let asking = Asking::Write {
                        reply,
                        out,
                        went,
                        nonblock,
                        _charge,
                    };
                    self.wait_for_room(id, asking, asked_at);
                }
            }
            (
                Asking::Write {
                    reply,
                    mut out,
                    mut went,
                    ..
                },
                Ok(Stored::Cut { appended, error }),
            ) => {
                // A short write, as write(2) answers when it stops midway;
                // the writer's next write meets the error.
                log::info!("shared queue: a batch stopped after {appended} messages: {error}");
                for _ in out.messages.drain(..appended.min(out.messages.len())) {
                    went += out.counts.pop_front().unwrap_or(0);
                    self.sent += 1;
                }
                wk.writes.push((id, reply, WriteDone::stopped(went, error)));
            }
            (Asking::Flush { reply, .. }, Ok(Stored::Appended(1))) => {
                self.sent += 1;
                wk.flushes.push((id, reply, Ok(())));
            }
            (Asking::Flush { reply, .. }, Ok(_)) => {
                // Its place had expired (the store was out of reach longer
                // than a place lives), and the queue was full.
                log::info!(
                    "shared queue: a message was dropped at close: its place had expired and the queue is full"
                );
                self.dropped += 1;
                wk.flushes.push((id, reply, Err(Error::WouldBlock)));
            }
            (asking, Ok(Stored::PastShare)) => {
                log::info!(
                    "shared queue: a write refused (EAGAIN): its user holds half the queue's places"
                );
                self.answer(id, asking, Err(Error::WouldBlock), wk);
            }
            (asking, Ok(Stored::Reserved(false))) if Self::may_wait(&asking) && !self.shut_down => {
                self.wait_for_room(id, asking, asked_at);
            }
            (asking, Ok(Stored::Reserved(false))) => {
                self.answer(id, asking, Err(Error::WouldBlock), wk);
            }
            (asking, Ok(other)) => {
                log::warn!("shared queue: the store answered {other:?} out of turn");
                self.answer(id, asking, crate::ipc::queue::store::unreachable(), wk);
            }
            (asking, Err(Error::NoSpace)) => {
                // The store's own line before says which of the two.
                log::warn!(
                    "uid {}'s queue: a message or place refused by the server (its owner's \
                     share, --max-memory-per-user, or the server's maxmemory)",
                    self.budget.uid()
                );
                self.answer(id, asking, Err(Error::NoSpace), wk);
            }
            (asking, Err(e)) => {
                log::info!("shared queue: a call failed: {e}");
                self.answer(id, asking, Err(e), wk);
            }
        }
    }

    /// The call goes back to the front of those waiting for room: it
    /// waited longest. It asks again at the next room change, or at once
    /// if one came while it asked.
    pub(super) fn wait_for_room(&mut self, id: WaiterId, asking: Asking<P>, asked_at: u64) {
        self.for_room.push(id, asking);
        self.for_room.to_front(id);
        self.room_blocked = self.room_changes == asked_at;
    }

    /// Answers a call that waited on the store with `error`, or with what
    /// went in before it.
    pub(super) fn answer(
        &mut self,
        id: WaiterId,
        asking: Asking<P>,
        error: Result<()>,
        wk: &mut RemoteWakeups<P>,
    ) {
        let error = error.err().unwrap_or(Error::WouldBlock);
        match asking {
            Asking::Open { reply, .. } => wk.opens.push((id, reply, Err(error))),
            Asking::Write { reply, went, .. } => {
                wk.writes.push((id, reply, WriteDone::stopped(went, error)))
            }
            Asking::Start { reply, .. } => wk.writes.push((id, reply, WriteDone::err(error))),
            Asking::Flush { reply, .. } => {
                self.dropped += 1;
                wk.flushes.push((id, reply, Err(error)));
            }
        }
    }

    /// A new place, held by `holder`.
    pub(super) fn new_place(&mut self, holder: u32) -> Place {
        self.next_place += 1;
        Place {
            number: self.next_place,
            holder,
        }
    }

    /// Adds a write's bytes to its description's message in progress,
    /// which holds a place. Too long a message is dropped (`EMSGSIZE`);
    /// the place stays for the next.
    pub(super) fn compose(&mut self, end: QueueEnd, data: &[u8]) -> WriteDone {
        let max = self.settings.max_message_size;
        let payer = self.budget.of_user(end.opener);
        let c = self.composing.entry(end.id).or_default();
        let grown = c.bytes.len() + data.len();
        // The message goes to the store whole: its owner's share there is
        // checked as it grows (usage.rs). Past it, or too long, the
        // message is dropped: nothing half-sent goes in at the close.
        let refused = if grown > max {
            log::info!("queue message refused: longer than the largest message, {max} bytes");
            Some(Error::MessageTooLong)
        } else if !self.stored.fits(self.budget.uid(), 1, grown) {
            Some(Error::NoSpace)
        } else {
            None
        };
        if let Some(error) = refused {
            c.bytes = Vec::new();
            c.charge = None;
            self.dropped += 1;
            return WriteDone::err(error);
        }
        let charged = match &mut c.charge {
            Some(held) => held.grow(data.len()),
            None => payer.hold(data.len()).map(|h| c.charge = Some(h)).is_some(),
        };
        if !charged {
            log::info!("queue message refused: no memory left for it");
            return WriteDone::err(Error::NoSpace);
        }
        c.bytes.extend_from_slice(data);
        WriteDone::ok(data.len())
    }

    /// Whole messages of one write (packet or batch mode) for the store.
    pub(super) fn whole_messages(&self, end: QueueEnd, data: &[u8]) -> Result<Outgoing> {
        let max = self.settings.max_message_size;
        let (messages, counts) = if end.io == IoMode::Batch {
            let messages = records::parse(data, max)?;
            let counts = messages.iter().map(|m| m.len() + records::HEADER).collect();
            (messages.into_iter().map(<[u8]>::to_vec).collect(), counts)
        } else {
            if data.len() > max {
                log::info!(
                    "queue write of {} bytes refused: the largest message is {max} bytes",
                    data.len()
                );
                return Err(Error::MessageTooLong);
            }
            (
                VecDeque::from([data.to_vec()]),
                VecDeque::from([data.len()]),
            )
        };
        Ok(Outgoing {
            messages,
            counts,
            place: None,
            rest: None,
        })
    }

    /// The lines a write under `line` framing ends, each a message (the
    /// first with what earlier writes left in progress, in its place),
    /// and its unfinished last line. A line longer than the largest
    /// message is `EMSGSIZE`, and the write sends nothing.
    pub(super) fn lines(&mut self, end: QueueEnd, data: &[u8]) -> Result<Outgoing> {
        let max = self.settings.max_message_size;
        let split = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let (ended, rest) = data.split_at(split);
        let c = self.composing.entry(end.id).or_default();
        let lines: Vec<&[u8]> = ended.split_inclusive(|b| *b == b'\n').collect();
        let begun = |i: usize| if i == 0 { c.bytes.len() } else { 0 };
        if lines
            .iter()
            .enumerate()
            .any(|(i, l)| begun(i) + l.len() > max)
        {
            log::info!("queue line refused: longer than the largest message, {max} bytes");
            return Err(Error::MessageTooLong);
        }
        let mut messages = VecDeque::new();
        let mut counts = VecDeque::new();
        for (i, line) in lines.into_iter().enumerate() {
            let mut message = match i {
                0 => std::mem::take(&mut c.bytes),
                _ => Vec::new(),
            };
            message.extend_from_slice(line);
            messages.push_back(message);
            counts.push_back(line.len());
        }
        // What was in progress travels with the write now.
        c.charge = None;
        Ok(Outgoing {
            messages,
            counts,
            place: c.place.take(),
            rest: Some((end, rest.to_vec())),
        })
    }
}
