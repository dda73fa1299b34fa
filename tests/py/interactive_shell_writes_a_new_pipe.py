"""Drives an interactive bash through a terminal: `echo x > pipes/new1`
waits for a reader and gets one; `echo y > pipes/new2` waits until Ctrl-C
ends it; the shell lives on. Prints what was read and what the shell
said.

Run in an ipcfs mountpoint (tests/pipes.rs).
"""
import os, pty, select, subprocess, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp('bash', ['bash', '--norc', '--noprofile', '-i'])
def say(text):
    os.write(fd, text.encode())
def until(word, limit=10):
    seen = b''
    end = time.time() + limit
    while word.encode() not in seen and time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try: seen += os.read(fd, 4096)
            except OSError: break
    return word.encode() in seen
say('echo x > pipes/new1; echo done-$((6*7))\n')
time.sleep(0.3)
got = subprocess.run(['cat', 'pipes/new1'], capture_output=True).stdout
print('read', got, until('done-42'))
say('echo y > pipes/new2; echo after-$((6*7))\n')
time.sleep(0.3)
say('\x03')
print('interrupted', until('after-42', 2) is False)
say('echo alive-$((6*7))\n')
print('alive', until('alive-42'))
say('exit\n')
os.waitpid(pid, 0)
