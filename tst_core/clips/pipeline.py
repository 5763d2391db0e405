"""``tst video``: a different style for each tracked object of a clip, without flicker.

:class:`VideoPipeline` runs on a :class:`~tst_core.api.Pipeline` (its segmenter, engine and
compositor, built once) in two passes over the clip, at the working size (``run.size`` on
the long side, both sides even):

1. **track** (:meth:`VideoPipeline.track`): decode, optical flow from the previous frame,
   segment (every ``segment_every``-th frame), link to tracks (the ``tracker`` plugin). The
   selectors are then resolved over the whole clip (:mod:`.selection`), so a selector that
   matches nothing is an error before anything is stylised or written.
2. **stylise**, segment by segment (``segment_frames`` each; :meth:`VideoPipeline.run`):
   decode, optical flow, the targets' masks (cleaned as for a photo, then smoothed along the
   flow), the engine, the temporal stage (:mod:`.temporal`), the compositor, the encoder.
   Each finished segment is kept in the work folder (:mod:`.work`) with the temporal state at
   its end, so a killed run resumes at the first unfinished segment, continuing its
   predecessor's temporal state exactly.

The output (an MP4 with the clip's audio copied, or a folder of frames) and its JSON report
are written at the end, all or none; the work folder is then removed. Frames are written at
the clip's own size (``run.output_size``: a smaller long side): everything before the
compositor works at the working size, and :func:`tst_core.compose.compose` brings each frame's
targets to the output's size, so every pixel outside the targets' band is the decoded frame's
own (the same H.264 encoder then compresses it; a frame folder keeps it bit for bit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .. import __version__
from ..cleanup import clean_targets
from ..contracts import check_layers
from ..errors import InputError, SelectionError
from ..files import json_writer
from ..outputs import Input, Output, check_outputs, write_outputs
from ..select import StyleRequest, needs_segmentation, parse_style_arg
from ..types import Progress, ProgressFn, ResolvedStyle, Segmentation, Target, Targets, Tensor
from .encode import (
    Encoding,
    SegmentWriter,
    assemble,
    frame_name,
    output_kind,
    write_frame,
)
from .flow import FlowEstimator, Motion, grey
from .options import VideoOptions
from .overlap import Finisher, prefetched
from .read import ClipInfo, Frame, even_size, probe, read_frames
from .selection import Chosen, choose, frame_masks
from .temporal import (
    blend_layers,
    gatys_input,
    smooth_masks,
    stabilize_layers,
    stylised_image,
)
from .tracklog import TrackLog
from .work import WorkFolder, digest, removing_on_error

if TYPE_CHECKING:
    from ..pipeline import Pipeline


#: the first pass computes its flow (for the tracker: DIS ``fast``) at this fraction of the
#: working size, when that leaves at least TRACKING_SIDE pixels on the long side
TRACKING_SCALE = 0.5
TRACKING_SIDE = 240


def to_tensor(image: np.ndarray) -> Tensor:
    """RGB ``uint8`` ``(H, W, 3)`` → float32 ``(3, H, W)`` in [0, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0).contiguous()


def to_uint8(image: Tensor) -> np.ndarray:
    """float ``(3, H, W)`` in [0, 1] → RGB ``uint8`` ``(H, W, 3)``."""
    return image.clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()


def takes_temporal(engine: Any) -> bool:
    """Whether ``engine.stylize`` accepts the ``temporal=`` input
    (:class:`~tst_core.engine.temporal.TemporalInput`)."""
    try:
        return "temporal" in inspect.signature(engine.stylize).parameters
    except (TypeError, ValueError):
        return False


def report_path(output: Path) -> Path:
    """The report of ``OUT.mp4`` is ``OUT.json``; of a frame folder ``OUT``, ``OUT.json``."""
    if output_kind(output) == "video":
        return output.with_suffix(".json")
    return output.parent / f"{output.name}.json"


@dataclass
class Timings:
    """Seconds per stage over the whole run. Compositing and encoding run in a thread beside
    the rest (:mod:`.overlap`), so the stages can add up to more than the wall time;
    ``decode`` is the time the compute waited for decoded frames."""

    seconds: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.items()}


@dataclass
class VideoResult:
    """What :meth:`VideoPipeline.run` returns.

    :param outputs: the files written (the video or frame folder, and the report).
    :param report: the JSON report.
    :param tracks: the clip's tracks.
    :param frames: frames written; :param stylised: frames stylised in this run (a resumed run
        skips the finished segments').
    """

    outputs: tuple[Path, ...]
    report: dict[str, Any]
    tracks: TrackLog
    frames: int
    stylised: int


@dataclass
class _Job:
    """What every frame of one run needs: the clip, its tracks and targets, where it goes."""

    clip: str | Path
    info: ClipInfo
    log: TrackLog
    chosen: list[Chosen]
    requests: Sequence[StyleRequest]
    styles: Sequence[ResolvedStyle]
    work: WorkFolder
    output: Path
    mode: str
    timings: Timings
    out_size: tuple[int, int] = (0, 0)  # the frames written; (0, 0): the working size


@dataclass
class _State:
    """The temporal state after a frame: the engine's layers after the temporal stage (not
    the composite: the photo that a soft edge mixes in must not feed back into the next
    frame's style), the targets' smoothed masks, the frame in grey."""

    layers: Tensor | None = None  # (K, 3, H, W), None after a frame with no target
    masks: Tensor | None = None  # (K, H, W)
    grey: np.ndarray | None = None  # (H, W) uint8

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.layers is not None:
            out["layers"] = np.stack([to_uint8(layer) for layer in self.layers])
        if self.masks is not None:
            out["masks"] = (self.masks.clamp(0, 1) * 65535).round().numpy().astype(np.uint16)
        if self.grey is not None:
            out["grey"] = self.grey
        return out

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray]) -> _State:
        layers = None
        if "layers" in data:
            layers = torch.stack([to_tensor(layer) for layer in data["layers"]])
        masks = None
        if "masks" in data:
            masks = torch.from_numpy(data["masks"].astype(np.float32) / 65535.0)
        return cls(layers, masks, data.get("grey"))


class VideoPipeline:
    """A clip through a :class:`~tst_core.api.Pipeline` (see the module docstring).

    :param pipeline: the segmenter, engine and compositor, built once.
    :param options: how the clip is read, tracked, kept steady and written.
    """

    def __init__(self, pipeline: Pipeline, options: VideoOptions | None = None) -> None:
        self.pipeline = pipeline
        self.options = options or VideoOptions()
        self._warm: Any = None

    # --- checks ------------------------------------------------------------------------------

    @property
    def session(self) -> Any:
        return self.pipeline.session

    def size(self, info: ClipInfo) -> tuple[int, int]:
        """The working size ``(H, W)``: ``run.size`` on the long side, both sides even."""
        return even_size(info.size, self.session.config.run.size)

    def output_size(self, info: ClipInfo, output: Path | None = None) -> tuple[int, int]:
        """The size ``(H, W)`` of the frames written: the clip's own, or ``run.output_size``
        on the long side when that is smaller (both even), never below the working size; an
        MP4 of a clip with an odd side is rounded to even sides (H.264 in 4:2:0 needs them)."""
        limit = self.session.config.run.output_size
        size = info.size
        if limit is not None and limit < max(size):
            size = even_size(size, max(limit, *self.size(info)))
        elif output is not None and output_kind(output) == "video" and (size[0] % 2 or size[1] % 2):
            size = even_size(size, max(size))
        return size

    def inputs(self, clip: str | Path, requests: Sequence[StyleRequest]) -> tuple[Input, ...]:
        """Every file and folder the run reads."""
        return (Input(Path(clip), "clip"), *self.session.input_files(None, requests))

    def check(
        self,
        clip: str | Path,
        requests: Sequence[StyleRequest],
        output: Path | None,
        preview: Path | None = None,
    ) -> ClipInfo:
        """Read the clip's header and refuse, before any work, outputs that cannot be written."""
        info = probe(clip)
        self.pipeline.plugin("tracker", self.options.tracker)
        if output is not None:
            self.pipeline.plugin("engine")  # bad options fail before any work
            self.pipeline.plugin("blend")
        outs = []
        if output is not None:
            outs += [
                Output(output, "-o", folder=output_kind(output) == "frames"),
                Output(report_path(output), "the report of -o"),
            ]
        if preview is not None:
            outs.append(
                Output(preview, "--preview-tracks", folder=output_kind(preview) == "frames")
            )
        h, w = self.output_size(info, output)
        frames = max(1, info.frames // self.options.every)
        check_outputs(outs, self.inputs(clip, requests), need_bytes=frames * h * w // 4 + (1 << 16))
        return info

    # --- pass 1: tracks ----------------------------------------------------------------------

    def track(
        self,
        clip: str | Path,
        info: ClipInfo,
        requests: Sequence[StyleRequest],
        progress: ProgressFn | None = None,
        timings: Timings | None = None,
    ) -> TrackLog:
        """Decode, segment and track the clip's selected frames (nothing is stylised)."""
        o = self.options
        timings = timings or Timings()
        size = self.size(info)
        log = TrackLog(size)
        segmenting = not requests or needs_segmentation(requests)
        segmenter = self.pipeline.plugin("segmenter") if segmenting else None
        session = self.pipeline.plugin("tracker", o.tracker).start(size, float(info.fps))
        flow = FlowEstimator("fast")  # carrying masks needs less than the temporal stage
        scale = TRACKING_SCALE if max(size) * TRACKING_SCALE >= TRACKING_SIDE else 1.0
        previous: np.ndarray | None = None
        t0 = time.perf_counter()
        end = info.duration if o.end is None else min(o.end, info.duration)
        total = max(1, round((end - o.start) * float(info.fps)) // o.every)  # for the progress
        with prefetched(read_frames(clip, o.span, size)) as decoded:
            for frame in _timed_frames(decoded, timings):
                image = to_tensor(frame.image)
                with timings("flow"):
                    g = grey(frame.image)
                    motion = None
                    if previous is not None and segmenter is not None:
                        motion = flow.motion(previous, g, scale)
                seg: Segmentation | None = None
                if segmenter is not None and frame.index % o.segment_every == 0:
                    with timings("segment"):
                        seg = _at_frame(segmenter.segment(image))
                with timings("track"):
                    tracked = session.update(image, seg, motion) if segmenter is not None else []
                    log.add(frame.time, frame.source, tracked)
                previous = g
                if progress is not None:
                    progress(
                        Progress("track", frame.index + 1, total, {}, time.perf_counter() - t0)
                    )
        if not len(log):
            raise InputError(
                f"clip '{clip}' has no frames between {o.start:g} s and "
                f"{'its end' if o.end is None else f'{o.end:g} s'}"
            )
        return log

    # --- pass 2: stylise ---------------------------------------------------------------------

    def run(
        self,
        clip: str | Path,
        requests: Sequence[StyleRequest],
        output: str | Path,
        *,
        progress: ProgressFn | None = None,
        preview: str | Path | None = None,
        distribute: Callable[[Sequence[int]], int] | None = None,
    ) -> VideoResult:
        """Stylise ``clip`` into ``output`` (an MP4, or a folder of frames) with its report.

        :param preview: also write the clip with the track ids drawn there.
        :param distribute: stylises the unfinished segments (their numbers) elsewhere, each
            with :meth:`remote_segment`, and returns the frames stylised (``--executor
            ray``); ``None``: here, one after another.
        :raises TstError: bad clip, outputs, options or selectors, before anything is written.
        """
        t_start = time.perf_counter()
        output = Path(output)
        timings = Timings()
        info = self.check(clip, requests, output, None if preview is None else Path(preview))
        styles = [self.pipeline.load_style(r.style) for r in requests]
        size = self.size(info)
        with WorkFolder(output) as work:
            with removing_on_error(work):
                tracks_key, run_key = self._keys(clip, requests, info)
                work.begin(tracks_key, run_key)
                log = TrackLog.load(work.path)
                if log is None or log.size != size:
                    log = self.track(clip, info, requests, progress, timings)
                    log.save(work.path)
                job = self._job(clip, info, log, requests, styles, work, output, timings)
                _check_visible(log, job.chosen)
            if distribute is None:
                stylised = self._stylise(job, progress)
            else:
                todo = [s for s in range(self.segments(len(log))) if not work.finished(s)]
                stylised = distribute(todo) if todo else 0
            report = self._report(job, time.perf_counter() - t_start, stylised)
            report["output_size"] = list(job.out_size)
            outs = self._write(
                clip,
                output,
                work,
                len(log),
                report,
                log,
                None if preview is None else Path(preview),
            )
            work.remove()
        return VideoResult(outs, report, log, len(log), stylised)

    def preview(
        self,
        clip: str | Path,
        output: str | Path,
        requests: Sequence[StyleRequest] = (),
        *,
        progress: ProgressFn | None = None,
    ) -> tuple[TrackLog, tuple[Path, ...]]:
        """Write the clip at its own size (or ``run.output_size``) with every track's mask,
        id and label drawn, and return the tracks (what a user looks at to choose ``id:N``)."""
        output = Path(output)
        info = self.check(clip, requests, None, output)
        log = self.track(clip, info, requests, progress)
        return log, self._write(clip, None, None, len(log), None, log, output)

    def _keys(
        self, clip: str | Path, requests: Sequence[StyleRequest], info: ClipInfo
    ) -> tuple[str, str]:
        sess = self.session
        config = sess.config.to_dict(sess.host)
        inputs = sess.inputs(clip, requests)
        tracking = {
            "clip": inputs["photo"]["sha256"],
            "size": self.size(info),
            "segmenter": config.get("segmenter", {}),
            "tracker": config.get("tracker", {}),
            "segmenter_files": {
                k: v["sha256"] for k, v in inputs["files"].items() if k.startswith("segmenter.")
            },
            "video": self.options.tracking(),
            "version": __version__,
        }
        tracks_key = digest(tracking)
        run_key = digest(
            {
                "tracks": tracks_key,
                "config": config,
                "inputs": inputs,
                "video": self.options.to_json(),
            }
        )
        return tracks_key, run_key

    def _engine(self, warm: bool) -> Any:
        """The engine; ``warm``: for frames after the first, when it takes the temporal input
        (the final scale only, ``warm_iterations``)."""
        engine = self.pipeline.plugin("engine")
        if not warm:
            return engine
        if self._warm is None:
            self._warm = engine
            sess = self.session
            name = sess.config.run.engine
            base: Any = sess.config.options_for(sess.host, "engine", name)
            if hasattr(base, "scales") and hasattr(base, "iterations_per_scale"):
                iterations = self.options.warm_iterations or base.iterations_per_scale[-1]
                options = dataclasses.replace(
                    base, scales=(1.0,), scale_iterations=(), iterations=iterations
                )
                self._warm = sess.host.entry("engine", name).build(options, sess.env)
        return self._warm

    def temporal_mode(self) -> str:
        """The temporal method this run uses: ``engine``, ``blend``, ``stabilize`` or ``off``."""
        mode = self.options.temporal
        if mode == "auto":
            return "engine" if takes_temporal(self.pipeline.plugin("engine")) else "blend"
        if mode == "engine" and not takes_temporal(self.pipeline.plugin("engine")):
            raise InputError(
                f"engine '{self.session.config.run.engine}' takes no temporal input; use "
                "--temporal blend or stabilize"
            )
        return mode

    def _stylise(self, job: _Job, progress: ProgressFn | None) -> int:
        """Stylise every unfinished segment, in order, each continuing the temporal state
        its predecessor ended with (saved in the work folder); returns the frames stylised."""
        work = job.work
        done = 0
        t0 = time.perf_counter()
        for s in range(self.segments(len(job.log))):
            if work.finished(s):
                continue
            state = _State()
            if s > 0:
                saved = work.end_state(s - 1)
                if saved is None:
                    raise InputError(
                        f"the work folder '{work.path}' lost segment {s - 1}; remove it and run again"
                    )
                state = _State.from_arrays(saved)
            done += self._segment(job, s, state, 0, progress, t0)
        return done

    def remote_segment(self, clip: str | Path, styles: Sequence[str], output: Path, s: int) -> int:
        """Stylise segment ``s`` of a run whose driver tracked the clip into ``output``'s work
        folder and holds its lock (a Ray task); a segment after the first is warmed up on the
        ``overlap`` frames before it. Returns the frames stylised."""
        requests = [parse_style_arg(t) for t in styles]
        info = probe(clip)
        work = WorkFolder(output)  # not entered: the driver holds the lock
        log = TrackLog.load(work.path)
        if log is None:
            raise InputError(f"the work folder '{work.path}' has no tracks; run the command again")
        resolved = [self.pipeline.load_style(r.style) for r in requests]
        job = self._job(clip, info, log, requests, resolved, work, output, Timings())
        warmup = self.options.overlap if s > 0 else 0
        return self._segment(job, s, _State(), warmup, None, time.perf_counter())

    def _job(
        self,
        clip: str | Path,
        info: ClipInfo,
        log: TrackLog,
        requests: Sequence[StyleRequest],
        styles: Sequence[ResolvedStyle],
        work: WorkFolder,
        output: Path,
        timings: Timings,
    ) -> _Job:
        """What every frame of a run needs (here, or in a Ray task), the selectors resolved
        over the clip's tracks."""
        return _Job(
            clip,
            info,
            log,
            choose(log, requests, self.options.key_frame),
            requests,
            styles,
            work,
            output,
            self.temporal_mode(),
            timings,
            self.output_size(info, output),
        )

    def segments(self, frames: int) -> int:
        """How many segments ``frames`` frames make."""
        return -(-frames // self.options.segment_frames)

    def _segment(
        self,
        job: _Job,
        s: int,
        state: _State,
        warmup: int,
        progress: ProgressFn | None,
        t0: float,
    ) -> int:
        """Stylise segment ``s`` from ``state`` into the work folder; ``warmup`` frames before
        it are stylised first and dropped (a segment started elsewhere than after its
        predecessor: their temporal state carries into its first frame). Returns the frames
        stylised, warm-up included."""
        o, work, n = self.options, job.work, len(job.log)
        first, last = s * o.segment_frames, min(n, (s + 1) * o.segment_frames)
        out_size = job.out_size if job.out_size != (0, 0) else job.log.size
        native = None if out_size == job.log.size else out_size
        encoding = Encoding(job.info.fps / o.every, out_size, o.crf, o.preset)
        video = output_kind(job.output) == "video"
        part = work.partial(work.segment(s).name)
        writer = SegmentWriter(part, encoding) if video else None
        done = 0
        finisher = Finisher()

        def finish(index: int, compose: Callable[[], np.ndarray]) -> int:
            with job.timings("composite"):
                out = compose()
            with job.timings("encode"):
                if writer is not None:
                    writer.write(out)
                else:
                    _write_frame(work.frames(), index, out, o.frame_format)
            return index

        def report(indices: list[int]) -> None:
            for index in indices:
                if progress is not None:
                    progress(Progress("stylize", index + 1, n, {}, time.perf_counter() - t0))

        try:
            start = max(0, first - warmup)
            frames = read_frames(job.clip, o.span, job.log.size, first=start, native=native)
            with prefetched(frames) as decoded:
                for frame in _timed_frames(decoded, job.timings):
                    if frame.index >= last:
                        break
                    compose, state = self._frame(frame, job, state)
                    done += 1
                    if frame.index >= first:  # the warm-up frames are dropped
                        report(finisher.submit(functools.partial(finish, frame.index, compose)))
            report(finisher.drain())
            if writer is not None:
                writer.close()
                os.replace(part, work.segment(s))
        except BaseException:
            finisher.close()
            if writer is not None:
                writer.abort()
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise
        finisher.close()
        work.finish(s, state.arrays())
        return done

    def _frame(
        self, frame: Frame, job: _Job, state: _State
    ) -> tuple[Callable[[], np.ndarray], _State]:
        """One frame's compute: what makes its output ``(H, W, 3)`` uint8 (the compositor,
        which the next frame does not wait for: see :mod:`.overlap`) and the temporal state
        after it."""
        o, mode, timings = self.options, job.mode, job.timings
        log, chosen, requests, styles = job.log, job.chosen, job.requests, job.styles
        run = self.session.config.run
        image = to_tensor(frame.image)
        with timings("flow"):
            g = grey(frame.image)
            motion: Motion | None = None
            if state.grey is not None and state.layers is not None and mode != "off":
                motion = self._flow().motion(state.grey, g)
        with timings("masks"):
            masks = frame_masks(log, chosen, frame.index)
            targets = clean_targets(
                _targets(requests, styles, chosen, masks, log.size),
                fill=run.fill_holes,
                snap=run.snap_edges,
                smooth=run.smooth_edges,
            )
            masks = targets.masks()
            if mode != "off":
                masks = smooth_masks(masks, state.masks, motion, o.mask_smoothing)
                targets = _with_masks(targets, masks)
        if float(masks.amax()) <= 0.0:  # no target in this frame: the photo as it is
            photo = frame.image if frame.native is None else frame.native
            return (lambda: photo), _State(None, masks, g)
        previous = state.layers if motion is not None else None
        with timings("stylize"):
            if (
                mode == "engine"
                and previous is not None
                and motion is not None
                and state.masks is not None
            ):
                image_before = stylised_image(previous, state.masks)
                temporal = gatys_input(image_before, state.masks, masks, motion, o.temporal_weight)
                layers = self._engine(True).stylize(image, targets, None, temporal=temporal).layers
            else:
                layers = self._engine(False).stylize(image, targets, None).layers
            check_layers(layers, len(targets), job.log.size, self.pipeline.entry("engine"))
        if previous is not None and motion is not None and state.masks is not None:
            with timings("temporal"):
                if mode == "blend":
                    layers = blend_layers(layers, previous, state.masks, motion, o.temporal_blend)
                elif mode == "stabilize":
                    layers = stabilize_layers(
                        layers, previous, state.masks, motion, o.temporal_blend
                    )
        if frame.native is None:
            return (lambda: to_uint8(self.pipeline.composite(image, layers, targets))), _State(
                layers, masks, g
            )
        native = frame.native
        return (lambda: self._at_output_size(native, layers, targets)), _State(layers, masks, g)

    def _at_output_size(self, pixels: np.ndarray, layers: Tensor, targets: Targets) -> np.ndarray:
        """The composite at the size of ``pixels`` ``(H, W, 3)`` (the decoded frame): the
        working-size ``layers`` and ``targets`` brought up in windows around the targets
        (:func:`tst_core.compose.compose`: masks refined along the frame's edges, layers by
        ``run.upsample``, the compositor with its pixel lengths scaled), every other pixel the
        frame's own."""
        from ..compose import Plan, compose
        from ..photo import Photo

        scale = targets.size[0] / pixels.shape[0]  # working pixels per output pixel
        compositor, reach = self.pipeline.native_compositor(1.0 / scale)
        plan = Plan(
            targets,
            scale,
            compositor,
            reach,
            layers=layers,
            upsample=self.session.config.run.upsample,
            entries=(self.pipeline.entry("engine"), self.pipeline.entry("blend")),
        )
        return compose(Photo(pixels), plan).pixels

    def _flow(self) -> FlowEstimator:
        if not hasattr(self, "_flow_estimator"):
            self._flow_estimator = FlowEstimator(self.options.flow)
        return self._flow_estimator

    # --- outputs -----------------------------------------------------------------------------

    def _write(
        self,
        clip: str | Path,
        output: Path | None,
        work: WorkFolder | None,
        frames: int,
        report: dict[str, Any] | None,
        log: TrackLog,
        preview: Path | None,
    ) -> tuple[Path, ...]:
        o = self.options
        contents: dict[Output, Any] = {}
        if output is not None and work is not None:
            if output_kind(output) == "video":
                segments = [work.segment(s) for s in range(-(-frames // o.segment_frames))]
                contents[Output(output, "-o")] = lambda tmp: assemble(
                    tmp, segments, Path(clip), o.span, audio=o.audio
                )
            else:
                folder = work.frames()
                names = [frame_name(i, o.frame_format) for i in range(frames)]
                contents[Output(output, "-o", folder=True)] = {
                    name: _linker(folder / name) for name in names
                }
            contents[Output(report_path(output), "the report of -o")] = json_writer(report)
        if preview is not None:
            contents[
                Output(preview, "--preview-tracks", folder=output_kind(preview) == "frames")
            ] = self._preview_writer(clip, log, preview)
        return write_outputs(contents, [Input(Path(clip), "clip")])

    def _preview_writer(self, clip: str | Path, log: TrackLog, preview: Path) -> Any:
        """The ``--preview-tracks`` clip: the frames at the output's size (the clip's own,
        or ``run.output_size``) with each track's mask, box and id drawn (the tracks found at
        the working size, scaled)."""
        from ..overlay import overlay

        o = self.options
        info = probe(clip)
        size = self.output_size(info, preview)

        def frames() -> Iterator[np.ndarray]:
            for frame in read_frames(clip, o.span, size):
                if frame.index >= len(log):
                    break
                seg = log.segmentation(frame.index).rescaled(size)
                pil = overlay(to_tensor(frame.image), seg, ids=log.ids(frame.index))
                yield np.asarray(pil.convert("RGB"))

        if output_kind(preview) == "video":

            def write(tmp: Path) -> None:
                writer = SegmentWriter(tmp, Encoding(info.fps / o.every, size, o.crf, o.preset))
                try:
                    for image in frames():
                        writer.write(image)
                finally:
                    writer.close()

            return write
        # a frame folder: each file's writer draws the next frame (the folder's files are
        # written in order), so no more than one frame is held at a time
        drawn = frames()

        def next_frame(tmp: Path) -> None:
            image = next(drawn, None)
            if image is None:
                raise InputError(f"clip '{clip}' gave fewer frames than its tracks; run it again")
            write_frame(tmp, image, o.frame_format)

        return {frame_name(i, o.frame_format): next_frame for i in range(len(log))}

    def _report(self, job: _Job, seconds: float, stylised: int) -> dict[str, Any]:
        clip, info, log, chosen, requests = job.clip, job.info, job.log, job.chosen, job.requests
        sess = self.session
        n = len(log)
        return {
            "clip": info.to_json(),
            "span": self.options.span.to_json(),
            "frames": n,
            "stylised_here": stylised,
            "fps": str(info.fps / self.options.every),
            "working_size": list(log.size),
            "tracks": log.summary(),
            "targets": [
                {
                    "selector": c.selector,
                    "style": r.style_name,
                    "strength": r.strength,
                    "tracks": list(c.tracks),
                    "frames": sum(1 for i in range(n) if any(t in log.frames[i] for t in c.tracks)),
                }
                for c, r in zip(chosen, requests, strict=True)
            ],
            "temporal": self.temporal_mode(),
            "video": self.options.to_json(),
            "config": sess.config.to_dict(sess.host),
            "inputs": sess.inputs(clip, requests),
            "timings": job.timings.rounded(),
            "seconds": round(seconds, 3),
            "seconds_per_frame": round(seconds / max(1, stylised), 4),
            "versions": {
                "tst": __version__,
                "torch": torch.__version__,
                "python": platform.python_version(),
            },
        }


def _timed_frames(frames: Iterator[Frame], timings: Timings) -> Iterator[Frame]:
    """``frames`` with the time spent decoding each added to ``timings['decode']``."""
    while True:
        with timings("decode"):
            frame = next(frames, None)
        if frame is None:
            return
        yield frame


def _targets(
    requests: Sequence[StyleRequest],
    styles: Sequence[ResolvedStyle],
    chosen: Sequence[Chosen],
    masks: Tensor,
    size: tuple[int, int],
) -> Targets:
    items = tuple(
        Target(
            r.selector,
            masks[k].contiguous(),
            s.image,
            r.strength,
            s.name,
            c.tracks,
            model_style=s.model,
            options=r.options,
            style_source=s.source,
        )
        for k, (r, s, c) in enumerate(zip(requests, styles, chosen, strict=True))
    )
    return Targets(items, size)


def _with_masks(targets: Targets, masks: Tensor) -> Targets:
    items = tuple(dataclasses.replace(t, mask=masks[k].contiguous()) for k, t in enumerate(targets))
    return Targets(items, targets.size)


def _check_visible(log: TrackLog, chosen: Sequence[Chosen]) -> None:
    """Refuse a run in which no target is visible in any frame (a track seen nowhere)."""
    for c in chosen:
        if any(p.kind != "tracks" for p in c.parts):
            continue
        if not any(t in frame for frame in log.frames for t in c.tracks):
            raise SelectionError(f"selector '{c.selector}' matches nothing in the clip's frames")


def _write_frame(folder: Path, index: int, image: np.ndarray, fmt: str) -> None:
    name = frame_name(index, fmt)
    tmp = folder / f".{name}.part"
    write_frame(tmp, image, fmt)
    os.replace(tmp, folder / name)


def _linker(source: Path) -> Any:
    def write(tmp: Path) -> None:
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            import shutil

            shutil.copyfile(source, tmp)

    return write


def _at_frame(seg: Segmentation) -> Segmentation:
    """``seg`` with every mask at the frame's size (a segmenter may keep its masks at its own
    working size; the tracker compares and carries masks on the frame's pixels)."""
    if all(inst.mask_size == seg.size for inst in seg.instances):
        return seg
    return Segmentation(
        tuple(dataclasses.replace(i, mask=i.mask_at(seg.size)) for i in seg.instances), seg.size
    )
