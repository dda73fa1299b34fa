"""Connects sockets/c to a server that never reads, fills the connection,
then parks one write of 1 MiB (or has its bytes held, where it is answered
before the socket takes them) and tries a second: prints what the writes
got, and then, once sockets/c is removed, whether the first still waits.

Run in an ipcfs mountpoint (tests/hardening.rs).
"""
import os, socket, threading, time, errno
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
os.mkdir('sockets/c')
with open('sockets/c/ctl', 'w') as c: c.write('connect tcp 127.0.0.1:%d\n' % srv.getsockname()[1])
peer, _ = srv.accept()
fd = os.open('sockets/c/data', os.O_WRONLY | os.O_NONBLOCK)
try:
    while True: os.write(fd, b'x' * 65536)
except BlockingIOError: pass
out = []
def write():
    try: out.append(os.write(os.open('sockets/c/data', os.O_WRONLY), b'y' * (1 << 20)))
    except OSError as e: out.append(errno.errorcode[e.errno])
first = threading.Thread(target=write); first.start(); time.sleep(0.5)
write()
print(out)
os.rmdir('sockets/c'); first.join(5); peer.close()
print(out[1:], first.is_alive())
