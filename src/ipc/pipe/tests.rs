//! The pipe state machine driven alone, with plain values for replies.

use super::*;
use crate::ipc::bytes::Shared;
use crate::ipc::{IoMode, Plain, read_call, write_call};
use crate::memory::MemoryBudget;

const ANY: PipeEnd = PipeEnd::new(Mode::READ_WRITE);

fn req(mode: Mode, nonblock: bool, creating: bool) -> OpenRequest {
    OpenRequest {
        mode,
        nonblock,
        io: IoMode::Stream,
        creating,
        exclusive: false,
        opener: 1,
    }
}

fn pipe() -> Pipe<Plain> {
    Pipe::new(65536, MemoryBudget::new(1 << 30).account(1))
}

fn wk() -> PipeWakeups<Plain> {
    Wakeups::default()
}

/// Opens without waiting: readers open non-blocking, writers need a
/// reader to be there already.
fn open<P: Parking<Open = u32>>(p: &mut Pipe<P>, mode: Mode) -> PipeEnd {
    let mut wk = Wakeups::default();
    match p.open(0, 0, req(mode, mode == Mode::READ, false), &mut wk) {
        Step::Done(_, Ok(end)) => end,
        other => panic!("open did not finish: {:?}", matches!(other, Step::Parked)),
    }
}

fn done_read(step: Step<u32, Result<Vec<u8>>>) -> Result<Vec<u8>> {
    match step {
        Step::Done(_, r) => r,
        Step::Parked => panic!("read parked"),
    }
}

fn done_write(step: Step<u32, WriteDone>) -> WriteDone {
    match step {
        Step::Done(_, r) => r,
        Step::Parked => panic!("write parked"),
    }
}

#[test]
fn reader_open_parks_until_a_writer_opens() {
    let mut p = pipe();
    let mut w = wk();
    assert!(
        p.open(1, 10, req(Mode::READ, false, false), &mut w)
            .is_parked()
    );
    assert_eq!(p.readers(), 1, "a parked reader counts, as in the kernel");
    assert!(matches!(
        p.open(2, 20, req(Mode::WRITE, false, false), &mut w),
        Step::Done(20, Ok(_))
    ));
    assert_eq!(w.opens.len(), 1);
    assert_eq!(w.opens[0].1, 10);
}

#[test]
fn nonblocking_writer_without_reader_gets_enxio_and_counts_nothing() {
    let mut p = pipe();
    assert!(matches!(
        p.open(1, 1, req(Mode::WRITE, true, false), &mut wk()),
        Step::Done(_, Err(Error::NoReader))
    ));
    assert_eq!(p.writers(), 0);
}

#[test]
fn a_creating_writer_opens_at_once_and_its_write_waits_for_a_reader() {
    let mut p = pipe();
    let end = match p.open(1, 1, req(Mode::WRITE, false, true), &mut wk()) {
        Step::Done(_, Ok(end)) => end,
        _ => panic!("a creating open does not wait"),
    };
    assert_eq!(p.writers(), 1);
    assert_eq!(
        done_write(p.write(write_call(2, end, b"hi", true), &mut wk())),
        WriteDone::err(Error::WouldBlock),
        "non-blocking: no reader yet"
    );
    assert!(
        p.write(write_call(3, end, b"hello", false), &mut wk())
            .is_parked()
    );
    assert_eq!(p.blocked(), 1);
    let mut w = wk();
    let _reader = p.open(4, 4, req(Mode::READ, false, false), &mut w);
    assert_eq!(w.writes, vec![(3, 3, WriteDone::ok(5))], "the reader came");
    assert_eq!(
        done_read(p.read(read_call(5, ANY, 10, false), &mut wk())),
        Ok(b"hello".to_vec())
    );
    // Once a reader has come and gone, no reader is EPIPE again.
    p.release(PipeEnd::new(Mode::READ), &mut wk());
    assert_eq!(
        done_write(p.write(write_call(6, end, b"x", false), &mut wk())),
        WriteDone {
            result: Err(Error::BrokenPipe),
            sigpipe: true
        }
    );
}

#[test]
fn a_non_blocking_creating_writer_is_enxio_and_a_waiting_write_is_interrupted() {
    let mut p = pipe();
    assert!(matches!(
        p.open(1, 1, req(Mode::WRITE, true, true), &mut wk()),
        Step::Done(_, Err(Error::NoReader))
    ));
    let end = match p.open(2, 2, req(Mode::WRITE, false, true), &mut wk()) {
        Step::Done(_, Ok(end)) => end,
        _ => panic!("a creating open does not wait"),
    };
    assert!(
        p.write(write_call(3, end, b"x", false), &mut wk())
            .is_parked()
    );
    let mut w = wk();
    assert!(p.cancel(3, CancelReason::Interrupted, &mut w));
    assert_eq!(w.writes, vec![(3, 3, WriteDone::err(Error::Interrupted))]);
    assert_eq!((p.blocked(), p.budget.held()), (0, 0));
}

#[test]
fn bytes_flow_and_eof_after_last_writer() {
    let mut p = pipe();
    let r = open(&mut p, Mode::READ_WRITE);
    let w = open(&mut p, Mode::WRITE);
    assert_eq!(
        done_write(p.write(write_call(1, ANY, b"hello", false), &mut wk())),
        WriteDone::ok(5)
    );
    assert_eq!(
        done_read(p.read(read_call(2, ANY, 3, false), &mut wk())),
        Ok(b"hel".to_vec())
    );
    assert_eq!(
        done_read(p.read(read_call(3, ANY, 100, false), &mut wk())),
        Ok(b"lo".to_vec())
    );
    let mut w1 = wk();
    assert!(p.read(read_call(4, ANY, 10, false), &mut w1).is_parked());
    p.release(w, &mut w1);
    assert!(w1.reads.is_empty(), "the O_RDWR end still writes");
    let mut w2 = wk();
    p.release(PipeEnd::new(Mode::WRITE), &mut w2);
    assert_eq!(w2.reads.len(), 1);
    assert_eq!(w2.reads[0].2, ReadDone::Data(Ok(Vec::new())), "end of file");
    let _ = r;
}

#[test]
fn parked_reader_is_served_by_a_write() {
    let mut p = pipe();
    open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    let read = ReadCall {
        waiter: 50,
        ..read_call(5, ANY, 100, false)
    };
    assert!(p.read(read, &mut wk()).is_parked());
    let write = WriteCall {
        waiter: 60,
        ..write_call(6, ANY, b"abc", false)
    };
    let mut w = wk();
    assert_eq!(done_write(p.write(write, &mut w)), WriteDone::ok(3));
    assert_eq!(
        w.reads,
        vec![(5, 50, ReadDone::Handed(0..3))],
        "all of the write's bytes"
    );
    assert_eq!(p.bytes(), 0);
}

#[test]
fn nonblocking_read_of_empty_pipe_is_eagain() {
    let mut p = pipe();
    open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    assert_eq!(
        done_read(p.read(read_call(1, ANY, 10, true), &mut wk())),
        Err(Error::WouldBlock)
    );
}

#[test]
fn write_without_reader_is_epipe_with_sigpipe() {
    let mut p = pipe();
    let r = open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    p.release(r, &mut wk());
    assert_eq!(
        done_write(p.write(write_call(1, ANY, b"x", false), &mut wk())),
        WriteDone {
            result: Err(Error::BrokenPipe),
            sigpipe: true
        }
    );
}

#[test]
fn small_writes_are_atomic_and_large_ones_park_with_progress() {
    let mut p: Pipe<Plain> = Pipe::new(8192, MemoryBudget::new(1 << 30).account(1));
    open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    assert_eq!(
        done_write(p.write(write_call(1, ANY, &[1; 6000], false), &mut wk())),
        WriteDone::ok(6000)
    );
    // 2192 bytes of room: a 4096-byte write must not go in partly.
    assert!(
        p.write(write_call(2, ANY, &[2; 4096], false), &mut wk())
            .is_parked()
    );
    assert_eq!(p.bytes(), 6000);
    assert_eq!(
        done_write(p.write(write_call(3, ANY, &[3; 4096], true), &mut wk())),
        WriteDone::err(Error::WouldBlock)
    );
    // A read of 1904 bytes makes room for the parked record exactly.
    let mut w = wk();
    done_read(p.read(read_call(4, ANY, 1904, false), &mut w)).unwrap();
    assert_eq!(w.writes.len(), 1);
    assert_eq!(w.writes[0].2, WriteDone::ok(4096));
    assert_eq!(p.bytes(), 8192);
    let all = done_read(p.read(read_call(5, ANY, 8192, false), &mut wk())).unwrap();
    assert_eq!(&all[..4096], &[1; 4096][..]);
    assert_eq!(&all[4096..], &[2; 4096][..]);
    // A large write fills what it can and parks with the rest.
    assert!(
        p.write(write_call(6, ANY, &[7; 10000], false), &mut wk())
            .is_parked()
    );
    assert_eq!(p.bytes(), 8192);
    let mut w = wk();
    assert_eq!(
        done_read(p.read(read_call(7, ANY, 8192, false), &mut w))
            .unwrap()
            .len(),
        8192
    );
    assert_eq!(w.writes.len(), 1);
    assert_eq!(w.writes[0].2, WriteDone::ok(10000));
    assert_eq!(p.bytes(), 1808);
}

#[test]
fn a_large_read_takes_a_parked_writers_bytes_straight() {
    let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
    open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    let data: Vec<u8> = (0..20000u32).map(|i| i as u8).collect();
    assert!(
        p.write(write_call(1, ANY, &data, false), &mut wk())
            .is_parked()
    );
    assert_eq!(p.bytes(), 4096);
    let mut w = wk();
    let got = done_read(p.read(read_call(2, ANY, 1 << 20, false), &mut w)).unwrap();
    assert_eq!(got, data, "one read, whole and in order");
    assert_eq!(w.writes.len(), 1);
    assert_eq!(w.writes[0].2, WriteDone::ok(20000));
    assert_eq!(p.bytes(), 0);
    assert_eq!(p.budget.held(), 0);
    // A read smaller than what is parked leaves the rest parked, and an
    // atomic record started by a read is finished without interleaving.
    assert!(
        p.write(write_call(3, ANY, &[7; 6000], false), &mut wk())
            .is_parked()
    );
    assert!(
        p.write(write_call(4, ANY, &[9; 3000], false), &mut wk())
            .is_parked()
    );
    let mut w = wk();
    let got = done_read(p.read(read_call(5, ANY, 7000, false), &mut w)).unwrap();
    assert_eq!(got[..6000], [7; 6000][..]);
    assert_eq!(got[6000..], [9; 1000][..]);
    // The rest of the record fits the buffer: it goes in whole.
    let done: Vec<_> = w.writes.iter().map(|(id, _, d)| (*id, *d)).collect();
    assert_eq!(
        done,
        vec![(3, WriteDone::ok(6000)), (4, WriteDone::ok(3000))]
    );
    let got = done_read(p.read(read_call(6, ANY, 7000, false), &mut wk())).unwrap();
    assert_eq!(got, vec![9; 2000]);
}

#[test]
fn a_write_hands_its_bytes_straight_to_waiting_readers() {
    let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
    open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    assert!(
        p.read(read_call(1, ANY, 3000, false), &mut wk())
            .is_parked()
    );
    assert!(
        p.read(read_call(2, ANY, 3000, false), &mut wk())
            .is_parked()
    );
    let data: Vec<u8> = (0..10000u32).map(|i| i as u8).collect();
    let mut w = wk();
    // 6000 bytes go to the readers, the other 4000 fit the buffer.
    assert_eq!(
        done_write(p.write(write_call(3, ANY, &data, false), &mut w)),
        WriteDone::ok(10000)
    );
    let handed = vec![
        (1, 1, ReadDone::Handed(0..3000)),
        (2, 2, ReadDone::Handed(3000..6000)),
    ];
    assert_eq!(w.reads, handed);
    assert_eq!(p.bytes(), 4000);
    assert_eq!(
        done_read(p.read(read_call(4, ANY, 8192, false), &mut wk())),
        Ok(data[6000..].to_vec())
    );
    // Interrupted after a hand-over: the count includes it.
    assert!(p.read(read_call(5, ANY, 100, false), &mut wk()).is_parked());
    assert!(
        p.write(write_call(6, ANY, &[1; 9000], false), &mut wk())
            .is_parked()
    );
    let mut w = wk();
    assert!(p.cancel(6, CancelReason::Interrupted, &mut w));
    assert_eq!(w.writes[0].2, WriteDone::ok(100 + 4096));
}

#[test]
fn interrupted_writer_reports_what_it_handed_over() {
    let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
    open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    assert!(
        p.write(write_call(1, ANY, &[0; 5000], false), &mut wk())
            .is_parked()
    );
    assert!(
        p.write(write_call(2, ANY, &[0; 100], false), &mut wk())
            .is_parked()
    );
    let mut w = wk();
    assert!(p.cancel(2, CancelReason::Interrupted, &mut w));
    assert_eq!(w.writes[0].2, WriteDone::err(Error::Interrupted));
    let mut w = wk();
    assert!(p.cancel(1, CancelReason::Interrupted, &mut w));
    assert_eq!(w.writes[0].2, WriteDone::ok(4096));
    assert!(!p.cancel(1, CancelReason::Interrupted, &mut wk()));
    assert_eq!(p.blocked(), 0);
}

#[test]
fn second_parked_writer_is_cancelled_alone() {
    let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
    open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    done_write(p.write(write_call(1, ANY, &[0; 4096], false), &mut wk()));
    assert!(
        p.write(write_call(2, ANY, &[1; 10], false), &mut wk())
            .is_parked()
    );
    assert!(
        p.write(write_call(3, ANY, &[2; 10], false), &mut wk())
            .is_parked()
    );
    let mut w = wk();
    assert!(p.cancel(3, CancelReason::Interrupted, &mut w));
    assert_eq!(w.writes.len(), 1);
    assert_eq!(w.writes[0].0, 3);
    assert_eq!(p.blocked(), 1);
}

#[test]
fn interrupted_reader_open_drops_its_count() {
    let mut p = pipe();
    assert!(
        p.open(1, 1, req(Mode::READ, false, false), &mut wk())
            .is_parked()
    );
    let mut w = wk();
    assert!(p.cancel(1, CancelReason::Interrupted, &mut w));
    assert_eq!(w.opens[0].2.unwrap_err(), Error::Interrupted);
    assert_eq!(p.readers(), 0);
}

#[test]
fn last_reader_leaving_ends_parked_writers_with_epipe() {
    let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
    let r = open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    assert!(
        p.write(write_call(1, ANY, &[0; 6000], false), &mut wk())
            .is_parked()
    );
    let mut w = wk();
    p.release(r, &mut w);
    assert_eq!(
        w.writes[0].2,
        WriteDone {
            result: Ok(4096),
            sigpipe: true
        }
    );
}

#[test]
fn memory_cap_gives_enospc_and_keeps_what_was_stored() {
    let mut p: Pipe<Plain> = Pipe::new(65536, MemoryBudget::new(100).account(1));
    open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    assert_eq!(
        done_write(p.write(write_call(1, ANY, &[1; 80], false), &mut wk())),
        WriteDone::ok(80)
    );
    assert_eq!(
        done_write(p.write(write_call(2, ANY, &[2; 30], false), &mut wk())),
        WriteDone::err(Error::NoSpace)
    );
    assert_eq!(p.bytes(), 80);
    assert_eq!(
        done_read(p.read(read_call(3, ANY, 1000, false), &mut wk())),
        Ok(vec![1; 80])
    );
}

#[test]
fn poll_reports_in_out_hup_and_err() {
    let mut p = pipe();
    let r = match p.open(1, 1, req(Mode::READ, true, false), &mut wk()) {
        Step::Done(_, Ok(end)) => end,
        _ => panic!(),
    };
    assert_eq!(p.poll(r, None), 0, "no POLLHUP before any writer");
    let w = open(&mut p, Mode::WRITE);
    assert_eq!(p.poll(w, None), ready::OUT);
    assert_eq!(p.poll(r, Some((9, 90))), 0);
    let mut wks = wk();
    done_write(p.write(write_call(2, ANY, b"x", false), &mut wks));
    assert_eq!(wks.polls, vec![90], "the registered poller is notified");
    assert_eq!(p.poll(r, None), ready::IN);
    p.release(w, &mut wk());
    assert_eq!(p.poll(r, None), ready::IN | ready::HUP);
    let w2 = open(&mut p, Mode::WRITE);
    p.release(r, &mut wk());
    assert_eq!(p.poll(w2, None), ready::OUT | ready::ERR, "no reader left");
}

#[test]
fn capacity_cannot_shrink_below_content() {
    let mut p = pipe();
    open(&mut p, Mode::READ_WRITE);
    done_write(p.write(write_call(1, ANY, &[0; 5000], false), &mut wk()));
    assert_eq!(p.set_capacity(4096, &mut wk()), Err(Error::Busy));
    assert_eq!(p.set_capacity(100, &mut wk()), Err(Error::InvalidArgument));
    assert_eq!(p.set_capacity(8192, &mut wk()), Ok(()));
    assert_eq!(p.capacity(), 8192);
}

#[test]
fn data_goes_when_the_last_reader_and_writer_close() {
    let budget = MemoryBudget::new(1 << 30);
    let mut p: Pipe<Plain> = Pipe::new(4096, budget.account(1));
    let both = open(&mut p, Mode::READ_WRITE);
    done_write(p.write(write_call(1, ANY, b"OLD", false), &mut wk()));
    assert_eq!(budget.used(), 3);
    p.release(both, &mut wk());
    assert_eq!((p.bytes(), budget.used()), (0, 0));
    // One end still open keeps the data.
    let r = open(&mut p, Mode::READ_WRITE);
    let w = open(&mut p, Mode::WRITE);
    done_write(p.write(write_call(2, ANY, b"kept", false), &mut wk()));
    p.release(w, &mut wk());
    assert_eq!(p.bytes(), 4);
    p.release(r, &mut wk());
    assert_eq!(p.bytes(), 0);
}

#[test]
fn a_parked_writes_bytes_are_charged_until_they_leave() {
    let budget = MemoryBudget::new(1 << 20);
    let mut p: Pipe<Plain> = Pipe::new(4096, budget.account(1));
    let _r = open(&mut p, Mode::READ);
    let w = open(&mut p, Mode::WRITE);
    let big = vec![7u8; 10_000];
    assert!(
        p.write(write_call(1, w, &big, false), &mut wk())
            .is_parked()
    );
    assert_eq!(budget.used(), 10_000, "4096 in the buffer, the rest parked");
    let mut w1 = wk();
    assert!(p.cancel(1, CancelReason::Interrupted, &mut w1));
    assert_eq!(
        budget.used(),
        4096,
        "the cancelled write's rest is given back"
    );
    // Refused at once when its bytes cannot be held.
    let small = MemoryBudget::new(5000);
    let mut q: Pipe<Plain> = Pipe::new(4096, small.account(1));
    let _r = open(&mut q, Mode::READ);
    let w = open(&mut q, Mode::WRITE);
    assert_eq!(
        done_write(q.write(write_call(2, w, &big, false), &mut wk())),
        WriteDone::ok(4096),
        "what fit stays; the writer gets its count"
    );
    assert_eq!(small.used(), 4096);
}

#[test]
fn shut_down_answers_everyone() {
    let mut p: Pipe<Plain> = Pipe::new(4096, MemoryBudget::new(1 << 30).account(1));
    assert!(
        p.open(1, 1, req(Mode::READ, false, false), &mut wk())
            .is_parked()
    );
    let mut w = wk();
    p.shut_down(&mut w);
    assert_eq!(w.opens[0].2.unwrap_err(), Error::ShuttingDown);
    assert_eq!(p.blocked(), 0);
}

/// Parks plain ids, as [`Plain`], and keeps write bytes as an adapter
/// that can does: in an allocation of their own, which the test then
/// finds the reads' answers pointing into (no copy by the pipe).
struct Keeping;

thread_local! {
    /// What `Keeping` kept, in order: the kept allocation's address and length.
    static KEPT: std::cell::RefCell<Vec<(usize, usize)>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Parking for Keeping {
    type Open = u32;
    type Read = u32;
    type Write = u32;
    type Poll = u32;
    type Flush = u32;

    fn keep(data: &[u8]) -> Option<Shared> {
        let copy = std::sync::Arc::new(data.to_vec());
        KEPT.with(|k| k.borrow_mut().push((copy.as_ptr() as usize, copy.len())));
        Some(Shared::new(copy))
    }
}

fn kept() -> Vec<(usize, usize)> {
    KEPT.with(|k| k.borrow().clone())
}

/// Whether `piece` lies inside the allocation kept `(at, len)`.
fn inside(piece: &[u8], (at, len): (usize, usize)) -> bool {
    let p = piece.as_ptr() as usize;
    p >= at && p + piece.len() <= at + len
}

fn gathered(step: Step<u32, ReadDone>) -> crate::ipc::bytes::Gathered {
    match step {
        Step::Done(_, ReadDone::Gathered(g)) => g,
        Step::Done(_, other) => panic!("not gathered: {other:?}"),
        Step::Parked => panic!("read parked"),
    }
}

#[test]
fn a_large_write_that_waits_is_kept_and_read_out_of_its_own_buffer() {
    let mut p: Pipe<Keeping> = Pipe::new(65536, MemoryBudget::new(1 << 30).account(1));
    open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    let mut w = Wakeups::default();
    assert!(
        !p.write(write_call(1, ANY, b"small", false), &mut w)
            .is_parked()
    );
    assert!(kept().is_empty(), "small writes are copied, not kept");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    assert!(
        p.write(write_call(2, ANY, &data, false), &mut w)
            .is_parked()
    );
    let kept = kept();
    assert_eq!(kept.len(), 1, "kept once: {kept:?}");
    assert_eq!(kept[0].1, data.len());
    assert_eq!(p.bytes(), 65536, "the pipe's share went in");
    let mut w = Wakeups::default();
    let got = gathered(p.read_done(read_call(3, ANY, 1 << 20, false), &mut w));
    let slices = got.slices();
    assert_eq!(slices[0], b"small", "the copy first");
    assert!(
        slices[1..].iter().all(|s| inside(s, kept[0])),
        "the rest straight from the kept bytes"
    );
    let mut expected = b"small".to_vec();
    expected.extend_from_slice(&data);
    assert_eq!(got.into_vec(), expected);
    assert_eq!(w.writes.len(), 1);
    assert_eq!(w.writes[0].2, WriteDone::ok(200_000));
    assert_eq!((p.bytes(), p.budget.held()), (0, 0));
}

#[test]
fn a_large_write_that_fits_is_kept_and_read_in_parts_in_order() {
    let mut p: Pipe<Keeping> = Pipe::new(1 << 20, MemoryBudget::new(1 << 30).account(1));
    open(&mut p, Mode::READ);
    open(&mut p, Mode::WRITE);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let mut w = Wakeups::default();
    let done = p.write(write_call(1, ANY, &data, false), &mut w);
    assert!(matches!(done, Step::Done(_, d) if d == WriteDone::ok(100_000)));
    let kept = kept();
    assert_eq!(kept.len(), 1);
    let mut got = Vec::new();
    for size in [40_000, 40_000] {
        let part = gathered(p.read_done(read_call(2, ANY, size, false), &mut w));
        assert!(part.slices().iter().all(|s| inside(s, kept[0])));
        got.extend(part.into_vec());
    }
    // The last 20,000, fewer than `KEEP_MIN`, were copied out of the
    // kept bytes; through `read`, as one buffer.
    let last = done_read(p.read(read_call(3, ANY, 1 << 20, false), &mut w)).unwrap();
    got.extend(last);
    assert_eq!(got, data);
    assert_eq!((p.bytes(), p.budget.held()), (0, 0));
}
