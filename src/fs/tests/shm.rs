//! Shared-memory files in the fs layer: created open and seekable, sized
//! by truncate and charged to the memory cap, kept while open after
//! removal, and served through the page cache when the kernel cannot
//! pass them through (as here: the test replies register no backing).

use super::*;
use crate::fs::AttrChange;

fn read_at(fs: &TestFs, fh: u64, offset: u64, size: usize) -> Option<Answer> {
    let (tx, rx) = reply();
    fs.read(&call(), fh, at(offset, size), tx);
    now(&rx)
}

fn write_at(fs: &TestFs, fh: u64, offset: u64, data: &[u8]) -> Option<Answer> {
    let (tx, rx) = reply();
    fs.write(&call(), fh, offset, data, false, tx);
    now(&rx)
}

fn resize(fs: &TestFs, ino: Ino, size: u64) -> Result<Attr> {
    let change = AttrChange {
        size: Some(size),
        ..AttrChange::default()
    };
    fs.setattr(&me(), ino, change)
}

#[test]
fn a_shm_file_is_seekable_sized_and_charged() {
    let fs = fs();
    let shm = dir(&fs, "shm");
    let before = fs.shared.budget.used();
    let (tx, rx) = reply();
    fs.create(&call(), shm, b"m", 0o600, libc::O_RDWR, tx);
    let o = opened(now(&rx));
    let ino = o.created.expect("a create carries its attributes").ino;
    // Passthrough is off until the kernel agrees to it at init (there
    // is no kernel here): the page cache serves it.
    assert_eq!(o.style, OpenStyle::Cached);
    assert_eq!(
        write_at(&fs, o.fh, 10, b"abc"),
        Some(Answer::Written(Ok(3)))
    );
    assert_eq!(fs.getattr(&me(), ino).unwrap().size, 13);
    let mut expected = vec![0u8; 10];
    expected.extend_from_slice(b"abc");
    assert_eq!(read_at(&fs, o.fh, 0, 100), Some(Answer::Data(Ok(expected))));
    assert_eq!(read_at(&fs, o.fh, 13, 100), Some(Answer::Data(Ok(vec![]))));
    let used = fs.shared.budget.used();
    assert_eq!(resize(&fs, ino, 1 << 20).unwrap().size, 1 << 20);
    assert_eq!(fs.shared.budget.used(), used + (1 << 20) - 13);
    assert_eq!(resize(&fs, ino, 1 << 40), Err(Error::NoSpace));
    assert_eq!(xattr(&fs, ino, "size").unwrap(), "1048576");
    assert_eq!(xattr(&fs, ino, "opens").unwrap(), "1");
    assert_eq!(
        fs.setxattr(&me(), ino, "user.ipcfs.size", b"5"),
        Err(Error::NotPermitted),
        "counters are read-only"
    );
    assert_eq!(
        fs.allocate(ino, 0, 1, libc::FALLOC_FL_KEEP_SIZE),
        Err(Error::NotSupported)
    );
    // Removed while open: it still reads and writes, and its memory
    // goes back when the last open is released and the name forgotten.
    fs.unlink(&me(), shm, b"m").unwrap();
    assert_eq!(write_at(&fs, o.fh, 0, b"z"), Some(Answer::Written(Ok(1))));
    assert_eq!(
        read_at(&fs, o.fh, 0, 1),
        Some(Answer::Data(Ok(b"z".to_vec())))
    );
    fs.release(o.fh);
    fs.forget(ino, 1);
    assert_eq!(fs.shared.budget.used(), before, "the data and the record");
}

#[test]
fn its_status_row_gives_size_and_how_it_is_served() {
    let fs = fs();
    let shm = dir(&fs, "shm");
    let a = make(&fs, "shm", "a", FileType::Regular).unwrap();
    resize(&fs, a.ino, 4096).unwrap();
    let o = opened(open(&fs, a.ino, libc::O_RDONLY));
    let text = crate::fs::kinds::status::text(&Arc::downgrade(&fs.tree));
    let row = text.lines().find(|l| l.starts_with("shm ")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((cols[1], cols[5], cols[10]), ("shm/a", "4096", "daemon"));
    fs.release(o.fh);
    fs.unlink(&me(), shm, b"a").unwrap();
}
