//! The worker's lines: one per user, served in turn, so that one user's
//! flood of steps (many writers at once, a batch of 150,000 records)
//! does not make another user's steps wait out their `STEP_TIMEOUT` in
//! line and fail `ECOMM`. Each turn runs one step of the user at the
//! front; that user goes to the back while it has steps left, and leaves
//! the turn when its line is empty (it comes back at the back with its
//! next step).
//!
//! Order, and why it is enough:
//! - Each user's line is FIFO, so the steps one user asked of one queue
//!   run in the order asked.
//! - Steps of one queue asked by different users may run in another
//!   order than asked. The queue's core asks a step only from what it
//!   knows when asking, tracks each by its `seq` and takes each answer
//!   on its own, and a step that depends on another (an append into a
//!   place, after the reserve of that place) is asked only once the other
//!   is answered: so steps that are in line together are independent,
//!   and each is atomic on the server.
//! - A create or a removal is not like that: it changes which queue the
//!   name is, and a step asked after it must not run before it (before a
//!   create, it would find no queue, and the queue would look removed;
//!   before a removal, a create asked after it would find the old queue).
//!   So the rule: from a create or removal of a name until it has run,
//!   the name is pinned to the line it went in, and every step of that
//!   name — whoever asks it, another create or removal included — goes in
//!   that same line, behind it. The line being FIFO, nothing asked after
//!   a create or removal of a name runs before it. A removal or create
//!   may run before steps of its name asked earlier by other users: those
//!   ran concurrently with it on the host too (the unlink is answered
//!   before the store has it), and each names the incarnation it is for,
//!   so one that finds the queue gone fails `EIDRM`, as if it came after.
//! - The rest of a long append, cut in parts, goes to the back of its
//!   own user's line ([`Turns::push_rest`]), ignoring pins: it is no new
//!   step but the rest of one asked before, so it delays that user's
//!   next steps only.

use std::collections::{HashMap, VecDeque};

/// What the lines need to know of a step.
pub(super) trait InLine {
    /// The user it is for: whose line it goes in.
    fn user(&self) -> u32;
    /// The queue it is for.
    fn name(&self) -> &[u8];
    /// Whether it changes which queue its name is (a create, a removal).
    fn orders_its_name(&self) -> bool;
}

/// A step in a line; `orders` the name of a create or removal.
struct Entry<T> {
    orders: Option<Vec<u8>>,
    job: T,
}

/// A name whose create or removal is in line.
struct Pin {
    /// The line its steps go in.
    user: u32,
    /// Its creates and removals in that line, not yet run.
    pending: usize,
}

/// The steps waiting, one line per user.
///
/// Invariants: `order` holds each user whose line is non-empty exactly
/// once, and no other; `pins` holds each name with a create or removal in
/// a line (`pending` of them), and no other.
pub(super) struct Turns<T> {
    lines: HashMap<u32, VecDeque<Entry<T>>>,
    /// The users with steps waiting; the front's turn is next.
    order: VecDeque<u32>,
    pins: HashMap<Vec<u8>, Pin>,
}

impl<T: InLine> Turns<T> {
    pub(super) fn new() -> Turns<T> {
        Turns {
            lines: HashMap::new(),
            order: VecDeque::new(),
            pins: HashMap::new(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// A step just asked: at the back of its user's line, or of the line
    /// its name is pinned to. A create or removal pins its name until it
    /// has run.
    pub(super) fn push(&mut self, job: T) {
        let (user, name, orders) = (job.user(), job.name(), job.orders_its_name());
        let line = match self.pins.get_mut(name) {
            Some(pin) => {
                pin.pending += usize::from(orders);
                pin.user
            }
            None if orders => {
                let pin = Pin { user, pending: 1 };
                self.pins.insert(name.to_vec(), pin);
                user
            }
            None => user,
        };
        let orders = orders.then(|| name.to_vec());
        self.line_up(line, Entry { orders, job });
    }

    /// The rest of a long append, whose first part has run: at the back
    /// of its user's line, whatever the pins.
    pub(super) fn push_rest(&mut self, job: T) {
        self.line_up(job.user(), Entry { orders: None, job });
    }

    /// The next step: the front of the line whose turn it is.
    pub(super) fn pop(&mut self) -> Option<T> {
        let user = self.order.pop_front()?;
        let line = self
            .lines
            .get_mut(&user)
            .expect("a user in turn has a line");
        let entry = line.pop_front().expect("a line in turn has a step");
        if line.is_empty() {
            self.lines.remove(&user);
        } else {
            self.order.push_back(user);
        }
        if let Some(name) = entry.orders {
            let pin = self.pins.get_mut(&name).expect("a create or removal pins");
            pin.pending -= 1;
            if pin.pending == 0 {
                self.pins.remove(&name);
            }
        }
        Some(entry.job)
    }

    fn line_up(&mut self, user: u32, entry: Entry<T>) {
        let line = self.lines.entry(user).or_default();
        if line.is_empty() {
            self.order.push_back(user);
        }
        line.push_back(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step: its user, queue, whether it is a create or removal, and
    /// what the test calls it.
    struct Job(u32, &'static [u8], bool, &'static str);

    impl InLine for Job {
        fn user(&self) -> u32 {
            self.0
        }
        fn name(&self) -> &[u8] {
            self.1
        }
        fn orders_its_name(&self) -> bool {
            self.2
        }
    }

    /// Steps `jobs` of queue `name` asked by `user`, in that order.
    fn push(turns: &mut Turns<Job>, user: u32, name: &'static [u8], jobs: &[&'static str]) {
        for job in jobs {
            turns.push(Job(user, name, false, job));
        }
    }

    /// A create or removal of queue `name` asked by `user`.
    fn push_ordering(turns: &mut Turns<Job>, user: u32, name: &'static [u8], job: &'static str) {
        turns.push(Job(user, name, true, job));
    }

    fn pop(turns: &mut Turns<Job>) -> Option<&'static str> {
        turns.pop().map(|j| j.3)
    }

    fn drain(turns: &mut Turns<Job>) -> Vec<&'static str> {
        std::iter::from_fn(|| pop(turns)).collect()
    }

    #[test]
    fn two_users_take_turns_each_in_the_order_it_asked() {
        let mut turns = Turns::new();
        push(&mut turns, 1, b"q", &["a1", "a2", "a3", "a4"]);
        push(&mut turns, 2, b"q", &["b1"]);
        push(&mut turns, 2, b"r", &["b2"]);
        assert_eq!(drain(&mut turns), ["a1", "b1", "a2", "b2", "a3", "a4"]);
        assert!(turns.is_empty());
    }

    #[test]
    fn users_take_turns_in_the_order_they_came() {
        let mut turns = Turns::new();
        for (user, job) in [(3, "c1"), (1, "a1"), (2, "b1"), (1, "a2"), (3, "c2")] {
            push(&mut turns, user, b"q", &[job]);
        }
        assert_eq!(drain(&mut turns), ["c1", "a1", "b1", "c2", "a2"]);
    }

    #[test]
    fn the_rest_of_a_long_append_goes_behind_its_own_users_next_steps_only() {
        let mut turns = Turns::new();
        push(&mut turns, 1, b"q", &["a-append", "a2"]);
        push(&mut turns, 2, b"q", &["b1", "b2", "b3", "b4"]);
        assert_eq!(pop(&mut turns), Some("a-append"));
        turns.push_rest(Job(1, b"q", false, "a-append-rest"));
        // Behind a2, asked before it ran, and not behind b3 and b4.
        assert_eq!(
            drain(&mut turns),
            ["b1", "a2", "b2", "a-append-rest", "b3", "b4"]
        );
    }

    #[test]
    fn the_rest_of_a_long_append_of_a_user_with_nothing_else_waits_one_round() {
        let mut turns = Turns::new();
        push(&mut turns, 1, b"q", &["a-append"]);
        push(&mut turns, 2, b"q", &["b1", "b2"]);
        assert_eq!(pop(&mut turns), Some("a-append"));
        turns.push_rest(Job(1, b"q", false, "a-append-rest"));
        assert_eq!(drain(&mut turns), ["b1", "a-append-rest", "b2"]);
    }

    #[test]
    fn a_user_whose_line_empties_leaves_the_turn_and_comes_back_at_the_back() {
        let mut turns = Turns::new();
        push(&mut turns, 1, b"q", &["a1"]);
        push(&mut turns, 2, b"q", &["b1", "b2", "b3"]);
        push(&mut turns, 3, b"q", &["c1"]);
        let first: Vec<_> = (0..3).map(|_| pop(&mut turns)).collect();
        assert_eq!(first, [Some("a1"), Some("b1"), Some("c1")]);
        // Users 1 and 3 have left: user 2 alone is served, each turn.
        assert_eq!(turns.order, [2]);
        assert_eq!(pop(&mut turns), Some("b2"));
        push(&mut turns, 1, b"q", &["a2"]);
        push(&mut turns, 3, b"q", &["c2"]);
        assert_eq!(drain(&mut turns), ["b3", "a2", "c2"]);
        assert!(turns.is_empty());
        assert!(turns.lines.is_empty());
        assert_eq!(pop(&mut turns), None);
    }

    #[test]
    fn steps_of_a_name_asked_after_its_create_wait_behind_it_whoever_asks() {
        let mut turns = Turns::new();
        push(&mut turns, 1, b"other", &["a1"]);
        push_ordering(&mut turns, 1, b"q", "a-create-q");
        push(&mut turns, 2, b"q", &["b-append-q"]);
        push(&mut turns, 2, b"r", &["b-append-r"]);
        // b-append-q is in user 1's line, behind the create; user 2's
        // step of another queue is not held.
        assert_eq!(
            drain(&mut turns),
            ["a1", "b-append-r", "a-create-q", "b-append-q"]
        );
        assert!(turns.pins.is_empty());
        // Once the create has run, user 2's steps of q are its own again.
        push(&mut turns, 1, b"other", &["a2"]);
        push(&mut turns, 2, b"q", &["b-take-q"]);
        assert_eq!(drain(&mut turns), ["a2", "b-take-q"]);
    }

    #[test]
    fn a_removal_and_a_create_of_one_name_by_two_users_keep_their_order() {
        let mut turns = Turns::new();
        push(&mut turns, 1, b"x", &["a1", "a2", "a3"]);
        push_ordering(&mut turns, 1, b"q", "a-remove-q");
        push_ordering(&mut turns, 2, b"q", "b-create-q");
        push(&mut turns, 3, b"q", &["c-set-q"]);
        assert_eq!(turns.pins[&b"q".to_vec()].pending, 2);
        assert_eq!(
            drain(&mut turns),
            ["a1", "a2", "a3", "a-remove-q", "b-create-q", "c-set-q"]
        );
        assert!(turns.pins.is_empty());
    }

    #[test]
    fn the_rest_of_a_long_append_is_not_held_by_a_pin() {
        let mut turns = Turns::new();
        push(&mut turns, 2, b"q", &["b-append-q"]);
        assert_eq!(pop(&mut turns), Some("b-append-q"));
        push(&mut turns, 1, b"x", &["a1"]);
        push_ordering(&mut turns, 1, b"q", "a-remove-q");
        turns.push_rest(Job(2, b"q", false, "b-append-q-rest"));
        assert_eq!(drain(&mut turns), ["a1", "b-append-q-rest", "a-remove-q"]);
    }
}
