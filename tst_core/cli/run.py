"""``tst run``: stylise the selected objects of a photo."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .args import (
    add_config_args,
    add_output_args,
    add_plugin_args,
    add_style_arg,
    add_working_args,
    session_kwargs,
)
from .text import printable

EXAMPLES = """examples:
  tst run photo.jpg --style all=starry_night.jpg -o out.png     # whole frame, no segmenter
  tst run photo.jpg --style person=starry_night.jpg -o out.png
  tst run bus.jpg --segmenter yolo --weights yolov8n-seg_int8.tflite \\
      --style person#0=starry_night.jpg --style person#1=the_scream.jpg:2 --blend mrf
  tst run bus.jpg --segmenter maskfile --masks masks/ --style id:2=wave.jpg --config preview
  tst run photo.jpg --style background=monet.jpg --set engine.gatys.iterations=100
  tst run --recipe out.png -o again.png     # the recipe out.png carries, run again

selectors: person (every person), person#0 (highest-scoring person), id:3 (from `tst segment`),
background (not covered by any instance), all (whole frame); join with commas for a union.
When targets overlap the later --style wins.
"""


def register(sub: Any) -> list[argparse.ArgumentParser]:
    """Add the command to ``sub``; returns its parsers that take the configuration block."""
    p = sub.add_parser(
        "run",
        help="stylise the selected objects of a photo",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("photo", nargs="?")
    add_style_arg(p, required=False)
    p.add_argument(
        "--recipe",
        metavar="PICTURE",
        help="run again the recipe a picture tst wrote carries (its photo, styles, masks, "
        "configuration, seed and threads): the same picture on the same machine and device",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.png",
        help="output image (default: PHOTO_tst.png here, PICTURE_rerun.png for --recipe); a "
        "JSON report is written beside it",
    )
    add_plugin_args(p)
    p.add_argument("--no-report", action="store_true", help="do not write the JSON report")
    add_working_args(p)
    add_output_args(p)
    add_config_args(p)
    p.set_defaults(func=command)
    return [p]


#: what --recipe takes from the picture, so these may not be given with it
RECIPE_GIVES = (
    "photo",
    "styles",
    "engine",
    "blend",
    "size",
    "style_size",
    "seed",
    "config",
    "segmenter",
    "device",
)


def command(args: argparse.Namespace) -> None:
    from ..api import Pipeline, session
    from ..errors import InputError
    from ..progress import ProgressReporter

    if args.recipe is not None:
        given = [k for k in RECIPE_GIVES if getattr(args, k, None)] + (["set"] if args.sets else [])
        if given:
            raise InputError(
                f"--recipe takes the photo, styles and configuration from the picture; "
                f"leave out {', '.join(given)}"
            )
        return rerun(args)
    missing = [w for w, v in (("photo", args.photo), ("--style", args.styles)) if not v]
    if missing:
        raise InputError(
            f"the following arguments are required: {', '.join(missing)} (or --recipe PICTURE)"
        )
    output = (
        Path(args.output) if args.output is not None else Path(f"{Path(args.photo).stem}_tst.png")
    )
    pipeline = Pipeline(session(**session_kwargs(args)))
    pipeline.check_save(output, args.photo, args.styles, report=not args.no_report)
    reporter = ProgressReporter(args.progress)
    try:
        result = pipeline.run(args.photo, args.styles, progress=reporter)
    finally:
        reporter.close()
    _written(result, output, args)


def rerun(args: argparse.Namespace) -> None:
    from .. import rerun as reruns
    from ..progress import ProgressReporter

    picture = Path(args.recipe)
    output = Path(args.output) if args.output else Path(f"{picture.stem}_rerun{picture.suffix}")
    job = reruns.Rerun(reruns.read(picture), str(picture))
    job.check_save(output, report=not args.no_report)
    reporter = ProgressReporter(args.progress)
    try:
        result = job.run(reporter)
    finally:
        reporter.close()
    _written(result, output, args)


def _written(result: Any, output: Path, args: argparse.Namespace) -> None:
    written = result.save(output, report=not args.no_report)
    t = result.report["timings"]
    if result.report["segmenter"]["ran"]:
        segmented = f"segment {t['segment']:.1f} s"
    else:
        segmented = "masks from the recipe" if args.recipe else "no segmenter: whole frame"
    print(
        printable(f"wrote {' and '.join(str(p) for p in written)} ")
        + f"({segmented}, stylize {t['stylize']:.1f} s, total {t['total']:.1f} s)"
    )
