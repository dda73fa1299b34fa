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
    pub(super) fn ask_now(&mut self, id: WaiterId, asking: Asking<P>) -> u64 {
        let op = Self::op_of(&asking);
        let step = InFlight::Call(id, asking, self.room_changes);
        self.send(op, step)
    }

    /// The step a call that waits on the store asks.
    pub(super) fn op_of(asking: &Asking<P>) -> StoreOp {
        match asking {
            Asking::Open { place, .. } | Asking::Start { place, .. } => {
                StoreOp::Reserve { place: *place }
            }
            Asking::Write { messages, .. } => StoreOp::Append {
                messages: messages.iter().cloned().collect(),
                place: None,
            },
            Asking::Flush { message, .. } => StoreOp::Append {
                messages: vec![message.bytes.clone()],
                place: message.place,
            },
        }
    }

    /// Asks the store for a call, unless calls wait for room before it:
    /// then it waits behind them (`EAGAIN` if it may not wait).
    pub(super) fn ask(&mut self, id: WaiterId, asking: Asking<P>, wk: &mut RemoteWakeups<P>) {
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
                    mut messages,
                    overhead,
                    mut went,
                    nonblock,
                    _charge,
                },
                Ok(Stored::Appended(n)),
            ) => {
                for message in messages.drain(..n.min(messages.len())) {
                    went += message.len() + overhead;
                    self.sent += 1;
                }
                if messages.is_empty() {
                    wk.writes.push((id, reply, WriteDone::ok(went)));
                } else if nonblock || self.shut_down {
                    wk.writes
                        .push((id, reply, WriteDone::stopped(went, Error::WouldBlock)));
                } else {
                    let asking = Asking::Write {
                        reply,
                        messages,
                        overhead,
                        went,
                        nonblock,
                        _charge,
                    };
                    self.wait_for_room(id, asking, asked_at);
                }
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

    pub(super) fn new_place(&mut self) -> u64 {
        self.next_place += 1;
        self.next_place
    }

    /// Adds a write's bytes to its description's message in progress,
    /// which holds a place. Too long a message is dropped (`EMSGSIZE`);
    /// the place stays for the next.
    pub(super) fn compose(&mut self, end: QueueEnd, data: &[u8]) -> WriteDone {
        let max = self.settings.max_message_size;
        let payer = self.budget.of_user(end.opener);
        let c = self.composing.entry(end.id).or_default();
        if c.bytes.len() + data.len() > max {
            log::info!("queue message refused: longer than the largest message, {max} bytes");
            c.bytes = Vec::new();
            c.charge = None;
            self.dropped += 1;
            return WriteDone::err(Error::MessageTooLong);
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
    pub(super) fn whole_messages(
        &self,
        end: QueueEnd,
        data: &[u8],
    ) -> Result<(VecDeque<Vec<u8>>, usize)> {
        let max = self.settings.max_message_size;
        if end.io == IoMode::Batch {
            let messages = records::parse(data, max)?;
            return Ok((
                messages.into_iter().map(<[u8]>::to_vec).collect(),
                records::HEADER,
            ));
        }
        if data.len() > max {
            log::info!(
                "queue write of {} bytes refused: the largest message is {max} bytes",
                data.len()
            );
            return Err(Error::MessageTooLong);
        }
        Ok((VecDeque::from([data.to_vec()]), 0))
    }
}
