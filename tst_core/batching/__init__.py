"""Batches: the same styling over many photos, resumable, on local processes or on Ray.

>>> import tst_core
>>> for r in tst_core.batch(["photos/"], ["person=starry_night.jpg"], output="styled/", jobs=2,
...                         segmenter="yolo", segmenter_options={"weights": "yolov8n-seg.tflite"}):
...     print(r.status, r.photo, r.reason)

A photo never stops the batch: each ends ``done``, ``skipped`` (nothing to do: its output is up
to date, or no selector matched anything in it) or ``failed`` (it could not be read, or its run
failed), and ``OUTPUT/batch.jsonl`` gets one line per photo as it finishes. A photo whose output
and report exist, and whose report names the same resolved configuration and the same input
contents (:mod:`tst_core.fingerprint`), is skipped unless ``force``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..device import numeric_threads
from ..errors import InputError, SelectionError, TstError
from ..files import WRITE_FORMATS
from ..plugins import Host
from ..progress import LINE_EVERY
from ..segmenter_flags import PATH_KEYS
from ..select import StylesLike, parse_style_arg, style_requests
from .jobs import (
    PHOTO_SUFFIXES,
    Job,
    absolute,
    check_jobs,
    find_photos,
    has_placeholders,
    make_jobs,
    read_manifest,
)
from .local import LocalExecutor, cpu_count, worker_gpus
from .progress import BatchProgress, BatchProgressMode
from .record import RECORD_FILE, PhotoResult, Record, last_skips
from .worker import Worker, WorkerSpec, session_kwargs

if TYPE_CHECKING:
    from ..api import Session

Executor = Literal["local", "inline", "ray"]
EXECUTORS: tuple[Executor, ...] = ("local", "inline", "ray")

__all__ = ["BatchRun", "Job", "PhotoResult", "batch"]


class BatchRun:
    """A checked batch: iterate over it to run it (one :class:`PhotoResult` per photo, in the
    order they finish). Afterwards ``counts``, ``seconds`` and ``setups`` tell how it went.

    :param jobs: the photos.
    :param output: the output folder (holds ``batch.jsonl``).
    """

    def __init__(
        self,
        jobs: Sequence[Job],
        output: Path,
        spec: WorkerSpec,
        *,
        executor: Executor = "local",
        workers: int | None = 1,
        threads: int | None = None,
        address: str | None = None,
        host: Host | None = None,
        device: str = "auto",
    ) -> None:
        self.jobs = list(jobs)
        self.output = output
        self.spec = spec
        self.executor = executor
        self.workers = workers
        self.threads = threads
        self.address = address
        self.host = host
        #: the configured device (``auto``/``cuda`` spread local workers over the GPUs)
        self.device = device
        self.counts: Counter[str] = Counter()
        #: ``(worker, seconds)`` each worker spent building its plugins
        self.setups: list[tuple[str, float]] = []
        self.seconds = 0.0
        self._shown: BatchProgress | None = None

    @property
    def record(self) -> Path:
        return self.output / RECORD_FILE

    def __iter__(self) -> Generator[PhotoResult, None, None]:
        try:
            self.output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a full disk, a read-only mount, a file in the way
            raise InputError(f"cannot create -o '{self.output}': {exc.strerror or exc}") from None
        record = Record(self.output, self.spec.owner)
        t0 = time.perf_counter()
        try:
            for result in self._results():
                record.append(result)
                self.counts[result.status] += 1
                yield result
        finally:
            record.close()
            self.seconds = time.perf_counter() - t0

    def run(self, progress: BatchProgressMode = "off") -> BatchRun:
        """Run the whole batch, showing ``progress`` on stderr; returns ``self``."""
        shown = self._shown = BatchProgress(progress, len(self.jobs))
        if shown.mode == "lines":  # off a terminal a photo's own run is not silent either
            self.spec = dataclasses.replace(self.spec, progress_every=LINE_EVERY)
        results = self.__iter__()
        try:
            for result in results:
                shown(result)
        finally:  # on Ctrl-C too: stop the workers now, not when the traceback is freed
            results.close()
            shown.close()
            self._shown = None
        return self

    def _results(self) -> Iterator[PhotoResult]:
        def on_setup(name: str, seconds: float) -> None:
            self.setups.append((name, seconds))
            if self._shown is not None:
                self._shown.setup(name, seconds)

        if self.executor == "ray":
            from .ray_executor import RayExecutor

            ray = RayExecutor(self.spec, self.workers, self.threads, self.address, on_setup)
            yield from ray.run(self.jobs)
        elif self.executor == "local":
            import torch

            workers = self.workers or 1
            threads = self.threads or max(1, cpu_count() // workers)
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            gpus = worker_gpus(self.device, torch.cuda.device_count(), visible)
            # the engine computes with as many threads as one process would, whatever --jobs
            numeric = numeric_threads() or self.threads or torch.get_num_threads()
            local = LocalExecutor(self.spec, workers, threads, gpus, on_setup, numeric)
            yield from local.run(self.jobs)
        else:
            yield from self._inline(on_setup)

    def _inline(self, on_setup: Any) -> Iterator[PhotoResult]:
        worker = Worker(self.spec, self.host)
        try:
            on_setup(worker.name, worker.setup(self.jobs[0]))
            for job, ahead in zip(self.jobs, [*self.jobs[1:], None], strict=True):
                yield worker.run(job, ahead)
        finally:
            worker.close()


def batch(
    inputs: Sequence[str | Path] = (),
    styles: StylesLike = (),
    *,
    output: str | Path,
    manifest: str | Path | None = None,
    jobs: int | None = None,
    executor: Executor = "local",
    address: str | None = None,
    threads: int | None = None,
    force: bool = False,
    prefetch: Literal["auto", "on", "off"] = "auto",
    suffix: str = ".png",
    host: Host | None = None,
    **kwargs: Any,
) -> BatchRun:
    """Check a batch and return it, ready to run (iterate over it, or call ``.run()``).

    :param inputs: photo files, folders (walked recursively for image files) and globs.
    :param styles: ``--style`` texts for every photo (``{stem}``, ``{name}``, ``{rel}`` and
        ``{parent}`` are filled per photo, as in the segmenter's ``masks``/``weights``).
    :param output: the output folder; outputs mirror the input tree below it.
    :param manifest: a JSON-lines file of jobs instead of ``inputs`` (see
        :func:`~tst_core.batching.jobs.read_manifest`).
    :param jobs: worker processes (or Ray actors; ``None``: 1 locally, one per GPU or per two
        CPUs of a Ray cluster).
    :param executor: ``local`` (worker processes), ``ray`` (actors on a Ray cluster at
        ``address``) or ``inline`` (in this process, for debugging; uses ``host``).
    :param threads: CPU threads per worker; ``None``: the CPUs divided among the workers.
    :param force: run every photo even when its output is up to date.
    :param prefetch: segment photo i+1 while stylising photo i (``auto``: on a GPU).
    :param suffix: the outputs' image type.
    :param kwargs: configuration for every photo, as for :func:`tst_core.api.session`.
    :raises TstError: bad inputs, styles, options or manifest, before anything runs.
    """
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor '{executor}'; use one of {', '.join(EXECUTORS)}")
    if host is not None and executor != "inline":
        raise ValueError("host= applies to executor='inline' only; workers load the entry points")
    if executor == "ray":
        from .ray_executor import import_ray

        import_ray()  # a missing extra is one line, before any work
    outdir = absolute(output)
    if os.path.lexists(outdir) and not outdir.is_dir():
        raise InputError(f"-o '{output}' exists and is not a folder; give a folder")
    if suffix.lower() not in WRITE_FORMATS:
        raise InputError(
            f"--suffix '{suffix}' is not an image type tst writes; use one of "
            f"{', '.join(sorted(WRITE_FORMATS))}"
        )
    texts = _style_texts(styles)
    kwargs = _absolute_paths(kwargs)
    device = _check_session(host, kwargs, {}).config.run.device
    if manifest is not None:
        job_list = read_manifest(Path(manifest), outdir, suffix, texts)
    else:
        if not inputs:
            raise InputError("no photos given: name files, folders or globs, or use --manifest")
        if not texts:
            raise SelectionError("no --style given; add one, e.g. --style person=starry_night.jpg")
        photos = find_photos(inputs, exclude=outdir)
        if not photos:
            raise InputError(f"no photos in {', '.join(map(str, inputs))} ({_suffixes()})")
        job_list = make_jobs(photos, outdir, texts, kwargs.get("segmenter_options", {}), suffix)
    check_jobs(job_list)
    _check_jobs_options(host, kwargs, job_list)
    _check_not_inputs(host, kwargs, job_list, outdir, manifest)
    _check_style_files(job_list)
    skips = last_skips(outdir / RECORD_FILE)
    job_list = [
        dataclasses.replace(j, skip_key=skips[str(j.photo)][0], skip_reason=skips[str(j.photo)][1])
        if str(j.photo) in skips
        else j
        for j in job_list
    ]
    spec = WorkerSpec(kwargs, force, prefetch, str(outdir), secrets.token_hex(8))
    workers = jobs if jobs is not None or executor == "ray" else 1
    return BatchRun(
        job_list,
        outdir,
        spec,
        executor=executor,
        workers=workers,
        threads=threads,
        address=address,
        host=host,
        device=device,
    )


def _style_texts(styles: StylesLike) -> list[str]:
    """``--style`` texts (they travel to worker processes) from any form ``run`` takes."""
    out = []
    for req in style_requests(styles):
        if not isinstance(req.style, (str, Path)):
            raise InputError("a batch takes styles as paths (they travel to worker processes)")
        out.append(req.text())
    return out


def _absolute_paths(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Paths in the configuration made absolute: workers (and Ray nodes) run elsewhere."""
    out = dict(kwargs)
    config = out.get("config")
    if isinstance(config, (str, Path)) and Path(config).is_file():
        out["config"] = str(absolute(config))
    seg = dict(out.get("segmenter_options") or {})
    for key in PATH_KEYS:
        if isinstance(seg.get(key), (str, Path)) and not has_placeholders(str(seg[key])):
            seg[key] = str(absolute(seg[key]))
    if seg:
        out["segmenter_options"] = seg
    return out


def _check_session(
    host: Host | None, base: Mapping[str, Any], overrides: Mapping[str, Any]
) -> Session:
    from ..api import session

    kw = session_kwargs(base, overrides)
    seg = kw.get("segmenter_options") or {}
    # a {stem} pattern is not a path yet; it is checked per photo
    kw["segmenter_options"] = {
        k: v for k, v in seg.items() if not (isinstance(v, str) and has_placeholders(v))
    }
    return session(host=host, **kw)


def _check_jobs_options(host: Host | None, base: Mapping[str, Any], jobs: Sequence[Job]) -> None:
    """Resolve each distinct per-photo configuration once, so a bad manifest option is an
    error before the batch starts (building the plugins is left to the workers)."""
    seen: set[str] = set()
    for job in jobs:
        key = json.dumps(job.overrides, sort_keys=True, default=str)
        if key in seen or not job.overrides:
            continue
        seen.add(key)
        try:
            _check_session(host, base, job.overrides)
        except TstError as exc:
            raise type(exc)(f"photo '{job.photo}': {exc}") from None


def _check_not_inputs(
    host: Host | None,
    base: Mapping[str, Any],
    jobs: Sequence[Job],
    outdir: Path,
    manifest: str | Path | None,
) -> None:
    """No photo's image or report may be a file its run reads (a photo of the batch, a style
    image, a mask, a config, a checkpoint, the manifest) or lie in a folder it reads (a masks
    folder), through ``..`` and links too; nor may the batch record be one. Refused before any
    photo runs, as ``tst run`` refuses it before stylising."""
    from ..api import run_outputs
    from ..outputs import Input, Output, check_not_inputs

    resolved = {os.path.realpath(j.photo): j.photo for j in jobs}
    shared = [Input(Path(manifest), "manifest")] if manifest is not None else []
    check_not_inputs([Output(outdir / RECORD_FILE, "the batch record in -o")], shared)
    sessions: dict[str, Session] = {}
    for job in jobs:
        key = json.dumps(job.overrides, sort_keys=True, default=str)
        if key not in sessions:
            sessions[key] = _check_session(host, base, job.overrides)
        outs = run_outputs(job.output)
        photos = [
            Input(resolved[p], "photo") for o in outs if (p := os.path.realpath(o.path)) in resolved
        ]
        requests = [parse_style_arg(t) for t in job.styles]
        inputs = [*shared, *photos, *sessions[key].input_files(job.photo, requests)]
        try:
            check_not_inputs(outs, inputs)
        except InputError as exc:
            raise InputError(f"photo '{job.photo}': {exc}") from None


def _check_style_files(jobs: Sequence[Job]) -> None:
    """A style that names an image file that is not there fails every photo: refuse it now."""
    seen: set[str] = set()
    for job in jobs:
        for text in job.styles:
            style = str(parse_style_arg(text).style)
            if style in seen:
                continue
            seen.add(style)
            if Path(style).suffix.lower() in PHOTO_SUFFIXES and not Path(style).exists():
                raise InputError(f"style image '{style}' does not exist")


def _suffixes() -> str:
    return "image files: " + ", ".join(sorted(PHOTO_SUFFIXES))
