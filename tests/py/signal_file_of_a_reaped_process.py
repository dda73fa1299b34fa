"""Opens a child's signal file, kills and reaps the child, then writes to
the file: prints the errno (ESRCH).

Run in an ipcfs mountpoint (tests/signals.rs).
"""
import os, errno, signal, time
pid = os.fork()
if pid == 0:
    time.sleep(60); os._exit(0)
fd = os.open('proc/%d/signal' % pid, os.O_WRONLY)
os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
try:
    os.write(fd, b'TERM'); print('ok')
except OSError as e:
    print(errno.errorcode[e.errno])
