//! The queue state machine driven alone, with plain values for replies.

use super::*;
use crate::ipc::{Plain, ReadDone, read_call, write_call};
use crate::memory::MemoryBudget;

fn queue(max_messages: usize) -> Queue<Plain> {
    Queue::new(
        max_messages,
        8192,
        Framing::Write,
        MemoryBudget::new(1 << 30).account(1),
    )
}

fn wk() -> QueueWakeups<Plain> {
    Wakeups::default()
}

fn open(q: &mut Queue<Plain>, mode: Mode, packet: bool) -> QueueEnd {
    let io = if packet {
        IoMode::Packet
    } else {
        IoMode::Stream
    };
    open_framed(q, mode, io)
}

/// An open that never waits (`O_NONBLOCK`): a writer's first message
/// takes its place when it is written, as later ones do (the tests of
/// places taken at open are below).
fn open_framed(q: &mut Queue<Plain>, mode: Mode, io: IoMode) -> QueueEnd {
    open_as(q, mode, io, 1)
}

/// A stream open that never waits, by `uid`.
fn open_framed_by(q: &mut Queue<Plain>, mode: Mode, uid: u32) -> QueueEnd {
    open_as(q, mode, IoMode::Stream, uid)
}

fn open_as(q: &mut Queue<Plain>, mode: Mode, io: IoMode, uid: u32) -> QueueEnd {
    let req = OpenRequest {
        mode,
        nonblock: true,
        io,
        creating: false,
        exclusive: false,
        opener: uid,
    };
    match q.open(0, 0, req, &mut wk()) {
        Step::Done(_, Ok(end)) => end,
        _ => panic!("queue open did not finish"),
    }
}

fn send(q: &mut Queue<Plain>, end: QueueEnd, data: &[u8]) -> WriteDone {
    match q.write(write_call(1, end, data, true), &mut wk()) {
        Step::Done(_, done) => done,
        Step::Parked => panic!("write parked"),
    }
}

fn recv(q: &mut Queue<Plain>, end: QueueEnd, size: usize) -> Result<Vec<u8>> {
    match q.read(read_call(2, end, size, true), &mut wk()) {
        Step::Done(_, r) => r,
        Step::Parked => panic!("read parked"),
    }
}

fn composing(q: &mut Queue<Plain>, framing: Framing) -> QueueEnd {
    q.set_framing(framing);
    open(q, Mode::WRITE, false)
}

fn flush(q: &mut Queue<Plain>, end: QueueEnd) -> QueueWakeups<Plain> {
    flush_dying(q, end, false)
}

/// A flush by a caller that is (`killed`) or is not dying of a signal;
/// a queue answers every flush at once.
fn flush_dying(q: &mut Queue<Plain>, end: QueueEnd, killed: bool) -> QueueWakeups<Plain> {
    let mut w = wk();
    match q.flush(9, 9, end, &mut || killed, &mut w) {
        Step::Done(9, Ok(())) => {}
        other => panic!("expected the flush answered at once, got {other:?}"),
    }
    w
}

fn blocking_writer(q: &mut Queue<Plain>, id: u64) -> Step<u32, Result<QueueEnd>> {
    blocking_writer_of(q, id, 1)
}

/// A shell's `>` open of the queue by `uid` (the queue's owner is 1).
fn blocking_writer_of(q: &mut Queue<Plain>, id: u64, uid: u32) -> Step<u32, Result<QueueEnd>> {
    let req = OpenRequest {
        mode: Mode::WRITE,
        nonblock: false,
        io: IoMode::Stream,
        creating: false,
        exclusive: false,
        opener: uid,
    };
    q.open(id, id as u32, req, &mut wk())
}

fn opened(step: Step<u32, Result<QueueEnd>>) -> QueueEnd {
    match step {
        Step::Done(_, Ok(end)) => end,
        _ => panic!("the open did not finish"),
    }
}

#[test]
fn a_user_holds_at_most_half_the_places_and_others_go_past_its_wait() {
    let mut q = queue(4);
    q.set_framing(Framing::Message);
    let a1 = opened(blocking_writer_of(&mut q, 1, 2));
    let a2 = opened(blocking_writer_of(&mut q, 2, 2));
    assert_eq!(send(&mut q, a1, b"x"), WriteDone::ok(1));
    assert!(
        blocking_writer_of(&mut q, 3, 2).is_parked(),
        "user 2 holds its share: 2 of 4 places"
    );
    assert!(!q.full());
    // Another user goes past it, and its message reaches a reader
    // while user 2's are in progress.
    let b = opened(blocking_writer_of(&mut q, 4, 3));
    assert_eq!(send(&mut q, b, b"b"), WriteDone::ok(1));
    assert!(flush(&mut q, b).opens.is_empty(), "user 2 still holds two");
    let r = open(&mut q, Mode::READ, true);
    assert_eq!(recv(&mut q, r, 64), Ok(b"b".to_vec()));
    // A write of user 2 that needs a new place does not wait (it would
    // wait in write(2), holding the file's lock): EAGAIN, even blocking.
    let c = open_framed_by(&mut q, Mode::WRITE, 2);
    assert!(matches!(
        q.write(write_call(5, c, b"c", false), &mut wk()),
        Step::Done(5, done) if done == WriteDone::err(Error::WouldBlock)
    ));
    let d = open_framed_by(&mut q, Mode::WRITE, 3);
    assert_eq!(send(&mut q, d, b"d"), WriteDone::ok(1));
    assert!(flush(&mut q, d).opens.is_empty());
    assert_eq!(recv(&mut q, r, 64), Ok(b"d".to_vec()));
    // One of user 2's messages ends: its waiting open takes the place.
    let w = flush(&mut q, a1);
    assert_eq!(w.opens.len(), 1);
    assert_eq!(w.opens[0].0, 3);
    // Another ends with no message: now a write of user 2 goes in.
    q.release(a2, &mut wk());
    assert_eq!(send(&mut q, c, b"c"), WriteDone::ok(1));
}

#[test]
fn a_parked_write_whose_writer_came_to_hold_its_share_waits_no_more() {
    let mut q = queue(4);
    q.set_framing(Framing::Message);
    // The queue is full (the owner's three places and user 2's one):
    // user 2's next open waits, then its write through a description
    // without a place parks for room.
    let o = opened(blocking_writer_of(&mut q, 1, 1));
    opened(blocking_writer_of(&mut q, 2, 1));
    opened(blocking_writer_of(&mut q, 3, 1));
    opened(blocking_writer_of(&mut q, 4, 2));
    assert!(blocking_writer_of(&mut q, 5, 2).is_parked());
    let c = open_framed_by(&mut q, Mode::WRITE, 2);
    assert!(
        q.write(write_call(6, c, b"c", false), &mut wk())
            .is_parked()
    );
    // A place comes free: the open, older, takes it, and user 2 holds its
    // share (2 of 4). Its write is answered, not left holding the file's
    // lock.
    let mut w = wk();
    q.release(o, &mut w);
    assert_eq!(w.opens.len(), 1);
    assert_eq!(w.writes, vec![(6, 6, WriteDone::err(Error::WouldBlock))]);
}

#[test]
fn a_message_in_progress_is_its_writers_until_it_is_whole() {
    let budget = MemoryBudget::new(1 << 30);
    let mut q = Queue::new(4, 8192, Framing::Message, budget.account(1));
    let a = opened(blocking_writer_of(&mut q, 1, 2));
    assert_eq!(budget.held_by(2).0, MESSAGE_OVERHEAD, "the place at open");
    assert_eq!(send(&mut q, a, b"hello"), WriteDone::ok(5));
    assert_eq!(budget.held_by(2).0, MESSAGE_OVERHEAD + 5);
    assert_eq!(budget.held_by(1).0, 0);
    flush(&mut q, a);
    assert_eq!(budget.held_by(2).0, 0);
    assert_eq!(
        budget.held_by(1).0,
        MESSAGE_OVERHEAD + 5,
        "queued: the owner's"
    );
    // A message dropped unfinished gives its writer's charge back.
    let b = opened(blocking_writer_of(&mut q, 2, 2));
    assert_eq!(send(&mut q, b, b"part"), WriteDone::ok(4));
    flush_dying(&mut q, b, true);
    assert_eq!(budget.held_by(2).0, 0);
    // And so does a queue dropped with one in progress.
    let c = opened(blocking_writer_of(&mut q, 3, 2));
    assert_eq!(send(&mut q, c, b"left"), WriteDone::ok(4));
    drop(q);
    assert_eq!(budget.held_by(2).0, 0);
    assert_eq!(budget.used(), 0);
}

#[test]
fn the_owner_may_hold_every_place() {
    let mut q = queue(4);
    q.set_framing(Framing::Message);
    for id in 1..=4 {
        opened(blocking_writer_of(&mut q, id, 1));
    }
    assert!(q.full());
    assert!(blocking_writer_of(&mut q, 5, 1).is_parked());
}

#[test]
fn a_writers_open_takes_its_place_and_waits_for_one_when_full() {
    let mut q = queue(1);
    q.set_framing(Framing::Message);
    let Step::Done(_, Ok(a)) = blocking_writer(&mut q, 1) else {
        panic!("a place was free");
    };
    assert!(q.full(), "the open holds the only place");
    assert!(blocking_writer(&mut q, 2).is_parked());
    assert!(blocking_writer(&mut q, 3).is_parked());
    assert_eq!(q.counters().blocked, 2);
    // An empty flush (the shell's dup2 and close) keeps the place.
    let w = flush(&mut q, a);
    assert!(w.opens.is_empty() && q.full());
    assert_eq!(send(&mut q, a, b"one"), WriteDone::ok(3), "never waits");
    flush(&mut q, a);
    let r = open(&mut q, Mode::READ, false);
    let mut w = wk();
    let Step::Done(_, Ok(message)) = q.read(read_call(4, r, 10, true), &mut w) else {
        panic!("a message was queued");
    };
    assert_eq!(message, b"one");
    let _ = q.read(read_call(5, r, 10, true), &mut w);
    assert_eq!(w.opens.len(), 1, "the oldest waiting open got the place");
    assert_eq!(w.opens[0].0, 2);
    // The other is interrupted; a writer that closes without writing
    // gives its place back, and no message comes of it.
    let b = match w.opens.pop() {
        Some((_, _, Ok(b))) => b,
        _ => panic!("the open was answered"),
    };
    let mut w = wk();
    assert!(q.cancel(3, CancelReason::Interrupted, &mut w));
    assert_eq!(w.opens[0].2, Err(Error::Interrupted));
    assert!(q.full(), "b holds the place");
    q.release(b, &mut wk());
    assert!(!q.full(), "given back at the release");
    assert_eq!(q.counters().messages, 0, "no empty message");
    assert_eq!(q.counters().blocked, 0);
}

#[test]
fn a_message_in_progress_goes_on_while_a_new_one_waits_for_its_place() {
    let mut q = queue(1);
    let a = composing(&mut q, Framing::Message);
    let b = composing(&mut q, Framing::Message);
    assert_eq!(send(&mut q, a, b"a"), WriteDone::ok(1));
    assert!(
        q.write(write_call(7, b, b"x", false), &mut wk())
            .is_parked(),
        "b's first write waits: a holds the only place"
    );
    assert_eq!(
        send(&mut q, a, b"b"),
        WriteDone::ok(1),
        "a does not wait behind b"
    );
    assert_eq!(q.counters().messages, 0, "nothing is seen before the end");
    let w = flush(&mut q, a);
    assert!(w.writes.is_empty(), "the queue is full with a's message");
    assert_eq!(q.counters().messages, 1);
    let r = open(&mut q, Mode::READ, true);
    let mut w = wk();
    assert!(
        matches!(q.read(read_call(8, r, 64, true), &mut w), Step::Done(_, Ok(m)) if m == b"ab")
    );
    assert_eq!(w.writes, vec![(7, 7, WriteDone::ok(1))], "b got the place");
    flush(&mut q, b);
    assert!(
        matches!(q.read(read_call(9, r, 64, true), &mut wk()), Step::Done(_, Ok(m)) if m == b"x")
    );
}

#[test]
fn a_line_writer_parks_only_for_the_lines_that_need_a_place() {
    let mut q = queue(2);
    let w = composing(&mut q, Framing::Line);
    match q.write(write_call(1, w, b"1\n2\n3\n", false), &mut wk()) {
        Step::Parked => {}
        Step::Done(..) => panic!("the third line has no place"),
    }
    assert_eq!(q.counters().messages, 2);
    let r = open(&mut q, Mode::READ, true);
    let mut wks = wk();
    assert!(
        matches!(q.read(read_call(2, r, 64, true), &mut wks), Step::Done(_, Ok(m)) if m == b"1\n")
    );
    assert_eq!(wks.writes, vec![(1, 1, WriteDone::ok(6))]);
    assert_eq!(q.counters().messages, 2);
    assert_eq!(q.counters().sent, 3);
}

#[test]
fn a_queue_dropped_with_a_message_in_progress_gives_its_memory_back() {
    let budget = MemoryBudget::new(1 << 20);
    {
        let mut q: Queue<Plain> = Queue::new(4, 8192, Framing::Message, budget.account(1));
        let w = open(&mut q, Mode::WRITE, false);
        assert_eq!(send(&mut q, w, b"held"), WriteDone::ok(4));
        assert_eq!(
            budget.used(),
            MESSAGE_OVERHEAD + 4,
            "its bytes and its slot"
        );
    }
    assert_eq!(budget.used(), 0);
}

#[test]
fn a_received_message_stays_charged_until_read_or_dropped() {
    let budget = MemoryBudget::new(1 << 20);
    let mut q: Queue<Plain> = Queue::new(4, 8192, Framing::Write, budget.account(1));
    let w = open(&mut q, Mode::WRITE, false);
    let r = open(&mut q, Mode::READ, false);
    assert_eq!(send(&mut q, w, b"0123456789"), WriteDone::ok(10));
    assert_eq!(budget.used(), MESSAGE_OVERHEAD + 10);
    assert_eq!(recv(&mut q, r, 4), Ok(b"0123".to_vec()));
    assert_eq!(budget.used(), 10, "the slot went; the message is kept");
    assert_eq!(recv(&mut q, r, 4), Ok(b"4567".to_vec()));
    assert_eq!(recv(&mut q, r, 4), Ok(b"89".to_vec()));
    assert_eq!(budget.used(), 0, "read to its end");
    assert_eq!(recv(&mut q, r, 4), Ok(Vec::new()), "then end of file");
    assert_eq!(send(&mut q, w, b"0123456789"), WriteDone::ok(10));
    assert_eq!(recv(&mut q, r, 4), Ok(b"0123".to_vec()));
    q.release(r, &mut wk());
    assert_eq!(budget.used(), 0, "an unread rest goes with its reader");
}

#[test]
fn a_faulty_channel_charges_only_what_it_delivers_and_holds() {
    let budget = MemoryBudget::new(1 << 20);
    let mut q: Queue<Plain> = Queue::new(3, 8192, Framing::Write, budget.account(1));
    let w = open(&mut q, Mode::WRITE, false);
    q.set_fault("loss", "1").unwrap();
    assert_eq!(
        send(&mut q, w, b"gone"),
        WriteDone::ok(4),
        "a loss is no error"
    );
    assert_eq!((budget.used(), q.channel_counters().lost), (0, 1));
    q.set_fault("loss", "0").unwrap();
    q.set_fault("delay_ms", "1000").unwrap();
    assert_eq!(send(&mut q, w, b"later"), WriteDone::ok(5));
    assert_eq!(q.counters().messages, 0, "not arrived yet");
    assert_eq!(budget.used(), MESSAGE_OVERHEAD + 5, "but charged");
    let due = q.next_arrival().expect("a deadline");
    send(&mut q, w, b"b");
    send(&mut q, w, b"c");
    assert_eq!(
        send(&mut q, w, b"d"),
        WriteDone::err(Error::WouldBlock),
        "messages in flight take places"
    );
    let mut w1 = wk();
    q.arrivals(due, &mut w1);
    assert_eq!(q.counters().messages, 1);
    let r = open(&mut q, Mode::READ, true);
    assert_eq!(recv(&mut q, r, 100), Ok(b"later".to_vec()));
}

#[test]
fn two_parked_reads_of_one_description_share_its_message() {
    let mut q = queue(4);
    let r = open(&mut q, Mode::READ, false);
    for id in [1, 2] {
        assert!(q.read(read_call(id, r, 3, false), &mut wk()).is_parked());
    }
    let w = open(&mut q, Mode::WRITE, false);
    let mut wks = wk();
    assert!(matches!(
        q.write(write_call(3, w, b"abcdef", false), &mut wks),
        Step::Done(..)
    ));
    assert_eq!(
        wks.reads,
        vec![
            (1, 1, ReadDone::Data(Ok(b"abc".to_vec()))),
            (2, 2, ReadDone::Data(Ok(b"def".to_vec())))
        ],
        "the second read goes on with the first's message"
    );
    assert_eq!(q.counters().truncated, 0);
    assert_eq!(recv(&mut q, r, 10), Ok(Vec::new()), "then its end");
}

#[test]
fn one_open_receives_one_message_then_end_of_file() {
    let mut q = queue(10);
    let w = open(&mut q, Mode::WRITE, false);
    assert_eq!(send(&mut q, w, b"a\n"), WriteDone::ok(2));
    assert_eq!(send(&mut q, w, b"b\n"), WriteDone::ok(2));
    let r = open(&mut q, Mode::READ, false);
    assert_eq!(recv(&mut q, r, 100), Ok(b"a\n".to_vec()));
    assert_eq!(recv(&mut q, r, 100), Ok(vec![]), "end of the message");
    assert_eq!(recv(&mut q, r, 100), Ok(b"b\n".to_vec()), "next receive");
    assert_eq!(q.counters().messages, 0);
    assert_eq!(q.counters().received, 2);
}

#[test]
fn small_reads_walk_through_one_message() {
    let mut q = queue(10);
    let w = open(&mut q, Mode::WRITE, false);
    send(&mut q, w, b"hello");
    send(&mut q, w, b"next");
    let r = open(&mut q, Mode::READ, false);
    assert_eq!(recv(&mut q, r, 2), Ok(b"he".to_vec()));
    assert_eq!(recv(&mut q, r, 2), Ok(b"ll".to_vec()));
    assert_eq!(recv(&mut q, r, 2), Ok(b"o".to_vec()));
    assert_eq!(recv(&mut q, r, 2), Ok(vec![]));
    assert_eq!(q.counters().messages, 1, "the next message stays queued");
}

#[test]
fn unread_rest_is_dropped_at_close_and_counted() {
    let mut q = queue(10);
    let w = open(&mut q, Mode::WRITE, false);
    send(&mut q, w, b"a\nb\n");
    let r = open(&mut q, Mode::READ, false);
    assert_eq!(recv(&mut q, r, 2), Ok(b"a\n".to_vec()));
    q.release(r, &mut wk());
    assert_eq!(q.counters().truncated, 1);
    let r2 = open(&mut q, Mode::READ, false);
    assert_eq!(recv(&mut q, r2, 10), Err(Error::WouldBlock));
}

#[test]
fn oversized_write_is_emsgsize_and_queues_nothing() {
    let mut q = queue(10);
    let w = open(&mut q, Mode::WRITE, false);
    assert_eq!(
        send(&mut q, w, &[0; 9000]),
        WriteDone::err(Error::MessageTooLong)
    );
    assert_eq!(q.counters().messages, 0);
    assert_eq!(
        q.set_max_message_size(0, 1 << 20),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        q.set_max_message_size((1 << 20) + 1, 1 << 20),
        Err(Error::InvalidArgument)
    );
    assert_eq!(q.set_max_message_size(1 << 20, 1 << 20), Ok(()));
    assert_eq!(send(&mut q, w, &[0; 9000]), WriteDone::ok(9000));
}

#[test]
fn packet_mode_reads_whole_messages_and_keeps_one_too_big() {
    let mut q = queue(10);
    let w = open(&mut q, Mode::WRITE, false);
    send(&mut q, w, b"0123456789");
    send(&mut q, w, b"xy");
    let r = open(&mut q, Mode::READ, true);
    assert_eq!(recv(&mut q, r, 4), Err(Error::MessageTooLong));
    assert_eq!(q.counters().messages, 2, "the message stays queued");
    assert_eq!(recv(&mut q, r, 10), Ok(b"0123456789".to_vec()));
    assert_eq!(
        recv(&mut q, r, 10),
        Ok(b"xy".to_vec()),
        "no end-of-file marks"
    );
}

#[test]
fn full_queue_blocks_writers_in_order_and_readers_free_them() {
    let mut q = queue(1);
    let w = open(&mut q, Mode::WRITE, false);
    send(&mut q, w, b"1");
    assert_eq!(send(&mut q, w, b"2"), WriteDone::err(Error::WouldBlock));
    assert!(
        q.write(write_call(10, w, b"2", false), &mut wk())
            .is_parked()
    );
    assert!(
        q.write(write_call(11, w, b"3", false), &mut wk())
            .is_parked()
    );
    let r = open(&mut q, Mode::READ, true);
    let mut w1 = wk();
    assert!(
        matches!(q.read(read_call(3, r, 10, false), &mut w1), Step::Done(_, Ok(ref m)) if m == b"1")
    );
    assert_eq!(w1.writes.len(), 1);
    assert_eq!(w1.writes[0].0, 10);
    assert_eq!(recv(&mut q, r, 10), Ok(b"2".to_vec()));
    assert_eq!(recv(&mut q, r, 10), Ok(b"3".to_vec()));
}

#[test]
fn parked_readers_are_served_in_arrival_order_one_message_each() {
    let mut q = queue(10);
    let w = open(&mut q, Mode::WRITE, false);
    let r1 = open(&mut q, Mode::READ, false);
    let r2 = open(&mut q, Mode::READ, true);
    assert!(q.read(read_call(5, r1, 100, false), &mut wk()).is_parked());
    assert!(q.read(read_call(6, r2, 100, false), &mut wk()).is_parked());
    let mut w1 = wk();
    let first = q.write(write_call(7, w, b"first", false), &mut w1);
    assert!(matches!(first, Step::Done(_, _)));
    assert_eq!(w1.reads.len(), 1);
    assert_eq!(w1.reads[0].0, 5);
    assert_eq!(w1.reads[0].2, ReadDone::Data(Ok(b"first".to_vec())));
    let mut w2 = wk();
    q.write(write_call(8, w, b"second", false), &mut w2);
    assert_eq!(w2.reads[0].0, 6);
    assert_eq!(w2.reads[0].2, ReadDone::Data(Ok(b"second".to_vec())));
    assert_eq!(recv(&mut q, r1, 100), Ok(vec![]), "r1 ends its message");
}

#[test]
fn memory_cap_refuses_with_enospc_and_keeps_the_queue() {
    let mut q: Queue<Plain> = Queue::new(
        10,
        8192,
        Framing::Write,
        MemoryBudget::new(MESSAGE_OVERHEAD + 10).account(1),
    );
    let w = open(&mut q, Mode::WRITE, false);
    assert_eq!(send(&mut q, w, b"12345678"), WriteDone::ok(8));
    assert_eq!(send(&mut q, w, b"abc"), WriteDone::err(Error::NoSpace));
    let r = open(&mut q, Mode::READ, true);
    assert_eq!(recv(&mut q, r, 100), Ok(b"12345678".to_vec()));
}

#[test]
fn interrupted_and_shut_down_waiters() {
    let mut q = queue(1);
    let r = open(&mut q, Mode::READ, false);
    assert!(q.read(read_call(1, r, 10, false), &mut wk()).is_parked());
    let mut w = wk();
    assert!(q.cancel(1, CancelReason::Interrupted, &mut w));
    assert_eq!(w.reads[0].2, ReadDone::Data(Err(Error::Interrupted)));
    assert!(q.read(read_call(2, r, 10, false), &mut wk()).is_parked());
    let mut w = wk();
    q.shut_down(&mut w);
    assert_eq!(w.reads[0].2, ReadDone::Data(Ok(vec![])));
    assert_eq!(q.counters().blocked, 0);
}

#[test]
fn poll_in_with_a_message_out_with_room() {
    let mut q = queue(1);
    let r = open(&mut q, Mode::READ, false);
    let w = open(&mut q, Mode::WRITE, false);
    assert_eq!(q.poll(r, None), 0);
    assert_eq!(q.poll(w, None), ready::OUT);
    assert_eq!(q.poll(r, Some((1, 9))), 0);
    let mut wks = wk();
    q.write(write_call(1, w, b"m", true), &mut wks);
    assert_eq!(wks.polls, vec![9]);
    assert_eq!(q.poll(r, None), ready::IN);
    assert_eq!(q.poll(w, None), 0, "full");
}

fn batch(messages: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        records::append(&mut out, m);
    }
    out
}

#[test]
fn batch_write_queues_each_record_as_one_message() {
    let mut q = queue(10);
    let w = open_framed(&mut q, Mode::WRITE, IoMode::Batch);
    let data = batch(&[b"one", b"two\n", b"3"]);
    assert_eq!(send(&mut q, w, &data), WriteDone::ok(data.len()));
    assert_eq!(q.counters().messages, 3);
    assert_eq!(q.counters().bytes, 8);
    let r = open(&mut q, Mode::READ, true);
    assert_eq!(recv(&mut q, r, 100), Ok(b"one".to_vec()));
    assert_eq!(recv(&mut q, r, 100), Ok(b"two\n".to_vec()));
    // A plain write to a batch reader arrives as one record.
    let plain = open(&mut q, Mode::WRITE, false);
    send(&mut q, plain, b"four");
    let br = open_framed(&mut q, Mode::READ, IoMode::Batch);
    assert_eq!(recv(&mut q, br, 100), Ok(batch(&[b"3", b"four"])));
    assert_eq!(recv(&mut q, br, 100), Err(Error::WouldBlock));
}

#[test]
fn batch_read_returns_the_whole_records_that_fit() {
    let mut q = queue(10);
    let w = open(&mut q, Mode::WRITE, false);
    for m in [&b"aaaa"[..], b"bb", b"cccccc"] {
        send(&mut q, w, m);
    }
    let r = open_framed(&mut q, Mode::READ, IoMode::Batch);
    assert_eq!(recv(&mut q, r, 7), Err(Error::MessageTooLong), "8 needed");
    assert_eq!(q.counters().messages, 3, "the message stays");
    assert_eq!(recv(&mut q, r, 8 + 6 + 9), Ok(batch(&[b"aaaa", b"bb"])));
    assert_eq!(recv(&mut q, r, 1000), Ok(batch(&[b"cccccc"])));
    assert_eq!(q.counters().received, 3);
}

#[test]
fn batch_write_refuses_bad_records_whole_and_counts_a_short_one() {
    let mut q = queue(10);
    let w = open_framed(&mut q, Mode::WRITE, IoMode::Batch);
    let mut data = batch(&[b"ok"]);
    data.extend_from_slice(&9000u32.to_le_bytes());
    assert_eq!(
        send(&mut q, w, &data),
        WriteDone::err(Error::MessageTooLong)
    );
    assert_eq!(
        send(&mut q, w, b"\x05\0\0\0hel"),
        WriteDone::err(Error::InvalidArgument)
    );
    assert_eq!(q.counters().messages, 0);
    // Ending inside the second record: the first goes in, and the count
    // says so.
    let data = batch(&[b"ok", b"cut"]);
    assert_eq!(send(&mut q, w, &data[..10]), WriteDone::ok(6));
    assert_eq!(q.counters().messages, 1);
}

#[test]
fn batch_write_fills_a_full_queue_as_room_comes() {
    let mut q = queue(2);
    let w = open_framed(&mut q, Mode::WRITE, IoMode::Batch);
    let data = batch(&[b"1", b"2", b"3", b"4"]);
    // Non-blocking: what fits goes in, the count says how much.
    assert_eq!(send(&mut q, w, &data), WriteDone::ok(10));
    assert_eq!(
        send(&mut q, w, &data[10..]),
        WriteDone::err(Error::WouldBlock)
    );
    // Blocking: parks with the rest until readers make room.
    assert!(
        q.write(write_call(7, w, &data[10..], false), &mut wk())
            .is_parked()
    );
    let r = open(&mut q, Mode::READ, true);
    let mut w1 = wk();
    assert!(
        matches!(q.read(read_call(8, r, 10, false), &mut w1), Step::Done(_, Ok(ref m)) if m == b"1")
    );
    assert!(w1.writes.is_empty(), "one of two messages queued");
    let mut w2 = wk();
    assert!(
        matches!(q.read(read_call(9, r, 10, false), &mut w2), Step::Done(_, Ok(ref m)) if m == b"2")
    );
    assert_eq!(w2.writes.len(), 1);
    assert_eq!((w2.writes[0].0, w2.writes[0].2), (7, WriteDone::ok(10)));
    assert_eq!(recv(&mut q, r, 10), Ok(b"3".to_vec()));
    assert_eq!(recv(&mut q, r, 10), Ok(b"4".to_vec()));
}

#[test]
fn a_parked_batch_goes_in_as_room_comes_charged_to_its_writer_until_then() {
    let budget = MemoryBudget::new(1 << 20);
    let mut q: Queue<Plain> = Queue::new(3, 8192, Framing::Write, budget.account(1));
    let w = open_framed(&mut q, Mode::WRITE, IoMode::Batch);
    let data = batch(&[b"1", b"22", b"333", b"4444", b"55555", b"666666"]);
    assert!(
        q.write(write_call(7, w, &data, false), &mut wk())
            .is_parked()
    );
    // Three queued (slots and bytes); the parked rest's bytes held.
    assert_eq!(budget.used(), 3 * MESSAGE_OVERHEAD + 6 + 15);
    let r = open_framed(&mut q, Mode::READ, IoMode::Batch);
    let mut woken = wk();
    let read = q.read(read_call(8, r, 100, false), &mut woken);
    assert!(matches!(read, Step::Done(_, Ok(ref m)) if *m == batch(&[b"1", b"22", b"333"])));
    // The three places freed took the rest, which answers the write.
    assert_eq!(woken.writes.len(), 1);
    assert_eq!(
        (woken.writes[0].0, woken.writes[0].2),
        (7, WriteDone::ok(data.len()))
    );
    assert_eq!(budget.used(), 3 * MESSAGE_OVERHEAD + 15);
    assert_eq!(
        recv(&mut q, r, 100),
        Ok(batch(&[b"4444", b"55555", b"666666"]))
    );
    assert_eq!(budget.used(), 0);
    // One place at a time: the records go in one by one, in order.
    assert!(
        q.write(write_call(9, w, &data, false), &mut wk())
            .is_parked()
    );
    let mut got = Vec::new();
    let mut answered = Vec::new();
    while got.len() < 6 {
        let mut woken = wk();
        match q.read(read_call(10, r, 10, false), &mut woken) {
            Step::Done(_, Ok(m)) => got.push(m),
            other => panic!("read: {:?}", other.is_parked()),
        }
        answered.extend(woken.writes.iter().map(|w| (w.0, w.2)));
    }
    assert_eq!(
        got,
        [&b"1"[..], b"22", b"333", b"4444", b"55555", b"666666"].map(|m| batch(&[m]))
    );
    assert_eq!(answered, [(9, WriteDone::ok(data.len()))]);
    assert_eq!(budget.used(), 0);
}

#[test]
fn interrupted_batch_write_reports_what_was_queued() {
    let mut q = queue(1);
    let w = open_framed(&mut q, Mode::WRITE, IoMode::Batch);
    let data = batch(&[b"1", b"22", b"333"]);
    assert!(
        q.write(write_call(7, w, &data, false), &mut wk())
            .is_parked()
    );
    let mut wks = wk();
    assert!(q.cancel(7, CancelReason::Interrupted, &mut wks));
    assert_eq!(
        wks.writes[0].2,
        WriteDone::ok(5),
        "the first record went in"
    );
    assert_eq!(q.counters().messages, 1);
    let r = open(&mut q, Mode::READ, true);
    assert_eq!(recv(&mut q, r, 10), Ok(b"1".to_vec()));
    assert_eq!(
        send(&mut q, w, &data[5..]),
        WriteDone::ok(6),
        "room for one"
    );
    assert!(
        q.write(write_call(9, w, &data[11..], false), &mut wk())
            .is_parked()
    );
    let mut wks = wk();
    assert!(q.cancel(9, CancelReason::Interrupted, &mut wks));
    assert_eq!(
        wks.writes[0].2,
        WriteDone::err(Error::Interrupted),
        "nothing went in"
    );
}

#[test]
fn batch_write_under_the_memory_cap_keeps_what_fit() {
    let mut q: Queue<Plain> = Queue::new(
        10,
        8192,
        Framing::Write,
        MemoryBudget::new(2 * MESSAGE_OVERHEAD + 5).account(1),
    );
    let w = open_framed(&mut q, Mode::WRITE, IoMode::Batch);
    let data = batch(&[b"abc", b"de", b"f"]);
    assert_eq!(send(&mut q, w, &data), WriteDone::ok(13));
    assert_eq!(send(&mut q, w, &data[13..]), WriteDone::err(Error::NoSpace));
    assert_eq!(q.counters().messages, 2);
}

#[test]
fn a_batch_is_charged_for_what_went_in_and_given_back_when_read() {
    let budget = MemoryBudget::new(1 << 20);
    let mut q: Queue<Plain> = Queue::new(2, 8192, Framing::Write, budget.account(1));
    let w = open_framed(&mut q, Mode::WRITE, IoMode::Batch);
    let data = batch(&[b"abc", b"de", b"f"]);
    // Two places: the first two records go in, charged in one step.
    assert_eq!(send(&mut q, w, &data), WriteDone::ok(7 + 6));
    assert_eq!(budget.used(), 2 * MESSAGE_OVERHEAD + 5);
    let r = open_framed(&mut q, Mode::READ, IoMode::Batch);
    assert_eq!(recv(&mut q, r, 100), Ok(batch(&[b"abc", b"de"])));
    assert_eq!(budget.used(), 0, "a batch read gives back slots and bytes");
    // Every copy a channel delivers is charged, and a duplicate takes a
    // place a prepaid record was counted in: that record's charge is
    // given back, and the record waits for room (EAGAIN here).
    q.set_fault("duplicate", "1").unwrap();
    assert_eq!(send(&mut q, w, &data), WriteDone::ok(7));
    assert_eq!(q.counters().messages, 2);
    assert_eq!(budget.used(), 2 * (MESSAGE_OVERHEAD + 3));
    assert_eq!(recv(&mut q, r, 100), Ok(batch(&[b"abc", b"abc"])));
    assert_eq!(budget.used(), 0);
}

#[test]
fn a_message_a_reader_keeps_is_the_readers_to_pay_for() {
    let budget = MemoryBudget::with_user_limits(
        1 << 20,
        crate::memory::UserLimits {
            bytes: 50,
            objects: 10,
        },
    );
    let mut q: Queue<Plain> = Queue::new(8, 8192, Framing::Write, budget.account(0));
    // Root's queue: root has no share, the reader one of 50 bytes.
    let w = open(&mut q, Mode::WRITE, false);
    for _ in 0..2 {
        assert_eq!(send(&mut q, w, &[b'x'; 30]), WriteDone::ok(30));
    }
    assert_eq!(budget.held_by(0).0, 2 * (MESSAGE_OVERHEAD + 30));
    // Another user reads one byte: it keeps the message, and pays for it.
    let r = open_as(&mut q, Mode::READ, IoMode::Stream, 2);
    assert_eq!(recv(&mut q, r, 1), Ok(b"x".to_vec()));
    assert_eq!(budget.held_by(2).0, 30);
    assert_eq!(budget.held_by(0).0, MESSAGE_OVERHEAD + 30);
    // A second kept message would pass its share: ENOSPC, and it stays.
    let r2 = open_as(&mut q, Mode::READ, IoMode::Stream, 2);
    assert_eq!(recv(&mut q, r2, 1), Err(Error::NoSpace));
    assert_eq!(q.counters().messages, 1);
    // A read that takes all of it keeps nothing, and needs no share.
    assert_eq!(recv(&mut q, r2, 64), Ok(vec![b'x'; 30]));
    q.release(r, &mut wk());
    assert_eq!(budget.held_by(2).0, 0);
    assert_eq!(budget.held_by(0).0, 0);
}

#[test]
fn a_whole_message_of_a_writer_at_its_share_does_not_wait_either() {
    let mut q = queue(4);
    q.set_framing(Framing::Message);
    opened(blocking_writer_of(&mut q, 1, 1));
    opened(blocking_writer_of(&mut q, 2, 1));
    opened(blocking_writer_of(&mut q, 3, 2));
    opened(blocking_writer_of(&mut q, 4, 2));
    assert!(q.full(), "user 2 holds its share, the owner the rest");
    let packet = open_as(&mut q, Mode::WRITE, IoMode::Packet, 2);
    assert!(matches!(
        q.write(write_call(5, packet, b"p", false), &mut wk()),
        Step::Done(5, done) if done == WriteDone::err(Error::WouldBlock)
    ));
    // The owner's own waits for room, as on any full queue.
    let owners = open_as(&mut q, Mode::WRITE, IoMode::Packet, 1);
    assert!(
        q.write(write_call(6, owners, b"o", false), &mut wk())
            .is_parked()
    );
}

#[test]
fn a_batch_of_a_writer_at_its_share_answers_what_went_in() {
    let mut q = queue(4);
    q.set_framing(Framing::Message);
    opened(blocking_writer_of(&mut q, 1, 2));
    opened(blocking_writer_of(&mut q, 2, 2));
    let batch = open_as(&mut q, Mode::WRITE, IoMode::Batch, 2);
    let records = [b"a".as_slice(), b"b", b"c"]
        .iter()
        .flat_map(|m| {
            let mut r = (m.len() as u32).to_le_bytes().to_vec();
            r.extend_from_slice(m);
            r
        })
        .collect::<Vec<u8>>();
    // Two places are free: two records go in, and the third would wait.
    assert!(matches!(
        q.write(write_call(3, batch, &records, false), &mut wk()),
        Step::Done(3, done) if done == WriteDone::ok(10)
    ));
    assert_eq!(q.counters().messages, 2);
}

#[test]
fn a_queue_no_description_holds_keeps_none_of_its_use() {
    let mut q = queue(4);
    assert!(q.in_use.is_none(), "a new queue");
    let r = open(&mut q, Mode::READ, false);
    let w = composing(&mut q, Framing::Message);
    send(&mut q, w, b"half");
    q.poll(r, Some((7, 7)));
    assert!(q.in_use.is_some(), "open, with a message in progress");
    flush(&mut q, w);
    q.release(w, &mut wk());
    assert_eq!(recv(&mut q, r, 2).unwrap(), b"ha");
    q.release(r, &mut wk());
    assert!(q.in_use.is_none(), "every description closed");
    assert_eq!((q.counters().sent, q.counters().truncated), (1, 1));
    let r = open(&mut q, Mode::READ, false);
    let parked = q.read(read_call(3, r, 1, false), &mut wk());
    assert!(matches!(parked, Step::Parked));
    assert!(q.cancel(3, CancelReason::Interrupted, &mut wk()));
    assert_eq!(q.counters().blocked, 0);
    q.release(r, &mut wk());
    assert!(q.in_use.is_none(), "nothing parked, nothing open");
}
