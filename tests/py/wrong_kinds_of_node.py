"""Tries to make or change nodes ipcfs has no place for (a regular file, a
directory or links in pipes/, a device, a rename across directories, ...):
prints each outcome, `ok` or the errno's name.

Run in an ipcfs mountpoint holding pipes/p (tests/pipes.rs).
"""
import os, errno
def attempt(f):
    try:
        f(); return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
print(attempt(lambda: os.open('newfile', os.O_CREAT | os.O_WRONLY)))
print(attempt(lambda: os.mkdir('pipes/d')))
print(attempt(lambda: os.symlink('p', 'pipes/s')))
print(attempt(lambda: os.link('pipes/p', 'pipes/h')))
print(attempt(lambda: os.mknod('pipes/c', 0o600 | 0o020000, os.makedev(1, 3))))
print(attempt(lambda: os.rename('pipes/p', 'queues/p')))
print(attempt(lambda: os.unlink('README')))
print(attempt(lambda: os.open('proc/x', os.O_CREAT | os.O_WRONLY)))
print(attempt(lambda: os.truncate('pipes/p', 5)))
print(attempt(lambda: os.truncate('pipes/p', 0)))
