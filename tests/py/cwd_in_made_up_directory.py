"""Makes sockets/tcp/127.0.0.1 its working directory, prints `held`, and
at a line on stdin exits 0 if its working directory is still whole
(getcwd(2) names it), 1 if not.

Run in an ipcfs mountpoint (tests/security.rs).
"""
import os, sys

os.chdir('sockets/tcp/127.0.0.1')
where = os.getcwd()
print('held', flush=True)
sys.stdin.readline()
try:
    sys.exit(0 if os.getcwd() == where else 1)
except OSError:
    sys.exit(1)
