//! The store's listener: one thread subscribed to the channel every
//! daemon publishes its changes on (`VERB ARG NAME`, scripts.rs), which
//! tells the filesystem of each. After a break it subscribes again, and
//! tells the filesystem to look again: changes made meanwhile were missed.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Listener, RedisStore, STEP_TIMEOUT};
use crate::ipc::queue::store::{Change, Counts};

/// How often a quiet subscription checks whether the store still lives.
const LOOK_AGAIN: Duration = Duration::from_millis(500);

pub(super) fn run(store: Weak<RedisStore>, listener: Arc<dyn Listener>) {
    super::hurry_this_thread("listener");
    let mut wait = Duration::from_millis(50);
    let mut said_down = false;
    loop {
        let Some((client, channel)) = store
            .upgrade()
            .map(|s| (s.client.clone(), s.keys.channel()))
        else {
            return;
        };
        let mut con = match client.get_connection_with_timeout(STEP_TIMEOUT) {
            Ok(con) => con,
            Err(e) => {
                if !said_down {
                    log::warn!("queue store: cannot subscribe to {channel}: {e}; trying again");
                    said_down = true;
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let mut pubsub = con.as_pubsub();
        let subscribed = pubsub
            .subscribe(&channel)
            .and_then(|()| pubsub.set_read_timeout(Some(LOOK_AGAIN)));
        if let Err(e) = subscribed {
            log::warn!("queue store: cannot subscribe to {channel}: {e}");
            std::thread::sleep(wait);
            continue;
        }
        if said_down {
            log::warn!("queue store: reached again");
        }
        wait = Duration::from_millis(50);
        listener.reconnected();
        loop {
            match pubsub.get_message() {
                Ok(message) => tell(&*listener, message.get_payload_bytes()),
                Err(e) if e.is_timeout() => {
                    if store.strong_count() == 0 {
                        return;
                    }
                }
                Err(e) => {
                    log::warn!("queue store: subscription lost: {e}");
                    said_down = true;
                    break;
                }
            }
        }
    }
}

/// Tells `listener` what one event says.
fn tell(listener: &dyn Listener, payload: &[u8]) {
    let mut parts = payload.splitn(3, |b| *b == b' ');
    let (Some(verb), Some(arg), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        log::debug!(
            "queue store: event {:?} ignored",
            String::from_utf8_lossy(payload)
        );
        return;
    };
    // `N/B/P`: the queue's messages, their bytes, and its places (`N/B`
    // from a daemon that sent no places: none counted).
    let counts = || {
        let mut n = std::str::from_utf8(arg).ok()?.split('/');
        let mut next = |or: Option<usize>| n.next().and_then(|v| v.parse().ok()).or(or);
        Some(Counts {
            messages: next(None)?,
            bytes: next(None)?,
            places: next(Some(0))?,
        })
    };
    let change: Option<fn(Counts) -> Change> = match verb {
        b"put" => Some(Change::Put),
        b"take" => Some(Change::Took),
        b"hold" => Some(Change::Held),
        _ => None,
    };
    match verb {
        b"new" => listener.created(name, &String::from_utf8_lossy(arg)),
        b"del" => listener.removed(name, &String::from_utf8_lossy(arg)),
        _ if change.is_some() => {
            if let (Some(change), Some(counts)) = (change, counts()) {
                listener.changed(name, change(counts));
            }
        }
        b"set" => {
            let arg = String::from_utf8_lossy(arg);
            if let Some((field, value)) = arg.split_once('=') {
                let change = Change::Set {
                    field: field.to_string(),
                    value: value.to_string(),
                };
                listener.changed(name, change);
            }
        }
        _ => log::debug!(
            "queue store: event {:?} ignored",
            String::from_utf8_lossy(payload)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Heard(Mutex<Vec<(Vec<u8>, Change)>>);

    impl Listener for Heard {
        fn created(&self, _: &[u8], _: &str) {}
        fn removed(&self, _: &[u8], _: &str) {}
        fn changed(&self, name: &[u8], change: Change) {
            self.0.lock().unwrap().push((name.to_vec(), change));
        }
        fn reconnected(&self) {}
    }

    #[test]
    fn events_carry_a_queues_messages_bytes_and_places() {
        let heard = Heard::default();
        for event in [
            &b"put 3/30/2 jobs"[..],
            b"take 2/20/0 a name",
            b"hold 2/20/1 jobs",
            b"put 1/10 old",
            b"put 1 torn",
            b"hold x/1/1 torn",
        ] {
            tell(&heard, event);
        }
        let counts = |messages, bytes, places| Counts {
            messages,
            bytes,
            places,
        };
        assert_eq!(
            heard.0.into_inner().unwrap(),
            [
                (b"jobs".to_vec(), Change::Put(counts(3, 30, 2))),
                (b"a name".to_vec(), Change::Took(counts(2, 20, 0))),
                (b"jobs".to_vec(), Change::Held(counts(2, 20, 1))),
                // From a daemon that sends no places: none counted.
                (b"old".to_vec(), Change::Put(counts(1, 10, 0))),
            ]
        );
    }
}
