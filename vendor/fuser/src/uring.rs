//! FUSE over io_uring (ipcfs patch).
//!
//! One io_uring and one worker thread per kernel queue (one queue per
//! *possible* CPU; the kernel sends a request to the queue of the CPU its
//! caller runs on). Each worker pins itself to its CPU, registers entries
//! (`FUSE_IO_URING_CMD_REGISTER`), and serves every request an entry
//! brings by rebuilding the request's `/dev/fuse` byte image right before
//! the entry's payload, so that fuser's own parser and dispatch are used
//! unchanged. A reply goes back with `FUSE_IO_URING_CMD_COMMIT_AND_FETCH`,
//! which also hands the entry back for the next request.
//!
//! Only the worker submits to its ring: the kernel delivers an entry's next
//! request as task work of the thread that submitted the entry's command,
//! and cancels the entry (the caller gets ECANCELED) if that thread has
//! exited. A reply made on another thread (a parked call answered later)
//! writes its bytes into the entry, queues the entry on the worker's
//! pending list and wakes the worker through an eventfd.
//!
//! A parked call holds its entry until it is answered, and a request that
//! finds no free entry on its CPU's queue waits, uninterruptibly, in the
//! kernel's list for that queue: an entry registered later does not take
//! it, only a commit on that queue does. So each worker keeps a reserve of
//! free entries, registering more as calls park, up to a cap per queue;
//! and while a queue holds as many parked calls as its reserve (only then
//! can a caller be left in that list: every entry the worker had handed
//! to the kernel was taken by a call that parked), each new park has the
//! kicker make a call on that queue's CPU, whose commit fetches one
//! waiting caller, and kick again while its commits find one.
//!
//! Interrupts, forgets and notifications stay on `/dev/fuse`, as the
//! kernel sends them there.

use std::io;
use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::os::fd::FromRawFd;
use std::os::fd::OwnedFd;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::Condvar;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use io_uring::IoUring;
use io_uring::cqueue;
use io_uring::opcode;
use io_uring::squeue::Entry128;
use io_uring::types;
use log::debug;
use log::error;
use log::info;
use log::warn;

use crate::channel::ChannelSender;

// struct fuse_uring_req_header: in_out[128] | op_in[128] | ring_ent_in_out.
const REQ_HEADER_SIZE: usize = 288;
const OP_IN_OFFSET: usize = 128;
const OP_IN_SIZE: usize = 128;
const COMMIT_ID_OFFSET: usize = 256 + 8;
const PAYLOAD_SZ_OFFSET: usize = 256 + 16;
/// Where the REGISTER iovec pair lives in an entry's header slot.
const IOVEC_OFFSET: usize = 320;
const IN_HEADER_SIZE: usize = 40;
const OUT_HEADER_SIZE: usize = 16;

const CMD_REGISTER: u32 = 1;
const CMD_COMMIT_AND_FETCH: u32 = 2;
/// `user_data` of the eventfd read that wakes a worker.
const WAKE: u64 = u64::MAX;

/// Entries each queue starts with.
const INITIAL_ENTRIES: usize = 64;
/// Free entries each queue keeps registered beyond those held by calls.
/// A request that finds none free waits in the kernel until an entry of
/// its queue is answered — one registered later does not take it — so
/// the reserve must cover a burst of callers parking at once.
const RESERVE: usize = 64;
/// Most entries one queue may have. A parked call holds its entry, and
/// ipcfs parks many (10,000 readers waiting for one writer, who needs an
/// entry of their own): the cap is far above that. Each entry is its own
/// mapping (a page and the payload buffer, virtual until touched), so two
/// queues at the cap stay under the kernel's default 65,530 mappings.
pub(crate) const MAX_ENTRIES: usize = 16384;
const SQ_ENTRIES: u32 = 256;

/// The number of kernel queues: one per possible CPU.
pub(crate) fn possible_cpus() -> io::Result<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    parse_cpu_list(text.trim())
        .ok_or_else(|| io::Error::other(format!("cannot parse the CPU list '{}'", text.trim())))
}

fn parse_cpu_list(text: &str) -> Option<usize> {
    let mut highest = None;
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let last = match part.split_once('-') {
            Some((_, b)) => b.parse::<usize>().ok()?,
            None => part.parse::<usize>().ok()?,
        };
        highest = Some(highest.map_or(last, |h: usize| h.max(last)));
    }
    // The kernel numbers queues by CPU id, up to the highest possible one.
    highest.map(|h| h + 1)
}

/// An anonymous mapping, not reserved, not inherited by forks.
struct Mapping {
    base: *mut u8,
    len: usize,
}

// SAFETY: plain memory; who may touch which part when is ruled by the
// entries' states (see `State`).
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh anonymous mapping.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the mapping just made.
        unsafe { libc::madvise(base, len, libc::MADV_DONTFORK) };
        Ok(Mapping {
            base: base.cast(),
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, and no command of an entry in it is in
        // the kernel: a mapping is dropped with the last reference to its
        // entries, and a queue that ends with entries in the kernel keeps
        // them for ever (`RingQueue`'s `Drop`).
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// A parked call whose entry holds this many payload bytes or more (a large
/// write that waits for room) gives them back at once, so that what parked
/// writes hold is what the filesystem copied and charged, not that again
/// in entries.
const RELEASE_AT: usize = 64 * 1024;

/// Header slots are packed, many to a page: a call parked with no payload
/// touches only its slot, so 10,000 of them cost 10,000 slots, not 10,000
/// pages and the page tables of 10,000 scattered mappings.
const SLOT_SIZE: usize = 512;
const SLOTS_PER_SLAB: usize = 64;

/// One entry's memory: a header slot in a shared slab (the kernel's
/// request header, then the REGISTER iovecs), and its own mapping: one
/// staging page, then the payload buffer. A request with a payload is
/// rebuilt at the end of the staging page, right before its payload, so
/// that the whole /dev/fuse image is contiguous with no copy of the
/// payload.
struct EntryMem {
    header: *mut u8,
    _slab: Arc<Mapping>,
    buffer: Mapping,
    page: usize,
    payload_cap: usize,
    /// How many payload bytes may have been touched (by a request or a
    /// reply) since the buffer was last given back.
    touched: AtomicUsize,
}

// SAFETY: as for `Mapping`.
unsafe impl Send for EntryMem {}
unsafe impl Sync for EntryMem {}

impl EntryMem {
    fn new(slab: Arc<Mapping>, slot: usize, payload_cap: usize) -> io::Result<EntryMem> {
        const _: () = assert!(IOVEC_OFFSET + 32 <= SLOT_SIZE);
        assert!((slot + 1) * SLOT_SIZE <= slab.len);
        let page = page_size::get();
        let buffer = Mapping::new(page + payload_cap)?;
        let mem = EntryMem {
            // SAFETY: within the slab, as asserted.
            header: unsafe { slab.base.add(slot * SLOT_SIZE) },
            _slab: slab,
            buffer,
            page,
            payload_cap,
            touched: AtomicUsize::new(0),
        };
        let iov = [
            libc::iovec {
                iov_base: mem.header.cast(),
                iov_len: REQ_HEADER_SIZE,
            },
            libc::iovec {
                iov_base: mem.payload().cast(),
                iov_len: payload_cap,
            },
        ];
        // SAFETY: the iovecs fit in the slot after the request header.
        unsafe {
            std::ptr::copy_nonoverlapping(
                iov.as_ptr().cast::<u8>(),
                mem.header.add(IOVEC_OFFSET),
                std::mem::size_of_val(&iov),
            )
        };
        Ok(mem)
    }

    fn payload(&self) -> *mut u8 {
        // SAFETY: the payload buffer starts one page into the mapping.
        unsafe { self.buffer.base.add(self.page) }
    }

    /// Notes that the first `payload` bytes of the payload buffer (and the
    /// staging page) may have been touched.
    fn touch(&self, payload: usize) {
        self.touched.fetch_max(payload, Ordering::Relaxed);
    }

    /// Gives back to the kernel the staging page and the payload pages
    /// touched since the last time, if any: they read as zeros when next
    /// touched.
    fn release(&self) {
        let payload = self.touched.swap(0, Ordering::Relaxed);
        if payload == 0 {
            return;
        }
        let len = self.page + payload.div_ceil(self.page) * self.page;
        // SAFETY: within our own mapping, which stays mapped.
        unsafe {
            libc::madvise(
                self.buffer.base.cast(),
                len.min(self.buffer.len),
                libc::MADV_DONTNEED,
            )
        };
    }

    fn iovecs(&self) -> u64 {
        self.header as u64 + IOVEC_OFFSET as u64
    }

    fn read_u32(&self, offset: usize) -> u32 {
        let mut b = [0u8; 4];
        assert!(offset + 4 <= REQ_HEADER_SIZE);
        // SAFETY: within the header, as asserted.
        unsafe { std::ptr::copy_nonoverlapping(self.header.add(offset), b.as_mut_ptr(), 4) };
        u32::from_ne_bytes(b)
    }

    fn read_u64(&self, offset: usize) -> u64 {
        let mut b = [0u8; 8];
        assert!(offset + 8 <= REQ_HEADER_SIZE);
        // SAFETY: within the header, as asserted.
        unsafe { std::ptr::copy_nonoverlapping(self.header.add(offset), b.as_mut_ptr(), 8) };
        u64::from_ne_bytes(b)
    }

    fn write_header(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= REQ_HEADER_SIZE);
        // SAFETY: checked to be within the header; the caller owns the
        // entry (state Dispatching or Parked).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.header.add(offset), bytes.len())
        };
    }

    fn write_payload(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.payload_cap);
        // SAFETY: checked to be within the payload buffer; as above.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.payload().add(offset), bytes.len())
        };
    }

    /// Writes a reply: the out header into `in_out`, the rest into the
    /// payload buffer, and the payload size. A reply too large for the
    /// buffer becomes EINVAL, as an oversized write to /dev/fuse would.
    fn write_reply(&self, header: &[u8], payload: &[&[u8]]) {
        let size: usize = payload.iter().map(|p| p.len()).sum();
        if header.len() != OUT_HEADER_SIZE || size > self.payload_cap {
            error!("io_uring reply of {size} bytes does not fit its entry: EINVAL");
            let mut h = [0u8; OUT_HEADER_SIZE];
            h[0..4].copy_from_slice(&(OUT_HEADER_SIZE as u32).to_ne_bytes());
            h[4..8].copy_from_slice(&(-libc::EINVAL).to_ne_bytes());
            h[8..16].copy_from_slice(&header[8..16.min(header.len())]);
            self.write_header(0, &h);
            self.write_header(PAYLOAD_SZ_OFFSET, &0u32.to_ne_bytes());
            return;
        }
        self.write_header(0, header);
        self.touch(size);
        let mut at = 0;
        for p in payload {
            self.write_payload(at, p);
            at += p.len();
        }
        self.write_header(PAYLOAD_SZ_OFFSET, &(size as u32).to_ne_bytes());
    }
}

/// Who owns an entry now.
#[derive(Debug)]
enum State {
    /// Registered or committed: the kernel may write it at any time.
    InKernel,
    /// The worker is dispatching the request `commit_id`.
    Dispatching {
        commit_id: u64,
        /// No payload came with the request, so nothing parsed points into
        /// the payload buffer and a reply may be written in place at once.
        in_place_ok: bool,
        /// A reply object was made (the request may be parked).
        sender_made: bool,
        reply: Option<Deferred>,
    },
    /// Dispatched without a reply yet: a parked call.
    Parked { commit_id: u64 },
    /// The reply is written; the worker is to commit it.
    Pending,
    /// The connection or the ring is gone.
    Dead,
}

#[derive(Debug)]
enum Deferred {
    /// Written in the entry already.
    InPlace,
    /// Bytes (out header first) to write once dispatch is over: the
    /// request's payload, which the parser still borrows, occupies the
    /// buffer until then.
    Bytes(Vec<u8>),
}

struct RingEntry {
    idx: u32,
    mem: EntryMem,
    state: Mutex<State>,
}

impl std::fmt::Debug for RingEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingEntry").field("idx", &self.idx).finish()
    }
}

/// What a ring shares with the threads that answer its requests.
#[derive(Debug)]
struct Shared {
    qid: u16,
    /// Entries whose reply was written by another thread, to be committed.
    pending: Mutex<Vec<Arc<RingEntry>>>,
    /// The worker is (about to be) waiting in io_uring_enter.
    asleep: AtomicBool,
    /// The connection has ended (/dev/fuse read ENODEV).
    ended: AtomicBool,
    /// How many times the worker has gone to wait with its reserve full.
    idles: AtomicU64,
    /// Kicks of this queue being made.
    kicks_out: AtomicUsize,
    wake_fd: OwnedFd,
    dev: ChannelSender,
}

impl Shared {
    fn wake(&self) {
        if self.asleep.swap(false, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes to our eventfd.
            unsafe { libc::write(self.wake_fd.as_raw_fd(), (&raw const one).cast(), 8) };
        }
    }
}

/// The entry a request came in, for `RequestWithSender`.
#[derive(Debug)]
pub(crate) struct RingOrigin {
    shared: Arc<Shared>,
    entry: Arc<RingEntry>,
    commit_id: u64,
}

impl RingOrigin {
    pub(crate) fn sender(&self) -> RingSender {
        if let State::Dispatching { sender_made, .. } = &mut *lock(&self.entry.state) {
            *sender_made = true;
        }
        RingSender {
            shared: self.shared.clone(),
            entry: self.entry.clone(),
            commit_id: self.commit_id,
        }
    }
}

/// Sends a reply through the io_uring entry its request came in; may be
/// used from any thread.
#[derive(Debug)]
pub(crate) struct RingSender {
    shared: Arc<Shared>,
    entry: Arc<RingEntry>,
    commit_id: u64,
}

impl RingSender {
    /// For the backing-file ioctls, which stay on /dev/fuse.
    pub(crate) fn dev(&self) -> &ChannelSender {
        &self.shared.dev
    }

    pub(crate) fn send(&self, iov: &[IoSlice<'_>]) -> io::Result<()> {
        let (header, payload) = iov
            .split_first()
            .ok_or_else(|| io::Error::other("empty reply"))?;
        let payload: Vec<&[u8]> = payload.iter().map(|s| &s[..]).collect();
        let mut state = lock(&self.entry.state);
        match &mut *state {
            State::Dispatching {
                commit_id,
                in_place_ok,
                reply,
                ..
            } if *commit_id == self.commit_id && reply.is_none() => {
                if *in_place_ok {
                    self.entry.mem.write_reply(header, &payload);
                    *reply = Some(Deferred::InPlace);
                } else {
                    let mut bytes = header.to_vec();
                    for p in &payload {
                        bytes.extend_from_slice(p);
                    }
                    *reply = Some(Deferred::Bytes(bytes));
                }
                Ok(())
            }
            State::Parked { commit_id } if *commit_id == self.commit_id => {
                self.entry.mem.write_reply(header, &payload);
                *state = State::Pending;
                drop(state);
                lock(&self.shared.pending).push(self.entry.clone());
                self.shared.wake();
                Ok(())
            }
            State::Dead => {
                debug!(
                    "queue {}: reply to {} dropped: the connection has ended",
                    self.shared.qid, self.commit_id
                );
                Ok(())
            }
            other => Err(io::Error::other(format!(
                "a second reply to request {} (entry {:?})",
                self.commit_id, other
            ))),
        }
    }
}

/// Takes `mutex`, poisoned or not. Each holder here sets an entry's
/// state, or pushes to or takes a list, in one step, so a poisoned lock
/// guards consistent data; and a reply dropped while its thread unwinds
/// from a panic must not panic again inside `Drop` (that would abort the
/// daemon).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One kernel queue: its ring, its entries, and the worker that runs it.
pub(crate) struct RingQueue {
    ring: IoUring<Entry128, cqueue::Entry>,
    shared: Arc<Shared>,
    entries: Vec<Arc<RingEntry>>,
    /// Entries whose command is in the kernel: the free ones, as an entry
    /// leaves the kernel with its next request.
    in_kernel: usize,
    payload_cap: usize,
    wake_buf: Box<u64>,
    warned_full: bool,
    /// Whether the failure to map an entry was logged.
    warned_memory: bool,
    /// The slab the next entries' header slots come from, and how many of
    /// its slots are taken.
    slab: Option<(Arc<Mapping>, usize)>,
    kicker: Option<Arc<Kicker>>,
    /// A call parked since the last look at whether to kick.
    parked_since_kick: bool,
    /// The unique id of the request each entry last answered.
    answered: Vec<u64>,
}

impl Drop for RingQueue {
    /// A queue that ends with entries still in the kernel (the connection
    /// did not return them within 2 s of its end, or the worker failed)
    /// never unmaps their memory, nor the wake read's buffer: the kernel
    /// could still write a request there, into memory reused for
    /// something else. The session is ending: the process's end frees it.
    fn drop(&mut self) {
        if self.in_kernel > 0 {
            warn!(
                "io_uring queue {}: {} entries still in the kernel at its end; their memory \
                 is kept until the daemon exits",
                self.shared.qid, self.in_kernel
            );
            std::mem::forget(std::mem::take(&mut self.entries));
            std::mem::forget(self.slab.take());
            std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
        }
    }
}

impl std::fmt::Debug for RingQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingQueue")
            .field("qid", &self.shared.qid)
            .finish()
    }
}

/// Handle kept by the session to end the rings when /dev/fuse ends.
#[derive(Debug, Clone)]
pub(crate) struct RingStopper(Vec<Arc<Shared>>, Option<Arc<Kicker>>);

impl RingStopper {
    pub(crate) fn connection_ended(&self) {
        for s in &self.0 {
            s.ended.store(true, Ordering::SeqCst);
            s.asleep.store(true, Ordering::SeqCst);
            s.wake();
        }
        if let Some(kicker) = &self.1 {
            kicker.stop();
        }
    }
}

/// Fetches callers that wait in a kernel queue for want of a free entry.
///
/// Such a caller is taken only when an entry of its queue is committed.
/// A kicker thread pins itself to that queue's CPU and calls statfs on the
/// mount: the request takes a free entry of the queue (the worker has
/// registered more by then), and committing its answer fetches the oldest
/// waiting caller into that entry. An entry that comes back with a request
/// older than the one it answered has fetched such a caller, so the worker
/// asks for another kick at once. Other kicks of a queue are at least
/// `KICK_INTERVAL` apart, so a queue where calls keep parking pays at
/// most 200 statfs a second, not one per park (and none once they stop).
///
/// A kick made in a burst can itself find no free entry and wait with the
/// others; it is answered when a later kick fetches it. So a queue has one
/// kick at a time, and another only once the first has waited
/// `KICK_STUCK` and the queue's worker has been idle since it was made
/// (its free entries were not all taken then, so the new kick finds one).
/// The worker, which waits at most `KICK_STUCK` while a kick of its queue
/// is out, asks for that kick, and starts another kicker thread if none is
/// free; one left idle for `KICKER_IDLE` ends, down to one.
#[derive(Debug)]
pub(crate) struct Kicker {
    mount_point: CString,
    state: Mutex<KickState>,
    cond: Condvar,
    stopped: AtomicBool,
}

#[derive(Debug)]
struct KickState {
    queues: Vec<KickQueue>,
    /// Kicker threads running, and how many of them wait for work.
    threads: usize,
    idle: usize,
}

#[derive(Debug, Default)]
struct KickQueue {
    /// When the next kick of this queue is due, if one is wanted.
    due: Option<Instant>,
    /// When the last kick was made.
    last: Option<Instant>,
    /// Kicks in progress: when each was made, and the queue's idle count
    /// then.
    in_flight: Vec<(Instant, u64)>,
    /// The queue's worker, for its idle count.
    shared: Option<Arc<Shared>>,
}

impl KickQueue {
    /// Whether a kick may be made now, and if not, when to look again.
    fn may_kick(&self, now: Instant) -> Result<(), Option<Instant>> {
        let Some(due) = self.due else { return Err(None) };
        if due > now {
            return Err(Some(due));
        }
        let Some(&(made, idles)) = self.in_flight.last() else {
            return Ok(());
        };
        if now < made + KICK_STUCK {
            return Err(Some(made + KICK_STUCK));
        }
        let idle_since = self
            .shared
            .as_ref()
            .is_some_and(|s| s.idles.load(Ordering::SeqCst) > idles);
        if idle_since {
            Ok(())
        } else {
            Err(Some(now + KICK_STUCK))
        }
    }
}

/// The least time between two kicks of a queue, unless the first fetched
/// a waiting caller: how long a caller left waiting by a burst may wait.
const KICK_INTERVAL: Duration = Duration::from_millis(5);
/// A kick not answered after this long waits for a free entry itself.
const KICK_STUCK: Duration = Duration::from_millis(20);
/// Most kicker threads at once.
const MAX_KICKERS: usize = 64;
/// How long an extra kicker thread waits for work before it ends.
const KICKER_IDLE: Duration = Duration::from_secs(2);

impl Kicker {
    /// Makes the kicker and starts its first thread.
    pub(crate) fn start(mount_point: &Path, queues: usize) -> io::Result<Arc<Kicker>> {
        let kicker = Arc::new(Kicker {
            mount_point: CString::new(mount_point.as_os_str().as_bytes())?,
            state: Mutex::new(KickState {
                queues: (0..queues).map(|_| KickQueue::default()).collect(),
                threads: 1,
                idle: 0,
            }),
            cond: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        Kicker::spawn(&kicker)?;
        Ok(kicker)
    }

    /// Starts a kicker thread. Not joined: it holds nothing of the session,
    /// and a statfs it makes ends with the connection.
    fn spawn(kicker: &Arc<Kicker>) -> io::Result<()> {
        let kicker = kicker.clone();
        std::thread::Builder::new()
            .name("fuser-kick".to_string())
            .spawn(move || kicker.run())?;
        Ok(())
    }

    fn attach(&self, shared: &Arc<Shared>) {
        if let Some(q) = lock(&self.state).queues.get_mut(usize::from(shared.qid)) {
            q.shared = Some(shared.clone());
        }
    }

    /// Asks for a kick of `qid`: `now`, or once `KICK_INTERVAL` has passed
    /// since its last one.
    fn want(&self, qid: u16, now: bool) {
        let mut state = lock(&self.state);
        let Some(q) = state.queues.get_mut(usize::from(qid)) else {
            return;
        };
        let at = match (now, q.last) {
            (false, Some(last)) => last + KICK_INTERVAL,
            _ => Instant::now(),
        };
        q.due = Some(q.due.map_or(at, |d| d.min(at)));
        self.cond.notify_one();
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _guard = lock(&self.state);
        self.cond.notify_all();
    }

    /// The next queue to kick, once it may be; `None` when stopped, or for
    /// an extra thread that had nothing to do for `KICKER_IDLE`. Leaves a
    /// thread free to watch for the next, starting one if need be.
    fn next_kick(self: &Arc<Self>) -> Option<(usize, Instant)> {
        let mut state = lock(&self.state);
        let mut idle_since = Instant::now();
        loop {
            if self.stopped.load(Ordering::SeqCst) {
                state.threads -= 1;
                return None;
            }
            let now = Instant::now();
            let mut look_again: Option<Instant> = None;
            let mut ready = None;
            for (i, q) in state.queues.iter().enumerate() {
                match q.may_kick(now) {
                    Ok(()) => {
                        ready = Some(i);
                        break;
                    }
                    Err(Some(at)) => look_again = Some(look_again.map_or(at, |l| l.min(at))),
                    Err(None) => {}
                }
            }
            if let Some(i) = ready {
                let idles = (state.queues[i].shared.as_ref())
                    .map_or(0, |s| s.idles.load(Ordering::SeqCst));
                let q = &mut state.queues[i];
                q.due = None;
                q.last = Some(now);
                q.in_flight.push((now, idles));
                if let Some(shared) = &q.shared {
                    shared.kicks_out.fetch_add(1, Ordering::SeqCst);
                }
                return Some((i, now));
            }
            let wait = match look_again {
                Some(at) => {
                    idle_since = now;
                    at - now
                }
                None if state.threads > 1 => {
                    let left = KICKER_IDLE.saturating_sub(idle_since.elapsed());
                    if left.is_zero() {
                        state.threads -= 1;
                        return None;
                    }
                    left
                }
                None => Duration::from_secs(3600),
            };
            state.idle += 1;
            state = (self.cond.wait_timeout(state, wait))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            state.idle -= 1;
        }
    }

    fn kick_done(&self, qid: usize, made: Instant) {
        let mut state = lock(&self.state);
        let q = &mut state.queues[qid];
        if let Some(at) = q.in_flight.iter().position(|&(m, _)| m == made) {
            q.in_flight.remove(at);
        }
        if let Some(shared) = &q.shared {
            shared.kicks_out.fetch_sub(1, Ordering::SeqCst);
        }
        self.cond.notify_one();
    }

    /// For a worker whose queue has had a kick out for `KICK_STUCK`: that
    /// kick waits for an entry, so another is wanted, and a thread to make
    /// it if every kicker is in a kick.
    fn kick_stuck(self: &Arc<Self>, qid: u16) {
        self.want(qid, true);
        let mut state = lock(&self.state);
        if state.idle == 0 && state.threads < MAX_KICKERS {
            state.threads += 1;
            if let Err(e) = Kicker::spawn(self) {
                state.threads -= 1;
                warn!("io_uring: cannot start another kicker thread: {e}");
            }
        }
    }

    /// A kicker thread: one statfs on the CPU of each queue asked for.
    fn run(self: Arc<Self>) {
        let mut unpinned_told = false;
        while let Some((qid, made)) = self.next_kick() {
            if pin_to_cpu(qid) {
                // SAFETY: a NUL-terminated path and a buffer statfs fills.
                let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
                if unsafe { libc::statfs(self.mount_point.as_ptr(), &mut buf) } != 0 {
                    debug!(
                        "io_uring queue {qid}: kick: {}",
                        io::Error::last_os_error()
                    );
                }
            } else if !unpinned_told {
                warn!(
                    "io_uring queue {qid}: cannot run on CPU {qid}, so callers there that \
                     find no free entry wait until another call on that CPU is answered"
                );
                unpinned_told = true;
            }
            self.kick_done(qid, made);
        }
    }
}

impl RingQueue {
    /// Creates the ring of queue `qid` (before the INIT reply, so that a
    /// failure leaves the session on /dev/fuse).
    pub(crate) fn new(qid: u16, dev: ChannelSender, payload_cap: usize) -> io::Result<RingQueue> {
        let ring = IoUring::<Entry128, cqueue::Entry>::builder()
            .setup_cqsize((MAX_ENTRIES + 16) as u32)
            .setup_submit_all()
            .dontfork()
            .build(SQ_ENTRIES)?;
        ring.submitter().register_files(&[dev.raw_fd()])?;
        // SAFETY: eventfd returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: just created, owned here.
        let wake_fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(RingQueue {
            ring,
            shared: Arc::new(Shared {
                qid,
                pending: Mutex::new(Vec::new()),
                asleep: AtomicBool::new(false),
                ended: AtomicBool::new(false),
                idles: AtomicU64::new(0),
                kicks_out: AtomicUsize::new(0),
                wake_fd,
                dev,
            }),
            entries: Vec::new(),
            in_kernel: 0,
            payload_cap,
            wake_buf: Box::new(0),
            warned_full: false,
            warned_memory: false,
            slab: None,
            kicker: None,
            parked_since_kick: false,
            answered: Vec::new(),
        })
    }

    pub(crate) fn set_kicker(&mut self, kicker: Arc<Kicker>) {
        kicker.attach(&self.shared);
        self.kicker = Some(kicker);
    }

    pub(crate) fn stopper(queues: &[RingQueue], kicker: Option<Arc<Kicker>>) -> RingStopper {
        RingStopper(queues.iter().map(|q| q.shared.clone()).collect(), kicker)
    }

    pub(crate) fn qid(&self) -> u16 {
        self.shared.qid
    }

    fn push(&mut self, sqe: Entry128) -> io::Result<()> {
        loop {
            // SAFETY: every buffer an SQE points to (entry mappings, the
            // iovecs in them, the wake buffer) lives as long as the ring.
            if unsafe { self.ring.submission().push(&sqe) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    fn cmd(&self, commit_id: u64) -> [u8; 80] {
        // struct fuse_uring_cmd_req: flags u64, commit_id u64, qid u16; the
        // rest zero.
        let mut cmd = [0u8; 80];
        cmd[8..16].copy_from_slice(&commit_id.to_ne_bytes());
        cmd[16..18].copy_from_slice(&self.shared.qid.to_ne_bytes());
        cmd
    }

    /// Registers one more entry. False, and the queue goes on with the
    /// entries it has, at the cap or when the system refuses the entry's
    /// memory (no memory, or the process's mappings at
    /// `vm.max_map_count`): a worker never ends for want of an entry.
    fn register(&mut self) -> io::Result<bool> {
        if self.entries.len() >= MAX_ENTRIES {
            return Ok(false);
        }
        let idx = self.entries.len() as u32;
        let mem = match self.entry_memory() {
            Ok(mem) => mem,
            Err(e) => {
                if !self.warned_memory {
                    warn!(
                        "io_uring queue {}: cannot map another entry ({e}); new calls from \
                         CPU {} wait, uninterruptibly, until a parked one is answered",
                        self.shared.qid, self.shared.qid
                    );
                    self.warned_memory = true;
                }
                return Ok(false);
            }
        };
        let entry = Arc::new(RingEntry {
            idx,
            mem,
            state: Mutex::new(State::InKernel),
        });
        let sqe = register_sqe(self.cmd(0), entry.mem.iovecs(), u64::from(idx));
        self.entries.push(entry);
        self.answered.push(0);
        self.push(sqe)?;
        self.in_kernel += 1;
        let total = self.entries.len();
        if total > INITIAL_ENTRIES && total.is_power_of_two() {
            info!(
                "io_uring queue {}: {total} entries (calls are parked)",
                self.shared.qid
            );
        }
        Ok(true)
    }

    /// The memory of a new entry: a slot of the current slab (a new slab
    /// when it is full) and a buffer of its own.
    fn entry_memory(&mut self) -> io::Result<EntryMem> {
        let (slab, slot) = match self.slab.take() {
            Some((slab, used)) if used < SLOTS_PER_SLAB => (slab, used),
            _ => (Arc::new(Mapping::new(SLOTS_PER_SLAB * SLOT_SIZE)?), 0),
        };
        self.slab = Some((slab.clone(), slot + 1));
        EntryMem::new(slab, slot, self.payload_cap)
    }

    fn commit(&mut self, entry: &Arc<RingEntry>, commit_id: u64) -> io::Result<()> {
        self.answered[entry.idx as usize] = commit_id;
        *lock(&entry.state) = State::InKernel;
        let sqe = opcode::UringCmd80::new(types::Fixed(0), CMD_COMMIT_AND_FETCH)
            .cmd(self.cmd(commit_id))
            .build()
            .user_data(u64::from(entry.idx));
        self.push(sqe)?;
        self.in_kernel += 1;
        Ok(())
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        let sqe = opcode::Read::new(
            types::Fd(self.shared.wake_fd.as_raw_fd()),
            (&raw mut *self.wake_buf).cast(),
            8,
        )
        .build()
        .user_data(WAKE);
        self.push(Entry128::from(sqe))
    }

    /// Keeps `RESERVE` free entries registered, up to the cap.
    fn top_up(&mut self) -> io::Result<()> {
        while self.in_kernel < RESERVE {
            if !self.register()? {
                if self.entries.len() >= MAX_ENTRIES && !self.warned_full {
                    warn!(
                        "io_uring queue {}: all {} entries are held by parked calls; new calls \
                         from CPU {} wait, uninterruptibly, until one is answered",
                        self.shared.qid, MAX_ENTRIES, self.shared.qid
                    );
                    self.warned_full = true;
                }
                return Ok(());
            }
        }
        Ok(())
    }

    /// Runs the queue until the connection ends. `dispatch` serves one
    /// request: its /dev/fuse byte image and where its reply goes.
    pub(crate) fn run(mut self, dispatch: &mut dyn FnMut(&[u8], RingOrigin)) -> io::Result<()> {
        let _ = pin_to_cpu(usize::from(self.shared.qid));
        for _ in 0..INITIAL_ENTRIES {
            self.register()?;
        }
        self.arm_wake()?;
        let mut staging: Vec<u64> = Vec::new();
        let mut done_here: Vec<(Arc<RingEntry>, u64)> = Vec::new();
        let mut ended_at: Option<Instant> = None;
        loop {
            // Commits of replies made elsewhere, then the reserve.
            let pending = std::mem::take(&mut *lock(&self.shared.pending));
            for entry in pending {
                let id = entry.mem.read_u64(8); // the out header's unique
                self.commit(&entry, id)?;
            }
            if self.shared.ended.load(Ordering::SeqCst) {
                let since = *ended_at.get_or_insert_with(Instant::now);
                if self.in_kernel == 0 || since.elapsed() > Duration::from_secs(2) {
                    break;
                }
            } else {
                self.top_up()?;
                self.kick_if_callers_may_wait();
                if self.in_kernel >= RESERVE && self.ring.completion().is_empty() {
                    // Nothing brought and not served: the reserve is free.
                    self.shared.idles.fetch_add(1, Ordering::SeqCst);
                }
            }
            self.shared.asleep.store(true, Ordering::SeqCst);
            if !lock(&self.shared.pending).is_empty() {
                self.shared.asleep.store(false, Ordering::SeqCst);
                continue;
            }
            let kick_out = self.shared.kicks_out.load(Ordering::SeqCst) > 0;
            let waited = if ended_at.is_some() || kick_out {
                let limit = if kick_out { KICK_STUCK } else { Duration::from_millis(100) };
                let ts = types::Timespec::from(limit);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            } else {
                self.ring.submit_and_wait(1)
            };
            if kick_out && matches!(&waited, Err(e) if e.raw_os_error() == Some(libc::ETIME)) {
                if let Some(kicker) = &self.kicker {
                    kicker.kick_stuck(self.shared.qid);
                }
            }
            self.shared.asleep.store(false, Ordering::SeqCst);
            match waited {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ETIME)) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
                Err(e) => return Err(e),
            }
            let cqes: Vec<(u64, i32)> = self
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result()))
                .collect();
            for (user_data, res) in cqes {
                if user_data == WAKE {
                    if res < 0 && res != -libc::EINTR && res != -libc::EAGAIN {
                        debug!("queue {}: wake read failed: {res}", self.shared.qid);
                    }
                    self.arm_wake()?;
                    continue;
                }
                let entry = self.entries[user_data as usize].clone();
                self.in_kernel -= 1;
                if res == 0 {
                    self.watch_fetches(&entry);
                    // With many calls parked here, a parked call's pages go
                    // back to the kernel until its answer is written (and
                    // those of a large request or reply always do).
                    let thrifty = self.entries.len() - self.in_kernel >= RESERVE;
                    if self.serve(&entry, &mut staging, dispatch, &mut done_here, thrifty) {
                        self.parked_since_kick = true;
                    }
                    continue;
                }
                match -res {
                    libc::ENOTCONN | libc::ECONNABORTED | libc::ECANCELED => {
                        debug!(
                            "queue {}: entry {} ended ({res})",
                            self.shared.qid, entry.idx
                        );
                    }
                    _ => warn!(
                        "queue {}: entry {} failed: {}",
                        self.shared.qid,
                        entry.idx,
                        io::Error::from_raw_os_error(-res)
                    ),
                }
                *lock(&entry.state) = State::Dead;
                if -res == libc::ENOTCONN || -res == libc::ECONNABORTED {
                    self.shared.ended.store(true, Ordering::SeqCst);
                }
            }
            for (entry, id) in std::mem::take(&mut done_here) {
                self.commit(&entry, id)?;
            }
        }
        for e in &self.entries {
            *lock(&e.state) = State::Dead;
        }
        debug!(
            "queue {}: done ({} entries)",
            self.shared.qid,
            self.entries.len()
        );
        Ok(())
    }

    /// A caller can be left in the kernel's list of this queue only if every
    /// entry the worker had handed to the kernel (at least `RESERVE`, after
    /// each top-up) was taken by a call that then parked, so only while
    /// `RESERVE` calls or more are parked here, and the worker sees such a
    /// call park after the caller was left. So: a kick after new parks
    /// while that many are parked (the kicker spaces them out).
    fn kick_if_callers_may_wait(&mut self) {
        if !std::mem::take(&mut self.parked_since_kick) {
            return;
        }
        let held = self.entries.len() - self.in_kernel;
        if held >= RESERVE && self.in_kernel > 0 {
            if let Some(kicker) = &self.kicker {
                kicker.want(self.shared.qid, false);
            }
        }
    }

    /// Before serving what `entry` brought: a request older than the one
    /// the entry last answered was waiting in the kernel's list when that
    /// answer fetched it, so more may wait: a kick, at once.
    fn watch_fetches(&mut self, entry: &RingEntry) {
        let Some(kicker) = &self.kicker else { return };
        let unique = entry.mem.read_u64(COMMIT_ID_OFFSET);
        if unique < self.answered[entry.idx as usize] {
            debug!(
                "io_uring queue {}: an answer fetched a waiting caller",
                self.shared.qid
            );
            kicker.want(self.shared.qid, true);
        }
    }

    /// Serves the request an entry brought: stages its /dev/fuse image,
    /// dispatches it, then settles who owns the entry. True when the call
    /// parked (it holds the entry until answered from elsewhere); then, if
    /// `thrifty`, the entry's memory is given back while it waits.
    fn serve(
        &self,
        entry: &Arc<RingEntry>,
        staging: &mut Vec<u64>,
        dispatch: &mut dyn FnMut(&[u8], RingOrigin),
        done: &mut Vec<(Arc<RingEntry>, u64)>,
        thrifty: bool,
    ) -> bool {
        let mem = &entry.mem;
        let commit_id = mem.read_u64(COMMIT_ID_OFFSET);
        let payload_sz = mem.read_u32(PAYLOAD_SZ_OFFSET) as usize;
        let len = mem.read_u32(0) as usize;
        let op_in = len.checked_sub(IN_HEADER_SIZE + payload_sz);
        let Some(op_in) = op_in.filter(|&n| n <= OP_IN_SIZE && payload_sz <= mem.payload_cap)
        else {
            error!(
                "queue {}: malformed request (len {len}, payload {payload_sz})",
                self.shared.qid
            );
            let mut h = [0u8; OUT_HEADER_SIZE];
            h[0..4].copy_from_slice(&(OUT_HEADER_SIZE as u32).to_ne_bytes());
            h[4..8].copy_from_slice(&(-libc::EIO).to_ne_bytes());
            h[8..16].copy_from_slice(&commit_id.to_ne_bytes());
            mem.write_reply(&h, &[]);
            done.push((entry.clone(), commit_id));
            return false;
        };
        mem.touch(payload_sz);
        *lock(&entry.state) = State::Dispatching {
            commit_id,
            in_place_ok: payload_sz == 0,
            sender_made: false,
            reply: None,
        };
        let origin = RingOrigin {
            shared: self.shared.clone(),
            entry: entry.clone(),
            commit_id,
        };
        if payload_sz > 0 && op_in % 8 == 0 {
            // The header and fixed argument go at the end of the staging
            // page, right before the payload, so the whole request is
            // contiguous and 8-byte aligned with no copy of the payload.
            let start = mem.page - IN_HEADER_SIZE - op_in;
            // SAFETY: the header was written by the kernel before the CQE,
            // and it does not touch the entry until the commit; the
            // staging page is ours, and `len` bytes from `start` end
            // within the payload buffer (payload_sz <= payload_cap).
            let image = unsafe {
                let dst = mem.buffer.base.add(start);
                std::ptr::copy_nonoverlapping(mem.header, dst, IN_HEADER_SIZE);
                std::ptr::copy_nonoverlapping(
                    mem.header.add(OP_IN_OFFSET),
                    dst.add(IN_HEADER_SIZE),
                    op_in,
                );
                std::slice::from_raw_parts(dst, len)
            };
            dispatch(image, origin);
        } else {
            // No payload (the header and argument are a few dozen bytes),
            // or an argument that would misalign it: a copy.
            staging.clear();
            staging.resize(len.div_ceil(8), 0);
            // SAFETY: the staging buffer holds `len` bytes.
            let image = unsafe {
                let dst = staging.as_mut_ptr().cast::<u8>();
                std::ptr::copy_nonoverlapping(mem.header, dst, IN_HEADER_SIZE);
                std::ptr::copy_nonoverlapping(
                    mem.header.add(OP_IN_OFFSET),
                    dst.add(IN_HEADER_SIZE),
                    op_in,
                );
                std::ptr::copy_nonoverlapping(
                    mem.payload(),
                    dst.add(IN_HEADER_SIZE + op_in),
                    payload_sz,
                );
                std::slice::from_raw_parts(dst, len)
            };
            dispatch(image, origin);
        }
        let mut state = lock(&entry.state);
        let next = match std::mem::replace(&mut *state, State::InKernel) {
            State::Dispatching {
                reply: Some(Deferred::InPlace),
                ..
            } => None,
            State::Dispatching {
                reply: Some(Deferred::Bytes(bytes)),
                ..
            } => {
                let (h, p) = bytes.split_at(OUT_HEADER_SIZE.min(bytes.len()));
                mem.write_reply(h, &[p]);
                None
            }
            State::Dispatching {
                sender_made: true, ..
            } => Some(State::Parked { commit_id }),
            State::Dispatching { .. } => {
                // No reply object at all (an operation that takes no
                // reply): hand the entry back with an empty answer.
                let mut h = [0u8; OUT_HEADER_SIZE];
                h[0..4].copy_from_slice(&(OUT_HEADER_SIZE as u32).to_ne_bytes());
                h[8..16].copy_from_slice(&commit_id.to_ne_bytes());
                mem.write_reply(&h, &[]);
                None
            }
            other => Some(other),
        };
        match next {
            None => {
                *state = State::Pending;
                done.push((entry.clone(), commit_id));
                false
            }
            Some(s) => {
                let parked = matches!(s, State::Parked { .. });
                if parked && (thrifty || mem.touched.load(Ordering::Relaxed) >= RELEASE_AT) {
                    // Under the state lock, so before any answer is written;
                    // nothing refers to the request's bytes after dispatch
                    // (a parked write's bytes were copied, and charged, by
                    // the filesystem).
                    mem.release();
                }
                *state = s;
                parked
            }
        }
    }
}

/// A REGISTER command: the entry's iovec pair (header, payload), len 2.
fn register_sqe(cmd: [u8; 80], iovecs: u64, user_data: u64) -> Entry128 {
    let sqe = opcode::UringCmd80::new(types::Fixed(0), CMD_REGISTER)
        .cmd(cmd)
        .addr(Some(iovecs))
        .build()
        .user_data(user_data);
    set_sqe_len(sqe, 2)
}

/// io-uring's `UringCmd80` has no setter for the SQE's `len` (a u32 at
/// byte 24), which REGISTER needs.
///
/// The layout relied on: io-uring 0.7 declares `#[repr(C)] struct
/// Entry128(Entry, [u8; 64])` and `#[repr(C)] struct Entry(io_uring_sqe)`,
/// the kernel's 64-byte SQE, whose fields are integers and unions of
/// integers with no padding (its size is asserted below, and its ABI is
/// the kernel's). So an `Entry128` is 128 initialized bytes, and the
/// kernel's SQE layout puts `len` at byte 24. A change of the crate's
/// layout would break REGISTER (the kernel refuses a `len` other than
/// 2), which every io_uring mount test of ipcfs makes; the unit test
/// `register_sqe_bytes` reads the bytes back.
fn set_sqe_len(sqe: Entry128, len: u32) -> Entry128 {
    const _: () = assert!(std::mem::size_of::<Entry128>() == 128);
    const _: () = assert!(std::mem::size_of::<io_uring::squeue::Entry>() == 64);
    // SAFETY: 128 initialized bytes with no padding (see above).
    let mut bytes: [u8; 128] = unsafe { std::mem::transmute(sqe) };
    bytes[24..28].copy_from_slice(&len.to_ne_bytes());
    // SAFETY: every bit pattern of those bytes is a valid `Entry128`: its
    // fields are integers.
    unsafe { std::mem::transmute(bytes) }
}

/// Pins the calling thread to `cpu`; false (and logged) where it cannot.
fn pin_to_cpu(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays within it for any
    // CPU id the kernel has (checked against its size).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
            return false;
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
            debug!("CPU {cpu}: runs unpinned: {}", io::Error::last_os_error());
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1"), Some(2));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-3,5"), Some(6));
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn register_sqe_bytes() {
        let mut cmd = [0u8; 80];
        cmd[8..16].copy_from_slice(&7u64.to_ne_bytes());
        cmd[16..18].copy_from_slice(&3u16.to_ne_bytes());
        let sqe = register_sqe(cmd, 0x1122_3344, 9);
        // SAFETY: as in set_sqe_len.
        let b: [u8; 128] = unsafe { std::mem::transmute(sqe) };
        assert_eq!(b[0], 46, "IORING_OP_URING_CMD");
        assert_eq!(b[1] & 1, 1, "IOSQE_FIXED_FILE");
        assert_eq!(i32::from_ne_bytes(b[4..8].try_into().unwrap()), 0, "fd 0");
        assert_eq!(
            u32::from_ne_bytes(b[8..12].try_into().unwrap()),
            CMD_REGISTER
        );
        assert_eq!(
            u64::from_ne_bytes(b[16..24].try_into().unwrap()),
            0x1122_3344
        );
        assert_eq!(u32::from_ne_bytes(b[24..28].try_into().unwrap()), 2, "len");
        assert_eq!(u64::from_ne_bytes(b[32..40].try_into().unwrap()), 9);
        assert_eq!(
            u64::from_ne_bytes(b[56..64].try_into().unwrap()),
            7,
            "commit_id"
        );
        assert_eq!(u16::from_ne_bytes(b[64..66].try_into().unwrap()), 3, "qid");
        assert!(b[66..128].iter().all(|&x| x == 0));
    }
}
