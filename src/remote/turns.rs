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
//!   So each create or removal takes a ticket, and a step of its name
//!   asked while it waits — whoever asks it, another create or removal
//!   included — waits in its own user's line until every create or
//!   removal of that name asked before it has run: a user whose front
//!   step waits so is passed over, keeping its place in the turn. Never
//!   in another user's line: one user's flood of steps of a name another
//!   keeps making and removing delays that user by one step per turn, as
//!   any flood. No deadlock: the front step asked first of all never
//!   waits (whatever it waits for was asked before it, so is at a front
//!   before it or has run). A removal or create may run before steps of
//!   its name asked earlier by other users: those ran concurrently with
//!   it on the host too (the unlink is answered before the store has
//!   it), and each names the incarnation it is for, so one that finds
//!   the queue gone fails `EIDRM`, as if it came after.
//! - The rest of a long append, cut in parts, goes to the back of its
//!   own user's line ([`Turns::push_rest`]), ignoring pins: it is no new
//!   step but the rest of one asked before, so it delays that user's
//!   next steps only.

use std::collections::{BTreeSet, HashMap, VecDeque};

/// What the lines need to know of a step.
pub(super) trait InLine {
    /// The user it is for: whose line it goes in.
    fn user(&self) -> u32;
    /// The queue it is for.
    fn name(&self) -> &[u8];
    /// Whether it changes which queue its name is (a create, a removal).
    fn orders_its_name(&self) -> bool;
}

/// A step in a line.
struct Entry<T> {
    /// When it was asked, among all steps (to find the oldest front).
    asked: u64,
    /// A create's or removal's name and ticket.
    orders: Option<(Vec<u8>, u64)>,
    /// The name whose creates and removals it waits for, up to the
    /// ticket asked last before it.
    after: Option<(Vec<u8>, u64)>,
    job: T,
}

/// The steps waiting, one line per user.
///
/// Invariants: `order` holds each user whose line is non-empty exactly
/// once, and no other; `pins` holds each name with a create or removal in
/// a line (the tickets of those, not yet run), and no other.
pub(super) struct Turns<T> {
    lines: HashMap<u32, VecDeque<Entry<T>>>,
    /// The users with steps waiting; the front's turn is next.
    order: VecDeque<u32>,
    pins: HashMap<Vec<u8>, BTreeSet<u64>>,
    /// Counts the steps asked (`Entry::asked`) and the tickets.
    asked: u64,
}

impl<T: InLine> Turns<T> {
    pub(super) fn new() -> Turns<T> {
        Turns {
            lines: HashMap::new(),
            order: VecDeque::new(),
            pins: HashMap::new(),
            asked: 0,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// A step just asked: at the back of its user's line, waiting there
    /// for the creates and removals of its name asked before it.
    pub(super) fn push(&mut self, job: T) {
        self.asked += 1;
        let (name, orders) = (job.name(), job.orders_its_name());
        let after = (self.pins.get(name))
            .and_then(|tickets| tickets.last())
            .map(|last| (name.to_vec(), *last));
        let orders = orders.then(|| {
            let tickets = self.pins.entry(name.to_vec()).or_default();
            tickets.insert(self.asked);
            (name.to_vec(), self.asked)
        });
        let entry = Entry {
            asked: self.asked,
            orders,
            after,
            job,
        };
        self.line_up(entry);
    }

    /// The rest of a long append, whose first part has run: at the back
    /// of its user's line, waiting for nothing.
    pub(super) fn push_rest(&mut self, job: T) {
        self.asked += 1;
        let entry = Entry {
            asked: self.asked,
            orders: None,
            after: None,
            job,
        };
        self.line_up(entry);
    }

    /// The next step: the front of the first line in turn whose front
    /// waits for no create or removal.
    pub(super) fn pop(&mut self) -> Option<T> {
        let fronts = self.order.iter().map(|user| &self.lines[user][0]);
        let turn = match fronts.clone().position(|e| self.may_run(e)) {
            Some(turn) => turn,
            // Never (see the module's note); were it, the oldest runs.
            None => (fronts.enumerate())
                .min_by_key(|(_, e)| e.asked)
                .map(|(turn, _)| turn)?,
        };
        let user = self.order.remove(turn)?;
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
        if let Some((name, ticket)) = entry.orders {
            let tickets = self.pins.get_mut(&name).expect("a create or removal pins");
            tickets.remove(&ticket);
            if tickets.is_empty() {
                self.pins.remove(&name);
            }
        }
        Some(entry.job)
    }

    /// Whether every create or removal `entry` waits for has run.
    fn may_run(&self, entry: &Entry<T>) -> bool {
        entry.after.as_ref().is_none_or(|(name, last)| {
            (self.pins.get(name))
                .and_then(BTreeSet::first)
                .is_none_or(|first| first > last)
        })
    }

    fn line_up(&mut self, entry: Entry<T>) {
        let user = entry.job.user();
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
    fn steps_of_a_name_asked_after_its_create_wait_for_it_in_their_own_line() {
        let mut turns = Turns::new();
        push(&mut turns, 1, b"other", &["a1"]);
        push_ordering(&mut turns, 1, b"q", "a-create-q");
        push(&mut turns, 2, b"q", &["b-append-q"]);
        push(&mut turns, 2, b"r", &["b-append-r"]);
        push(&mut turns, 3, b"r", &["c-append-r"]);
        // User 2's front waits for the create: passed over, it keeps its
        // place in the turn, and user 3 is not held.
        assert_eq!(pop(&mut turns), Some("a1"));
        assert_eq!(pop(&mut turns), Some("c-append-r"));
        assert_eq!(turns.order, [2, 1]);
        assert_eq!(
            drain(&mut turns),
            ["a-create-q", "b-append-q", "b-append-r"]
        );
        assert!(turns.pins.is_empty());
    }

    #[test]
    fn a_flood_of_steps_of_a_name_another_user_makes_delays_it_one_step_per_turn() {
        let mut turns = Turns::new();
        push_ordering(&mut turns, 1, b"q", "a-create-q");
        push(&mut turns, 2, b"q", &["b1", "b2", "b3", "b4", "b5", "b6"]);
        push(&mut turns, 1, b"q", &["a-close-q"]);
        push_ordering(&mut turns, 1, b"q", "a-remove-q");
        push(&mut turns, 2, b"q", &["b7", "b8"]);
        assert_eq!(
            drain(&mut turns),
            [
                "a-create-q",
                "b1",
                "a-close-q",
                "b2",
                "a-remove-q",
                "b3",
                "b4",
                "b5",
                "b6",
                "b7",
                "b8"
            ]
        );
    }

    #[test]
    fn a_removal_and_a_create_of_one_name_by_two_users_keep_their_order() {
        let mut turns = Turns::new();
        push(&mut turns, 1, b"x", &["a1", "a2", "a3"]);
        push_ordering(&mut turns, 1, b"q", "a-remove-q");
        push_ordering(&mut turns, 2, b"q", "b-create-q");
        push(&mut turns, 3, b"q", &["c-set-q"]);
        assert_eq!(turns.pins[&b"q".to_vec()].len(), 2);
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
