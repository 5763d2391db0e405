"""How every ``tst`` command stops on a signal: one policy, one exit status each.

SIGINT raises ``KeyboardInterrupt`` and SIGTERM raises :class:`Terminated` in the main thread,
so both unwind the command: ``finally`` blocks stop worker processes and remove temporaries,
and atomic writes finish or roll back (:mod:`tst_core.outputs`). The command then ends with
one line and :data:`EXIT_INTERRUPTED` (130) or :data:`EXIT_TERMINATED` (143), as a shell
reports a process killed by those signals. ``tst ui`` is a server, for which either signal is
its normal stop (exit 0); it catches the same two exceptions.

A closed pipe on stdout or stderr (``tst weights list | head -2``) ends the command quietly
with :data:`EXIT_BROKEN_PIPE` (141), as ``ls | head`` ends ``ls`` with SIGPIPE. Python ignores
SIGPIPE (restoring its default would also kill ``tst ui`` when a browser drops a connection),
so the write raises ``BrokenPipeError`` instead: :func:`output_closed` tells that one from a
broken pipe or socket elsewhere, which stays an internal error.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM
EXIT_BROKEN_PIPE = 128 + getattr(signal, "SIGPIPE", 13)


class Terminated(BaseException):
    """SIGTERM, raised like SIGINT's ``KeyboardInterrupt`` so that temporaries are removed."""


def _raise_terminated(signum: int, frame: object) -> NoReturn:
    raise Terminated


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` inside the block (in the main thread only: Python runs
    signal handlers there; elsewhere the block runs as it is)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _closed_outputs() -> list[int]:
    """The descriptors of stdout and stderr whose reader has gone: a pipe or socket on which
    ``poll`` reports an error or a hang-up (never a terminal or a file). Where ``poll`` is
    missing (Windows) both are taken for closed."""
    fds = []
    for stream in (sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            fds.append(stream.fileno())  # type: ignore[union-attr]
    if not hasattr(select, "poll"):
        return fds
    closed = []
    for fd in fds:
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
            closed.append(fd)
    return closed


def output_closed() -> bool:
    """Whether stdout's or stderr's reader has gone (a ``BrokenPipeError`` came from there)."""
    return bool(_closed_outputs())


def end_on_closed_output() -> int:
    """Point the closed outputs at the null device, so that flushing what they still hold at
    exit raises nothing more, and return :data:`EXIT_BROKEN_PIPE`."""
    for fd in _closed_outputs():
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    return EXIT_BROKEN_PIPE
