"""While a thread writes 3,000 probes (signal 0) to its own signal file,
sends SIGKILL to every thread of the daemon (tgkill): prints how many of
those were let through (`hits`).

Usage: kill_acting_threads.py DAEMON_PID, in an ipcfs mountpoint, as a
user other than root (tests/security.rs).
"""
import os, ctypes, sys, threading
daemon = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
done = False
def probes():
    fd = os.open('proc/%d/signal' % os.getpid(), os.O_WRONLY)
    for _ in range(3000): os.write(fd, b'0')
t = threading.Thread(target=probes); t.start()
hits = 0
while t.is_alive():
    for tid in os.listdir('/proc/%d/task' % daemon):
        if libc.syscall(234, daemon, int(tid), 9) == 0: hits += 1
t.join()
print('hits', hits)
