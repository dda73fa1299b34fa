"""Sends SIGUSR1 to a child through its signal file; the child prints
whether its siginfo names the writer (SI_QUEUE, the parent's pid, the
user's uid) and the value (0).

Run in an ipcfs mountpoint (tests/security.rs).
"""
import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.write(w, b'x')
    i = signal.sigwaitinfo([signal.SIGUSR1])
    print(i.si_code == -1, i.si_pid == os.getppid(), i.si_uid == os.getuid(), i.si_status)
    sys.stdout.flush(); os._exit(0)
os.read(r, 1)
with open('proc/%d/signal' % child, 'w') as f: f.write('USR1')
os.waitpid(child, 0)
