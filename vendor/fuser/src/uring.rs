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
//! finds no free entry on its CPU's queue waits, uninterruptibly, until a
//! commit on that queue. So each worker keeps a reserve of free entries,
//! registering more as calls park, up to a cap per queue.
//!
//! Interrupts, forgets and notifications stay on `/dev/fuse`, as the
//! kernel sends them there.

use std::io;
use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::os::fd::FromRawFd;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
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
/// Where the REGISTER iovec pair lives in an entry's header page.
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

/// One entry's memory: a header page (the kernel's request header, the
/// REGISTER iovecs, and the staging area that ends the page) followed by
/// the payload buffer. Anonymous, not reserved, not inherited by forks.
struct EntryMem {
    base: *mut u8,
    len: usize,
    page: usize,
    payload_cap: usize,
}

// SAFETY: the mapping is plain memory; who may touch which part when is
// ruled by the entry's state (see `State`).
unsafe impl Send for EntryMem {}
unsafe impl Sync for EntryMem {}

impl EntryMem {
    fn new(payload_cap: usize) -> io::Result<EntryMem> {
        let page = page_size::get();
        let len = page + payload_cap;
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
        let mem = EntryMem {
            base: base.cast(),
            len,
            page,
            payload_cap,
        };
        let iov = [
            libc::iovec {
                iov_base: mem.base.cast(),
                iov_len: REQ_HEADER_SIZE,
            },
            libc::iovec {
                // SAFETY: within the mapping.
                iov_base: unsafe { mem.base.add(page) }.cast(),
                iov_len: payload_cap,
            },
        ];
        // SAFETY: the iovecs fit in the header page after the request header.
        unsafe {
            std::ptr::copy_nonoverlapping(
                iov.as_ptr().cast::<u8>(),
                mem.base.add(IOVEC_OFFSET),
                std::mem::size_of_val(&iov),
            )
        };
        Ok(mem)
    }

    fn iovecs(&self) -> u64 {
        self.base as u64 + IOVEC_OFFSET as u64
    }

    fn read_u32(&self, offset: usize) -> u32 {
        let mut b = [0u8; 4];
        // SAFETY: offset is within the header page.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(offset), b.as_mut_ptr(), 4) };
        u32::from_ne_bytes(b)
    }

    fn read_u64(&self, offset: usize) -> u64 {
        let mut b = [0u8; 8];
        // SAFETY: offset is within the header page.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(offset), b.as_mut_ptr(), 8) };
        u64::from_ne_bytes(b)
    }

    fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.len);
        // SAFETY: checked to be within the mapping; the caller owns the
        // entry (state Dispatching or Parked).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(offset), bytes.len())
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
            self.write(0, &h);
            self.write(PAYLOAD_SZ_OFFSET, &0u32.to_ne_bytes());
            return;
        }
        self.write(0, header);
        let mut at = self.page;
        for p in payload {
            self.write(at, p);
            at += p.len();
        }
        self.write(PAYLOAD_SZ_OFFSET, &(size as u32).to_ne_bytes());
    }
}

impl Drop for EntryMem {
    fn drop(&mut self) {
        // SAFETY: our own mapping; no command of it is in the kernel any
        // more (the ring is gone or the entry is dead).
        unsafe { libc::munmap(self.base.cast(), self.len) };
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
        if let State::Dispatching { sender_made, .. } = &mut *self.entry.state.lock().unwrap() {
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
        let mut state = self.entry.state.lock().unwrap();
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
                self.shared.pending.lock().unwrap().push(self.entry.clone());
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
pub(crate) struct RingStopper(Vec<Arc<Shared>>);

impl RingStopper {
    pub(crate) fn connection_ended(&self) {
        for s in &self.0 {
            s.ended.store(true, Ordering::SeqCst);
            s.asleep.store(true, Ordering::SeqCst);
            s.wake();
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
                wake_fd,
                dev,
            }),
            entries: Vec::new(),
            in_kernel: 0,
            payload_cap,
            wake_buf: Box::new(0),
            warned_full: false,
        })
    }

    pub(crate) fn stopper(queues: &[RingQueue]) -> RingStopper {
        RingStopper(queues.iter().map(|q| q.shared.clone()).collect())
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

    fn register(&mut self) -> io::Result<bool> {
        if self.entries.len() >= MAX_ENTRIES {
            return Ok(false);
        }
        let idx = self.entries.len() as u32;
        let entry = Arc::new(RingEntry {
            idx,
            mem: EntryMem::new(self.payload_cap)?,
            state: Mutex::new(State::InKernel),
        });
        let sqe = register_sqe(self.cmd(0), entry.mem.iovecs(), u64::from(idx));
        self.entries.push(entry);
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

    fn commit(&mut self, entry: &Arc<RingEntry>, commit_id: u64) -> io::Result<()> {
        *entry.state.lock().unwrap() = State::InKernel;
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
                if !self.warned_full {
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
        pin_to_cpu(usize::from(self.shared.qid));
        for _ in 0..INITIAL_ENTRIES {
            self.register()?;
        }
        self.arm_wake()?;
        let mut staging: Vec<u64> = Vec::new();
        let mut done_here: Vec<(Arc<RingEntry>, u64)> = Vec::new();
        let mut ended_at: Option<Instant> = None;
        loop {
            // Commits of replies made elsewhere, then the reserve.
            let pending = std::mem::take(&mut *self.shared.pending.lock().unwrap());
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
            }
            self.shared.asleep.store(true, Ordering::SeqCst);
            if !self.shared.pending.lock().unwrap().is_empty() {
                self.shared.asleep.store(false, Ordering::SeqCst);
                continue;
            }
            let waited = if ended_at.is_some() {
                let ts = types::Timespec::new().nsec(100_000_000);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            } else {
                self.ring.submit_and_wait(1)
            };
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
                    self.serve(&entry, &mut staging, dispatch, &mut done_here);
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
                *entry.state.lock().unwrap() = State::Dead;
                if -res == libc::ENOTCONN || -res == libc::ECONNABORTED {
                    self.shared.ended.store(true, Ordering::SeqCst);
                }
            }
            for (entry, id) in std::mem::take(&mut done_here) {
                self.commit(&entry, id)?;
            }
        }
        for e in &self.entries {
            *e.state.lock().unwrap() = State::Dead;
        }
        debug!(
            "queue {}: done ({} entries)",
            self.shared.qid,
            self.entries.len()
        );
        Ok(())
    }

    /// Serves the request an entry brought: stages its /dev/fuse image,
    /// dispatches it, then settles who owns the entry.
    fn serve(
        &self,
        entry: &Arc<RingEntry>,
        staging: &mut Vec<u64>,
        dispatch: &mut dyn FnMut(&[u8], RingOrigin),
        done: &mut Vec<(Arc<RingEntry>, u64)>,
    ) {
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
            return;
        };
        *entry.state.lock().unwrap() = State::Dispatching {
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
        let start = mem.page - IN_HEADER_SIZE - op_in;
        if op_in % 8 == 0 {
            // The header and fixed argument go right before the payload, so
            // the whole request is contiguous and 8-byte aligned.
            // SAFETY: all within the header page; the kernel wrote them
            // before the CQE and does not touch the entry until the commit.
            let image = unsafe {
                std::ptr::copy(mem.base, mem.base.add(start), IN_HEADER_SIZE);
                std::ptr::copy(
                    mem.base.add(OP_IN_OFFSET),
                    mem.base.add(start + IN_HEADER_SIZE),
                    op_in,
                );
                std::slice::from_raw_parts(mem.base.add(start), len)
            };
            dispatch(image, origin);
        } else {
            staging.clear();
            staging.resize(len.div_ceil(8), 0);
            // SAFETY: the staging buffer holds `len` bytes.
            let image = unsafe {
                let dst = staging.as_mut_ptr().cast::<u8>();
                std::ptr::copy_nonoverlapping(mem.base, dst, IN_HEADER_SIZE);
                std::ptr::copy_nonoverlapping(
                    mem.base.add(OP_IN_OFFSET),
                    dst.add(IN_HEADER_SIZE),
                    op_in,
                );
                std::ptr::copy_nonoverlapping(
                    mem.base.add(mem.page),
                    dst.add(IN_HEADER_SIZE + op_in),
                    payload_sz,
                );
                std::slice::from_raw_parts(dst, len)
            };
            dispatch(image, origin);
        }
        let mut state = entry.state.lock().unwrap();
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
            }
            Some(s) => *state = s,
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
/// byte 24), which REGISTER needs; `Entry128` is `repr(C)` over the
/// kernel's 128-byte SQE.
fn set_sqe_len(sqe: Entry128, len: u32) -> Entry128 {
    const _: () = assert!(std::mem::size_of::<Entry128>() == 128);
    // SAFETY: Entry128 is repr(C), 128 plain bytes.
    let mut bytes: [u8; 128] = unsafe { std::mem::transmute(sqe) };
    bytes[24..28].copy_from_slice(&len.to_ne_bytes());
    // SAFETY: as above; every bit pattern is a valid SQE.
    unsafe { std::mem::transmute(bytes) }
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays within it for any
    // CPU id the kernel has (checked against its size).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
            return;
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
            debug!("queue {cpu}: runs unpinned: {}", io::Error::last_os_error());
        }
    }
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
