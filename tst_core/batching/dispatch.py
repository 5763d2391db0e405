"""Handing jobs to workers: one running per worker and, with prefetch, the next one reserved
for it (so it can read and segment that photo meanwhile). Shared by the local and Ray executors.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable

from .jobs import Job


class Dispatcher:
    """The queue of jobs and what each worker holds: ``{worker: (running, reserved)}``.

    A worker that falls idle while others still hold reserved jobs takes one of those, so the
    last photos do not wait behind a busy worker.
    """

    def __init__(self, jobs: Iterable[Job]) -> None:
        self.queue: deque[Job] = deque(jobs)
        self.held: dict[Hashable, tuple[Job, Job | None]] = {}

    def assign(self, worker: Hashable, ahead: bool) -> tuple[Job, Job | None] | None:
        """The next ``(job, lookahead)`` for ``worker``, which is idle; ``None``: no work left.

        :param ahead: whether the worker prefetches (then the job after is reserved for it).
        """
        _, reserved = self.held.pop(worker, (None, None))
        job = reserved or (self.queue.popleft() if self.queue else self._steal())
        if job is None:
            return None
        lookahead = self.queue.popleft() if ahead and self.queue else None
        self.held[worker] = (job, lookahead)
        return job, lookahead

    def lost(self, worker: Hashable) -> Job | None:
        """``worker`` is gone: its reserved job goes back to the queue; returns the job it was
        running (lost with it), if any."""
        running, reserved = self.held.pop(worker, (None, None))
        if reserved is not None:
            self.queue.appendleft(reserved)
        return running

    @property
    def busy(self) -> bool:
        """Whether any job is queued or running."""
        return bool(self.queue or self.held)

    def _steal(self) -> Job | None:
        for worker, (running, reserved) in self.held.items():
            if reserved is not None:
                self.held[worker] = (running, None)
                return reserved
        return None
