"""Opens README for writing, which ipcfs refuses, as often as it can for
1.5 s, and once more 1.1 s later; prints whether more than 2,000 opens
were refused (the daemon must not log each).

Run in an ipcfs mountpoint (tests/daemon.rs).
"""
import os, time
end = time.time() + 1.5
n = 0
while time.time() < end:
    try: os.open('README', os.O_WRONLY)
    except OSError: n += 1
time.sleep(1.1)
try: os.open('README', os.O_WRONLY)
except OSError: n += 1
print(n > 2000)
