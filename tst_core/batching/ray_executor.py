"""The Ray executor (``--executor ray``): one actor per worker, each holding its built plugins.

Actors ask for one GPU each when the cluster has GPUs (``num_gpus=1``), CPUs otherwise. They
read the photos and write the outputs themselves, so every path must mean the same file on every
node: a shared filesystem, or an object store the user mounts at the same path on each node.
An actor that dies (its node lost, killed, out of memory) costs the photo it was running,
recorded as failed for a rerun to pick up; a new actor takes its place. Ray is optional
(``pip install "targeted-style-transfer[ray]"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import DependencyError, TstError
from .dispatch import Dispatcher
from .jobs import Job
from .local import limit_threads
from .record import PhotoResult
from .worker import Worker, WorkerSpec, _one_line

#: How long the batch waits for an actor to start when no other actor is working.
START_TIMEOUT_S = 600.0


#: Ray replaces ``builtins.print`` in the driver for its tqdm bars unless told not to, and does
#: not put it back on shutdown: a notebook (or the test process) would keep Ray's print.
PATCH_PRINT_ENV = "RAY_TQDM_PATCH_PRINT"


def import_ray() -> Any:
    os.environ.setdefault(PATCH_PRINT_ENV, "0")
    try:
        import ray
    except ImportError:
        raise DependencyError(
            "--executor ray needs the Python package 'ray', which is not installed; "
            'install it with: pip install "targeted-style-transfer[ray]"'
        ) from None
    return ray


class _Actor:
    """The body of a Ray actor: a :class:`Worker` with its share of CPU threads."""

    def __init__(self, spec: WorkerSpec, threads: int) -> None:
        limit_threads(threads)
        self.worker = Worker(spec)

    def setup(self, job: Job) -> tuple[str, float, bool]:
        seconds = self.worker.setup(job)
        return self.worker.name, seconds, self.worker.prefetch

    def run(self, job: Job, lookahead: Job | None) -> PhotoResult:
        return self.worker.run(job, lookahead)


@dataclass(frozen=True)
class Placement:
    """How many actors, and what each asks Ray for."""

    actors: int
    num_cpus: float
    num_gpus: int
    threads: int


def placement(resources: dict[str, float], workers: int | None, threads: int | None) -> Placement:
    """Actors for a cluster's resources: one per GPU when it has GPUs, else one per two CPUs
    (``workers`` overrides the count, ``threads`` the CPU threads of each)."""
    cpus = max(1.0, float(resources.get("CPU", 1)))
    gpus = int(resources.get("GPU", 0))
    n = workers or (gpus if gpus else max(1, int(cpus) // 2))
    share = cpus / n
    per_actor = float(threads) if threads else (float(int(share)) if share >= 1 else share)
    return Placement(n, per_actor, 1 if gpus else 0, threads or max(1, int(share)))


class RayExecutor:
    """Runs jobs on Ray actors.

    :param address: a running cluster (``ray://...`` or ``HOST:PORT``, or ``auto``); ``None``:
        the one this process already joined, else ``$RAY_ADDRESS``, else a new local one.
    """

    def __init__(
        self,
        spec: WorkerSpec,
        workers: int | None,
        threads: int | None,
        address: str | None = None,
        on_setup: Callable[[str, float], None] | None = None,
    ) -> None:
        self.spec = spec
        self.workers = workers
        self.threads = threads
        self.address = address
        self.on_setup = on_setup or (lambda name, seconds: None)
        self.ray = import_ray()
        self._actors: dict[int, Any] = {}
        self._starting: dict[Any, int] = {}
        self._running: dict[Any, int] = {}
        self._prefetch: dict[int, bool] = {}
        self._next_id = 0

    def run(self, jobs: Sequence[Job]) -> Iterator[PhotoResult]:
        """Yield each job's result as it finishes."""
        if not jobs:
            return
        ray = self.ray
        joined = not ray.is_initialized()
        if joined:
            ray.init(address=self.address, include_dashboard=False, logging_level="warning")
        try:
            place = placement(ray.cluster_resources(), self.workers, self.threads)
            cls = ray.remote(num_cpus=place.num_cpus, num_gpus=place.num_gpus)(_Actor)
            dispatch = Dispatcher(jobs)
            for _ in range(min(place.actors, len(jobs))):
                self._start(cls, place, jobs[0])
            while dispatch.busy and (self._starting or self._running):
                yield from self._step(dispatch, cls, place, jobs[0])
        finally:
            for actor in self._actors.values():
                ray.kill(actor)
            self._actors.clear()
            if joined:
                ray.shutdown()

    def _step(
        self, dispatch: Dispatcher, cls: Any, place: Placement, setup_job: Job
    ) -> Iterator[PhotoResult]:
        ray = self.ray
        refs = [*self._starting, *self._running]
        timeout = None if self._running else START_TIMEOUT_S
        done, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if not done:
            raise TstError(
                f"no Ray actor could start within {START_TIMEOUT_S:.0f} s; the cluster has no "
                f"free {'GPU' if place.num_gpus else 'CPU'} for one (each asks for "
                f"{place.num_cpus:g} CPU and {place.num_gpus} GPU)"
            )
        ref = done[0]
        if ref in self._starting:
            aid = self._starting.pop(ref)
            try:
                name, seconds, prefetch = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                raise TstError(
                    _one_line(cause) if isinstance(cause, TstError) else str(exc)
                ) from None
            except ray.exceptions.RayError as exc:
                self._drop(aid)
                if not (self._starting or self._running):
                    raise TstError(f"the Ray actors died while loading the models: {exc}") from None
                return
            self.on_setup(name, seconds)
            self._prefetch[aid] = prefetch
            self._give(aid, dispatch)
            return
        aid = self._running.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as exc:
            self._drop(aid)
            lost = dispatch.lost(aid)
            if lost is not None:
                why = _one_line(exc).split(". ")[0]
                yield PhotoResult(
                    str(lost.photo), "failed", f"the Ray actor running this photo died: {why}"
                )
            if dispatch.queue:
                self._start(cls, place, setup_job)
            return
        self._give(aid, dispatch)
        yield result

    def _give(self, aid: int, dispatch: Dispatcher) -> None:
        work = dispatch.assign(aid, self._prefetch.get(aid, False))
        if work is None:
            self.ray.kill(self._actors.pop(aid))
            return
        self._running[self._actors[aid].run.remote(*work)] = aid

    def _start(self, cls: Any, place: Placement, setup_job: Job) -> None:
        actor = cls.remote(self.spec, place.threads)
        self._actors[self._next_id] = actor
        self._starting[actor.setup.remote(setup_job)] = self._next_id
        self._next_id += 1

    def _drop(self, aid: int) -> None:
        actor = self._actors.pop(aid, None)
        if actor is not None:
            self.ray.kill(actor)
