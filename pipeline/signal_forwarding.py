"""Stop and reload signals reach the command line's process through one thread of its own. Every other thread,
native ones included, blocks them: a signal handled inside one of TensorFlow's threads can corrupt its heap. The
waiting thread hands each signal to the main thread's handler and wakes the main thread from a blocking call."""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import threading

FORWARDED = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
WAKE = signal.SIGURG  # only ever sent to the main thread, to end a blocking system call; ignored by default

_state: dict[str, frozenset[int]] = {"blocked": frozenset()}


def start() -> None:
    """Block the forwarded signals in this thread (the main one, before any other exists, so that every later
    thread inherits the mask) and start the thread that waits for them. Signals the caller blocked stay so."""
    if _state["blocked"] or threading.current_thread() is not threading.main_thread():
        return
    already = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    blocked = frozenset(FORWARDED - already)
    if not blocked:
        return
    signal.signal(WAKE, _woken)
    signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    _state["blocked"] = blocked
    os.register_at_fork(after_in_child=unblock)  # a forked child has no waiting thread
    waiter = threading.Thread(
        target=_forward, args=(blocked, threading.main_thread().ident), name="mlc-signals", daemon=True
    )
    waiter.start()


def unblock() -> None:
    """Let this thread (and the processes and threads it starts from now on) receive the forwarded signals
    again: a child process inherits the mask, and Ray stops its processes with SIGTERM."""
    if _state["blocked"]:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _state["blocked"])


def _woken(signum: int, frame: object) -> None:
    """WAKE's handler: nothing to do; its arrival has already cut the main thread's system call short."""


def _forward(signals: frozenset[int], main_thread: int) -> None:
    while True:
        signum = signal.sigwait(signals)
        handler = signal.getsignal(signum)
        if callable(handler):
            _thread.interrupt_main(signum)  # the handler runs in the main thread, as if the signal had come there
            with contextlib.suppress(OSError):  # a main thread already gone: the process is ending anyway
                signal.pthread_kill(main_thread, WAKE)
        elif handler != signal.SIG_IGN:  # the default (all three end the process) or a native handler: here
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
            signal.pthread_kill(threading.get_ident(), signum)
            signal.pthread_sigmask(signal.SIG_BLOCK, [signum])
