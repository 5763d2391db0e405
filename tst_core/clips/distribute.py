"""Segments of one clip stylised on a Ray cluster (``tst video --executor ray``).

The driver tracks the clip (the first pass) and keeps the work folder; every unfinished
segment then becomes a Ray task that reads the clip and the tracks from the work folder and
writes its segment there, so, as for ``tst batch --executor ray``, every path must mean the
same file on every node (a shared filesystem). A segment that does not start the clip is
**warmed up**: its task stylises the ``overlap`` frames before it first and drops them, so
that its first frame continues a temporal state built on the same frames its predecessor
ended with (a recursive blend forgets its start as ``blend^overlap``), instead of starting
cold at the border. A task that fails fails the run with its message; the finished segments
stay, and a rerun does the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TstError


@dataclass(frozen=True)
class SegmentTask:
    """What a Ray task needs to stylise one segment (plain values: it travels).

    :param session: :func:`tst_core.api.session` arguments.
    :param tracker_options: the tracker's options over the configured ones.
    :param options: :class:`~.options.VideoOptions` as a dict.
    :param styles: the ``--style`` texts.
    """

    session: Mapping[str, Any]
    tracker_options: Mapping[str, Any] | None
    options: Mapping[str, Any]
    clip: str
    styles: tuple[str, ...]
    output: str
    segment: int


def run_task(task: SegmentTask, threads: int) -> int:
    """Stylise ``task``'s segment (in a Ray worker); returns the frames stylised."""
    from ..batching.local import limit_threads
    from .api import build

    limit_threads(threads)
    pipe = build(task.session, task.tracker_options, task.options)
    return pipe.remote_segment(task.clip, task.styles, Path(task.output), task.segment)


@dataclass(frozen=True)
class RaySegments:
    """Runs segment tasks on a Ray cluster at ``address`` (``None``: as ``tst batch`` joins
    one), ``workers`` at a time of ``threads`` CPU threads each (``None``: one per GPU, or
    per two CPUs)."""

    address: str | None = None
    workers: int | None = None
    threads: int | None = None

    def run(self, tasks: Sequence[SegmentTask]) -> int:
        from ..batching.ray_executor import import_ray, placement
        from ..batching.worker import _one_line

        ray = import_ray()
        joined = not ray.is_initialized()
        if joined:
            ray.init(address=self.address, include_dashboard=False, logging_level="warning")
        try:
            place = placement(ray.cluster_resources(), self.workers, self.threads)
            remote = ray.remote(num_cpus=place.num_cpus, num_gpus=place.num_gpus, max_retries=1)(
                run_task
            )
            refs = [remote.remote(task, place.threads) for task in tasks]
            done = 0
            while refs:
                ready, refs = ray.wait(refs, num_returns=1)
                try:
                    done += int(ray.get(ready[0]))
                except ray.exceptions.RayTaskError as exc:
                    for ref in refs:
                        ray.cancel(ref)
                    cause = getattr(exc, "cause", None)
                    raise TstError(
                        _one_line(cause) if isinstance(cause, TstError) else _one_line(exc)
                    ) from None
                except ray.exceptions.RayError as exc:
                    for ref in refs:
                        ray.cancel(ref)
                    raise TstError(
                        f"a Ray worker stylising a segment died: {_one_line(exc)}"
                    ) from None
            return done
        finally:
            if joined:
                ray.shutdown()
