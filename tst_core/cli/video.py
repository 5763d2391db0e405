"""``tst video``: stylise the tracked objects of a clip (:func:`tst_core.clips.api.video`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .args import (
    Parser,
    add_config_args,
    add_plugin_args,
    add_style_arg,
    add_working_args,
    positive,
    session_kwargs,
)
from .text import printable

EXAMPLES = """examples:
  tst video bunny.mp4 --preview-tracks tracks.mp4 --segmenter yolo --weights yolov8n-seg_int8.tflite
  tst video bunny.mp4 -o bunny_tst.mp4 --style id:0=../shared/models/fast-style-tf/udnie \\
      --engine fast --size 640 --segmenter yolo --weights yolov8n-seg_int8.tflite
  tst video street.mp4 -o frames/ --style person#0=starry_night.jpg --style car=the_scream.jpg \\
      --start 2 --end 6 --every 2 --size 256

Selectors follow their objects: id:N is track N (the ids --preview-tracks draws), person#0
the highest-scoring person on the first frame one appears (or --key-frame N). -o OUT.mp4
writes H.264 with the clip's audio copied; any other -o is a folder of frames. A report
OUT.json is written beside it. A killed run resumes from its last finished segment (the
hidden work folder .OUT.tst-video beside the output).
"""


def _time(text: str) -> float:
    from ..clips.read import parse_time
    from ..errors import InputError

    try:
        return parse_time(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> list[argparse.ArgumentParser]:
    """Add the command to ``sub``; returns its parsers that take the configuration block."""
    from ..clips.names import FLOW_QUALITIES, FRAME_FORMATS, PRESETS, TEMPORAL_MODES

    p: Parser = sub.add_parser(
        "video",
        help="stylise the tracked objects of a clip, without flicker",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("clip", help="the video (any container and codec FFmpeg reads)")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.mp4|DIR",
        help="an MP4 (H.264, audio copied) or a folder of frames (default: CLIP_tst.mp4 here)",
    )
    add_style_arg(p, required=False, what="which tracked objects get which style")
    p.add_argument(
        "--preview-tracks",
        metavar="OUT.mp4|DIR",
        help="also (or only, without --style) write the clip with every track's id drawn",
    )
    add_plugin_args(p)
    g = p.add_argument_group("clip")
    g.add_argument("--start", type=_time, metavar="T", help="start time (seconds or [H:]MM:SS)")
    g.add_argument("--end", type=_time, metavar="T", help="end time (exclusive)")
    g.add_argument("--every", type=positive, metavar="N", help="every N-th frame (frame rate / N)")
    g.add_argument(
        "--output-size",
        type=int,
        metavar="PX",
        help="long side of the frames written (default: the clip's own size; --size is the "
        "working size)",
    )
    g.add_argument("--crf", type=int, metavar="Q", help="H.264 quality, 0-51, lower is better (18)")
    g.add_argument("--preset", choices=PRESETS, help="H.264 speed preset (medium)")
    g.add_argument("--frame-format", choices=FRAME_FORMATS, help="a frame folder's images (png)")
    g.add_argument("--no-audio", action="store_true", help="do not copy the clip's audio")
    g.add_argument(
        "--segment-frames",
        type=positive,
        metavar="N",
        help="frames per resumable segment (50)",
    )
    r = p.add_argument_group("running")
    r.add_argument(
        "--executor",
        choices=["inline", "ray"],
        default="inline",
        help="segments here one after another (default), or as tasks on a Ray cluster",
    )
    r.add_argument("--address", metavar="ADDR", help="the Ray cluster to join (default: local)")
    r.add_argument("-j", "--jobs", type=positive, metavar="N", help="Ray tasks at a time")
    r.add_argument("--threads", type=positive, metavar="N", help="CPU threads per Ray task")
    r.add_argument(
        "--overlap",
        type=int,
        metavar="N",
        help="ray: frames a segment is warmed up on before its first (8)",
    )
    t = p.add_argument_group("tracking and consistency")
    t.add_argument("--tracker", help="tracker plugin (iou)")
    t.add_argument(
        "--segment-every", type=positive, metavar="K", help="segment every K-th frame (1)"
    )
    t.add_argument("--key-frame", type=int, metavar="N", help="the frame LABEL#N selectors rank on")
    t.add_argument("--temporal", choices=TEMPORAL_MODES, help="temporal consistency method (auto)")
    t.add_argument(
        "--temporal-blend",
        type=float,
        metavar="A",
        help="blend/stabilize: previous output's weight (0.8)",
    )
    t.add_argument(
        "--temporal-weight", type=float, metavar="W", help="gatys: the temporal loss's weight (50)"
    )
    t.add_argument(
        "--warm-iterations",
        type=positive,
        metavar="N",
        help="gatys: iterations after the first frame",
    )
    t.add_argument(
        "--mask-smoothing",
        type=float,
        metavar="B",
        help="previous mask's weight in each mask (0.5)",
    )
    t.add_argument("--flow", choices=FLOW_QUALITIES, help="optical flow preset (medium)")
    add_working_args(p)
    add_config_args(p)
    p.set_defaults(func=command)
    return [p]


def command(args: argparse.Namespace) -> None:
    from ..clips.api import video
    from ..errors import SelectionError
    from ..progress import ProgressReporter

    fields = {
        "start": args.start,
        "end": args.end,
        "every": args.every,
        "crf": args.crf,
        "preset": args.preset,
        "frame_format": args.frame_format,
        "audio": False if args.no_audio else None,
        "segment_frames": args.segment_frames,
        "tracker": args.tracker,
        "segment_every": args.segment_every,
        "key_frame": args.key_frame,
        "temporal": args.temporal,
        "temporal_blend": args.temporal_blend,
        "temporal_weight": args.temporal_weight,
        "warm_iterations": args.warm_iterations,
        "mask_smoothing": args.mask_smoothing,
        "flow": args.flow,
        "overlap": args.overlap,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    styles = args.styles or []
    if not styles and not args.preview_tracks:
        raise SelectionError(
            "no --style given; add one (e.g. --style id:0=starry_night.jpg), or use "
            "--preview-tracks OUT.mp4 to see the tracks' ids first"
        )
    output = None
    if styles:
        output = Path(args.output) if args.output else Path(f"{Path(args.clip).stem}_tst.mp4")
    reporter = ProgressReporter(args.progress)
    try:
        result = video(
            args.clip,
            styles,
            output=output,
            preview=args.preview_tracks,
            progress=reporter,
            executor=args.executor,
            address=args.address,
            jobs=args.jobs,
            threads=args.threads,
            **fields,
            **session_kwargs(args),
        )
    finally:
        reporter.close()
    written = " and ".join(str(p) for p in result.outputs)
    if result.report:
        r = result.report
        t = r["timings"]
        print(
            printable(f"wrote {written} ")
            + f"({r['frames']} frames at {r['output_size'][1]}×{r['output_size'][0]}, "
            + f"worked at {r['working_size'][1]}×{r['working_size'][0]}, "
            f"{len(r['tracks'])} tracks, stylised {r['stylised_here']} in "
            f"{t.get('stylize', 0.0):.1f} s, total {r['seconds']:.1f} s: "
            f"{r['stylised_here'] / max(r['seconds'], 1e-9):.2f} frames/s)"
        )
    else:
        rows = result.tracks.summary()
        print(printable(f"wrote {written} ({result.frames} frames, {len(rows)} tracks)"))
        for row in rows:
            print(
                printable(
                    f"  id:{row['id']:<4} {row['label']:<16} frames {row['first']}-{row['last']} "
                    f"(seen in {row['frames']}, detected in {row['detected']})"
                )
            )
