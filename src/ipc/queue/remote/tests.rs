//! The shared queue's state machine driven alone: a store that records
//! the steps asked, answered by hand.

use std::sync::Mutex;
use std::time::Instant;

use super::*;
use crate::ipc::{Mode, Plain, read_call, write_call};
use crate::memory::MemoryBudget;

/// A store that keeps every step asked, for the test to answer, and
/// whom each was for.
#[derive(Default)]
struct Asked(Mutex<Vec<(u64, StoreOp)>>, Mutex<HashMap<u64, u32>>);

impl Store for Asked {
    fn send(&self, seq: u64, user: u32, op: StoreOp) {
        self.0.lock().unwrap().push((seq, op));
        self.1.lock().unwrap().insert(seq, user);
    }
}

impl Asked {
    /// The steps asked since the last look.
    fn take(&self) -> Vec<(u64, StoreOp)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Whom step `seq` was for.
    fn user(&self, seq: u64) -> u32 {
        self.1.lock().unwrap()[&seq]
    }
}

fn queue() -> (RemoteQueue<Plain>, Arc<Asked>) {
    let asked = Arc::new(Asked::default());
    let settings = QueueSettings {
        max_messages: 4,
        max_message_size: 100,
        framing: Framing::Message,
        faults: Faults::PERFECT,
    };
    let budget = MemoryBudget::new(1 << 30).account(1);
    let stored = StoredCharge::new(
        &StoredBytes::new(super::usage::STORED_QUEUE + 1000),
        1,
        0,
        Counts::default(),
    );
    (
        RemoteQueue::new(asked.clone(), settings, 0, stored, budget),
        asked,
    )
}

/// What the queue above may cost the server in all: its owner's share
/// less its record.
const SHARE: Option<usize> = Some(1000);

fn holding(messages: usize, bytes: usize) -> Counts {
    Counts {
        messages,
        bytes,
        places: 0,
    }
}

fn wk() -> RemoteWakeups<Plain> {
    Wakeups::default()
}

/// An open by uid 1 of the queue's existing name.
fn request(mode: Mode, io: IoMode, nonblock: bool) -> OpenRequest {
    OpenRequest {
        mode,
        nonblock,
        io,
        creating: false,
        exclusive: false,
        opener: 1,
    }
}

fn open(
    q: &mut RemoteQueue<Plain>,
    mode: Mode,
    io: IoMode,
    nonblock: bool,
) -> Step<u32, Result<QueueEnd>> {
    open_by(q, 1, request(mode, io, nonblock))
}

/// Open `req` of the queue by `uid` (as call 7).
fn open_by(q: &mut RemoteQueue<Plain>, uid: u32, req: OpenRequest) -> Step<u32, Result<QueueEnd>> {
    let req = OpenRequest { opener: uid, ..req };
    q.open(7, 7, req, &mut wk())
}

fn opened(step: Step<u32, Result<QueueEnd>>) -> QueueEnd {
    match step {
        Step::Done(_, Ok(end)) => end,
        _ => panic!("the open did not finish"),
    }
}

/// The one step asked since the last look.
fn one(asked: &Asked) -> (u64, StoreOp) {
    let mut steps = asked.take();
    assert_eq!(steps.len(), 1, "{steps:?}");
    steps.pop().unwrap()
}

/// A packet reader with a read of `size` bytes parked, and the take it
/// asked (its step's seq).
fn parked_read(q: &mut RemoteQueue<Plain>, asked: &Asked, size: usize, nonblock: bool) -> u64 {
    let end = opened(open(q, Mode::READ, IoMode::Packet, true));
    assert!(
        q.read(read_call(1, end, size, nonblock), &mut wk())
            .is_parked()
    );
    let (seq, op) = one(asked);
    assert_eq!(op, take(&[]));
    seq
}

/// A take of one message, carrying `acks`.
fn take(acks: &[&str]) -> StoreOp {
    let acks = acks.iter().map(|a| a.to_string()).collect();
    StoreOp::Take { count: 1, acks }
}

/// The receipts due now, alone: what the queue sends when no take came
/// to carry them.
fn receipts_due(q: &mut RemoteQueue<Plain>) {
    let later = Instant::now() + ACK_DELAY * 2;
    q.deadline(later, &mut wk());
}

/// The store's answer to take `seq`: message `id`.
fn taken(q: &mut RemoteQueue<Plain>, seq: u64, id: &str, message: &[u8]) -> RemoteWakeups<Plain> {
    let mut w = wk();
    let stored = Stored::Taken(vec![(id.into(), message.to_vec())]);
    q.stored(seq, Ok(stored), &mut w);
    w
}

/// The first place a queue of these tests gives, held by its opener.
const FIRST_PLACE: Place = Place {
    number: 1,
    holder: 1,
};

/// A writer whose open got the place of its first message.
fn writer_with_place(q: &mut RemoteQueue<Plain>, asked: &Asked) -> QueueEnd {
    assert!(open(q, Mode::WRITE, IoMode::Stream, false).is_parked());
    let (seq, op) = one(asked);
    assert_eq!(
        op,
        StoreOp::Reserve {
            place: FIRST_PLACE,
            share: SHARE,
        }
    );
    let mut w = wk();
    q.stored(seq, Ok(Stored::Reserved(true)), &mut w);
    match w.opens.pop() {
        Some((7, 7, Ok(end))) => end,
        _ => panic!("the open was not answered"),
    }
}

/// A packet writer's write `id` of one message `m`, parked: its end and
/// the step it asked.
fn packet_write_asked(q: &mut RemoteQueue<Plain>, asked: &Asked, id: u64) -> (QueueEnd, u64) {
    let end = opened(open(q, Mode::WRITE, IoMode::Packet, true));
    assert!(
        q.write(write_call(id, end, b"m", false), &mut wk())
            .is_parked()
    );
    let (seq, op) = one(asked);
    let append = StoreOp::Append {
        share: SHARE,
        messages: vec![b"m".to_vec()],
        place: None,
    };
    assert_eq!(op, append);
    (end, seq)
}

/// A packet writer whose write `id` of one message was told the queue
/// is full: it waits for room.
fn packet_writer_waiting_for_room(q: &mut RemoteQueue<Plain>, asked: &Asked, id: u64) -> QueueEnd {
    let (end, seq) = packet_write_asked(q, asked, id);
    q.stored(seq, Ok(Stored::Appended(0)), &mut wk());
    end
}

#[test]
fn a_parked_read_asks_one_take_and_no_other_until_a_message_is_put() {
    let (mut q, asked) = queue();
    let seq = parked_read(&mut q, &asked, 100, false);
    let mut w = wk();
    q.stored(seq, Ok(Stored::Empty { retry: None }), &mut w);
    assert!(w.reads.is_empty());
    // The store said empty: no take again until a message is put.
    assert_eq!(asked.take(), []);
    q.changed(Change::Put(holding(1, 10)), &mut wk());
    let (seq, op) = one(&asked);
    assert_eq!(op, take(&[]));
    let w = taken(&mut q, seq, "1-0", b"job");
    assert!(matches!(&w.reads[..], [(1, 1, ReadDone::Data(Ok(m)))] if m == b"job"));
    // The receipt waits a moment for a take to carry it, then goes alone.
    assert_eq!(asked.take(), []);
    receipts_due(&mut q);
    let ids = vec!["1-0".to_string()];
    assert_eq!(one(&asked).1, StoreOp::Ack { ids });
}

#[test]
fn receipts_of_a_queue_found_gone_are_not_sent_again() {
    let (mut q, asked) = queue();
    let seq = parked_read(&mut q, &asked, 100, false);
    taken(&mut q, seq, "1-0", b"job");
    receipts_due(&mut q);
    let (seq, op) = one(&asked);
    assert_eq!(
        op,
        StoreOp::Ack {
            ids: vec!["1-0".into()]
        }
    );
    // The queue was removed meanwhile: its messages went with it, and
    // the receipt is never asked again (each would fail the same way).
    q.stored(seq, Err(Error::NotFound), &mut wk());
    receipts_due(&mut q);
    q.deadline(Instant::now() + RETRY_AFTER_FAILURE * 2, &mut wk());
    assert_eq!(asked.take(), []);
}

#[test]
fn the_next_take_carries_the_receipt_of_the_last_message() {
    let (mut q, asked) = queue();
    let seq = parked_read(&mut q, &asked, 100, false);
    taken(&mut q, seq, "1-0", b"first");
    let end = opened(open(&mut q, Mode::READ, IoMode::Packet, true));
    assert!(q.read(read_call(2, end, 100, false), &mut wk()).is_parked());
    assert_eq!(one(&asked).1, take(&["1-0"]));
    receipts_due(&mut q);
    assert_eq!(asked.take(), [], "carried: nothing left to send alone");
}

#[test]
fn a_batch_read_takes_as_many_messages_as_its_buffer_holds() {
    let (mut q, asked) = queue();
    let end = opened(open(&mut q, Mode::READ, IoMode::Batch, true));
    assert!(
        q.read(read_call(1, end, 4 * 68, false), &mut wk())
            .is_parked()
    );
    let (seq, op) = one(&asked);
    assert_eq!(
        op,
        StoreOp::Take {
            count: 4,
            acks: vec![]
        }
    );
    let messages = (0..3).map(|i| (format!("{i}-0"), vec![b'm'; 64])).collect();
    let mut w = wk();
    q.stored(seq, Ok(Stored::Taken(messages)), &mut w);
    let [(1, 1, ReadDone::Data(Ok(records)))] = &w.reads[..] else {
        panic!("the read was not answered: {:?}", w.reads.len());
    };
    assert_eq!(records.len(), 3 * 68);
    receipts_due(&mut q);
    let ids = vec!["0-0".to_string(), "1-0".into(), "2-0".into()];
    assert_eq!(one(&asked).1, StoreOp::Ack { ids });
}

#[test]
fn a_read_that_may_not_wait_gets_eagain_from_an_empty_store() {
    let (mut q, asked) = queue();
    let seq = parked_read(&mut q, &asked, 100, true);
    let mut w = wk();
    q.stored(seq, Ok(Stored::Empty { retry: None }), &mut w);
    let eagain = ReadDone::Data(Err(Error::WouldBlock));
    assert!(matches!(&w.reads[..], [(1, 1, done)] if *done == eagain));
    // Asked again with nothing put since: answered without asking.
    let end = opened(open(&mut q, Mode::READ, IoMode::Packet, true));
    let again = q.read(read_call(2, end, 100, true), &mut wk());
    assert!(matches!(again, Step::Done(2, Err(Error::WouldBlock))));
    assert_eq!(asked.take(), []);
}

#[test]
fn a_write_to_a_full_queue_asks_again_only_when_room_may_have_come() {
    let (mut q, asked) = queue();
    packet_writer_waiting_for_room(&mut q, &asked, 1);
    assert_eq!(asked.take(), [], "full: no step until room may have come");
    assert_eq!(q.counters().blocked, 1);
    q.changed(Change::Took(holding(3, 30)), &mut wk());
    let (seq, op) = one(&asked);
    assert!(matches!(op, StoreOp::Append { messages, .. } if messages == [b"m"]));
    let mut w = wk();
    q.stored(seq, Ok(Stored::Appended(1)), &mut w);
    assert!(matches!(&w.writes[..], [(1, 1, done)] if *done == WriteDone::ok(1)));
    assert_eq!(q.counters().sent, 1);
}

#[test]
fn a_message_ends_at_the_close_in_the_place_its_open_got() {
    let (mut q, asked) = queue();
    let end = writer_with_place(&mut q, &asked);
    // Writes go into the message in progress: no step.
    let done = q.write(write_call(1, end, b"hel", false), &mut wk());
    assert!(matches!(done, Step::Done(1, d) if d == WriteDone::ok(3)));
    let done = q.write(write_call(2, end, b"lo", false), &mut wk());
    assert!(matches!(done, Step::Done(2, d) if d == WriteDone::ok(2)));
    assert_eq!(asked.take(), []);
    let flushed = q.flush(3, 3, end, &mut || false, &mut wk());
    assert!(flushed.is_parked(), "answered once the store has it");
    let (seq, op) = one(&asked);
    let append = StoreOp::Append {
        share: SHARE,
        messages: vec![b"hello".to_vec()],
        place: Some(FIRST_PLACE),
    };
    assert_eq!(op, append);
    let mut w = wk();
    q.stored(seq, Ok(Stored::Appended(1)), &mut w);
    assert!(matches!(&w.flushes[..], [(3, 3, Ok(()))]));
}

#[test]
fn a_store_out_of_reach_fails_the_close_with_ecomm_and_asks_nothing_more() {
    let (mut q, asked) = queue();
    let end = writer_with_place(&mut q, &asked);
    let _ = q.write(write_call(1, end, b"lost", false), &mut wk());
    let _ = q.flush(3, 3, end, &mut || false, &mut wk());
    let (seq, _) = one(&asked);
    let mut w = wk();
    q.stored(seq, Err(Error::StoreUnreachable), &mut w);
    assert!(matches!(
        &w.flushes[..],
        [(3, 3, Err(Error::StoreUnreachable))]
    ));
    assert_eq!(q.counters().dropped, 1);
    assert_eq!(asked.take(), []);
}

#[test]
fn a_message_taken_for_a_reader_that_left_goes_back() {
    let (mut q, asked) = queue();
    let seq = parked_read(&mut q, &asked, 100, false);
    assert!(q.cancel(1, CancelReason::Interrupted, &mut wk()));
    taken(&mut q, seq, "5-0", b"orphan");
    assert_eq!(one(&asked).1, StoreOp::GiveBack { id: "5-0".into() });
}

#[test]
fn a_packet_read_too_small_leaves_the_message_for_the_store() {
    let (mut q, asked) = queue();
    let seq = parked_read(&mut q, &asked, 2, false);
    let w = taken(&mut q, seq, "6-0", b"too long");
    let too_long = ReadDone::Data(Err(Error::MessageTooLong));
    assert!(matches!(&w.reads[..], [(1, 1, done)] if *done == too_long));
    assert_eq!(one(&asked).1, StoreOp::GiveBack { id: "6-0".into() });
}

#[test]
fn a_failed_take_is_asked_again_later_not_at_once() {
    let (mut q, asked) = queue();
    let seq = parked_read(&mut q, &asked, 100, false);
    q.stored(seq, Err(Error::StoreUnreachable), &mut wk());
    assert_eq!(
        asked.take(),
        [],
        "no take again at once: the store is out of reach"
    );
    assert_eq!(q.counters().blocked, 1, "the reader stays parked");
    q.deadline(Instant::now() + RETRY_AFTER_FAILURE * 2, &mut wk());
    assert_eq!(one(&asked).1, take(&[]));
}

#[test]
fn a_writer_waiting_for_room_stays_parked_while_the_store_is_out_of_reach() {
    let (mut q, asked) = queue();
    packet_writer_waiting_for_room(&mut q, &asked, 1);
    q.changed(Change::Took(holding(3, 30)), &mut wk());
    let (seq, _) = one(&asked);
    let mut w = wk();
    q.stored(seq, Err(Error::StoreUnreachable), &mut w);
    assert!(w.writes.is_empty(), "still parked");
    assert_eq!(asked.take(), []);
    q.changed(Change::Reconnected, &mut wk());
    let (seq, _) = one(&asked);
    let mut w = wk();
    q.stored(seq, Ok(Stored::Appended(1)), &mut w);
    assert!(matches!(&w.writes[..], [(1, 1, done)] if *done == WriteDone::ok(1)));
}

#[test]
fn under_line_framing_a_write_sends_the_lines_it_ends_and_keeps_the_rest() {
    let (mut q, asked) = queue();
    q.set_framing(Framing::Line).unwrap();
    asked.take();
    let end = writer_with_place(&mut q, &asked);
    assert!(
        q.write(write_call(1, end, b"a\nb\nc", false), &mut wk())
            .is_parked()
    );
    let (seq, op) = one(&asked);
    let lines = StoreOp::Append {
        share: SHARE,
        messages: vec![b"a\n".to_vec(), b"b\n".to_vec()],
        place: Some(FIRST_PLACE),
    };
    assert_eq!(op, lines, "the first line in the place the open took");
    let mut w = wk();
    q.stored(seq, Ok(Stored::Appended(2)), &mut w);
    assert!(matches!(&w.writes[..], [(1, 1, done)] if *done == WriteDone::ok(5)));
    // The unfinished line goes on, and ends with the next newline.
    assert!(
        q.write(write_call(2, end, b"d\n", false), &mut wk())
            .is_parked()
    );
    let (_, op) = one(&asked);
    let line = StoreOp::Append {
        share: SHARE,
        messages: vec![b"cd\n".to_vec()],
        place: None,
    };
    assert_eq!(op, line);
}

#[test]
fn a_queue_the_store_no_longer_has_fails_every_call_with_eidrm() {
    let (mut q, asked) = queue();
    let seq = parked_read(&mut q, &asked, 100, false);
    let reader = opened(open(&mut q, Mode::READ, IoMode::Packet, true));
    let mut w = wk();
    q.stored(seq, Err(Error::NotFound), &mut w);
    assert!(matches!(
        &w.reads[..],
        [(1, 1, ReadDone::Data(Err(Error::Removed)))]
    ));
    assert!(matches!(
        q.read(read_call(2, reader, 100, false), &mut wk()),
        Step::Done(2, Err(Error::Removed))
    ));
    // Ready with an error, so that a poller calls and hears it.
    assert_eq!(q.poll(reader, None), ready::IN | ready::ERR);
    assert!(matches!(
        open(&mut q, Mode::WRITE, IoMode::Packet, true),
        Step::Done(7, Err(Error::Removed))
    ));
    // Nothing more is asked of the store: no take, no retry.
    q.deadline(Instant::now() + RETRY_AFTER_FAILURE * 2, &mut wk());
    assert_eq!(asked.take(), []);
}

#[test]
fn a_removal_answers_a_writer_waiting_for_room_and_drops_a_message_in_progress() {
    let (mut q, asked) = queue();
    let end = writer_with_place(&mut q, &asked);
    assert!(matches!(
        q.write(write_call(3, end, b"half", false), &mut wk()),
        Step::Done(3, WriteDone { result: Ok(4), .. })
    ));
    packet_writer_waiting_for_room(&mut q, &asked, 4);
    let mut w = wk();
    q.changed(Change::Removed, &mut w);
    assert!(matches!(
        &w.writes[..],
        [(
            4,
            4,
            WriteDone {
                result: Err(Error::Removed),
                ..
            }
        )]
    ));
    let mut never_killed = || false;
    assert!(matches!(
        q.flush(5, 5, end, &mut never_killed, &mut wk()),
        Step::Done(5, Err(Error::Removed))
    ));
    assert_eq!(q.counters().dropped, 1);
    // Its place went with the queue: nothing is given back.
    q.release(end, &mut wk());
    assert_eq!(asked.take(), []);
}

#[test]
fn a_create_made_here_waits_for_the_store_and_never_opens_a_queue_made_elsewhere() {
    let (mut q, asked) = queue();
    q.await_creation();
    let creating = |exclusive| OpenRequest {
        creating: true,
        exclusive,
        ..request(Mode::WRITE, IoMode::Packet, true)
    };
    assert!(matches!(
        q.open(7, 7, creating(true), &mut wk()),
        Step::Parked
    ));
    assert!(matches!(
        q.open(8, 8, creating(false), &mut wk()),
        Step::Parked
    ));
    assert_eq!(q.parked(), [7, 8]);
    let theirs = QueueSettings {
        max_messages: 9,
        max_message_size: 50,
        framing: Framing::Write,
        faults: Faults::PERFECT,
    };
    let mut w = wk();
    let found = Created::Found {
        settings: theirs,
        counts: holding(2, 20),
    };
    q.created(Ok(found), &mut w);
    // Another's queue: the exclusive create finds the name taken, the
    // other is sent back to the kernel, to open it with access checked.
    assert!(matches!(
        &w.opens[..],
        [(7, 7, Err(Error::Exists)), (8, 8, Err(Error::Stale))]
    ));
    assert_eq!(q.settings(), theirs);
    assert_eq!(q.counters().messages, 2);
    assert_eq!(asked.take(), []);
    // Made here: the exclusive create goes on.
    let (mut q, _) = queue();
    q.await_creation();
    assert!(matches!(
        q.open(7, 7, creating(true), &mut wk()),
        Step::Parked
    ));
    let mut w = wk();
    q.created(Ok(Created::Made), &mut w);
    assert!(matches!(&w.opens[..], [(7, 7, Ok(_))]));
    // The store's answer may come before the create's open reaches the
    // queue: it is kept for that open.
    let (mut q, _) = queue();
    q.await_creation();
    q.created(Ok(found), &mut wk());
    assert!(matches!(
        q.open(7, 7, creating(true), &mut wk()),
        Step::Done(7, Err(Error::Exists))
    ));
    assert!(matches!(
        q.open(8, 8, creating(false), &mut wk()),
        Step::Done(8, Err(Error::Stale))
    ));
    // The kernel's open that follows (not a create) opens the queue.
    let again = request(Mode::WRITE, IoMode::Packet, true);
    assert!(matches!(
        q.open(9, 9, again, &mut wk()),
        Step::Done(9, Ok(_))
    ));
}

#[test]
fn a_batch_cut_short_by_the_store_is_a_short_write() {
    let (mut q, asked) = queue();
    let end = opened(open(&mut q, Mode::WRITE, IoMode::Batch, true));
    let mut batch = Vec::new();
    for m in [&b"one"[..], b"two", b"three"] {
        records::append(&mut batch, m);
    }
    assert!(matches!(
        q.write(write_call(1, end, &batch, false), &mut wk()),
        Step::Parked
    ));
    let (seq, _) = one(&asked);
    let mut w = wk();
    let cut = Stored::Cut {
        appended: 2,
        error: Error::StoreUnreachable,
    };
    q.stored(seq, Ok(cut), &mut w);
    // The records of the two that went in: 4 + 3 bytes each.
    assert!(matches!(
        &w.writes[..],
        [(1, 1, WriteDone { result: Ok(14), .. })]
    ));
    assert_eq!(q.counters().sent, 2);
    assert_eq!(asked.take(), []);
}

#[test]
fn a_write_interrupted_while_its_step_is_in_flight_is_not_parked_again() {
    let (mut q, asked) = queue();
    let (_, seq) = packet_write_asked(&mut q, &asked, 1);
    // Its step is answered within the store's timeout: it is not taken
    // out now, but the kernel will not send its interrupt again.
    assert!(!q.cancel(1, CancelReason::Interrupted, &mut wk()));
    let mut w = wk();
    q.stored(seq, Ok(Stored::Appended(0)), &mut w);
    assert!(matches!(
        &w.writes[..],
        [(
            1,
            1,
            WriteDone {
                result: Err(Error::Interrupted),
                ..
            }
        )]
    ));
    assert_eq!(q.parked(), []);
}

/// The store says fault `field` of the queue is now `value` (as it
/// publishes every setting made on any mount).
fn fault_set(q: &mut RemoteQueue<Plain>, field: &str, value: &str) {
    let change = Change::Set {
        field: field.into(),
        value: value.into(),
    };
    q.changed(change, &mut wk());
}

#[test]
fn a_message_the_channel_loses_is_acknowledged_and_never_received() {
    let (mut q, asked) = queue();
    fault_set(&mut q, "loss", "1");
    assert_eq!(q.settings().faults.loss, 1.0);
    let seq = parked_read(&mut q, &asked, 100, false);
    let w = taken(&mut q, seq, "1-0", b"job");
    assert!(w.reads.is_empty(), "still parked");
    assert_eq!(q.channel_counters().lost, 1);
    // The reader still waits: the next take carries the lost one's receipt.
    let (_, op) = one(&asked);
    assert_eq!(op, take(&["1-0"]));
}

#[test]
fn a_duplicated_message_reaches_two_reads_and_is_acknowledged_once() {
    let (mut q, asked) = queue();
    fault_set(&mut q, "duplicate", "1");
    let end = opened(open(&mut q, Mode::READ, IoMode::Packet, true));
    for id in [1, 2] {
        assert!(matches!(
            q.read(read_call(id, end, 100, false), &mut wk()),
            Step::Parked
        ));
    }
    let (seq, op) = one(&asked);
    assert_eq!(op, take(&[]));
    let w = taken(&mut q, seq, "1-0", b"job");
    assert!(matches!(
        &w.reads[..],
        [(1, 1, ReadDone::Data(Ok(a))), (2, 2, ReadDone::Data(Ok(b)))] if a == b"job" && b == b"job"
    ));
    assert_eq!(q.channel_counters().duplicated, 1);
    receipts_due(&mut q);
    let (_, op) = one(&asked);
    assert_eq!(
        op,
        StoreOp::Ack {
            ids: vec!["1-0".into()]
        }
    );
}

#[test]
fn a_delayed_message_is_received_when_its_delay_ends() {
    let (mut q, asked) = queue();
    fault_set(&mut q, "delay_ms", "50");
    let seq = parked_read(&mut q, &asked, 100, false);
    let w = taken(&mut q, seq, "1-0", b"job");
    assert!(w.reads.is_empty(), "delayed");
    assert_eq!(
        asked.take(),
        [],
        "in flight: no other take for the same read"
    );
    let due = q.next_deadline().expect("its arrival is due");
    let mut w = wk();
    q.deadline(due, &mut w);
    assert!(matches!(&w.reads[..], [(1, 1, ReadDone::Data(Ok(m)))] if m == b"job"));
    assert_eq!(q.channel_counters().delayed, 1);
}

/// The one step asked, a reserve of place `number` held by `holder`,
/// answered "held": the opens it finished.
fn reserved(q: &mut RemoteQueue<Plain>, asked: &Asked, number: u64, holder: u32) -> Vec<u64> {
    let (seq, op) = one(asked);
    let place = Place { number, holder };
    assert_eq!(
        op,
        StoreOp::Reserve {
            place,
            share: SHARE
        }
    );
    let mut w = wk();
    q.stored(seq, Ok(Stored::Reserved(true)), &mut w);
    w.opens
        .iter()
        .map(|(id, _, r)| {
            assert!(r.is_ok());
            *id
        })
        .collect()
}

#[test]
fn an_open_past_its_users_share_waits_apart_and_asks_again_at_each_change() {
    let (mut q, asked) = queue();
    let writer = |opener| OpenRequest {
        opener,
        ..request(Mode::WRITE, IoMode::Stream, false)
    };
    // uid 2's open: the store says uid 2 holds its share of places.
    assert!(q.open(7, 7, writer(2), &mut wk()).is_parked());
    let (seq, _) = one(&asked);
    q.stored(seq, Ok(Stored::PastShare), &mut wk());
    assert_eq!(q.parked(), [7]);
    assert_eq!(q.counters().blocked, 1);
    // Another open of uid 2 waits behind it, asking nothing; uid 3's
    // goes ahead of both.
    assert!(q.open(8, 8, writer(2), &mut wk()).is_parked());
    assert_eq!(asked.take(), []);
    assert!(q.open(9, 9, writer(3), &mut wk()).is_parked());
    assert_eq!(reserved(&mut q, &asked, 3, 3), [9]);
    // A change: uid 2's oldest alone asks again, and gets its place.
    q.changed(Change::Took(holding(0, 0)), &mut wk());
    assert_eq!(reserved(&mut q, &asked, 1, 2), [7]);
    // The next change asks for the next; an interrupt answers it.
    q.changed(Change::Put(holding(1, 10)), &mut wk());
    assert!(matches!(one(&asked).1, StoreOp::Reserve { .. }));
    let mut w = wk();
    q.stored(q.next_seq, Ok(Stored::PastShare), &mut w);
    assert_eq!(q.parked(), [8]);
    assert!(q.cancel(8, CancelReason::Interrupted, &mut w));
    assert!(matches!(&w.opens[..], [(8, 8, Err(Error::Interrupted))]));
    assert_eq!(q.counters().blocked, 0);
}

#[test]
fn a_write_that_would_start_a_message_past_its_users_share_fails_eagain() {
    let (mut q, asked) = queue();
    let end = opened(open(&mut q, Mode::WRITE, IoMode::Stream, true));
    assert!(
        q.write(write_call(1, end, b"part", false), &mut wk())
            .is_parked()
    );
    let (seq, _) = one(&asked);
    let mut w = wk();
    q.stored(seq, Ok(Stored::PastShare), &mut w);
    assert_eq!(w.writes.len(), 1);
    assert_eq!(w.writes[0].2.result, Err(Error::WouldBlock));
    assert_eq!(q.parked(), []);
}

#[test]
fn a_write_into_a_queue_whose_owner_holds_its_share_of_the_store_fails_enospc() {
    let (mut q, asked) = queue();
    let writer = opened(open(&mut q, Mode::WRITE, IoMode::Packet, true));
    let stream = opened(open(&mut q, Mode::WRITE, IoMode::Stream, true));
    // The store says the queue's 3 messages cost 995 bytes of its
    // owner's 1000 (each 64 beyond its bytes) beside its record.
    q.changed(Change::Put(holding(3, 803)), &mut wk());
    for end in [writer, stream] {
        let done = q.write(write_call(1, end, b"sixsix", false), &mut wk());
        assert!(matches!(
            done,
            Step::Done(
                _,
                WriteDone {
                    result: Err(Error::NoSpace),
                    ..
                }
            )
        ));
    }
    assert_eq!(asked.take(), []);
    // Room again once readers took some: the write is asked of the store.
    q.changed(Change::Took(holding(2, 800)), &mut wk());
    assert!(
        q.write(write_call(1, writer, b"sixsix", false), &mut wk())
            .is_parked()
    );
    assert!(matches!(one(&asked).1, StoreOp::Append { .. }));
}

/// The one step asked since the last look, and whom it is for.
fn one_for(asked: &Asked) -> (StoreOp, u32) {
    let (seq, op) = one(asked);
    (op, asked.user(seq))
}

/// The first place a queue of these tests gives to uid 5's open.
const PLACE_OF_5: Place = Place {
    number: 1,
    holder: 5,
};

#[test]
fn a_calls_steps_are_for_its_caller_even_when_asked_again_for_room() {
    let (mut q, asked) = queue();
    assert_eq!(q.owner(), 1);
    assert!(open_by(&mut q, 5, request(Mode::WRITE, IoMode::Stream, false)).is_parked());
    let (seq, op) = one(&asked);
    assert_eq!(
        (op, asked.user(seq)),
        (
            StoreOp::Reserve {
                place: PLACE_OF_5,
                share: SHARE,
            },
            5
        )
    );
    q.stored(seq, Ok(Stored::Reserved(false)), &mut wk());
    assert_eq!(asked.take(), [], "full: it waits for room");
    // Room comes while the queue serves another user's answer: the open
    // asks again, still for its opener.
    q.serving(Some(9));
    q.changed(Change::Took(holding(3, 30)), &mut wk());
    q.serving(None);
    let (seq, op) = one(&asked);
    assert_eq!(
        (op, asked.user(seq)),
        (
            StoreOp::Reserve {
                place: PLACE_OF_5,
                share: SHARE,
            },
            5
        )
    );
    let mut w = wk();
    q.stored(seq, Ok(Stored::Reserved(true)), &mut w);
    let Some((7, 7, Ok(end))) = w.opens.pop() else {
        panic!("the open was not answered");
    };
    // Its close by uid 8 (a process it was handed to) is uid 8's step.
    q.serving(Some(8));
    let done = q.write(write_call(1, end, b"hi", false), &mut wk());
    assert!(matches!(done, Step::Done(1, d) if d == WriteDone::ok(2)));
    assert!(q.flush(3, 3, end, &mut || false, &mut wk()).is_parked());
    q.serving(None);
    let append = StoreOp::Append {
        share: SHARE,
        messages: vec![b"hi".to_vec()],
        place: Some(PLACE_OF_5),
    };
    assert_eq!(one_for(&asked), (append, 8));
    // A packet write by uid 6 is uid 6's step.
    let end = opened(open_by(
        &mut q,
        6,
        request(Mode::WRITE, IoMode::Packet, false),
    ));
    q.serving(Some(6));
    assert!(
        q.write(write_call(4, end, b"m", false), &mut wk())
            .is_parked()
    );
    q.serving(None);
    // The close's message, on its way, counts in the owner's share until
    // its answer: 2 bytes and its slot.
    let append = StoreOp::Append {
        share: SHARE.map(|n| n - 2 - usage::MESSAGE_OVERHEAD),
        messages: vec![b"m".to_vec()],
        place: None,
    };
    assert_eq!(one_for(&asked), (append, 6));
}

#[test]
fn a_place_given_back_at_release_is_its_openers_and_a_setting_the_owners() {
    let (mut q, asked) = queue();
    assert!(open_by(&mut q, 5, request(Mode::WRITE, IoMode::Stream, false)).is_parked());
    let (seq, _) = one(&asked);
    let mut w = wk();
    q.stored(seq, Ok(Stored::Reserved(true)), &mut w);
    let Some((7, 7, Ok(end))) = w.opens.pop() else {
        panic!("the open was not answered");
    };
    // A release serves no caller: its step is for the description's opener.
    q.release(end, &mut wk());
    q.serving(None);
    assert_eq!(one_for(&asked), (StoreOp::Release { place: PLACE_OF_5 }, 5));
    q.set_max_message_size(50, 1 << 20).unwrap();
    let set = StoreOp::Set {
        field: "max_message_size",
        value: "50".into(),
    };
    assert_eq!(one_for(&asked), (set, 1));
}

#[test]
fn a_take_and_its_receipts_are_for_the_reader_and_what_goes_back_for_its_answer() {
    let (mut q, asked) = queue();
    let end = opened(open_by(
        &mut q,
        3,
        request(Mode::READ, IoMode::Packet, false),
    ));
    // A read by uid 9 through uid 3's description: the take serves that
    // description's read, and is for its opener.
    q.serving(Some(9));
    assert!(q.read(read_call(1, end, 100, false), &mut wk()).is_parked());
    q.serving(None);
    let (seq, op) = one(&asked);
    assert_eq!((op, asked.user(seq)), (take(&[]), 3));
    let w = taken(&mut q, seq, "1-0", b"job");
    assert_eq!(w.reads.len(), 1);
    receipts_due(&mut q);
    let ack = StoreOp::Ack {
        ids: vec!["1-0".into()],
    };
    assert_eq!(one_for(&asked), (ack, 3));
    // A message taken for a read that was interrupted goes back for the
    // user whose take's answer brought it, as the seam serves it.
    assert!(q.read(read_call(2, end, 100, false), &mut wk()).is_parked());
    let (seq, _) = one(&asked);
    assert!(q.cancel(2, CancelReason::Interrupted, &mut wk()));
    q.serving(Some(asked.user(seq)));
    taken(&mut q, seq, "2-0", b"orphan");
    q.serving(None);
    let back = StoreOp::GiveBack { id: "2-0".into() };
    assert_eq!(one_for(&asked), (back, 3));
}
