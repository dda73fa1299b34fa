"""Parks 32 reads of queues/box in threads; prints the outcome of a 33rd,
then `held`, and exits when a line comes on stdin.

Run in an ipcfs mountpoint (tests/security.rs).
"""
import os, sys, threading, time
from helpers import attempt
def wait():
    os.read(os.open('queues/box', os.O_RDONLY), 100)
for _ in range(32): threading.Thread(target=wait, daemon=True).start()
while os.getxattr('queues/box', 'user.ipcfs.blocked') != b'32': time.sleep(0.01)
print(attempt(lambda: os.read(os.open('queues/box', os.O_RDONLY), 100)))
print('held', flush=True)
sys.stdin.readline()
os._exit(0)
