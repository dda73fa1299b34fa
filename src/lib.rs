//! ipcfs: a FUSE filesystem whose files are IPC objects.
//!
//! Layers: the IPC core ([`ipc`], [`wait`], [`memory`]) knows nothing of
//! FUSE; the adapter ([`fuse`]) decodes requests, calls the core and replies
//! or parks; [`interrupt`] notices signalled callers; [`run`] is the daemon.

pub mod cli;
pub mod config;
pub mod error;
pub mod fuse;
pub mod interrupt;
pub mod ipc;
pub mod limits;
pub mod memory;
pub mod mount;
pub mod mountpoint;
pub mod run;
pub mod wait;
