//! Socket endpoints in the fs layer: the directory and its files, a
//! connect and reads answered from the reactor's thread, and close.

use std::time::Duration;

use super::*;

#[test]
fn an_endpoint_is_a_directory_of_files_and_rmdir_closes_it() {
    let fs = fs();
    let sockets = dir(&fs, "sockets");
    let e = fs.mkdir(&me(), sockets, b"e", 0o700).unwrap();
    assert_eq!(e.file_type, FileType::Directory);
    assert_eq!(e.meta.perm, 0o700);
    assert_eq!(
        fs.mkdir(&me(), sockets, b"e", 0o700),
        Err(Error::Exists),
        "a name is one endpoint"
    );
    let files: Vec<String> = names(&fs, e.ino).into_iter().skip(2).map(|n| n.0).collect();
    assert_eq!(
        files,
        ["ctl", "data", "accept", "status", "local", "remote", "err"]
    );
    let ctl = fs.lookup(&me(), e.ino, b"ctl").unwrap().attr;
    assert_eq!(ctl.meta.perm, 0o600, "a private endpoint has private files");
    let status = fs.lookup(&me(), e.ino, b"status").unwrap().attr;
    assert_eq!(status.meta.perm, 0o400);

    // A connect goes through the reactor: its answer comes from there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ctl_open = opened(open(&fs, ctl.ino, libc::O_RDWR));
    let (tx, rx) = reply();
    let command = format!("connect tcp 127.0.0.1:{port}\n");
    fs.write(&call(), ctl_open.fh, 0, command.as_bytes(), false, tx);
    let answer = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the connect's answer");
    assert_eq!(answer, Answer::Written(Ok(command.len())));
    let (mut peer, _) = listener.accept().unwrap();
    let line = read(&fs, ctl_open.fh, 4096);
    let Some(Answer::Data(Ok(line))) = line else {
        panic!("no status line");
    };
    assert!(line.starts_with(b"connected tcp 127.0.0.1:"), "{line:?}");
    let data = fs.lookup(&me(), e.ino, b"data").unwrap().attr;
    let d = opened(open(&fs, data.ino, libc::O_RDWR));
    assert_eq!(write(&fs, d.fh, b"ping"), Some(Answer::Written(Ok(4))));
    let mut got = [0u8; 4];
    std::io::Read::read_exact(&mut peer, &mut got).unwrap();
    assert_eq!(&got, b"ping");

    // A read with nothing to read parks; the peer's bytes answer it.
    let (tx, rx) = reply();
    fs.read(&call(), d.fh, at(0, 64), tx);
    assert_eq!(now(&rx), None);
    std::io::Write::write_all(&mut peer, b"pong").unwrap();
    let answer = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the read's answer");
    assert_eq!(answer, Answer::Data(Ok(b"pong".to_vec())));

    let rows = status_text(&fs);
    assert!(
        rows.lines().any(|l| l.starts_with("socket sockets/e")),
        "{rows}"
    );

    // rmdir is close(): a parked read sees the end, the peer sees EOF.
    let (tx, rx) = reply();
    fs.read(&call(), d.fh, at(0, 64), tx);
    assert_eq!(now(&rx), None);
    assert_eq!(
        fs.rmdir(&other_user(), sockets, b"e"),
        Err(Error::NotPermitted)
    );
    fs.rmdir(&me(), sockets, b"e").unwrap();
    assert_eq!(now(&rx), Some(Answer::Data(Ok(Vec::new()))));
    assert_eq!(std::io::Read::read(&mut peer, &mut got).unwrap(), 0);
    assert_eq!(
        fs.lookup(&me(), sockets, b"e").unwrap_err(),
        Error::NotFound
    );
    assert_eq!(
        write(&fs, d.fh, b"x").map(|a| matches!(a, Answer::Written(Err(Error::BrokenPipe)))),
        Some(true)
    );
}

#[test]
fn rm_r_of_an_endpoint_removes_its_files_then_closes_it() {
    let fs = fs();
    let sockets = dir(&fs, "sockets");
    let e = fs.mkdir(&me(), sockets, b"e", 0o755).unwrap().ino;
    for f in ["ctl", "data", "accept", "status", "local", "remote", "err"] {
        fs.unlink(&me(), e, f.as_bytes()).unwrap();
    }
    assert_eq!(names(&fs, e).len(), 2);
    fs.rmdir(&me(), sockets, b"e").unwrap();
    assert!(names(&fs, sockets).len() == 2);
}

#[test]
fn dial_files_are_found_for_any_host_and_port_and_never_listed() {
    let fs = fs();
    let sockets = dir(&fs, "sockets");
    let tcp = fs.lookup(&me(), sockets, b"tcp").unwrap();
    assert_eq!(tcp.attr.file_type, FileType::Directory);
    assert!(!tcp.cacheable, "synthesized on each lookup");
    let host = fs.lookup(&me(), tcp.attr.ino, b"example.org").unwrap().attr;
    let file = fs.lookup(&me(), host.ino, b"80").unwrap().attr;
    assert_eq!(file.file_type, FileType::Regular);
    assert_eq!(file.meta.perm, 0o666);
    for bad in [&b"0"[..], b"65536", b"http"] {
        assert_eq!(
            fs.lookup(&me(), host.ino, bad).unwrap_err(),
            Error::NotFound
        );
    }
    assert_eq!(
        fs.lookup(&me(), sockets, b"sctp").unwrap_err(),
        Error::NotFound
    );
    assert_eq!(names(&fs, sockets).len(), 2, "only . and ..");
    assert_eq!(names(&fs, tcp.attr.ino).len(), 2);
    assert_eq!(fs.mkdir(&me(), sockets, b"udp", 0o755), Err(Error::Exists));
    assert_eq!(
        fs.mknod(&me(), sockets, b"tcp", 0o644, FileType::Regular),
        Err(Error::Exists)
    );
    // A refused connect fails the open, through the reactor or at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let local = fs.lookup(&me(), tcp.attr.ino, b"127.0.0.1").unwrap().attr;
    let closed = fs
        .lookup(&me(), local.ino, port.to_string().as_bytes())
        .unwrap()
        .attr;
    let (tx, rx) = reply();
    fs.open(&call(), closed.ino, libc::O_RDWR, tx);
    let answer = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the open's answer");
    assert_eq!(answer, Answer::Opened(Err(Error::ConnectionRefused)));
}
