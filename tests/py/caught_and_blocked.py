"""Prints its pid, catches SIGUSR1, blocks SIGUSR2, prints `ready` and
sleeps a minute (for the test to read its signal file and kill it).

Run in an ipcfs mountpoint (tests/signals.rs).
"""
import os
import signal
import time

print(os.getpid(), flush=True)

signal.signal(signal.SIGUSR1, lambda *a: None)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
print('ready', flush=True)
time.sleep(60)
