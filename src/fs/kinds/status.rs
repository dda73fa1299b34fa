//! The text of `status`: one row per object, like ipcs(1), made from
//! the tree at each open.

use std::sync::{Mutex, Weak};

use crate::fs::lock;
use crate::fs::node::{Children, Node};
use crate::fs::reply::Replies;
use crate::fs::tree::{self, Tree};
use crate::ipc::status::{StatusRow, escape_name, render};

/// The text of `status`: one row per object of the object directories,
/// sorted by kind and name.
///
/// The tree's lock is held only to copy out each entry's name, owner and
/// node (reference counts); each object's counters are read after it is
/// let go, so that a user looping `cat status` takes each object's own
/// lock in turn and never holds every other call on the tree meanwhile.
pub fn text<R: Replies>(tree: &Weak<Mutex<Tree<Node<R>>>>) -> String {
    let Some(tree) = tree.upgrade() else {
        return render(&[]);
    };
    let objects = objects(&lock(&tree));
    let mut rows: Vec<StatusRow> = objects
        .into_iter()
        .filter_map(|(base, node)| match node {
            Node::File(f) => f.status(base),
            Node::Dir(Children::Object(o)) => Some(o.status(base)),
            _ => None,
        })
        .collect();
    rows.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    render(&rows)
}

/// Each linked entry of the object directories: its row without the
/// object's counters, and its node.
fn objects<R: Replies>(tree: &Tree<Node<R>>) -> Vec<(StatusRow, Node<R>)> {
    let mut objects = Vec::new();
    for dir in tree.list(tree::ROOT, 0) {
        if !matches!(dir.node, Node::Dir(Children::Listed(_))) {
            continue;
        }
        let dir_name = escape_name(&dir.name);
        for e in tree.list(dir.ino, 0) {
            let name = format!("{dir_name}/{}", escape_name(&e.name));
            let m = &e.meta;
            let base = StatusRow::new(name, m.uid, m.gid, m.perm, "daemon");
            objects.push((base, e.node.clone()));
        }
    }
    objects
}
