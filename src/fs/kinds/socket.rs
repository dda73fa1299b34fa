//! A socket endpoint (`mkdir sockets/NAME`): a directory whose files are
//! the socket API — `ctl` takes commands, `data` is the connection,
//! `status`, `local`, `remote` and `err` say how it stands. `rmdir` is
//! `close()`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::caller::{Facets, Identity, as_caller, deputy};
use crate::error::{Error, Result};
use crate::fs::attr::{Ino, OpenStyle};
use crate::fs::cell::{Cell, finish_write, truncate_stream};
use crate::fs::kinds::text::{TextFile, slice_at};
use crate::fs::node::{AttributeNames, DirContext, DirObject, FileKind, MadeDir, Node, OpenFile};
use crate::fs::reply::{Call, FsParking, ParkedOpen, Replies, WriteReply};
use crate::fs::tree::Tree;
use crate::fs::{Shared, insert_object_dir, lock};
use crate::ipc::channel::{ChannelCounters, Faults, status_column};
use crate::ipc::socket::sys::Credentials;
use crate::ipc::socket::{Accepted, Deputy, Endpoint, EndpointStatus, Errand, Outcome, Watch};
use crate::ipc::status::StatusRow;
use crate::reactor::{Reactor, Readiness, Ready, Token};

pub(crate) type EndpointCell<R> = Cell<Endpoint<FsParking<R>>, R>;

/// An endpoint's cell (whose mount's reactor watches its socket).
pub struct Socket<R: Replies> {
    cell: Arc<EndpointCell<R>>,
    /// `st_size` of `ctl` and `data` (see attr.rs).
    size: u64,
    /// The mount's own directory: no Unix path may lie inside it.
    mountpoint: PathBuf,
}

impl<R: Replies> Socket<R> {
    fn status(&self) -> EndpointStatus {
        self.cell.lock().status()
    }
}

/// The reactor's way into an endpoint's cell, made before the cell.
struct CellWatch<R: Replies> {
    reactor: Arc<Reactor>,
    cell: Arc<OnceLock<Weak<EndpointCell<R>>>>,
}

impl<R: Replies> Watch for CellWatch<R> {
    fn watch(
        &self,
        fd: std::os::fd::BorrowedFd<'_>,
        interest: Readiness,
    ) -> std::io::Result<Token> {
        let cell = self
            .cell
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ESHUTDOWN))?;
        self.reactor.register(fd, interest, &cell)
    }

    fn rearm(&self, token: Token, interest: Readiness) -> std::io::Result<()> {
        self.reactor.modify(token, interest)
    }
}

impl<R: Replies> Ready for EndpointCell<R> {
    /// A report for the endpoint's socket; a socket it let go of meanwhile
    /// (a connect that failed) is retired by the same update, not at the
    /// next `ctl` write.
    fn ready(&self, token: Token, events: Readiness) {
        self.update(|ep, wk| ep.ready(token, events, wk));
    }
}

/// A new endpoint directory (`mkdir sockets/NAME`) and its files.
pub fn make<R: Replies>(context: &DirContext<'_, R>) -> MadeDir<R> {
    let base = String::from_utf8_lossy(context.name).into_owned();
    endpoint_dir(context, base, Endpoint::new).0
}

/// An endpoint's cell, linked to the reactor: `new` makes the endpoint
/// with the link.
pub(crate) fn endpoint_cell<R: Replies>(
    shared: &Arc<Shared<R>>,
    new: impl FnOnce(Box<dyn Watch>) -> Endpoint<FsParking<R>>,
) -> Arc<EndpointCell<R>> {
    let slot = Arc::new(OnceLock::new());
    let watch = CellWatch {
        reactor: shared.reactor.clone(),
        cell: slot.clone(),
    };
    let mut endpoint = new(Box::new(watch));
    endpoint.set_faults(shared.config.faults);
    let cell = Cell::new(endpoint, shared.clone());
    let _ = slot.set(Arc::downgrade(&cell));
    cell
}

/// An endpoint directory whose endpoint `new` makes with its reactor
/// link. `base` names the connections it accepts: `base.1`, `base.2`, ...
fn endpoint_dir<R: Replies>(
    context: &DirContext<'_, R>,
    base: String,
    new: impl FnOnce(Box<dyn Watch>) -> Endpoint<FsParking<R>>,
) -> (MadeDir<R>, Arc<Socket<R>>) {
    let shared = context.shared;
    let account = context.account.clone();
    let cell = endpoint_cell(shared, |watch| {
        let mut endpoint = new(watch);
        endpoint.set_account(account);
        endpoint
    });
    let adopter = Adoption {
        shared: shared.clone(),
        tree: context.tree.clone(),
        parent: context.parent,
        perm: context.perm,
        base,
        next: AtomicU64::new(1),
    };
    cell.set_adopter(Box::new(move |accepted| adopter.adopt(accepted)));
    let socket = Arc::new(Socket {
        cell,
        size: shared.config.io.max_write() as u64,
        mountpoint: shared.config.mountpoint.clone(),
    });
    let text = |f: fn(&EndpointStatus) -> String| {
        let socket = socket.clone();
        TextFile::generated(move || f(&socket.status()).into_bytes())
    };
    let files = vec![
        ("ctl", Node::File(Arc::new(Ctl(socket.clone()))), 0o666),
        ("data", Node::File(Arc::new(Data(socket.clone()))), 0o666),
        (
            "accept",
            Node::File(Arc::new(Accept(socket.clone()))),
            0o666,
        ),
        ("status", text(describe), 0o444),
        ("local", text(|s| line(&s.local)), 0o444),
        ("remote", text(|s| line(&s.remote)), 0o444),
        ("err", text(|s| line(&s.error)), 0o444),
    ];
    let made = MadeDir {
        object: socket.clone(),
        files,
    };
    (made, socket)
}

/// Makes the connections a listener accepts endpoints of their own, next
/// to it, owned by the reader of `accept`.
struct Adoption<R: Replies> {
    shared: Arc<Shared<R>>,
    tree: Weak<Mutex<Tree<Node<R>>>>,
    parent: Ino,
    perm: u16,
    base: String,
    next: AtomicU64,
}

impl<R: Replies> Adoption<R> {
    /// Runs outside every object's lock (the cell's deliver, or the
    /// accept file's read), so it may take the tree's.
    fn adopt(&self, accepted: Accepted) -> Result<Vec<u8>> {
        let tree = self.tree.upgrade().ok_or(Error::ShuttingDown)?;
        let Accepted {
            fd,
            kind,
            uid,
            gid,
            autoclose,
            ..
        } = accepted;
        let mut tree = lock(&tree);
        // The next number whose name is free.
        let name = loop {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let name = format!("{}.{n}", self.base);
            if tree.child(self.parent, name.as_bytes()).is_none() {
                break name;
            }
        };
        // A connection accepted is an object of the accepting user's, as
        // a descriptor accept(2) makes is theirs: past their limit, the
        // accept fails with EMFILE.
        let account = self.shared.budget.object_account(uid, name.len())?;
        let context = DirContext {
            shared: &self.shared,
            tree: self.tree.clone(),
            parent: self.parent,
            name: name.as_bytes(),
            perm: self.perm,
            account: account.clone(),
        };
        let (made, socket) = endpoint_dir(&context, name.clone(), |watch| {
            Endpoint::accepted(fd, kind, (uid, gid), autoclose, watch)
        });
        let owner = (uid, gid);
        let ino = insert_object_dir(
            &mut tree,
            self.parent,
            name.as_bytes(),
            owner,
            self.perm,
            made,
        )?;
        if let Some(e) = tree.get_mut(ino) {
            e.charge = Some(account);
        }
        if autoclose {
            // Closed with its last descriptor: its name goes with it (its
            // socket's registration went with the call that closed it).
            let tree = self.tree.clone();
            socket.cell.set_on_closed(Box::new(move || {
                if let Some(tree) = tree.upgrade() {
                    lock(&tree).unlink_object_dir(ino);
                }
            }));
        }
        log::debug!("accepted connection {name} for uid {uid}");
        Ok(format!("{name}\n").into_bytes())
    }
}

fn line(value: &Option<String>) -> String {
    value
        .as_ref()
        .map_or_else(String::new, |v| format!("{v}\n"))
}

/// The `status` file: one `key: value` line each.
fn describe(s: &EndpointStatus) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let shut = match (s.read_shut, s.write_shut) {
        (true, true) => "rdwr",
        (true, false) => "rd",
        (false, true) => "wr",
        (false, false) => "-",
    };
    let options: Vec<&str> = s.options.iter().map(|o| o.name()).collect();
    let options = if options.is_empty() {
        "-".to_string()
    } else {
        options.join(" ")
    };
    format!(
        "state: {}\nkind: {}\nlocal: {}\nremote: {}\nshutdown: {shut}\n\
         bytes_in: {}\nbytes_out: {}\nblocked: {}\nerror: {}\noptions: {options}\n",
        s.state_name(),
        s.kind.map_or("-", |k| k.name()),
        dash(&s.local),
        dash(&s.remote),
        s.bytes_in,
        s.bytes_out,
        s.blocked,
        dash(&s.error),
    )
}

/// The line reading `ctl` gives: state, kind, local and remote address.
fn ctl_line(s: &EndpointStatus) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    format!(
        "{} {} {} {}\n",
        s.state_name(),
        s.kind.map_or("-", |k| k.name()),
        dash(&s.local),
        dash(&s.remote)
    )
}

impl<R: Replies> DirObject for Socket<R> {
    fn close(&self) {
        self.cell.update(|ep, wk| ep.close(wk));
    }

    fn status(&self, row: StatusRow) -> StatusRow {
        let s = self.status();
        // Only datagrams go through the channel.
        let channel = if s.kind.is_some_and(|k| k.is_stream()) {
            None
        } else {
            let ep = self.cell.lock();
            status_column(ep.faults(), ep.channel_counters())
        };
        StatusRow {
            kind: "socket",
            bytes: Some((s.bytes_in + s.bytes_out) as usize),
            blocked: Some(s.blocked),
            channel,
            ..row
        }
    }

    fn shut_down(&self) {
        self.cell.shut_down();
    }
}

/// `ctl`: commands in, one status line out.
struct Ctl<R: Replies>(Arc<Socket<R>>);

impl<R: Replies> FileKind<R> for Ctl<R> {
    fn size(&self) -> u64 {
        self.0.size
    }

    /// An open for writing takes its opener's identity now, as the kernel
    /// takes a file's credentials at open: its commands act with the
    /// opener's rights, whoever writes them (a set-user-ID program handed
    /// the descriptor acts with its opener's, never its own).
    fn open(&self, shared: &Arc<Shared<R>>, call: &Call, parked: ParkedOpen<R>, flags: i32) {
        let socket = &self.0;
        let deputy = (flags & libc::O_ACCMODE != libc::O_RDONLY).then(|| {
            let opener = Identity::of(&call.caller, Facets::SOCKETS).map(Arc::new);
            CallerDeputy::for_opener(opener, &socket.cell, &socket.mountpoint)
        });
        let file = Arc::new(CtlFile {
            socket: socket.clone(),
            deputy,
            given: Mutex::new(None),
        });
        shared.answer_open(parked, file, OpenStyle::Stream);
    }

    fn truncate(&self, size: u64) -> Result<()> {
        truncate_stream(size)
    }
}

/// One open of `ctl`: the status line it is reading, if any.
struct CtlFile<R: Replies> {
    socket: Arc<Socket<R>>,
    /// Acts for the opener (an open for writing).
    deputy: Option<Arc<dyn Deputy>>,
    /// The line being read and how much of it was read.
    given: Mutex<Option<(Vec<u8>, usize)>>,
}

impl<R: Replies> OpenFile<R> for CtlFile<R> {
    /// One status line, then end of file; the read after that gives a
    /// fresh line.
    fn read(&self, _call: &Call, reply: R::Read, _offset: u64, size: usize, _nonblock: bool) {
        let mut given = crate::locks::lock(&self.given);
        let (text, at) =
            given.get_or_insert_with(|| (ctl_line(&self.socket.status()).into_bytes(), 0));
        let piece = slice_at(text, *at as u64, size).to_vec();
        *at += piece.len();
        if piece.is_empty() {
            *given = None;
        }
        R::data(reply, Ok(&piece));
    }

    fn write(&self, call: &Call, reply: R::Write, _offset: u64, data: &[u8], _nonblock: bool) {
        // A command's bytes are not held while it waits: no one to charge.
        let waiter = WriteReply {
            reply,
            tid: call.caller.pid,
            payer: None,
        };
        let cell = &self.socket.cell;
        let Some(deputy) = &self.deputy else {
            return R::written(waiter.reply, Err(Error::BadHandle));
        };
        if let Some((w, done)) = cell.run(call, data, |ep, wk| {
            ep.command(call.id, waiter, data, deputy, wk)
        }) {
            finish_write::<R>(w, done);
        }
    }
}

/// `data`: the connection's bytes both ways.
struct Data<R: Replies>(Arc<Socket<R>>);

impl<R: Replies> FileKind<R> for Data<R> {
    fn size(&self) -> u64 {
        self.0.size
    }

    fn open(&self, _shared: &Arc<Shared<R>>, call: &Call, parked: ParkedOpen<R>, flags: i32) {
        self.0.cell.open_with_flags(call, parked, flags);
    }

    fn truncate(&self, size: u64) -> Result<()> {
        truncate_stream(size)
    }

    fn attribute_names(&self) -> AttributeNames {
        DATA_ATTRIBUTES
    }

    fn attribute(&self, field: &str) -> Result<String> {
        let ep = self.0.cell.lock();
        match (ep.faults().get(field), ep.channel_counters().get(field)) {
            (Some(setting), _) => Ok(setting),
            (_, Some(count)) => Ok(count.to_string()),
            _ => Err(Error::NoAttribute),
        }
    }

    fn set_attribute(&self, field: &str, value: &str) -> Result<()> {
        if !Faults::SETTINGS.contains(&field) {
            return Err(Error::NotSupported);
        }
        self.0.cell.update(|ep, _| ep.set_fault(field, value))
    }
}

/// The attributes of an endpoint's `data` file: the channel its datagrams
/// go out through (labs, channel.rs), and what it did.
pub const DATA_ATTRIBUTES: AttributeNames = AttributeNames {
    settings: &Faults::SETTINGS,
    counters: &ChannelCounters::NAMES,
};

/// `accept`: a connection per name read, on a listening endpoint.
struct Accept<R: Replies>(Arc<Socket<R>>);

impl<R: Replies> FileKind<R> for Accept<R> {
    fn size(&self) -> u64 {
        self.0.size
    }

    fn open(&self, shared: &Arc<Shared<R>>, call: &Call, parked: ParkedOpen<R>, _flags: i32) {
        let end = self.0.cell.update(|ep, _| ep.open_accept());
        let file = Arc::new(AcceptFile {
            socket: self.0.clone(),
            end,
            owner: (call.caller.uid, call.caller.gid),
        });
        shared.answer_open(parked, file, OpenStyle::Stream);
    }

    fn truncate(&self, size: u64) -> Result<()> {
        truncate_stream(size)
    }
}

/// One open of `accept`.
struct AcceptFile<R: Replies> {
    socket: Arc<Socket<R>>,
    /// Its key in the endpoint (which remembers a name was given).
    end: u64,
    /// Who opened it: the connections it accepts are theirs.
    owner: (u32, u32),
}

impl<R: Replies> OpenFile<R> for AcceptFile<R> {
    fn read(&self, call: &Call, reply: R::Read, offset: u64, _size: usize, nonblock: bool) {
        let owner = self.owner;
        let cell = &self.socket.cell;
        let nonblock = nonblock || offset > 0;
        let step = cell.run(call, &[], |ep, wk| {
            ep.accept(call.id, reply, self.end, owner, nonblock, wk)
        });
        match step {
            None => {}
            Some((reply, Ok(Some(accepted)))) => {
                R::data(reply, cell.adopt(accepted).as_deref().map_err(|&e| e))
            }
            Some((reply, Ok(None))) => R::data(reply, Ok(&[])),
            Some((reply, Err(e))) => R::data(reply, Err(e)),
        }
    }

    fn write(&self, _call: &Call, reply: R::Write, _offset: u64, _data: &[u8], _nonblock: bool) {
        R::written(reply, Err(Error::InvalidArgument));
    }

    fn poll(&self, notify: Option<(u64, R::Poll)>) -> u32 {
        self.socket.cell.lock().poll_accept(notify)
    }

    fn release(&self) {
        self.socket.cell.update(|ep, _| ep.release_accept(self.end));
    }
}

/// Acts for the opener of a `ctl` file or a dial file: its identity, read
/// from its thread at the open, worn by the thread that makes a system
/// call for it, here or on a deputy (caller::as_caller, caller::deputy).
pub(crate) struct CallerDeputy<R: Replies> {
    /// The opener's identity, or why it could not be read (then every
    /// command that acts fails with that).
    identity: Result<Arc<Identity>>,
    cell: Weak<EndpointCell<R>>,
    mountpoint: PathBuf,
}

impl<R: Replies> CallerDeputy<R> {
    /// The deputy of `opener` for the endpoint in `cell`.
    pub(crate) fn for_opener(
        opener: Result<Arc<Identity>>,
        cell: &Arc<EndpointCell<R>>,
        mountpoint: &Path,
    ) -> Arc<dyn Deputy> {
        Arc::new(CallerDeputy {
            identity: opener,
            cell: Arc::downgrade(cell),
            mountpoint: mountpoint.to_path_buf(),
        })
    }

    fn identity(&self) -> Result<Arc<Identity>> {
        self.identity.clone()
    }
}

impl<R: Replies> Deputy for CallerDeputy<R> {
    fn act(&self, call: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        as_caller(&*self.identity()?, call)?
    }

    fn send(&self, seq: u64, errand: Errand) -> Result<()> {
        let who = self.identity()?;
        let cell = self.cell.clone();
        let mountpoint = self.mountpoint.clone();
        deputy::spawn(who.uid.real, move || {
            let outcome = as_caller(&who, || errand.run(&mountpoint))
                .unwrap_or_else(|e| Outcome::failed(e, "cannot act as the caller"));
            if let Some(cell) = cell.upgrade() {
                cell.update(|ep, wk| ep.errand_done(seq, outcome, wk));
            }
        })
    }

    fn credentials(&self) -> Option<Credentials> {
        let who = self.identity().ok()?;
        Credentials::of_user(who.uid.real, who.gid.real)
    }
}
