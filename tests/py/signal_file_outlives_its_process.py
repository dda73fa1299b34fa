"""Opens the signal file of a child, kills and reaps the child, then has
another child take its pid (through ns_last_pid): the open file must
not reach the new process. Prints whether the pid was taken again, and
the outcome of a write and of a read; then whether the new process was
untouched: told to stop, it stops (a KILL sent before would have ended
it first).

Run in an ipcfs mountpoint, as root (tests/security.rs).
"""
import os, errno, signal, time


def sleeper():
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    return pid


child = sleeper()
fd = os.open('proc/%d/signal' % child, os.O_RDWR)
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)
# Another process of the machine may fork between the write and ours:
# try again until ours takes the pid (or someone else keeps it).
for _ in range(100):
    with open('/proc/sys/kernel/ns_last_pid', 'w') as f:
        f.write(str(child - 1))
    again = sleeper()
    if again == child:
        break
    os.kill(again, signal.SIGKILL)
    os.waitpid(again, 0)


def attempt(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]


print(again == child, attempt(lambda: os.write(fd, b'KILL')), attempt(lambda: os.pread(fd, 100, 0)))
os.kill(again, signal.SIGSTOP)
_, status = os.waitpid(again, os.WUNTRACED)
print(os.WIFSTOPPED(status))
os.kill(again, signal.SIGKILL)
