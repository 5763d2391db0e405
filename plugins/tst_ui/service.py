"""The UI's operations over the ``tst_core`` API: what the page may do, without HTTP.

Segmenting goes through :class:`tst_core.api.Pipeline` (one per segmenter, its model built
once), a run through ``Pipeline.run`` with the segmentation the page showed, a comparison
through :func:`tst_core.compare.compare`. Nothing here stylises, blends or measures itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from tst_core import option_tables as opts
from tst_core.api import Pipeline, session
from tst_core.compare import compare
from tst_core.config import preset_names
from tst_core.errors import InputError, printable
from tst_core.files import MASK_INDEX_FILE
from tst_core.outputs import inside, make_folders_inside
from tst_core.pipeline import mixes_paintings
from tst_core.plugins import Host
from tst_core.registry import Kind
from tst_core.types import Segmentation

from . import render
from .jobs import Job, JobQueue
from .regions import parse_region, parse_stroke, rasterize
from .restore import restore
from .spec import (
    JobSpec,
    Settings,
    changed_options,
    parse_targets,
    resolved_segmenter_options,
)
from .workspace import (
    Gallery,
    Photo,
    Recent,
    Segmented,
    Sessions,
    checked_image,
    discard,
    new_id,
)

#: photos and segmentations kept in memory (older ones must be opened again)
KEEP = 8
#: the largest working size a job may ask for (the page offers up to 2048)
MAX_SIZE = 8192
#: a session's upload quota, in uploads of the largest size (``--max-upload-mb``)
SESSION_UPLOADS = 10


def _centre(box: list) -> list[float]:
    """``[x, y]``: the centre of a box ``x0, y0, x1, y1``."""
    return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]


def _focus(report: dict, windows: list, size: list[int]) -> list[float]:
    """Where 1:1 opens, ``[x, y]``: the centre of the first target's instances (their boxes,
    photo pixels), else of the first window, else of the picture."""
    boxes = {i["id"]: i["box"] for i in report.get("instances") or []}
    for target in report.get("targets") or []:
        mine = [boxes[i] for i in target.get("instance_ids") or [] if i in boxes]
        if mine:
            x0, y0 = min(b[0] for b in mine), min(b[1] for b in mine)
            x1, y1 = max(b[2] for b in mine), max(b[3] for b in mine)
            return _centre([x0, y0, x1, y1])
    if windows:
        return _centre(windows[0]["box"])
    return [size[1] / 2, size[0] / 2]


class UiService:
    """Everything ``tst ui`` serves, by id.

    :param workdir: uploads go to ``workdir/uploads``, job outputs to ``workdir/jobs/<id>``.
    :param abandon_after: seconds after which a job no page watches is cancelled.
    :param max_session: upload bytes one page session may keep (default: 10 uploads' worth).
    :param kept: where a copy of each upload a job uses is kept for its command line, which
        must still work when the server (and a temporary ``workdir``) is gone; default
        ``workdir/kept``.

    Methods that take ``page`` act for that page's session (see :mod:`.workspace`): a photo,
    segmentation or uploaded painting of another session is unknown to it.
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
        max_session: int | None = None,
        kept: Path | None = None,
    ) -> None:
        self.host = host
        self.settings = settings
        self.uploads = workdir / "uploads"
        self.kept = kept or workdir / "kept"
        #: whether the server is stopping (``tst ui`` sets it to its server's should_exit)
        self.stopping: Callable[[], bool] = lambda: False
        self.outputs = workdir / "jobs"
        self.max_upload = max_upload
        self.styles_folder = styles
        self.gallery = Gallery(styles)
        self.photos: Recent[Photo] = Recent(KEEP)
        self.segmented: Recent[Segmented] = Recent(KEEP)
        self.jobs = JobQueue(abandon_after)
        self.sessions = Sessions(max_session or SESSION_UPLOADS * max_upload)
        default = settings.default_segmenter(host)
        self.defaults = session(**settings.segmenter_session_kwargs(host, default)).config
        self._segmenters: dict[str, Pipeline] = {}
        self._segment_lock = threading.Lock()
        self._pipeline: tuple[str, Pipeline] | None = None
        self._prompter: tuple[str, Any] | None = None
        self._text: Any = None

    # --- what the page offers -----------------------------------------------------------

    def info(self, page: str = "") -> dict[str, Any]:
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
            "styles": [self.style_info(s.id) for s in self.gallery.shown(page)],
            "styles_folder": str(self.styles_folder) if self.styles_folder else None,
            "max_upload_mb": self.max_upload / 1e6,
        }

    def engine_info(self, name: Any) -> dict[str, Any]:
        """What the page needs to know of engine ``name``: whether it mixes styles (it was
        registered with ``resolves_styles=True``, as ``fast`` and ``cin`` are, or its class
        says ``mixes_paintings = True``, as ``gatys``'s does; the pipeline asks the same)."""
        name = self._plugin("engine", name)
        entry = self.host.entry("engine", name)
        return {"name": name, "mixes": entry.resolves_styles or mixes_paintings(entry.factory)}

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

    # --- sessions -------------------------------------------------------------------------

    def upload_room(self, page: str) -> int:
        """Bytes session ``page`` may still upload (its quota less what it keeps)."""
        return min(self.max_upload, self.sessions.room(page))

    def uploaded(self, page: str, path: Path, add: Any) -> Any:
        """Count the upload ``path`` against session ``page`` and hand it to ``add``; a file
        that ``add`` refuses is removed and no longer counted."""
        size = path.stat().st_size
        self.sessions.added(page, path)
        try:
            return add(path, page)
        except BaseException:
            self.sessions.removed(page, path, size)
            discard(path)
            raise

    def sweep(self) -> None:
        """End the idle sessions (no job of theirs waiting or running): their uploads go."""
        busy = {j.session for j in list(self.jobs.jobs.values()) if not j.finished}
        for ended in self.sessions.sweep(busy):
            self._forget(ended.id, ended.files)

    def close(self) -> None:
        """The server stops: every session's uploads are deleted."""
        self.sessions.end_all()

    def _forget(self, page: str, files: list[Path]) -> None:
        self.photos.drop(lambda p: p.session != page)
        self.segmented.drop(lambda s: s.photo.session != page)
        self.gallery.forget(files)

    def photo(self, photo_id: str, page: str = "") -> Photo:
        photo = self.photos.get(photo_id, "photo")
        if photo.session != page:
            raise InputError("unknown photo (the server restarted or forgot it): open it again")
        return photo

    def segmentation(self, seg_id: str, page: str = "") -> Segmented:
        seg = self.segmented.get(seg_id, "segmentation")
        if seg.photo.session != page:
            raise InputError(
                "unknown segmentation (the server restarted or forgot it): open it again"
            )
        return seg

    # --- photos and segmentation --------------------------------------------------------

    def add_photo(self, path: Path, page: str = "") -> Photo:
        """An uploaded photo, read as ``tst run`` reads one (refused files are removed)."""
        image = checked_image(path, "photo")
        size = (int(image.shape[-2]), int(image.shape[-1]))
        photo = Photo(new_id(), path, size, render.display_photo(image), page)
        return self.photos.add(photo.id, photo)

    def open_upload(self, path: Path, page: str = "") -> dict[str, Any]:
        """An uploaded photo; or, when it is a picture tst wrote, what its recipe restores
        (:mod:`.restore`): the photo it was made from, its masks, targets and settings (the
        picture itself is not kept)."""
        from tst_core import metadata, recipe

        try:
            text = metadata.read(path, recipe.KEY, limit=self.max_upload)
        except OSError:
            text = None
        if text is None:
            return self.photo_info(self.add_photo(path, page))
        try:
            found = recipe.parse(text, path.name)
            restored = restore(found, path.name, self.uploads, self.gallery.paths(page))
        finally:
            discard(path)
        photo = self.add_photo(restored.photo, page)
        seg = Segmented(new_id(), photo, restored.segmenter, None, restored.segmentation, 0.0)
        seg.version = 1  # masks from a recipe: a job reads them back as mask files
        self.segmented.add(seg.id, seg)
        return {
            **self.photo_info(photo),
            "restored": {
                "segmentation": self.segment_info(seg),
                "targets": restored.targets,
                "settings": restored.settings,
            },
        }

    @staticmethod
    def photo_info(photo: Photo) -> dict[str, Any]:
        return {
            "id": photo.id,
            "name": photo.path.name,
            "size": list(photo.size),
            "display": f"/api/photos/{photo.id}/display.jpg",
        }

    def segment(self, photo_id: str, segmenter: str, page: str = "") -> Segmented:
        """Find every instance of a photo with ``segmenter`` (its model is built once)."""
        photo = self.photo(photo_id, page)
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
            "version": s.version,
            "history": s.history(),
        }

    def prompt_segmenter(self) -> tuple[str, Any]:
        """The segmenter that cuts the page's boxes and clicks, built once: ``sam`` when it is
        installed and its checkpoint is on this machine (``--weights`` or the cache), else
        ``grabcut`` (OpenCV, no weights), so drawing regions works offline."""
        if self._prompter is None:
            name = "sam" if self._sam_ready() else "grabcut"
            sess = session(**self.settings.segmenter_session_kwargs(self.host, name))
            self._prompter = (name, sess.build("segmenter", name, interactive=True))
        return self._prompter

    def _sam_ready(self) -> bool:
        try:
            from tst_sam.model import CHECKPOINTS, import_sam

            from tst_core.hub import cached_path
            from tst_core.records import record

            import_sam()
            o = resolved_segmenter_options(self.host, self.settings, "sam")
            if o.weights is not None:
                return Path(o.weights).is_file()
            return cached_path(record(CHECKPOINTS[o.model_type])).is_file()
        except Exception:  # not installed, not registered, no checkpoint: grabcut
            return False

    def region(self, seg_id: str, body: Any, page: str = "") -> dict[str, Any]:
        """A region from the page's box and clicks (:mod:`.regions`): a new instance of the
        photo's segmentation, or one it replaces (``edit``); the instances before it keep
        their ids. Returns :meth:`segment_info` with ``region`` (its id) and ``cut_by``."""
        seg = self.segmentation(seg_id, page)
        size = seg.segmentation.size
        request = parse_region(body, size, len(seg.segmentation))
        photo = checked_image(seg.photo.path, "photo")
        prompt = request.prompt
        if request.refine and request.edit is not None:  # from the instance's own mask
            mask = seg.segmentation.instances[request.edit].mask_at(size)  # at the photo's
            prompt = dataclasses.replace(prompt, mask=mask.clone())
        with self._segment_lock:
            name, prompter = self.prompt_segmenter()
            t0 = time.perf_counter()
            inst = prompter.segment_prompt(photo, prompt)
            seconds = time.perf_counter() - t0
        if request.edit is not None and "label" not in body:  # an edit keeps its name
            inst = dataclasses.replace(inst, label=seg.segmentation.instances[request.edit].label)
        seg.replace(inst, request.edit)
        info = self.segment_info(seg)
        region = len(seg.segmentation) - 1 if request.edit is None else request.edit
        return {**info, "region": region, "cut_by": name, "cut_seconds": round(seconds, 2)}

    def text_regions(self, seg_id: str, body: Any, page: str = "") -> dict[str, Any]:
        """Regions named in words (the page's text box): the ``text`` segmenter's instances
        for ``{"prompt": "red car. shirt"}``, added after the photo's instances (each labelled
        with its phrase). Its OWLv2 folder comes from ``tst ui``'s ``--set
        segmenter.text.weights=FOLDER`` (or ``--segmenter text --weights FOLDER``)."""
        from tst_text.options import TextOptions

        seg = self.segmentation(seg_id, page)
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > 200:
            raise InputError('type what to find, in words ("red car"; at most 200 characters)')
        if not prompt.isprintable():
            raise InputError("what to find must be printable text")
        phrases = TextOptions(prompt=prompt).phrases()
        photo = checked_image(seg.photo.path, "photo")
        with self._segment_lock:
            if self._text is None:
                sess = session(**self.settings.segmenter_session_kwargs(self.host, "text"))
                self._text = sess.build("segmenter", "text", interactive=True)
            found = self._text.segment_text(photo, phrases)
        if not len(found):
            raise InputError(f"found nothing for {', '.join(repr(p) for p in phrases)}")
        first = len(seg.segmentation)
        for inst in found:
            seg.replace(inst, None)
        info = self.segment_info(seg)
        return {**info, "regions": list(range(first, len(seg.segmentation)))}

    def paint(self, seg_id: str, body: Any, page: str = "") -> dict[str, Any]:
        """A brush stroke (:func:`.regions.parse_stroke`) added to or erased from an
        instance's mask at the photo's size; :meth:`segment_info` after it."""
        seg = self.segmentation(seg_id, page)
        stroke = parse_stroke(body, seg.segmentation.size, len(seg.segmentation))
        drawn = rasterize(stroke, seg.segmentation.size)
        if drawn is not None:
            y0, x0, cover = drawn
            seg.paint(stroke.target, y0, x0, cover, stroke.mode == "add")
        return self.segment_info(seg)

    def step(self, seg_id: str, back: bool, page: str = "") -> dict[str, Any]:
        """Undo (``back``) or redo the last change of a segmentation; :meth:`segment_info`."""
        seg = self.segmentation(seg_id, page)
        if not (seg.undo() if back else seg.redo()):
            raise InputError(f"nothing to {'undo' if back else 'redo'}")
        return self.segment_info(seg)

    def mask_png(self, seg_id: str, index: str, page: str = "") -> bytes:
        """Instance ``index``'s mask at the photo's size, 8-bit grey (the view at 1:1)."""
        seg = self.segmentation(seg_id, page)
        if not index.isdigit() or int(index) >= len(seg.segmentation):
            raise InputError(f"no instance {index!r} in this photo")
        segmentation = seg.segmentation
        return render.encode_mask(segmentation.instances[int(index)].mask_at(segmentation.size))

    def hit(self, seg_id: str, x: float, y: float, page: str = "") -> int | None:
        """The instance id under photo pixel ``(x, y)`` (see :func:`render.instance_at`)."""
        return render.instance_at(self.segmentation(seg_id, page).segmentation, x, y)

    # --- jobs ---------------------------------------------------------------------------

    def submit(self, body: Any, page: str = "") -> Job:
        """Check the page's request and queue the job; problems are one :class:`TstError`."""
        spec = self.job_spec(body, page)
        kwargs = spec.session_kwargs(self.host)
        session(**kwargs)  # a bad size or preset is refused now, not when the job's turn comes
        work = self._run if spec.kind == "run" else self._compare
        command = spec.command(self._keep)
        return self.jobs.submit(Job(spec.kind, partial(work, spec), command, page))

    def _keep(self, path: Path) -> Path:
        """``path``, or for an upload a copy under :attr:`kept` named by its content's hash
        (``kept/3f2a…/photo.jpg``), which the server never removes."""
        if not path.is_relative_to(self.uploads):
            return path
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        copy = self.kept / digest / path.name
        if not copy.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            tmp = copy.with_name(f".{copy.name}.{os.getpid()}.part")
            shutil.copyfile(path, tmp)
            os.replace(tmp, copy)
        return copy

    def job_spec(self, body: Any, page: str = "") -> JobSpec:
        if not isinstance(body, dict):
            raise InputError("a job request must be a JSON object")
        kind = body.get("kind")
        if kind not in ("run", "compare"):
            raise InputError(f"a job is 'run' or 'compare', not {printable(repr(kind))[:40]}")
        seg = self.segmentation(_text(body.get("segmentation"), "segmentation"), page)
        targets = parse_targets(body.get("targets"), seg.segmentation, self.gallery.paths(page))
        engine = self._plugin("engine", body.get("engine"))
        mixed = [t.selector for t in targets if t.mix is not None]
        if mixed and not self.engine_info(engine)["mixes"]:
            raise InputError(
                f"engine '{engine}' does not mix styles (target {mixed[0]}); choose an engine "
                "that mixes them (gatys, cin, fast) or give the target one style"
            )
        blend = self._plugin("blend", body.get("blend"))
        size = body.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_SIZE:
            shown = printable(repr(size))[:40]
            raise InputError(
                f"the size must be a whole number of pixels, 1 to {MAX_SIZE}, got {shown}"
            )
        config = body.get("config", "")
        if not isinstance(config, str) or config not in [p["value"] for p in self.presets()]:
            raise InputError(f"unknown preset {printable(repr(config))[:80]}")
        config = config or None
        base = session(
            host=self.host, config=config, sets=self.settings.sets, segmenter=seg.segmenter
        )
        defaults = base.config.options_for(self.host, "segmenter", seg.segmenter)
        segmentation = seg.segmentation
        if seg.version:  # regions drawn in the page: the job reads them back as mask files
            segmenter, options = "maskfile", {"masks": self.export_masks(seg)}
            segmentation = Segmentation(  # the job's own copy: painting goes on meanwhile
                tuple(dataclasses.replace(i, mask=i.mask.clone()) for i in segmentation),
                segmentation.size,
            )
        else:
            segmenter, options = seg.segmenter, changed_options(seg.options, defaults)
        return JobSpec(
            kind,
            seg.photo.path,
            segmentation,
            segmenter,
            options,
            targets,
            engine,
            blend,
            size,
            config,
            self.settings.sets,
            self.settings.device,
            blends=tuple(self.host.registry("blend").names()),
        )

    def export_masks(self, seg: Segmented) -> Path:
        """The instances as the page changed them, one PNG each and ``instances.json``
        (``maskfile``'s layout), in ``jobs/masks/<segmentation>-v<version>``: what the job's
        command line reads (``--segmenter maskfile --masks FOLDER``)."""
        from tst_core.results import SegmentResult

        folder = self.outputs / "masks" / f"{seg.id}-v{seg.version}"
        if not (folder / MASK_INDEX_FILE).is_file():
            result = SegmentResult(torch.empty(0), seg.segmentation, seg.segmenter, 0.0)
            result.export_masks(folder)
        return folder

    def _plugin(self, kind: Kind, name: Any) -> str:
        if not isinstance(name, str) or not name:
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
        output = self._job_output(job, spec)
        written = result.save(output)
        views = render.result_views(result, output.parent, written[0].stem)
        job.outputs = {p.name: p for p in (*written, *views)}
        timings = result.report["timings"]
        size = [int(v) for v in result.pixels.shape[:2]]
        windows = result.report.get("windows") or []
        focus = _focus(result.report, windows, size)
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
        written = res.save(self._job_output(job, spec))
        job.outputs = {p.name: p for p in written}
        return {
            "sheet": self.file_url(job, written[0]),
            "report": self.file_url(job, written[1]),
            "csv": self.file_url(job, written[2]),
            "table": res.cells(),
            "notes": res.notes,
        }

    def _job_output(self, job: Job, spec: JobSpec) -> Path:
        """Where ``job`` writes: its own folder under the workdir (a name from the upload's
        file name, kept inside that folder like any path that comes from data)."""
        folder = make_folders_inside(self.outputs, self.outputs / job.id)
        return inside(folder, spec.output_name(), what="the job's output")

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
            "eta": None if job.eta is None else round(job.eta),
            "stage": job.stage_note,
            "preview": job.preview_version,
            "error": job.error,
            "note": job.note,
            "result": job.result if job.state == "done" else None,
            "command": job.command,
        }


def _text(value: Any, what: str) -> str:
    """An id the page sends: a short string, else the same error as an unknown one."""
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise InputError(f"unknown {what} (the server restarted or forgot it): open it again")
    return value
