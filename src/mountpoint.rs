//! Checks made before mounting, each failing with one clear line: a
//! missing or non-directory mountpoint, a mount already there, a stale
//! mount left by a crashed daemon, no `/dev/fuse`.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

pub const DEV_FUSE: &str = "/dev/fuse";

/// Validates `path` as a mountpoint and returns it canonicalized. With
/// `force`, a stale mount found there is detached first.
pub fn prepare(path: &Path, force: bool) -> Result<PathBuf, String> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(format!("{shown}: not a directory")),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(format!("{shown}: no such directory (create it with mkdir)"));
        }
        // A FUSE mount whose daemon died: ENOTCONN, or ECONNABORTED when
        // it served over io_uring (the kernel aborts its connection).
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTCONN | libc::ECONNABORTED)) => {
            if !force {
                return Err(format!(
                    "{shown}: stale mount left by a crashed daemon ({e}); clear it with \
                     'umount -l {shown}' or run again with --force"
                ));
            }
            nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH)
                .map_err(|e| format!("{shown}: cannot clear the stale mount: {e}"))?;
            log::warn!("cleared a stale mount at {shown}");
            return prepare(path, false);
        }
        Err(e) => return Err(format!("{shown}: {e}")),
    }
    let canonical = path.canonicalize().map_err(|e| format!("{shown}: {e}"))?;
    if let Some(fstype) = mounted_at(&canonical) {
        return Err(format!(
            "{shown}: already mounted ({fstype}); unmount it first with 'umount {shown}'"
        ));
    }
    if !Path::new(DEV_FUSE).exists() {
        return Err(format!(
            "{DEV_FUSE} not found: this system has no FUSE (load it with 'modprobe fuse')"
        ));
    }
    Ok(canonical)
}

/// The filesystem type mounted exactly at `path`, if any, from
/// `/proc/self/mountinfo`.
pub fn mounted_at(path: &Path) -> Option<String> {
    top_mount(path).map(|(_, fstype)| fstype)
}

/// The mount on top at `path`: its mount ID and filesystem type.
fn top_mount(path: &Path) -> Option<(u64, String)> {
    let info = std::fs::read_to_string(MOUNT_TABLE).ok()?;
    let wanted = path.to_str()?;
    info.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let mount_point = unescape(fields.get(4)?);
        if mount_point != wanted {
            return None;
        }
        let dash = fields.iter().position(|f| *f == "-")?;
        Some((
            fields.first()?.parse().ok()?,
            fields.get(dash + 1)?.to_string(),
        ))
    })
}

const MOUNT_TABLE: &str = "/proc/self/mountinfo";

/// Watches the mount table for the end of one mount. An unmount from
/// outside (`umount -l` while files are open, above all) ends no FUSE
/// session: the kernel keeps the connection while open files hold the
/// superblock and tells the daemon nothing. The mount table does: it
/// reports `POLLPRI` on every change, and then the mount's ID is looked
/// for.
pub struct MountWatch {
    table: std::fs::File,
    id: u64,
}

impl MountWatch {
    /// Watches the mount now on top at `mountpoint`; `None` if there is
    /// none or the table cannot be read.
    pub fn new(mountpoint: &Path) -> Option<MountWatch> {
        let table = std::fs::File::open(MOUNT_TABLE).ok()?;
        let (id, _) = top_mount(mountpoint)?;
        Some(MountWatch { table, id })
    }

    /// Whether the mount is gone. Cheap while the table has not changed
    /// (one poll of its descriptor).
    pub fn gone(&self) -> bool {
        use std::os::fd::AsFd;
        let mut fds = [nix::poll::PollFd::new(
            self.table.as_fd(),
            nix::poll::PollFlags::POLLPRI,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO) {
            Ok(n) if n > 0 => {}
            _ => return false,
        }
        let Ok(info) = std::fs::read_to_string(MOUNT_TABLE) else {
            return false;
        };
        let id = self.id.to_string();
        !info
            .lines()
            .any(|line| line.split(' ').next() == Some(id.as_str()))
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            if let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_fields() {
        assert_eq!(unescape("/tmp/a\\040b"), "/tmp/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn root_is_mounted_and_a_fresh_dir_is_not() {
        assert!(mounted_at(Path::new("/")).is_some());
        let dir = std::env::temp_dir();
        let err = prepare(&dir.join("ipcfs-no-such-dir"), false).unwrap_err();
        assert!(err.contains("no such directory"), "{err}");
    }

    #[test]
    fn the_root_mount_is_watched_and_stays() {
        let watch = MountWatch::new(Path::new("/")).expect("/ is a mount");
        assert!(!watch.gone());
        assert!(MountWatch::new(&std::env::temp_dir().join("ipcfs-no-such-dir")).is_none());
    }

    #[test]
    fn a_file_is_not_a_mountpoint() {
        let err = prepare(Path::new("/proc/self/status"), false).unwrap_err();
        assert!(err.ends_with("not a directory"), "{err}");
    }
}
