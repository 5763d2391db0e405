"""How every ``tst`` command stops on a signal: one policy, one exit status each.

SIGINT raises ``KeyboardInterrupt`` and SIGTERM raises :class:`Terminated` in the main thread,
so both unwind the command: ``finally`` blocks stop worker processes and remove temporaries,
and atomic writes finish or roll back (:mod:`tst_core.outputs`). The command then ends with
one line and :data:`EXIT_INTERRUPTED` (130) or :data:`EXIT_TERMINATED` (143), as a shell
reports a process killed by those signals. ``tst ui`` is a server, for which either signal is
its normal stop (exit 0); it catches the same two exceptions.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


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
