"""``tst segment``: find the instances in a photo and show their ids."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .args import add_config_args
from .text import printable

EXAMPLES = """examples:
  tst segment bus.jpg --segmenter yolo --weights yolov8n-seg_int8.tflite --overlay ids.png
  tst segment photo.jpg --json
  tst segment photo.jpg --export-masks masks/     # then: tst run ... --segmenter maskfile --masks masks/
"""


def register(sub: Any) -> list[argparse.ArgumentParser]:
    """Add the command to ``sub``; returns its parsers that take the configuration block."""
    p = sub.add_parser(
        "segment",
        help="find the instances in a photo and show their ids",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("photo")
    add_config_args(p)
    p.add_argument("--json", action="store_true", help="print the instances as JSON")
    p.add_argument(
        "--overlay", metavar="OUT.png", help="write the photo with masks and ids drawn on it"
    )
    p.add_argument(
        "--export-masks", metavar="DIR", help="write one PNG mask per instance (read by maskfile)"
    )
    p.set_defaults(func=command)
    return [p]


def command(args: argparse.Namespace) -> None:
    from ..api import Pipeline, session
    from .args import session_kwargs

    pipeline = Pipeline(session(**session_kwargs(args)))
    pipeline.check_segment_save(args.photo, overlay=args.overlay, masks=args.export_masks)
    res = pipeline.segment_photo(args.photo)
    rows = res.rows()
    if args.json:
        print(
            json.dumps(
                {
                    "photo": args.photo,
                    "segmenter": res.segmenter,
                    "size": list(res.segmentation.size),
                    "seconds": round(res.seconds, 3),
                    "instances": rows,
                },
                indent=2,
            )
        )
    else:
        print(format_instances(rows, res.segmenter, res.seconds))
    res.save(overlay=args.overlay, masks=args.export_masks)
    if args.export_masks:
        # with --json, stdout stays pure JSON
        print(
            printable(f"wrote {len(res.segmentation)} masks to {args.export_masks}/"),
            file=sys.stderr if args.json else sys.stdout,
        )


def format_instances(rows: list[dict[str, Any]], segmenter: str, seconds: float) -> str:
    lines = [f"{len(rows)} instances ({segmenter}, {seconds:.2f} s)"]
    if rows:
        lines.append(f"{'id':>3}  {'label':<16} {'score':>5}  {'area %':>6}  box (x0, y0, x1, y1)")
        for r in rows:
            box = ", ".join(f"{v:.0f}" for v in r["box"])
            lines.append(
                f"{r['id']:>3}  {printable(r['label']):<16} {r['score']:>5.2f}  "
                f"{100 * r['area']:>6.2f}  ({box})"
            )
    return "\n".join(lines)
