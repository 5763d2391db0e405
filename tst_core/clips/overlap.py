"""Work beside the compute: decoding ahead, and finishing frames in order, in threads.

A clip's frames go through three kinds of work: decoding (PyAV, which releases the GIL),
the compute of each frame (flow, engine, temporal stage: torch and OpenCV, which release it
too), and finishing a frame (bringing it to the output's size, encoding or writing it). Frame
``t + 1``'s compute needs only frame ``t``'s temporal state, not its finished output, so the
finishing of ``t`` can run while ``t + 1`` is computed, and the decoding of ``t + 2`` beside
both. On a machine with a core left idle by the compute that is time saved; the order of
the output is kept by one finishing thread working first in, first out.

* :func:`prefetched`: an iterator read ``depth`` items ahead in a thread;
* :class:`Finisher`: jobs run one at a time in a thread, in the order given, at most
  ``depth`` waiting.

An exception in either thread is raised in the caller's, at its next call.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_END = object()


class prefetched(Generic[T]):
    """``with prefetched(items, depth) as it: for x in it: ...``: ``items`` iterated in a
    thread, up to ``depth`` items ahead. Leaving the block early stops the thread and closes
    ``items`` (a generator's ``finally`` runs in that thread)."""

    def __init__(self, items: Iterator[T], depth: int = 2) -> None:
        self._items = items
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tst-decode", daemon=True)

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    break
            else:
                self._put(_END)
        except BaseException as exc:  # handed to the reader
            self._put(_Raised(exc))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        return self._read()

    def _read(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Finisher:
    """Jobs run in one thread in the order submitted; :meth:`submit` waits while ``depth``
    are unfinished and returns the results of the jobs finished so far (in order)."""

    def __init__(self, depth: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tst-finish")
        self._pending: list[Future[Any]] = []
        self._depth = max(1, depth)

    def submit(self, job: Callable[[], Any]) -> list[Any]:
        self._pending.append(self._pool.submit(job))
        done = []
        while self._pending and (len(self._pending) > self._depth or self._pending[0].done()):
            done.append(self._pending.pop(0).result())
        return done

    def drain(self) -> list[Any]:
        """Wait for every job; their results in order (the first failure is raised)."""
        done = []
        while self._pending:
            done.append(self._pending.pop(0).result())
        return done

    def close(self) -> None:
        """Wait for the jobs still running, dropping their results and failures (used when
        the caller stops on an error of its own)."""
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)
        self._pending.clear()
