"""Jobs: one runs at a time, the others wait in a queue; cancel, abandon, one-line errors.

A job's work gets the job's :meth:`Job.progress` as the engine's progress callback. The engines
call it once per iteration; when the job is cancelled it raises :class:`JobCancelled`, which
unwinds the optimisation. A job counts as watched while a page holds its event stream open;
one that nobody has watched for ``abandon_after`` seconds is cancelled (queued or running), so a
closed tab does not leave the CPU busy.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tst_core.errors import TstError
from tst_core.progress import eta, shown_loss
from tst_core.types import Progress, Tensor

#: seconds between two intermediate previews
PREVIEW_EVERY = 2.0
#: finished jobs kept for the page (oldest forgotten first)
KEEP_FINISHED = 100

FINISHED = ("done", "failed", "cancelled")


class JobCancelled(Exception):
    """Raised from the progress callback of a cancelled job (not a user error)."""


def error_line(exc: BaseException) -> str:
    """The line the ``tst`` command line prints for ``exc`` (never a traceback)."""
    if isinstance(exc, TstError):
        return f"tst: error: {' '.join(str(exc).split())}"
    return (
        f"tst: internal error: {type(exc).__name__}: {exc} (the traceback is in the server's log)"
    )


@dataclass(eq=False)
class Job:
    """One run or compare request and what the page sees of it.

    :param work: ``work(job) -> result`` does the job (calling ``job.progress`` from the engine)
        and returns what the page shows; it puts the files it wrote in ``job.outputs``.
    :param command: the equivalent command line.
    :param session: the page session that submitted it (its uploads live while it is unfinished).
    """

    kind: str
    work: Callable[[Job], dict[str, Any]] = field(repr=False)
    command: str = ""
    session: str = ""
    id: str = field(default_factory=lambda: secrets.token_urlsafe(8))
    state: str = "queued"
    step: int = 0
    total: int = 0
    loss: float | None = None
    elapsed: float = 0.0
    #: seconds left in the stage at the pace so far, and where in it the work is (scale 2/2)
    eta: float | None = None
    stage_note: str = ""
    preview: Tensor | None = field(default=None, repr=False)
    preview_version: int = 0
    error: str | None = None
    note: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    watchers: int = 0
    unwatched_since: float = field(default_factory=time.monotonic)
    _preview_at: float = -PREVIEW_EVERY

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def progress(self, p: Progress) -> None:
        """The engine's progress callback: record the step; stop here when cancelled."""
        if self.cancelled.is_set():
            raise JobCancelled
        self.step, self.total, self.elapsed = p.step, p.total, p.elapsed
        self.loss, self.eta, self.stage_note = shown_loss(p), eta(p), p.note
        now = time.monotonic()
        if p.snapshot is not None and now - self._preview_at >= PREVIEW_EVERY:
            self.preview = p.snapshot.detach().float().clamp(0, 1).cpu()
            self.preview_version += 1
            self._preview_at = now


class JobQueue:
    """Runs jobs one at a time on a worker thread, in the order they came.

    :param abandon_after: seconds without a watcher after which a job is cancelled.
    """

    def __init__(self, abandon_after: float) -> None:
        self.abandon_after = abandon_after
        self.jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name="tst-ui-worker", daemon=True),
            threading.Thread(target=self._sweep, name="tst-ui-sweeper", daemon=True),
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel every job and wait for the running one to stop, at most ``timeout`` seconds
        in all (a job stops at its engine's next iteration; one in a stage without iterations
        is left to end with the process: its outputs are written atomically)."""
        with self._cond:
            self._stopping.set()
            for job in list(self.jobs.values()):
                self._cancel(job, "cancelled: the server is stopping")
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            if t.is_alive():
                t.join(max(0.0, deadline - time.monotonic()))

    def submit(self, job: Job) -> Job:
        with self._cond:
            self.jobs[job.id] = job
            self._queue.append(job)
            self._forget_old()
            self._cond.notify_all()
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def position(self, job: Job) -> int:
        """1 for the next job to run, 2 for the one after...; 0 when not waiting."""
        with self._cond:
            try:
                return self._queue.index(job) + 1
            except ValueError:
                return 0

    def cancel(self, job: Job, note: str = "cancelled") -> None:
        with self._cond:
            self._cancel(job, note)

    def _cancel(self, job: Job, note: str) -> None:
        if job.finished:
            return
        job.cancelled.set()
        job.note = note
        if job in self._queue:
            self._queue.remove(job)
            job.state = "cancelled"

    def watch(self, job: Job) -> None:
        with self._cond:
            job.watchers += 1

    def unwatch(self, job: Job) -> None:
        with self._cond:
            job.watchers -= 1
            if job.watchers == 0:
                job.unwatched_since = time.monotonic()

    def abandon(self, now: float | None = None) -> list[Job]:
        """Cancel the unfinished jobs nobody has watched for ``abandon_after`` s; returns them."""
        now = time.monotonic() if now is None else now
        out = []
        with self._cond:
            for job in list(self.jobs.values()):
                idle = now - job.unwatched_since
                if not job.finished and job.watchers == 0 and idle > self.abandon_after:
                    self._cancel(job, f"cancelled: no page watched it for {self.abandon_after:g} s")
                    out.append(job)
        return out

    def _sweep(self) -> None:
        while not self._stopping.wait(min(1.0, self.abandon_after / 4)):
            self.abandon()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping.is_set():
                    self._cond.wait()
                if self._stopping.is_set():
                    return
                job = self._queue.popleft()
                job.state = "running"
            self._run(job)

    def _run(self, job: Job) -> None:
        try:
            job.result = job.work(job)
            job.note = ""  # a cancel that came after the last iteration keeps the result
            job.state = "done"
        except JobCancelled:
            job.state = "cancelled"
        except BaseException as exc:
            if not isinstance(exc, TstError):
                traceback.print_exc(file=sys.stderr)
            job.error = error_line(exc)
            job.state = "failed"
            if not isinstance(exc, Exception):
                raise
        finally:
            job.preview = None  # finished jobs are kept a while; their last preview need not be

    def _forget_old(self) -> None:
        finished = [j for j in self.jobs.values() if j.finished]
        for job in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self.jobs[job.id]
