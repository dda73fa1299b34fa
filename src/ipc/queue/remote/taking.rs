//! A shared queue's reading side: takes from the store for the reads
//! that wait, the messages handed to them, and their receipts.

use super::*;

impl<P: Parking> RemoteQueue<P> {
    /// Acknowledgements wait a moment for the next take to carry them (a
    /// reader that reads again at once costs one step a message, not
    /// two); then they go alone.
    pub(super) fn acknowledge_soon(&mut self) {
        if !self.unacked.is_empty() && self.ack_due.is_none() {
            self.ack_due = Some(Instant::now() + ACK_DELAY);
        }
    }

    /// Sends the acknowledgements not carried by a take.
    pub(super) fn acknowledge(&mut self) {
        self.ack_due = None;
        if !self.unacked.is_empty() {
            let ids = std::mem::take(&mut self.unacked);
            self.send(StoreOp::Ack { ids: ids.clone() }, InFlight::Acks(ids));
        }
    }

    /// Starts a take if a read waits for one and none is in flight.
    pub(super) fn want_take(&mut self) {
        let wanted = self.reads.len() > self.taken.len() + self.carried();
        if !self.taking && !self.take_blocked && !self.shut_down && !self.removed && wanted {
            self.taking = true;
            self.take_asked_at = self.puts;
            let acks = std::mem::take(&mut self.unacked);
            self.ack_due = None;
            let count = self.wanted_messages();
            let op = StoreOp::Take {
                count,
                acks: acks.clone(),
            };
            self.send(op, InFlight::Take(acks));
        }
    }

    /// How many messages the parked reads may receive: one each, and as
    /// many as a batch read's buffer holds at the recent mean length.
    pub(super) fn wanted_messages(&self) -> usize {
        let per_read = |r: &ParkedRead<P::Read, QueueEnd>| match r.end.io {
            IoMode::Batch => r.size / (records::HEADER + self.mean_len.max(1)),
            _ => 1,
        };
        let wanted: usize = self.reads.iter().map(per_read).sum();
        wanted.clamp(1, MOST_TAKEN)
    }

    /// A take's answer: the message goes to the oldest read.
    pub(super) fn took(&mut self, result: Result<Stored>, wk: &mut RemoteWakeups<P>) {
        match result {
            Ok(Stored::Taken(messages)) => {
                for (id, message) in messages {
                    match self.budget.hold(message.len()) {
                        Some(charge) => self.arrive(Taken {
                            id: Some(id),
                            message,
                            _charge: charge,
                        }),
                        None => {
                            log::info!(
                                "shared queue: no memory left to hold a message taken: it goes back"
                            );
                            self.quiet("message given back", StoreOp::GiveBack { id });
                        }
                    }
                }
            }
            Ok(Stored::Empty { retry }) => {
                self.retry_take = retry.map(|d| Instant::now() + d);
                self.none_to_take(wk);
            }
            Ok(other) => log::warn!("shared queue: the store answered {other:?} to a take"),
            Err(e) => {
                log::info!("shared queue: a take failed: {e}");
                // Asked again later, or at once when the store is reached.
                self.take_blocked = true;
                self.retry_take = Some(Instant::now() + RETRY_AFTER_FAILURE);
                self.answer_nonblocking(e, wk);
            }
        }
        self.serve_reads(wk);
    }

    /// Nothing to take: reads that may not wait are answered, and no take
    /// is asked again before a message is put (unless one was put while
    /// this take was asked).
    pub(super) fn none_to_take(&mut self, wk: &mut RemoteWakeups<P>) {
        self.take_blocked = self.puts == self.take_asked_at;
        self.answer_nonblocking(Error::WouldBlock, wk);
    }

    /// Answers the parked reads that may not wait with `error`.
    fn answer_nonblocking(&mut self, error: Error, wk: &mut RemoteWakeups<P>) {
        for id in std::mem::take(&mut self.nonblocking) {
            if let Some(r) = self.reads.remove(id) {
                wk.reads.push((id, r.reply, ReadDone::Data(Err(error))));
            }
        }
    }

    /// Hands taken messages to the reads that wait, oldest first; gives
    /// back what no read here takes.
    pub(super) fn serve_reads(&mut self, wk: &mut RemoteWakeups<P>) {
        while let Some(front) = self.reads.front() {
            let (end, size) = (front.end, front.size);
            let result = match self.continue_reception(end, size) {
                Some(data) => Ok(data),
                None if self.taken.is_empty() => break,
                None => self.receive(end, size),
            };
            let id = wk.serve_front_read(&mut self.reads, result);
            self.nonblocking.remove(&id);
        }
        if self.reads.is_empty() {
            // A copy the channel made cannot go back: it waits here for
            // the next read.
            let (back, copies) = std::mem::take(&mut self.taken)
                .into_iter()
                .partition::<Vec<_>, _>(|t| t.id.is_some());
            self.taken = copies.into();
            for id in back.into_iter().filter_map(|t| t.id) {
                self.quiet("message given back", StoreOp::GiveBack { id });
            }
        }
    }

    /// A message taken arrives for the readers here: through the channel,
    /// if it has faults (lost ones are acknowledged, never received).
    pub(super) fn arrive(&mut self, t: Taken) {
        match &mut self.channel {
            Some(channel) => {
                let carried = channel.carry(t, &self.budget);
                self.taken.extend(carried.now);
                self.unacked.extend(carried.lost);
            }
            None => self.taken.push_back(t),
        }
    }

    pub(super) fn continue_reception(&mut self, end: QueueEnd, size: usize) -> Option<Vec<u8>> {
        crate::ipc::queue::continue_reception(&mut self.receptions, end, size)
    }

    /// Receives the oldest taken message for a read of `size` bytes: the
    /// start of it (stream), all of it (packet) or it as a record
    /// (batch). Too small a buffer is `EMSGSIZE`, and the message stays.
    pub(super) fn receive(&mut self, end: QueueEnd, size: usize) -> Result<Vec<u8>> {
        let front = &self.taken.front().expect("a message is taken").message;
        let fits = match end.io {
            IoMode::Stream => true,
            IoMode::Packet => front.len() <= size,
            IoMode::Batch => record_len(front) <= size,
        };
        if !fits {
            log::debug!(
                "shared queue: read of {size} bytes refused: the next message has {}",
                front.len()
            );
            return Err(Error::MessageTooLong);
        }
        // A stream reader that keeps the rest of a message pays for it.
        let charge = match end.io {
            IoMode::Stream if front.len() > size => {
                match self.budget.of_user(end.opener).hold(front.len()) {
                    Some(held) => Some(held),
                    None => {
                        log::info!(
                            "shared queue read refused: uid {} has no room left to keep a message of {} bytes",
                            end.opener,
                            front.len()
                        );
                        return Err(Error::NoSpace);
                    }
                }
            }
            _ => None,
        };
        self.users.receiving = Some(end.opener);
        let message = self.take_received();
        Ok(match end.io {
            IoMode::Stream => {
                let reception = self.receptions.entry(end.id).or_default();
                reception.start(message, size, charge)
            }
            IoMode::Packet => message,
            IoMode::Batch => {
                // As many whole messages as fit, as records.
                let mut out = Vec::with_capacity(size.min(1 << 16));
                records::append(&mut out, &message);
                while let Some(next) = self.taken.front() {
                    if out.len() + record_len(&next.message) > size {
                        break;
                    }
                    let message = self.take_received();
                    records::append(&mut out, &message);
                }
                out
            }
        })
    }

    /// The oldest taken message, received: counted, its length in the
    /// mean, its acknowledgement due.
    pub(super) fn take_received(&mut self) -> Vec<u8> {
        let t = self.taken.pop_front().expect("a message is taken");
        self.received += 1;
        self.mean_len = (self.mean_len * 7 + t.message.len()) / 8;
        self.unacked.extend(t.id);
        t.message
    }
}
