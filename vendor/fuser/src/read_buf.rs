use std::ptr::NonNull;

use crate::session::MAX_WRITE_SIZE;

/// Size of the buffer for reading a request from the kernel. Since the kernel may send
/// up to `MAX_WRITE_SIZE` bytes in a write request, we use that value plus some extra space.
const BUFFER_SIZE: usize = MAX_WRITE_SIZE + 4096;

/// The alignment asked of a failed mapping's report.
const PAGE: usize = 4096;

/// A buffer for one request at a time, page-aligned (so `fuse_in_header`
/// is aligned) and zeroed by the system on first touch: a fresh one costs
/// address space, and memory only as far as requests reach into it.
///
/// ipcfs patch: it is a mapping of its own rather than a `Vec` (which an
/// alignment request would have the allocator zero, touching every
/// page), so that a failed allocation can be refused instead of
/// aborting ([`try_new`]),
/// and it remembers how far requests reached, so that a buffer put aside
/// can give back what a huge request touched ([`trim`]).
#[derive(Debug)]
pub(crate) struct FuseReadBuf {
    ptr: NonNull<u8>,
    /// The largest request read into it since it was last trimmed.
    high_water: usize,
    /// The size of the last request read into it.
    last: usize,
}

// SAFETY: the buffer is plain memory owned by this value; shared access
// only reads it, and writing needs `&mut self`.
unsafe impl Send for FuseReadBuf {}
// SAFETY: as above.
unsafe impl Sync for FuseReadBuf {}

impl FuseReadBuf {
    /// Creates a new `FuseReadBuf` with the default buffer size; aborts,
    /// as a `Vec` would, if there is no memory for it.
    pub(crate) fn new() -> Self {
        Self::try_new().unwrap_or_else(|| {
            let layout = std::alloc::Layout::from_size_align(BUFFER_SIZE, PAGE);
            std::alloc::handle_alloc_error(layout.expect("a valid layout"))
        })
    }

    /// A new buffer, or `None` if the system has no memory for it.
    pub(crate) fn try_new() -> Option<Self> {
        // SAFETY: a new private anonymous mapping, owned by this value.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                BUFFER_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        let ptr = NonNull::new(ptr.cast::<u8>())?;
        Some(Self {
            ptr,
            high_water: 0,
            last: 0,
        })
    }

    /// The whole buffer, to read a request into.
    pub(crate) fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` owns `BUFFER_SIZE` initialized (zeroed) bytes, and
        // `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), BUFFER_SIZE) }
    }

    /// The whole buffer, read-only.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: as in `as_mut`; shared access only reads.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), BUFFER_SIZE) }
    }

    /// Notes that a request of `size` bytes was read into the buffer.
    pub(crate) fn received(&mut self, size: usize) {
        self.high_water = self.high_water.max(size);
        self.last = size;
    }

    /// How far requests have reached into it since it was last trimmed.
    pub(crate) fn high_water(&self) -> usize {
        self.high_water
    }

    /// The size of the last request read into it.
    pub(crate) fn last(&self) -> usize {
        self.last
    }

    /// Gives the system back the pages past the first `keep` bytes, if
    /// requests reached past them; they read as zeroes when next touched.
    pub(crate) fn trim(&mut self, keep: usize) {
        // madvise takes whole pages, of the system's size.
        let keep = keep.next_multiple_of(page_size::get()).min(BUFFER_SIZE);
        if self.high_water <= keep {
            return;
        }
        // SAFETY: the range lies inside this buffer's own pages, and no
        // slice of it is alive (`&mut self`).
        let rc = unsafe {
            libc::madvise(
                self.ptr.as_ptr().add(keep).cast(),
                BUFFER_SIZE - keep,
                libc::MADV_DONTNEED,
            )
        };
        if rc == 0 {
            self.high_water = keep;
        }
    }
}

impl Drop for FuseReadBuf {
    fn drop(&mut self) {
        // SAFETY: mapped in `try_new` with this size, and no slice of it
        // outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), BUFFER_SIZE) };
    }
}
