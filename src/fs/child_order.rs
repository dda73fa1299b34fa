//! The children of each directory in the order they were made, for
//! `readdir`'s stable offsets: a child's offset is its inode number, and a
//! listing goes on after the last inode it gave.
//!
//! Inode numbers only grow, and an entry never changes directory (rename
//! stays in one), so each directory's children are appended in order: a
//! sorted vector, found by binary search. A removed child is marked gone
//! in a bitmap rather than moved out (removing a mount's many queues
//! oldest first would move the rest each time); once half of a list is
//! gone it is compacted. Each child costs ~8 bytes here, where a B-tree
//! of (parent, child) pairs cost ~34.
//!
//! Invariants: within a directory, `inos` is strictly increasing; `gone`
//! has a bit for every slot of `inos`, and `gone_count` is how many are
//! set, always fewer than half of `inos` after a removal returns.

use std::collections::HashMap;

use super::attr::Ino;

#[derive(Default)]
pub struct ChildOrder {
    dirs: HashMap<Ino, Children>,
}

#[derive(Default)]
struct Children {
    inos: Vec<Ino>,
    gone: Vec<u64>,
    gone_count: usize,
}

impl Children {
    fn is_gone(&self, slot: usize) -> bool {
        self.gone[slot / 64] & (1 << (slot % 64)) != 0
    }

    /// Drops the gone slots; what is left keeps its order.
    fn compact(&mut self) {
        let mut slot = 0;
        let gone = std::mem::take(&mut self.gone);
        self.inos.retain(|_| {
            let keep = gone[slot / 64] & (1 << (slot % 64)) == 0;
            slot += 1;
            keep
        });
        self.inos.shrink_to(self.inos.len() * 2);
        self.gone = vec![0; self.inos.len().div_ceil(64)];
        self.gone_count = 0;
    }
}

impl ChildOrder {
    /// Adds `ino` as `parent`'s newest child: it must be above every
    /// inode `parent` had.
    pub fn insert(&mut self, parent: Ino, ino: Ino) {
        let c = self.dirs.entry(parent).or_default();
        debug_assert!(c.inos.last().is_none_or(|last| *last < ino));
        c.inos.push(ino);
        if c.gone.len() * 64 < c.inos.len() {
            c.gone.push(0);
        }
    }

    /// Takes `ino` out of `parent`'s children; nothing if it is not one.
    pub fn remove(&mut self, parent: Ino, ino: Ino) {
        let Some(c) = self.dirs.get_mut(&parent) else {
            return;
        };
        let Ok(slot) = c.inos.binary_search(&ino) else {
            return;
        };
        if c.is_gone(slot) {
            return;
        }
        c.gone[slot / 64] |= 1 << (slot % 64);
        c.gone_count += 1;
        if c.gone_count == c.inos.len() {
            self.dirs.remove(&parent);
        } else if c.gone_count * 2 >= c.inos.len() {
            c.compact();
        }
    }

    /// `parent`'s children with an inode above `after`, oldest first.
    pub fn after(&self, parent: Ino, after: Ino) -> impl Iterator<Item = Ino> + '_ {
        self.dirs.get(&parent).into_iter().flat_map(move |c| {
            let first = c.inos.partition_point(|i| *i <= after);
            (first..c.inos.len())
                .filter(move |slot| !c.is_gone(*slot))
                .map(move |slot| c.inos[slot])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(o: &ChildOrder, parent: Ino, after: Ino) -> Vec<Ino> {
        o.after(parent, after).collect()
    }

    #[test]
    fn children_are_listed_oldest_first_after_an_offset_per_directory() {
        let mut o = ChildOrder::default();
        for ino in 2..=6 {
            o.insert(if ino % 2 == 0 { 1 } else { 9 }, ino);
        }
        assert_eq!(listed(&o, 1, 0), [2, 4, 6]);
        assert_eq!(listed(&o, 1, 2), [4, 6]);
        assert_eq!(listed(&o, 1, 3), [4, 6]);
        assert_eq!(listed(&o, 1, 6), [] as [Ino; 0]);
        assert_eq!(listed(&o, 9, 0), [3, 5]);
        assert_eq!(listed(&o, 7, 0), [] as [Ino; 0]);
    }

    #[test]
    fn removed_children_are_not_listed_and_the_rest_keep_their_order() {
        let mut o = ChildOrder::default();
        for ino in 10..210 {
            o.insert(1, ino);
        }
        // Oldest first, as `rm` of a listing does: compacts along the way.
        for ino in 10..150 {
            o.remove(1, ino);
            o.remove(1, ino);
        }
        o.remove(1, 5);
        o.remove(2, 160);
        assert_eq!(listed(&o, 1, 0), (150..210).collect::<Vec<_>>());
        assert_eq!(listed(&o, 1, 199), (200..210).collect::<Vec<_>>());
        o.insert(1, 300);
        for ino in (150..210).filter(|i| i % 3 != 0) {
            o.remove(1, ino);
        }
        let left: Vec<Ino> = (150..210).filter(|i| i % 3 == 0).chain([300]).collect();
        assert_eq!(listed(&o, 1, 0), left);
        for ino in left {
            o.remove(1, ino);
        }
        assert!(o.dirs.is_empty(), "an empty directory's list is dropped");
    }
}
