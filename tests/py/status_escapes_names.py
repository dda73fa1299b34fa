"""Makes queues whose names hold a newline, tabs, spaces, a backslash, an
escape and bytes that are not UTF-8, then prints the mount's status file.

Run in an ipcfs mountpoint (tests/hardening.rs).
"""
import os
for name in (b'row\nqueue x 0 0 0644 1 1 0 0 0 daemon', b'tab\tand space', b'back\\slash', b'esc\x1b[31m', b'\xff', b'\xfe'):
    os.close(os.open(b'queues/' + name, os.O_CREAT | os.O_WRONLY))
print(open('status').read(), end='')
