//! `status` reads each object's counters with the tree let go: an object
//! whose counters are slow to read (its own lock held by a long call)
//! must not hold every other call on the tree meanwhile.

use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, Weak};

use super::*;
use crate::fs::node::{FileKind, Node};
use crate::fs::reply::ParkedOpen;
use crate::ipc::status::StatusRow;

/// An object that, asked for its row, looks whether the tree is free.
struct Probe {
    tree: Weak<Mutex<Tree<Node<TestReplies>>>>,
    tree_was_free: AtomicBool,
}

impl FileKind<TestReplies> for Probe {
    fn size(&self) -> u64 {
        0
    }

    fn open(
        &self,
        _: &Arc<Shared<TestReplies>>,
        _: &Call,
        parked: ParkedOpen<TestReplies>,
        _: i32,
    ) {
        TestReplies::opened(parked.reply, Err(Error::NotPermitted));
    }

    fn status(&self, row: StatusRow) -> Option<StatusRow> {
        let tree = self.tree.upgrade().expect("the tree outlives status");
        let free = tree.try_lock().is_ok();
        self.tree_was_free.store(free, Ordering::SeqCst);
        Some(StatusRow {
            kind: "pipe",
            ..row
        })
    }
}

#[test]
fn an_objects_counters_are_read_with_the_tree_let_go() {
    let fs = fs();
    let pipes = dir(&fs, "pipes");
    let probe = Arc::new(Probe {
        tree: Arc::downgrade(&fs.tree),
        tree_was_free: AtomicBool::new(false),
    });
    let meta = Meta::new(me().uid, me().gid, 0o600);
    lock(&fs.tree)
        .create(pipes, b"probe", meta, Node::File(probe.clone()))
        .unwrap();
    let text = crate::fs::kinds::status::text(&Arc::downgrade(&fs.tree));
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("pipes/probe")),
        "the probe has its row:\n{text}"
    );
    assert!(probe.tree_was_free.load(Ordering::SeqCst));
}
