"""``tst compare``: blend with several compositors (and engines) and compare them side by side."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .args import add_config_args, add_style_arg, add_working_args, names, session_kwargs
from .text import printable

EXAMPLES = """examples:
  tst compare bus.jpg --segmenter maskfile --masks masks/ \\
      --style person#0=starry_night.jpg --style person#1=the_scream.jpg -o sheet.png
  tst compare photo.jpg --style person=wave.jpg --blend hard,feather,mrf --engine gatys,gatys-full
  tst compare photo.jpg --style dog=monet.jpg --set blend.mrf.band=16 --band 24 -o sheet.png

writes sheet.png (photo, stylised, each result, enlarged seam crops), sheet.json and sheet.csv
(the metrics table, also printed). Lower seam visibility is a less visible seam; leakage should
be 0: it is the change farther than --band pixels from every target.
"""


def register(sub: Any) -> list[argparse.ArgumentParser]:
    """Add the command to ``sub``; returns its parsers that take the configuration block."""
    p = sub.add_parser(
        "compare",
        help="blend with several compositors (and engines) and compare them side by side",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("photo")
    add_style_arg(p)
    p.add_argument(
        "--blend",
        dest="blends",
        type=names,
        metavar="A,B,...",
        help="compositors to compare (default: every installed one)",
    )
    p.add_argument(
        "--engine",
        dest="engines",
        type=names,
        metavar="A,B,...",
        help="engines to compare; each stylises once (default from the config: gatys)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="SHEET.png",
        help="contact sheet (default: PHOTO_compare.png here); .json and .csv are written beside it",
    )
    p.add_argument(
        "--band",
        type=int,
        default=None,
        metavar="PX",
        help="band around each edge for the seam and leakage metrics, in working pixels (16)",
    )
    add_working_args(p)
    add_config_args(p)
    p.set_defaults(func=command)
    return [p]


def command(args: argparse.Namespace) -> None:
    from ..api import session
    from ..compare import Comparison
    from ..metrics import BAND
    from ..progress import ProgressReporter

    output = (
        Path(args.output)
        if args.output is not None
        else Path(f"{Path(args.photo).stem}_compare.png")
    )
    comparison = Comparison(session(**session_kwargs(args)), args.engines, args.blends)
    comparison.check_save(output, args.photo, args.styles)
    reporter = ProgressReporter(args.progress)
    try:
        result = comparison.run(
            args.photo,
            args.styles,
            band=BAND if args.band is None else args.band,
            progress=reporter,
        )
    finally:
        reporter.close()
    written = result.save(output)
    print(result.table())
    print(printable(f"wrote {', '.join(str(p) for p in written)}"))
