//! Thin libc wrappers shared by parent and children: the clock, C strings,
//! mounts, xattrs, mknod/mkfifo and POSIX message queues.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process.
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub(crate) fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn cstring(s: &[u8]) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{:?} has a NUL byte", String::from_utf8_lossy(s)))
}

fn cpath(p: &Path) -> Result<CString, String> {
    cstring(p.as_os_str().as_bytes())
}

/// The CPUs this process may run on.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            return (0..libc::CPU_SETSIZE as usize)
                .filter(|c| libc::CPU_ISSET(*c, &set))
                .collect();
        }
    }
    vec![0]
}

/// The CPU that pinned rows put every process of their workload on: the
/// first this process may use.
pub(crate) fn pinned_cpu() -> String {
    allowed_cpus().first().copied().unwrap_or(0).to_string()
}

pub(crate) fn is_mounted(dir: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let wanted = dir.as_os_str().as_bytes();
    info.lines()
        .any(|l| l.split(' ').nth(4).map(str::as_bytes) == Some(wanted))
}

/// Mountpoints at or below `dir`.
pub(crate) fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(dir))
        .map(str::to_string)
        .collect()
}

pub(crate) fn getxattr_number(path: &Path, name: &str) -> Option<u64> {
    let p = cpath(path).ok()?;
    let n = cstring(name.as_bytes()).ok()?;
    let mut buf = [0u8; 64];
    // SAFETY: both strings are NUL-terminated and the buffer is ours.
    let r = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return None;
    }
    std::str::from_utf8(&buf[..r as usize])
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub(crate) fn setxattr(path: &Path, name: &str, value: &str) -> Result<(), String> {
    let p = cpath(path)?;
    let n = cstring(name.as_bytes())?;
    // SAFETY: both strings are NUL-terminated; the value is a plain slice.
    let r = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        return Err(format!(
            "setxattr {name} on {}: {}",
            path.display(),
            errno()
        ));
    }
    Ok(())
}

/// Makes an ipcfs object (a pipe in pipes/, a queue in queues/) the way
/// mknod(1) would, without opening it.
pub(crate) fn make_object(path: &Path) -> Result<(), String> {
    let p = cpath(path)?;
    // SAFETY: a NUL-terminated path and plain integers.
    if unsafe { libc::mknod(p.as_ptr(), libc::S_IFREG | 0o644, 0) } != 0 {
        return Err(format!("mknod {}: {}", path.display(), errno()));
    }
    Ok(())
}

pub(crate) fn make_fifo(path: &Path) -> Result<(), String> {
    let p = cpath(path)?;
    // SAFETY: a NUL-terminated path and a mode.
    if unsafe { libc::mkfifo(p.as_ptr(), 0o600) } != 0 {
        return Err(format!("mkfifo {}: {}", path.display(), errno()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// POSIX message queues, through libc

pub(crate) fn mq_open(name: &str, flags: i32) -> Result<libc::mqd_t, String> {
    let n = cstring(name.as_bytes())?;
    // SAFETY: a NUL-terminated name; without O_CREAT no further argument.
    let q = unsafe { libc::mq_open(n.as_ptr(), flags | libc::O_CLOEXEC) };
    if q < 0 {
        return Err(format!("mq_open {name}: {}", errno()));
    }
    Ok(q)
}

/// Creates a queue (`O_EXCL`) and closes it.
pub(crate) fn mq_create(
    name: &str,
    max_messages: i64,
    message_size: i64,
) -> Result<(), std::io::Error> {
    let n = CString::new(name).map_err(std::io::Error::other)?;
    // SAFETY: mq_attr is plain data; zero is a valid start.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    attr.mq_maxmsg = max_messages as _;
    attr.mq_msgsize = message_size as _;
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC;
    // SAFETY: with O_CREAT, mq_open takes a mode and a valid attr pointer.
    let q = unsafe { libc::mq_open(n.as_ptr(), flags, 0o600 as libc::c_uint, &mut attr) };
    if q < 0 {
        return Err(errno());
    }
    // SAFETY: q is the descriptor just opened.
    unsafe { libc::mq_close(q) };
    Ok(())
}

pub(crate) fn mq_unlink(name: &str) -> bool {
    let Ok(n) = CString::new(name) else {
        return false;
    };
    // SAFETY: a NUL-terminated name.
    unsafe { libc::mq_unlink(n.as_ptr()) == 0 }
}

pub(crate) fn mq_send(q: libc::mqd_t, data: &[u8]) -> Result<(), String> {
    loop {
        // SAFETY: the slice is valid for its length.
        if unsafe { libc::mq_send(q, data.as_ptr().cast(), data.len(), 0) } == 0 {
            return Ok(());
        }
        let e = errno();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("mq_send: {e}"));
        }
    }
}

/// Receives one message into `buf` (at least the queue's message size).
pub(crate) fn mq_receive(q: libc::mqd_t, buf: &mut [u8]) -> Result<usize, String> {
    loop {
        let mut prio = 0;
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::mq_receive(q, buf.as_mut_ptr().cast(), buf.len(), &mut prio) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = errno();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("mq_receive: {e}"));
        }
    }
}
