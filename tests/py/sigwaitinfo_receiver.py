"""Prints its pid, blocks SIGUSR1 and SIGRTMIN+2, prints `ready`, then
waits for each: prints whether the first is SIGUSR1, its si_code, its
value (si_status) and whether it names a sender; then which real-time
signal the second is.

Run in an ipcfs mountpoint (tests/signals.rs).
"""
import os
import signal

print(os.getpid(), flush=True)

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGRTMIN + 2})
print('ready', flush=True)
i = signal.sigwaitinfo({signal.SIGUSR1})
print(i.si_signo == signal.SIGUSR1, i.si_code, i.si_status, i.si_pid > 0, flush=True)
i = signal.sigwaitinfo({signal.SIGRTMIN + 2})
print(i.si_signo - signal.SIGRTMIN, flush=True)
