//! Where a set of queues lives in Redis: every key and the channel are
//! named after one prefix, so that several independent sets share a
//! server. A queue's keys share one hash tag (`{NAME}`), so that Redis
//! Cluster keeps them on one shard and a script may touch them all.

/// The names of one set of queues' keys.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// `prefix` is checked by the configuration: letters, digits and
    /// `_.:-` only, so that it holds no brace of a hash tag.
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    fn queue_key(&self, name: &[u8], what: &str) -> Vec<u8> {
        // A name that holds a `}` ends the tag early, but at the same byte
        // in every key of that queue: they still share a slot.
        let mut key = format!("{}:{{", self.prefix).into_bytes();
        key.extend_from_slice(name);
        key.extend_from_slice(format!("}}:{what}").as_bytes());
        key
    }

    /// The stream of the queue's messages, with its consumer group.
    pub fn messages(&self, name: &[u8]) -> Vec<u8> {
        self.queue_key(name, "m")
    }

    /// The hash of the queue's settings and owner.
    pub fn settings(&self, name: &[u8]) -> Vec<u8> {
        self.queue_key(name, "s")
    }

    /// The sorted set of places held by messages in progress, each scored
    /// with the instant (ms) it expires unless its daemon renews it.
    pub fn places(&self, name: &[u8]) -> Vec<u8> {
        self.queue_key(name, "p")
    }

    /// The set of every queue's name.
    pub fn names(&self) -> String {
        format!("{}:names", self.prefix)
    }

    /// The channel every change is published on.
    pub fn channel(&self) -> String {
        format!("{}:events", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queues_keys_share_one_hash_tag() {
        let keys = Keys::new("lab");
        assert_eq!(keys.messages(b"jobs"), b"lab:{jobs}:m");
        assert_eq!(keys.settings(b"jobs"), b"lab:{jobs}:s");
        assert_eq!(keys.places(b"jobs"), b"lab:{jobs}:p");
        assert_eq!(keys.names(), "lab:names");
        assert_eq!(keys.channel(), "lab:events");
    }
}
