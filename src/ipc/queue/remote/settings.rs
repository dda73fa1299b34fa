//! A shared queue's settings, the same on every host (each set here is
//! a step of the store, and each host takes the change when the store
//! publishes it), and its counters.

use super::*;

impl<P: Parking> RemoteQueue<P> {
    pub fn settings(&self) -> QueueSettings {
        self.settings
    }

    pub fn counters(&self) -> RemoteCounters {
        let composing: usize = self.composing.values().map(|c| c.bytes.len()).sum();
        let taken: usize = self.taken.iter().map(|t| t.message.len()).sum();
        let calls = self
            .steps
            .values()
            .filter(|s| matches!(s, InFlight::Call(..)))
            .count();
        RemoteCounters {
            messages: self.known,
            bytes: composing + taken,
            sent: self.sent,
            received: self.received,
            dropped: self.dropped,
            readers: self.readers,
            writers: self.writers,
            blocked: self.reads.len() + self.for_room.len() + self.for_share.len() + calls,
        }
    }

    /// Sets how many messages the queue holds, for every host: 1 to
    /// 2³² − 1, as in memory.
    pub fn set_max_messages(&mut self, n: usize, wk: &mut RemoteWakeups<P>) -> Result<()> {
        super::super::max_messages(n)?;
        self.settings.max_messages = n;
        self.room_changed();
        self.quiet(
            "max_messages",
            StoreOp::Set {
                field: "max_messages",
                value: n.to_string(),
            },
        );
        self.retry_for_room();
        self.notify(wk);
        Ok(())
    }

    /// Sets the largest message, for every host, at most `cap` (the
    /// mount's: see limits.rs).
    pub fn set_max_message_size(&mut self, n: usize, cap: usize) -> Result<()> {
        if !(1..=cap).contains(&n) {
            return Err(Error::InvalidArgument);
        }
        self.settings.max_message_size = n;
        self.quiet(
            "max_message_size",
            StoreOp::Set {
                field: "max_message_size",
                value: n.to_string(),
            },
        );
        Ok(())
    }

    pub fn framing(&self) -> Framing {
        self.settings.framing
    }

    /// Sets one of the channel's faults, for every host. Each host's
    /// channel takes it when it hears the change from the store (so that
    /// a seed starts every generator once).
    pub fn set_fault(&mut self, field: &str, value: &str) -> Result<()> {
        let Some(field) = Faults::SETTINGS.iter().copied().find(|f| *f == field) else {
            return Err(Error::InvalidArgument);
        };
        let mut faults = self.settings.faults;
        faults.set(field, value)?;
        self.settings.faults = faults;
        let value = faults.get(field).unwrap_or_default();
        self.quiet(field, StoreOp::Set { field, value });
        Ok(())
    }

    /// A fault's setting, as the store said it changed.
    pub(super) fn fault_changed(&mut self, field: &str, value: &str) {
        let faults = self.settings.faults;
        let channel = self
            .channel
            .get_or_insert_with(|| Box::new(ReadChannel::new(faults)));
        match channel.set(field, value) {
            Ok(()) => self.settings.faults = channel.faults(),
            Err(_) => log::info!("shared queue: fault {field}={value} from the store ignored"),
        }
    }

    /// What this host's channel did to the messages taken here.
    pub fn channel_counters(&self) -> ChannelCounters {
        self.channel
            .as_ref()
            .map(|c| c.counters())
            .unwrap_or_default()
    }

    /// Messages the channel here delays or holds back.
    pub(super) fn carried(&self) -> usize {
        self.channel.as_ref().map_or(0, |c| c.carried())
    }

    /// Sets the framing of the stream writers opened from now on, on
    /// every host.
    pub fn set_framing(&mut self, framing: Framing) -> Result<()> {
        self.settings.framing = framing;
        let value = framing.name().to_string();
        self.quiet(
            "framing",
            StoreOp::Set {
                field: "framing",
                value,
            },
        );
        Ok(())
    }
}
