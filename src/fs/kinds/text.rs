//! Read-only text files the daemon writes (`README`, `status`): the text
//! is generated at open, so that successive reads of one open see one
//! consistent snapshot.

use std::sync::Arc;

use crate::error::Error;
use crate::fs::Shared;
use crate::fs::attr::OpenStyle;
use crate::fs::node::{FileKind, Node, OpenFile};
use crate::fs::reply::{Call, ParkedOpen, Replies};
use crate::ipc::Mode;
use crate::memory::Account;

type Generator = dyn Fn() -> Vec<u8> + Send + Sync;

pub struct TextFile {
    generate: Box<Generator>,
    /// `st_size`: the length of a fixed text; 0 for a generated one,
    /// whose length is not known before it is made (it is read with
    /// direct I/O, so the size does not cut reads short).
    size: u64,
}

impl TextFile {
    /// A file whose text never changes.
    pub fn fixed<R: Replies>(text: &'static str) -> Node<R> {
        Node::File(Arc::new(TextFile {
            generate: Box::new(move || text.as_bytes().to_vec()),
            size: text.len() as u64,
        }))
    }

    /// A file whose text is made anew at each open.
    pub fn generated<R: Replies>(
        generate: impl Fn() -> Vec<u8> + Send + Sync + 'static,
    ) -> Node<R> {
        Node::File(Arc::new(TextFile {
            generate: Box::new(generate),
            size: 0,
        }))
    }
}

impl<R: Replies> FileKind<R> for TextFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn open(&self, shared: &Arc<Shared<R>>, call: &Call, parked: ParkedOpen<R>, flags: i32) {
        if Mode::from_open_flags(flags).write {
            return R::opened(parked.reply, Err(Error::AccessDenied));
        }
        let text = (self.generate)();
        // A snapshot is held for its open's whole life: it is charged to
        // the reader (a status of 20,000 objects is megabytes, once per
        // open), within the reader's share and the mount's cap.
        let account = shared.budget.account(call.caller.uid);
        if !account.try_reserve(text.len()) {
            log::warn!("a {}-byte snapshot refused", text.len());
            return R::opened(parked.reply, Err(Error::NoSpace));
        }
        let snapshot = Arc::new(Snapshot {
            text,
            _charge: account,
        });
        shared.answer_open(parked, snapshot, OpenStyle::Generated);
    }
}

/// One open of a text file: the text made at its open, charged to its
/// reader until the open is released (dropping the account gives it
/// back).
struct Snapshot {
    text: Vec<u8>,
    _charge: Arc<Account>,
}

impl<R: Replies> OpenFile<R> for Snapshot {
    fn read(&self, _call: &Call, reply: R::Read, offset: u64, size: usize, _nonblock: bool) {
        R::data(reply, Ok(slice_at(&self.text, offset, size)));
    }

    fn write(&self, _call: &Call, reply: R::Write, _offset: u64, _data: &[u8], _nonblock: bool) {
        // The kernel refuses writes to a file opened read-only.
        R::written(reply, Err(Error::BadHandle));
    }
}

/// `size` bytes of `text` from `offset`, or fewer at its end.
pub fn slice_at(text: &[u8], offset: u64, size: usize) -> &[u8] {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    let end = start.saturating_add(size).min(text.len());
    &text[start..end]
}
