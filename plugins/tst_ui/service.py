"""The UI's operations over the ``tst_core`` API: what the page may do, without HTTP.

Segmenting goes through :class:`tst_core.api.Pipeline` (one per segmenter, its model built
once), a run through ``Pipeline.run`` with the segmentation the page showed, a comparison
through :func:`tst_core.compare.compare`. Nothing here stylises, blends or measures itself.
"""

from __future__ import annotations

import json
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from tst_core import option_tables as opts
from tst_core.api import Pipeline, session
from tst_core.compare import compare
from tst_core.config import preset_names
from tst_core.errors import InputError
from tst_core.plugins import Host
from tst_core.registry import Kind

from . import render
from .jobs import Job, JobQueue
from .spec import (
    JobSpec,
    Settings,
    changed_options,
    parse_targets,
    resolved_segmenter_options,
)
from .workspace import Gallery, Photo, Recent, Segmented, checked_image, new_id

#: photos and segmentations kept in memory (older ones must be opened again)
KEEP = 8


def _centre(box: list[int]) -> list[float]:
    """``[x, y]``: the centre of a box ``x0, y0, x1, y1``."""
    return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]


class UiService:
    """Everything ``tst ui`` serves, by id.

    :param workdir: uploads go to ``workdir/uploads``, job outputs to ``workdir/jobs/<id>``.
    :param abandon_after: seconds after which a job no page watches is cancelled.
    """

    def __init__(
        self,
        host: Host,
        settings: Settings,
        *,
        styles: Path | None,
        workdir: Path,
        max_upload: int,
        abandon_after: float,
    ) -> None:
        self.host = host
        self.settings = settings
        self.uploads = workdir / "uploads"
        self.outputs = workdir / "jobs"
        self.max_upload = max_upload
        self.styles_folder = styles
        self.gallery = Gallery(styles)
        self.photos: Recent[Photo] = Recent(KEEP)
        self.segmented: Recent[Segmented] = Recent(KEEP)
        self.jobs = JobQueue(abandon_after)
        default = settings.default_segmenter(host)
        self.defaults = session(**settings.segmenter_session_kwargs(host, default)).config
        self._segmenters: dict[str, Pipeline] = {}
        self._segment_lock = threading.Lock()
        self._pipeline: tuple[str, Pipeline] | None = None

    # --- what the page offers -----------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Plugins from the registries (third-party ones too), presets, styles, defaults."""
        run = self.defaults.run
        return {
            "segmenters": [
                self._segmenter_info(e.name, e.description) for e in self._reg("segmenter")
            ],
            "engines": [
                {"name": e.name, "description": e.description} for e in self._reg("engine")
            ],
            "blends": [{"name": e.name, "description": e.description} for e in self._reg("blend")],
            "presets": self.presets(),
            "defaults": {
                "segmenter": run.segmenter,
                "engine": run.engine,
                "blend": run.blend,
                "size": run.size,
                "config": self.settings.config or "",
            },
            "styles": [self.style_info(s.id) for s in self.gallery.styles.values()],
            "styles_folder": str(self.styles_folder) if self.styles_folder else None,
            "max_upload_mb": self.max_upload / 1e6,
        }

    def engine_info(self, name: Any) -> dict[str, Any]:
        """What the page needs to know of engine ``name``: whether it mixes styles (it was
        registered with ``resolves_styles=True``, as ``fast`` and ``cin`` are)."""
        name = self._plugin("engine", name)
        return {"name": name, "mixes": self.host.entry("engine", name).resolves_styles}

    def _reg(self, kind: Kind) -> list[Any]:
        return list(self.host.registry(kind))

    def _segmenter_info(self, name: str, description: str) -> dict[str, Any]:
        try:
            resolved = resolved_segmenter_options(self.host, self.settings, name)
            files = {
                k: str(v) for k, v in opts.to_table(resolved).items() if k in ("weights", "masks")
            }
        except Exception:  # a segmenter whose options do not resolve says so when used
            files = {}
        return {"name": name, "description": description, "files": files}

    def presets(self) -> list[dict[str, Any]]:
        """The configurations a job may use: defaults, the shipped presets, ``--config``."""
        values = ["", *preset_names()]
        if self.settings.config and self.settings.config not in values:
            values.append(self.settings.config)
        out = []
        for value in values:
            cfg = session(host=self.host, config=value or None, sets=self.settings.sets).config
            label = value if value in preset_names() else Path(value).name if value else "defaults"
            run = {"engine": cfg.run.engine, "blend": cfg.run.blend, "size": cfg.run.size}
            out.append({"value": value, "label": label, "run": run})
        return out

    def style_info(self, style_id: str) -> dict[str, Any]:
        style = self.gallery.styles[style_id]
        return {
            "id": style.id,
            "name": style.name,
            "uploaded": style.uploaded,
            "thumb": f"/api/styles/{style.id}/thumb.jpg",
        }

    # --- photos and segmentation --------------------------------------------------------

    def add_photo(self, path: Path) -> Photo:
        """An uploaded photo, read as ``tst run`` reads one (refused files are removed)."""
        image = checked_image(path, "photo")
        size = (int(image.shape[-2]), int(image.shape[-1]))
        photo = Photo(new_id(), path, size, render.display_photo(image))
        return self.photos.add(photo.id, photo)

    def segment(self, photo_id: str, segmenter: str) -> Segmented:
        """Find every instance of a photo with ``segmenter`` (its model is built once)."""
        photo = self.photos.get(photo_id, "photo")
        kwargs = self.settings.segmenter_session_kwargs(self.host, segmenter)
        key = json.dumps({k: v for k, v in kwargs.items() if k != "host"}, default=str)
        with self._segment_lock:
            if key not in self._segmenters:
                self._segmenters[key] = Pipeline(session(**kwargs))
            pipe = self._segmenters[key]
            t0 = time.perf_counter()
            seg = pipe.segment(checked_image(photo.path, "photo"))
            seconds = time.perf_counter() - t0
        options = pipe.session.config.options_for(self.host, "segmenter", segmenter)
        result = Segmented(new_id(), photo, segmenter, options, seg, seconds)
        return self.segmented.add(result.id, result)

    def segment_info(self, s: Segmented) -> dict[str, Any]:
        rows = [
            {
                "id": i,
                "label": inst.label,
                "score": round(inst.score, 3),
                "area": round(inst.area, 4),
            }
            for i, inst in enumerate(s.segmentation.instances)
        ]
        return {
            "id": s.id,
            "segmenter": s.segmenter,
            "seconds": round(s.seconds, 2),
            "instances": rows,
            "overlay": f"/api/segmentations/{s.id}/overlay.jpg",
        }

    def hit(self, seg_id: str, x: float, y: float) -> int | None:
        """The instance id under photo pixel ``(x, y)`` (see :func:`render.instance_at`)."""
        return render.instance_at(self.segmented.get(seg_id, "segmentation").segmentation, x, y)

    # --- jobs ---------------------------------------------------------------------------

    def submit(self, body: Any) -> Job:
        """Check the page's request and queue the job; problems are one :class:`TstError`."""
        spec = self.job_spec(body)
        kwargs = spec.session_kwargs(self.host)
        session(**kwargs)  # a bad size or preset is refused now, not when the job's turn comes
        work = self._run if spec.kind == "run" else self._compare
        return self.jobs.submit(Job(spec.kind, partial(work, spec), spec.command()))

    def job_spec(self, body: Any) -> JobSpec:
        if not isinstance(body, dict):
            raise InputError("a job request must be a JSON object")
        kind = body.get("kind")
        if kind not in ("run", "compare"):
            raise InputError(f"a job is 'run' or 'compare', not {kind!r}")
        seg = self.segmented.get(str(body.get("segmentation")), "segmentation")
        targets = parse_targets(body.get("targets"), seg.segmentation, self.gallery.paths())
        engine = self._plugin("engine", body.get("engine"))
        mixed = [t.selector for t in targets if t.mix is not None]
        if mixed and not self.engine_info(engine)["mixes"]:
            raise InputError(
                f"engine '{engine}' does not mix styles (target {mixed[0]}); choose an engine "
                "that runs trained networks (cin, fast) or give the target one style"
            )
        blend = self._plugin("blend", body.get("blend"))
        size = body.get("size")
        if not isinstance(size, int) or isinstance(size, bool):
            raise InputError(f"the size must be a whole number of pixels, got {size!r}")
        config = body.get("config", "")
        if config not in [p["value"] for p in self.presets()]:
            raise InputError(f"unknown preset {config!r}")
        config = config or None
        base = session(
            host=self.host, config=config, sets=self.settings.sets, segmenter=seg.segmenter
        )
        defaults = base.config.options_for(self.host, "segmenter", seg.segmenter)
        return JobSpec(
            kind,
            seg.photo.path,
            seg.segmentation,
            seg.segmenter,
            changed_options(seg.options, defaults),
            targets,
            engine,
            blend,
            size,
            config,
            self.settings.sets,
            self.settings.device,
            blends=tuple(self.host.registry("blend").names()),
        )

    def _plugin(self, kind: Kind, name: Any) -> str:
        if not isinstance(name, str):
            raise InputError(f"choose a {kind}")
        return self.host.entry(kind, name).name  # unknown names: the registry's error

    def _snapshot_sets(self, engine: str) -> list[str]:
        """Ask an engine that can for an intermediate picture every iteration (the job shows
        one every few seconds); engines without the option just show progress."""
        fields = opts.field_types(self.host.entry("engine", engine).options)
        key = f"engine.{engine}.snapshot_every"
        if "snapshot_every" not in fields or any(s.startswith(key) for s in self.settings.sets):
            return []
        return [f"{key}=1"]

    def _run(self, spec: JobSpec, job: Job) -> dict[str, Any]:
        kwargs = spec.session_kwargs(self.host, self._snapshot_sets(spec.engine))
        pipe = self._run_pipeline(kwargs)
        result = pipe.run(
            spec.photo, spec.styles(), segmentation=spec.segmentation, progress=job.progress
        )
        folder = self._job_folder(job)
        written = result.save(folder / spec.output_name())
        views = render.result_views(result, folder, written[0].stem)
        job.outputs = {p.name: p for p in (*written, *views)}
        timings = result.report["timings"]
        size = [int(v) for v in result.pixels.shape[:2]]
        windows = result.report.get("windows") or []
        focus = _centre(windows[0]["box"]) if windows else [size[1] / 2, size[0] / 2]
        return {
            "image": self.file_url(job, written[0]),
            "report": self.file_url(job, written[1]),
            "display": self.file_url(job, views[0]),
            "before": self.file_url(job, views[1]),
            "size": size,
            "focus": focus,
            "seconds": round(timings["total"], 1),
            "stylize": round(timings["stylize"], 1),
        }

    def _run_pipeline(self, kwargs: dict[str, Any]) -> Pipeline:
        """The last job's pipeline when the configuration is the same (the engine's network
        stays loaded), else a new one. Only the worker thread calls this."""
        key = json.dumps({k: v for k, v in kwargs.items() if k != "host"}, default=str)
        if self._pipeline is None or self._pipeline[0] != key:
            self._pipeline = (key, Pipeline(session(**kwargs)))
        return self._pipeline[1]

    def _compare(self, spec: JobSpec, job: Job) -> dict[str, Any]:
        kwargs = spec.session_kwargs(self.host, self._snapshot_sets(spec.engine))
        res = compare(
            spec.photo,
            spec.styles(),
            engines=[spec.engine],
            blends=list(spec.blends),
            segmentation=spec.segmentation,
            progress=job.progress,
            **kwargs,
        )
        written = res.save(self._job_folder(job) / spec.output_name())
        job.outputs = {p.name: p for p in written}
        return {
            "sheet": self.file_url(job, written[0]),
            "report": self.file_url(job, written[1]),
            "csv": self.file_url(job, written[2]),
            "table": res.cells(),
            "notes": res.notes,
        }

    def _job_folder(self, job: Job) -> Path:
        folder = self.outputs / job.id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @staticmethod
    def file_url(job: Job, path: Path) -> str:
        return f"/api/jobs/{job.id}/files/{path.name}"

    def status(self, job: Job) -> dict[str, Any]:
        """What the page shows of a job."""
        return {
            "id": job.id,
            "kind": job.kind,
            "state": job.state,
            "position": self.jobs.position(job),
            "step": job.step,
            "total": job.total,
            "loss": job.loss,
            "elapsed": round(job.elapsed, 1),
            "preview": job.preview_version,
            "error": job.error,
            "note": job.note,
            "result": job.result if job.state == "done" else None,
            "command": job.command,
        }
