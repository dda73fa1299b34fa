"""splice(2) and sendfile(2) from pipes/p (holding 51,200 bytes) fail at
once with EINVAL and take nothing: read(2) then gets every byte.

Run in an ipcfs mountpoint (tests/splice.rs).
"""
import os

from helpers import attempt

w = os.open('pipes/p', os.O_RDWR)
data = bytes(range(256)) * 200
os.write(w, data)
r = os.open('pipes/p', os.O_RDONLY)
pr, pw = os.pipe()
print(attempt(lambda: os.splice(r, pw, 65536)))
out = os.open('/dev/null', os.O_WRONLY)
print(attempt(lambda: os.sendfile(out, r, None, 65536)))
got = b''
while len(got) < len(data):
    got += os.read(r, 1 << 20)
print(got == data)
