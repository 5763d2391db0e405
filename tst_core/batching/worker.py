"""One batch worker: builds the plugins once and runs photo after photo with them.

The same :class:`Worker` runs in a local worker process, in a Ray actor, or in the calling
process (``executor="inline"``). With ``prefetch`` it reads and segments the next photo in a
background thread while the current one is stylised (worth it when the engine runs on a GPU
and the segmenter on the CPU, or the segmenter on the GPU between the engine's kernels).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..api import Pipeline, load_photo, session
from ..device import resolve_device
from ..errors import InputError, SelectionError, TstError, printable
from ..fingerprint import report_fingerprint
from ..outputs import inside, make_folders_inside
from ..plugins import Host
from ..progress import ProgressReporter
from ..reading import MAX_JSON, read_text
from ..results import image_matches_report
from ..select import StyleRequest, needs_segmentation, parse_style_arg
from ..types import Segmentation
from .jobs import Job
from .record import PhotoResult, check_owner

#: said after the reason of a photo skipped again for the reason its last run gave
AS_BEFORE = " (as before)"


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker of a batch needs (plain values: it travels to other processes).

    :param session: :func:`tst_core.api.session` arguments shared by every photo.
    :param force: run every photo, even when its output is up to date.
    :param prefetch: segment the next photo while stylising the current one: ``on``, ``off``
        or ``auto`` (on when the worker's device is a GPU, where the two overlap; on a CPU they
        would only share the same cores).
    :param output: the batch's output folder; every write stays inside it (checked again,
        through links, just before each write).
    :param owner: the batch's token in ``output``'s lock file: a worker writes only while the
        lock still names its batch (:func:`~tst_core.batching.record.check_owner`).
    :param progress_every: seconds between two progress lines of a photo's run on the
        worker's stderr, named by the photo (the batch prints lines, not a bar); ``0``: none.
    """

    session: Mapping[str, Any] = field(default_factory=dict)
    force: bool = False
    prefetch: Literal["auto", "on", "off"] = "auto"
    output: str = ""
    owner: str = ""
    progress_every: float = 0.0


def session_kwargs(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A job's session arguments: the batch's, with its overrides (``sets`` are added after the
    batch's, ``segmenter_options`` merged, the rest replaced)."""
    kw = dict(base)
    for key, value in overrides.items():
        if key == "sets":
            kw["sets"] = [*base.get("sets", ()), *value]
        elif key == "segmenter_options":
            kw["segmenter_options"] = {**base.get("segmenter_options", {}), **value}
        else:
            kw[key] = value
    return kw


@dataclass
class _Prepared:
    """A photo checked and segmented ahead of its turn."""

    key: str
    up_to_date: bool
    segmentation: Segmentation | None
    seconds: float


class Worker:
    """Runs jobs with plugins built once (per distinct configuration) and kept.

    :param host: the plugin host; ``None``: the default one (entry points).
    """

    def __init__(self, spec: WorkerSpec, host: Host | None = None) -> None:
        self.spec = spec
        self.host = host
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._plugins: dict[tuple[Any, ...], Any] = {}
        self._pipelines: dict[str, Pipeline] = {}
        self._lock = threading.Lock()
        self._ahead: dict[int, Future[_Prepared]] = {}
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="tst-prefetch")
        #: whether this worker segments the next photo meanwhile (known after :meth:`setup`)
        self.prefetch = spec.prefetch == "on"

    def pipeline(self, job: Job) -> Pipeline:
        """The pipeline for ``job``'s configuration, with its plugins built."""
        kw = session_kwargs(self.spec.session, job.overrides)
        key = json.dumps(kw, sort_keys=True, default=str)
        with self._lock:
            if key not in self._pipelines:
                pipe = Pipeline(session(host=self.host, **kw), self._plugins)
                # a whole-frame job needs no segmenter (built on first use if a later one does)
                whole = not needs_segmentation(self._requests(job))
                for kind in ("engine", "blend") if whole else ("segmenter", "engine", "blend"):
                    pipe.plugin(kind)
                self._pipelines[key] = pipe
            return self._pipelines[key]

    def setup(self, job: Job) -> float:
        """Build the plugins ``job`` needs (the models load here); returns the seconds."""
        t0 = time.perf_counter()
        pipe = self.pipeline(job)
        if self.spec.prefetch == "auto":
            self.prefetch = resolve_device(pipe.session.config.run.device).type != "cpu"
        return time.perf_counter() - t0

    def run(self, job: Job, lookahead: Job | None = None) -> PhotoResult:
        """Run one photo and return how it ended; never raises for the photo's own problems.

        :param lookahead: the job this worker runs next, prepared meanwhile with ``prefetch``.
        """
        t0 = time.perf_counter()
        ahead = self._ahead.pop(job.index, None)
        for stale in self._ahead.values():  # given to another worker after all
            stale.cancel()
        self._ahead.clear()
        if self.prefetch and lookahead is not None:
            self._ahead[lookahead.index] = self._pool.submit(self._prepare, lookahead)
        key: str | None = None
        try:
            prepared = ahead.result() if ahead is not None else self._prepare(job, segment=False)
            key = prepared.key
            if prepared.up_to_date:
                return self._result(job, "skipped", t0, "up to date", key, outputs=True)
            if job.skip_key == key and not self.spec.force:
                reason = job.skip_reason.removesuffix(AS_BEFORE)
                while reason.endswith(AS_BEFORE):  # records of older versions
                    reason = reason.removesuffix(AS_BEFORE)
                return self._result(job, "skipped", t0, reason + AS_BEFORE, key)
            return self._finish(job, prepared, t0)
        except SelectionError as exc:  # the photo has nothing the selectors ask for
            return self._result(job, "skipped", t0, _one_line(exc), key)
        except TstError as exc:
            return self._result(job, "failed", t0, _one_line(exc), key)
        except Exception as exc:  # the batch goes on; the record says what broke
            reason = f"internal error: {type(exc).__name__}: {_one_line(exc)}"
            return self._result(job, "failed", t0, reason, key)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _prepare(self, job: Job, segment: bool = True) -> _Prepared:
        t0 = time.perf_counter()
        pipe = self.pipeline(job)
        key = pipe.session.fingerprint(job.photo, self._requests(job))
        fresh = not self.spec.force and _up_to_date(job, key)
        if fresh or not segment or (job.skip_key == key and not self.spec.force):
            return _Prepared(key, fresh, None, 0.0)
        if not needs_segmentation(self._requests(job)):  # whole frame: run() builds no segmenter
            return _Prepared(key, False, None, 0.0)
        seg = pipe.segment(load_photo(job.photo))
        return _Prepared(key, False, seg, time.perf_counter() - t0)

    def _finish(self, job: Job, prepared: _Prepared, t0: float) -> PhotoResult:
        pipe = self.pipeline(job)
        progress = None
        if self.spec.progress_every > 0:
            progress = ProgressReporter(
                "lines",
                sys.stderr,
                every=self.spec.progress_every,
                prefix=f"{printable(job.photo.name)}: ",
            )
        result = pipe.run(
            job.photo, self._requests(job), segmentation=prepared.segmentation, progress=progress
        )
        self._writable(job)
        written = result.save(job.output)
        timings = dict(result.report["timings"])
        if prepared.segmentation is not None:
            timings["segment_ahead"] = round(prepared.seconds, 4)
        return PhotoResult(
            str(job.photo),
            "done",
            seconds=time.perf_counter() - t0,
            outputs=tuple(str(p) for p in written),
            timings=timings,
            worker=self.name,
            key=prepared.key,
        )

    def _writable(self, job: Job) -> None:
        """Make ``job``'s folder, every part inside the batch's output folder after links."""
        if not self.spec.output:  # a Worker built by hand, outside a batch
            job.output.parent.mkdir(parents=True, exist_ok=True)
            return
        root = Path(self.spec.output)
        if self.spec.owner:
            check_owner(root, self.spec.owner)
        make_folders_inside(root, job.output.parent)
        inside(root, job.output.relative_to(root), what=f"the output of photo '{job.photo}'")

    def _requests(self, job: Job) -> list[StyleRequest]:
        return [parse_style_arg(s) for s in job.styles]

    def _result(
        self,
        job: Job,
        status: Any,
        t0: float,
        reason: str,
        key: str | None,
        outputs: bool = False,
    ) -> PhotoResult:
        written = (str(job.output), str(job.report)) if outputs else ()
        return PhotoResult(
            str(job.photo),
            status,
            reason,
            time.perf_counter() - t0,
            written,
            worker=self.name,
            key=key,
        )


def _up_to_date(job: Job, key: str) -> bool:
    """Whether ``job``'s output and report exist, the report names the same run and was written
    with this image (a SIGKILL between the two renames pairs an image with another report)."""
    if not (job.output.is_file() and job.report.is_file()):
        return False
    try:
        report = json.loads(read_text(job.report, "report", MAX_JSON))
    except (InputError, ValueError, RecursionError):
        return False
    return (
        isinstance(report, dict)
        and report_fingerprint(report) == key
        and image_matches_report(job.output, report)
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
