//! Mounting and unmounting.
//!
//! As root, ipcfs opens `/dev/fuse` and calls mount(2) itself, with the
//! type `fuse.ipcfs` (so that `/proc/mounts`, findmnt and fstab see what
//! it is) and no need for fusermount3. Other users go through fuser, which
//! runs fusermount3.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use fuser::{MountOption, SessionACL};
use nix::mount::{MntFlags, MsFlags};

use crate::config::Config;
use crate::mountpoint::DEV_FUSE;

/// The type ipcfs mounts as, `fuse.` and its subtype.
pub const FS_TYPE: &str = "fuse.ipcfs";

/// How fuser should run the session: who may call in, how many threads.
pub fn session_config(config: &Config, dispatch_threads: usize) -> fuser::Config {
    let mut c = fuser::Config::default();
    c.mount_options = vec![
        MountOption::FSName(config.fsname.clone()),
        MountOption::Subtype("ipcfs".into()),
    ];
    if config.default_permissions {
        c.mount_options.push(MountOption::DefaultPermissions);
    }
    c.acl = if config.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    c.n_threads = Some(dispatch_threads);
    c.clone_fd = true;
    c
}

/// A mount made with mount(2) by this process.
pub struct KernelMount {
    path: PathBuf,
}

/// Opens `/dev/fuse` and mounts it on `mountpoint` as `fuse.ipcfs`.
/// Returns the device descriptor for the session, and the mount.
pub fn mount_as_root(mountpoint: &Path, config: &Config) -> io::Result<(OwnedFd, KernelMount)> {
    let device: OwnedFd = OpenOptions::new()
        .read(true)
        .write(true)
        .open(DEV_FUSE)?
        .into();
    let mut data = format!(
        "fd={},rootmode=40755,user_id={},group_id={}",
        device.as_raw_fd(),
        nix::unistd::getuid(),
        nix::unistd::getgid()
    );
    if config.allow_other {
        data.push_str(",allow_other");
    }
    if config.default_permissions {
        data.push_str(",default_permissions");
    }
    let source = CString::new(config.fsname.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "fsname has a NUL byte"))?;
    let target = CString::new(mountpoint.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mountpoint has a NUL byte"))?;
    nix::mount::mount(
        Some(source.as_c_str()),
        target.as_c_str(),
        Some(FS_TYPE),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(data.as_str()),
    )?;
    Ok((
        device,
        KernelMount {
            path: mountpoint.to_path_buf(),
        },
    ))
}

impl KernelMount {
    /// Unmounts; if the mount is busy (a process sits in it or holds a
    /// file open), detaches it lazily so that the mountpoint is free at
    /// once. Nothing to do if it was unmounted from outside already.
    pub fn unmount(&self) {
        match std::fs::read_to_string("/proc/self/mountinfo") {
            // Unmounted from outside already (and maybe mounted over since).
            Ok(_) if crate::mountpoint::mounted_at(&self.path).as_deref() != Some(FS_TYPE) => {
                return;
            }
            // Unreadable (no descriptor left, say): try anyway.
            _ => {}
        }
        match nix::mount::umount2(&self.path, MntFlags::empty()) {
            Ok(()) => {}
            Err(nix::errno::Errno::EBUSY) => {
                log::debug!("{} is busy: detaching lazily", self.path.display());
                if let Err(e) = nix::mount::umount2(&self.path, MntFlags::MNT_DETACH) {
                    log::warn!("cannot detach {}: {e}", self.path.display());
                }
            }
            Err(nix::errno::Errno::EINVAL) => {} // not mounted any more
            Err(e) => log::warn!("cannot unmount {}: {e}", self.path.display()),
        }
    }
}
