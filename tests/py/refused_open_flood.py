"""Makes calls that ipcfs refuses as often as it can for SECONDS
(argument, 1.5 by default), and once more 1.1 s later; prints whether
more than 2,000 were refused (the daemon must not log each). The calls
open README for writing (refused to root by ipcfs), or with `signal`
as the second argument write a bad signal name to proc/self/signal
(refused to any user by ipcfs).

Run in an ipcfs mountpoint (tests/daemon.rs, tests/security.rs).
"""
import os, sys, time
seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.5
if sys.argv[2:] == ['signal']:
    fd = os.open('proc/self/signal', os.O_WRONLY)
    refused = lambda: os.write(fd, b'FOO\n')
else:
    refused = lambda: os.open('README', os.O_WRONLY)
end = time.time() + seconds
n = 0
while time.time() < end:
    try: refused()
    except OSError: n += 1
time.sleep(1.1)
try: refused()
except OSError: n += 1
print(n > 2000)
