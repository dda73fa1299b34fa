//! The kinds of node, one module each, and where each is made.
//!
//! To add a kind: write its module (a [`super::node::FileKind`] and, if
//! its open files are not streams, an [`super::node::OpenFile`]), and add
//! its maker to the directory that holds it in [`object_dirs`] (or, for a
//! node the daemon makes itself, to `Fs::new`'s fixed tree).

pub mod dial;
pub mod fifo;
pub mod pipe;
pub mod proc;
pub mod queue;
pub mod shared_queue;
pub mod shm;
pub mod socket;
pub mod status;
pub mod text;

use std::sync::Arc;

use super::node::{AttributeNames, ObjectDir};
use super::reply::Replies;
use crate::config::Config;

/// The directories users make objects in, in the order the root lists
/// them, with the kinds a `create` (regular file) or `mknod` (FIFO) of
/// each makes there.
pub fn object_dirs<R: Replies>(config: &Config) -> Vec<Arc<ObjectDir<R>>> {
    vec![
        Arc::new(ObjectDir {
            name: "pipes",
            regular: Some(pipe::make::<R>),
            fifo: Some(fifo::make::<R>),
            dir: None,
            reserved: None,
        }),
        Arc::new(ObjectDir {
            name: "queues",
            regular: Some(match config.queue_store {
                None => queue::make::<R>,
                Some(_) => shared_queue::make::<R>,
            }),
            fifo: None,
            dir: None,
            reserved: None,
        }),
        Arc::new(ObjectDir {
            name: "shm",
            regular: Some(shm::make::<R>),
            fifo: None,
            dir: None,
            reserved: None,
        }),
        Arc::new(ObjectDir {
            name: "sockets",
            regular: None,
            fifo: None,
            dir: Some(socket::make::<R>),
            reserved: Some(dial::reserved(config)),
        }),
    ]
}

/// Every kind that has extended attributes, by the name its `status` rows
/// and ipcfs(7) give it: the table the man page tests check the pages
/// against.
pub const ATTRIBUTES: &[(&str, AttributeNames)] = &[
    ("pipe", pipe::ATTRIBUTES),
    ("queue", queue::ATTRIBUTES),
    ("shm", shm::ATTRIBUTES),
    ("socket data", socket::DATA_ATTRIBUTES),
];

pub use super::xattr::ATTRIBUTE_PREFIX;
