"""Opens pipes/fresh (made by the open) for writing, closes its only
reader, and has a child with SIGPIPE's default action write to it: prints
the signal that ended the child.

Run in an ipcfs mountpoint (tests/pipes.rs).
"""
import os, signal, time
r = os.open('pipes/fresh', os.O_RDONLY | os.O_CREAT | os.O_NONBLOCK)
w = os.open('pipes/fresh', os.O_WRONLY)
os.close(r)
while os.getxattr('pipes/fresh', 'user.ipcfs.readers') != b'0': time.sleep(0.01)
child = os.fork()
if child == 0:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.write(w, b'x')
    os._exit(0)
print(os.WTERMSIG(os.waitpid(child, 0)[1]))
