"""``tst_core.video(...)``: the Python side of ``tst video``.

>>> import tst_core
>>> result = tst_core.video("bunny.mp4", ["id:0=udnie/"], output="bunny_tst.mp4",
...                         engine="fast", size=640, segmenter="yolo",
...                         segmenter_options={"weights": "yolov8n-seg_int8.tflite"},
...                         start=1.0, end=4.0)
>>> result.report["seconds_per_frame"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, SelectionError
from ..types import ProgressFn
from .options import VideoOptions
from .pipeline import VideoPipeline, VideoResult

VIDEO_FIELDS = frozenset(f.name for f in dataclasses.fields(VideoOptions))


def make_video_options(
    options: VideoOptions | Mapping[str, Any] | None, **fields: Any
) -> VideoOptions:
    """A :class:`VideoOptions` from a mapping (or an instance) with ``fields`` over it."""
    base = dataclasses.asdict(options) if isinstance(options, VideoOptions) else dict(options or {})
    unknown = sorted(set(base) - VIDEO_FIELDS)
    if unknown:
        raise ConfigError(
            f"unknown video option '{unknown[0]}'; valid: {', '.join(sorted(VIDEO_FIELDS))}"
        )
    base.update({k: v for k, v in fields.items() if v is not None})
    return VideoOptions(**base)


def build(
    session_kwargs: Mapping[str, Any],
    tracker_options: Mapping[str, Any] | None,
    options: VideoOptions | Mapping[str, Any] | None,
) -> VideoPipeline:
    """A :class:`VideoPipeline` from :func:`tst_core.api.session` arguments, the tracker's
    options and the video options (here, or in a Ray task)."""
    from ..pipeline import Pipeline
    from ..sessions import session

    video_opts = make_video_options(options)
    sess = session(**session_kwargs)
    if tracker_options:
        config = sess.config.with_options(sess.host, "tracker", video_opts.tracker, tracker_options)
        sess = dataclasses.replace(sess, config=config)
    return VideoPipeline(Pipeline(sess), video_opts)


def video(
    clip: str | Path,
    styles: Any = (),
    *,
    output: str | Path | None = None,
    preview: str | Path | None = None,
    progress: ProgressFn | None = None,
    video_options: VideoOptions | Mapping[str, Any] | None = None,
    tracker_options: Mapping[str, Any] | None = None,
    executor: str = "inline",
    address: str | None = None,
    jobs: int | None = None,
    threads: int | None = None,
    **kwargs: Any,
) -> VideoResult:
    """Stylise the tracked objects of ``clip`` into ``output`` (an ``.mp4``, or a folder of
    frames), and/or write the clip with its track ids drawn into ``preview``.

    :param styles: as for :func:`tst_core.run`: ``["id:0=starry.jpg", "person#1=udnie/"]``;
        the selectors follow their objects through the clip (:mod:`tst_core.clips.selection`).
    :param video_options: a :class:`~tst_core.clips.options.VideoOptions` or a mapping of its
        fields; the fields may also be given as keyword arguments (``start=2.0``,
        ``temporal="blend"``), which win.
    :param tracker_options: options of the chosen tracker (``{"max_lost": 10}``).
    :param executor: ``inline`` (segments here, one after another) or ``ray`` (segments as
        tasks on the Ray cluster at ``address``, ``jobs`` at a time of ``threads`` CPU
        threads; see :mod:`tst_core.clips.distribute`).
    :param kwargs: the configuration, as for :func:`tst_core.api.session` (``engine``,
        ``segmenter``, ``size``, ``config``, ``sets``, ...), and video option fields.
    :returns: the outputs written, the report (``None`` for a preview alone) and the tracks.
    """
    from ..select import style_requests

    if executor not in ("inline", "ray"):
        raise ConfigError(f"unknown executor '{executor}'; use inline or ray")
    if executor == "ray" and kwargs.get("host") is not None:
        raise ValueError(
            "host= applies to executor='inline' only; Ray workers load the entry points"
        )
    fields = {k: kwargs.pop(k) for k in list(kwargs) if k in VIDEO_FIELDS}
    options = make_video_options(video_options, **fields)
    pipe = build(kwargs, tracker_options, options)
    requests = style_requests(styles) if styles else []
    if output is None:
        if preview is None:
            raise ConfigError("give an output (output=...) or a preview (preview=...)")
        log, written = pipe.preview(clip, preview, requests, progress=progress)
        return VideoResult(written, {}, log, len(log), 0)
    if not requests:
        raise SelectionError("no style given; add one, e.g. id:0=starry_night.jpg")
    distribute = None
    if executor == "ray":
        from ..batching.ray_executor import import_ray
        from .distribute import RaySegments, SegmentTask

        import_ray()  # a missing extra is one line, before any work
        texts = tuple(_style_text(r) for r in requests)
        remote_kwargs = _absolute(kwargs)
        ray = RaySegments(address, jobs, threads)

        def distribute(segments: Sequence[int]) -> int:
            tasks = [
                SegmentTask(
                    remote_kwargs,
                    tracker_options,
                    dataclasses.asdict(options),
                    str(Path(clip).resolve()),
                    texts,
                    str(Path(output).resolve()),
                    s,
                )
                for s in segments
            ]
            return ray.run(tasks)

    return pipe.run(
        clip, requests, output, progress=progress, preview=preview, distribute=distribute
    )


def _style_text(request: Any) -> str:
    """A request as a ``--style`` text whose paths are absolute (it travels to Ray workers)."""
    if not isinstance(request.style, (str, Path)):
        raise ConfigError("--executor ray takes styles as paths (they travel to the workers)")
    style = Path(request.style)
    if style.exists():
        request = dataclasses.replace(request, style=str(style.resolve()))
    return str(request.text())


def _absolute(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Session arguments with the paths of the config and the segmenter's files made
    absolute (Ray workers run elsewhere)."""
    out = dict(kwargs)
    config = out.get("config")
    if isinstance(config, (str, Path)) and Path(config).is_file():
        out["config"] = str(Path(config).resolve())
    seg = dict(out.get("segmenter_options") or {})
    for key, value in seg.items():
        if isinstance(value, (str, Path)) and Path(value).exists():
            seg[key] = str(Path(value).resolve())
    if seg:
        out["segmenter_options"] = seg
    return out
