"""Opens the existing pipes/a with O_CREAT | O_EXCL: prints EEXIST.

Run in an ipcfs mountpoint (tests/pipes.rs).
"""
import os
try:
    os.open('pipes/a', os.O_CREAT | os.O_EXCL | os.O_WRONLY)
except FileExistsError:
    print('EEXIST')
