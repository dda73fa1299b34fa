//! ipcfs: a FUSE filesystem whose files are IPC objects.
//!
//! Layers: the IPC core ([`ipc`], [`wait`], [`memory`]) knows nothing of
//! FUSE; the fs layer ([`fs`]) is the filesystem's operations in plain
//! types — the tree of nodes, one module per object kind, parked replies
//! of any adapter; the adapter ([`fuse`]) decodes requests, calls the fs
//! layer and replies; [`interrupt`] notices signalled callers; [`run`] is
//! the daemon. ARCHITECTURE.md draws the map.

pub mod caller;
pub mod cli;
pub mod config;
pub mod descriptors;
pub mod error;
pub mod fs;
pub mod fuse;
pub mod interrupt;
pub mod ipc;
pub mod limits;
pub mod locks;
pub mod logging;
pub mod memory;
pub mod mount;
pub mod mountpoint;
pub mod reactor;
pub mod remote;
pub mod run;
pub mod wait;
