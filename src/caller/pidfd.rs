//! Pidfds: a process or thread held so that its id can never be reused
//! under us, and what the kernel says of it through the pidfd itself.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};

/// A process (or one thread) held by a pidfd: a signal sent through it can
/// never reach another process that later got the same id.
pub struct Pidfd {
    fd: OwnedFd,
    pub pid: u32,
}

/// `pidfd_open`'s flag for a pidfd of one thread (Linux 6.9).
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;

/// `PIDFD_GET_INFO` (Linux 6.13): `_IOWR(0xFF, 11, struct pidfd_info)`
/// with the first version of that struct, 64 bytes.
const PIDFD_GET_INFO: libc::c_ulong = (3 << 30) | (64 << 16) | (0xFF << 8) | 11;
const PIDFD_INFO_CREDS: u64 = 1 << 1;

/// The kernel's `struct pidfd_info`, first version.
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
}

/// A process's or thread's ids as its pidfd tells them: real, effective
/// and saved, each as `[real, effective, saved]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidfdIds {
    pub tgid: u32,
    pub uid: [u32; 3],
    pub gid: [u32; 3],
}

impl Pidfd {
    /// A process (a thread group's leader).
    pub fn open(pid: u32) -> Result<Pidfd> {
        Self::open_with(pid, 0)
    }

    /// One thread, any thread of a process; for reading its ids, which
    /// are per thread.
    pub fn open_thread(tid: u32) -> Result<Pidfd> {
        Self::open_with(tid, PIDFD_THREAD)
    }

    fn open_with(pid: u32, flags: libc::c_uint) -> Result<Pidfd> {
        if pid == 0 || pid > i32::MAX as u32 {
            return Err(Error::NoProcess);
        }
        // SAFETY: pidfd_open takes plain integers and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, flags) };
        if fd < 0 {
            return Err(match std::io::Error::last_os_error().raw_os_error() {
                // A thread's id, where a process was asked for.
                Some(libc::EINVAL) => Error::NotFound,
                // The daemon is out of descriptors: said as such, not as
                // a process that is gone.
                Some(libc::EMFILE | libc::ENFILE) => {
                    log::warn!("no descriptor left for a pidfd");
                    Error::TooManyObjects
                }
                _ => Error::NoProcess,
            });
        }
        // SAFETY: the syscall returned a fresh descriptor we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(Pidfd { fd, pid })
    }

    /// The ids of the process or thread held, read through the pidfd
    /// itself; `None` if the kernel is older than 6.13 or it is gone.
    pub fn ids(&self) -> Option<PidfdIds> {
        let mut info = PidfdInfo {
            mask: PIDFD_INFO_CREDS,
            ..PidfdInfo::default()
        };
        // SAFETY: `info` is a writable struct of the size the request names.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                PIDFD_GET_INFO as _,
                &mut info as *mut PidfdInfo,
            )
        };
        if rc != 0 || info.mask & PIDFD_INFO_CREDS == 0 {
            return None;
        }
        Some(PidfdIds {
            tgid: info.tgid,
            uid: [info.ruid, info.euid, info.suid],
            gid: [info.rgid, info.egid, info.sgid],
        })
    }

    /// Whether the process or thread held still runs: once it has exited
    /// its id may belong to another, and what `/proc` said under that id
    /// may not be about it.
    pub fn alive(&self) -> bool {
        // SAFETY: signal 0 with no siginfo only checks; no memory effects.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                0,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
}

impl AsRawFd for Pidfd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::proc;

    /// The kernel's release as (major, minor).
    fn kernel_version() -> (u32, u32) {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (major, minor)
    }

    #[test]
    fn a_pidfd_tells_the_ids_of_a_thread_and_of_a_process() {
        let me = proc::status(std::process::id()).unwrap();
        // This thread: the harness's test thread (not the process's first,
        // whose pidfd would need no PIDFD_THREAD), or the first when tests
        // run one at a time.
        // SAFETY: gettid has no memory effects.
        let here = unsafe { libc::gettid() } as u32;
        let thread = Pidfd::open_thread(here).unwrap();
        let process = Pidfd::open(std::process::id()).unwrap();
        assert!(thread.alive() && process.alive());
        if kernel_version() < (6, 13) {
            eprintln!("skipped: PIDFD_GET_INFO came in Linux 6.13");
            return;
        }
        let expected = PidfdIds {
            tgid: me.tgid,
            uid: me.uid,
            gid: me.gid,
        };
        assert_eq!(thread.ids(), Some(expected));
        assert_eq!(process.ids(), Some(expected));
    }

    #[test]
    fn a_thread_that_ended_is_not_alive() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            // SAFETY: gettid has no memory effects.
            tx.send(unsafe { libc::gettid() } as u32).unwrap();
        });
        let tid = rx.recv().unwrap();
        let held = Pidfd::open_thread(tid);
        t.join().unwrap();
        // Opened before it ended, or too late to open: either way not
        // alive once the kernel has finished its exit. A join returns
        // when the thread clears its tid, a little before that; until
        // then the id is not free either, so no other thread can hold it.
        if let Ok(held) = held {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while held.alive() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            assert!(!held.alive());
        }
        assert_eq!(Pidfd::open(0).err(), Some(Error::NoProcess));
    }
}
