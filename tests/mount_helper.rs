//! `mount -t fuse.ipcfs` through mount(8), with ipcfs installed as the
//! helper `mount.fuse.ipcfs`, and `umount` to end it.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{BIN, TempDir, assert_ok, eventually, is_mounted, stdout};

/// Installs the built binary as /sbin/mount.fuse.ipcfs for the test's
/// duration (where mount(8) looks for helpers), and removes it after.
struct HelperLink(&'static Path);

impl HelperLink {
    fn install() -> HelperLink {
        let link = Path::new("/sbin/mount.fuse.ipcfs");
        if let Ok(target) = std::fs::read_link(link) {
            assert_eq!(
                target,
                Path::new(BIN),
                "another mount.fuse.ipcfs is installed"
            );
            std::fs::remove_file(link).unwrap();
        }
        assert!(
            !link.exists(),
            "a mount.fuse.ipcfs that is not ours is installed"
        );
        std::os::unix::fs::symlink(BIN, link).unwrap();
        HelperLink(link)
    }
}

impl Drop for HelperLink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

fn mount_type(dir: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f.get(4) == dir.to_str().as_ref()).then(|| {
            let dash = f.iter().position(|x| *x == "-").unwrap();
            f[dash + 1].to_string()
        })
    })
}

#[test]
fn mount_t_fuse_ipcfs_mounts_and_umount_ends_the_daemon() {
    if let Some(reason) = common::mount_unavailable() {
        eprintln!("skipping: {reason}");
        return;
    }
    let _link = HelperLink::install();
    let tmp = TempDir::new("helper");
    let dir = tmp.0.join("ipc");
    std::fs::create_dir(&dir).unwrap();
    let out = Command::new("timeout")
        .args(["-s", "KILL", "30", "mount", "-t", "fuse.ipcfs", "ipcfs"])
        .arg(&dir)
        .args(["-o", "allow_other,pipe_capacity=8K"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(is_mounted(&dir));
    assert_eq!(mount_type(&dir).as_deref(), Some("fuse.ipcfs"));
    // The daemon serves, with the options mount passed along.
    let run = |script: &str| {
        Command::new("timeout")
            .args(["-s", "KILL", "30", "sh", "-c", script])
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let out = run(
        "touch queues/q; echo hello > queues/q; cat queues/q; touch pipes/p; \
         python3 -c \"import os; print(os.getxattr('pipes/p', 'user.ipcfs.capacity').decode())\"",
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "hello\n8192\n");
    let daemon = || {
        let pattern = format!("mount.fuse.ipcfs ipcfs {}", dir.display());
        let out = Command::new("pgrep")
            .args(["-f", &pattern])
            .output()
            .unwrap();
        stdout(&out).trim().to_string()
    };
    assert!(!daemon().is_empty(), "the daemon runs in the background");
    let out = Command::new("umount").arg(&dir).output().unwrap();
    assert_ok(&out);
    assert!(!is_mounted(&dir));
    // The daemon exits once unmounted.
    assert!(eventually(Duration::from_secs(5), || daemon().is_empty()));
    // A failing mount reports through mount(8) with the helper's message.
    let out = Command::new("mount")
        .args(["-t", "fuse.ipcfs", "ipcfs"])
        .arg(tmp.0.join("missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such directory"),
        "{out:?}"
    );
}
