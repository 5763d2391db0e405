"""``tst batch``: stylise many photos the same way, resumable, on worker processes or Ray.

A signal stops the batch as it stops every command (:mod:`tst_core.cli.signals`): the
executor's ``finally`` stops the workers, then the exit status is 130 or 143.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .args import (
    Parser,
    add_config_args,
    add_output_args,
    add_plugin_args,
    add_style_arg,
    add_working_args,
    positive,
    session_kwargs,
)

EXAMPLES = """examples:
  tst batch photos/ -o styled/ --style person=starry_night.jpg \\
      --segmenter yolo --weights yolov8n-seg_int8.tflite --jobs 2
  tst batch 'shoot/*.jpg' -o styled/ --segmenter maskfile --masks 'masks/{stem}/' \\
      --style person#0=the_scream.jpg --style background=monet.jpg
  tst batch --manifest jobs.jsonl -o styled/ --executor ray --address auto

Outputs mirror the input tree under OUTDIR (photos/day1/a.jpg -> OUTDIR/day1/a.png), each with
its JSON report. OUTDIR/batch.jsonl gets one line per photo: done, skipped (up to date, or no
selector matched in it) or failed. Running the command again skips up-to-date outputs and
reruns what a changed option or input affects (--force: everything). {stem}, {name}, {rel} and
{parent} in --masks, --weights and --style are filled per photo. Exit status 0 when no photo
failed, 1 when some did, 2 for a bad command.
"""


def register(sub: Any) -> list[argparse.ArgumentParser]:
    """Add the command to ``sub``; returns its parsers that take the configuration block."""
    p: Parser = sub.add_parser(
        "batch",
        help="stylise many photos the same way: resumable, on worker processes or Ray",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="photos, folders (recursive), globs")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="the output folder")
    add_style_arg(p, required=False, what="which instances get which style in every photo")
    p.add_argument(
        "--manifest",
        metavar="FILE.jsonl",
        help='one job per line: {"photo": ..., "styles": [...], "masks": ..., "size": ...}',
    )
    add_plugin_args(p)
    g = p.add_argument_group("running")
    g.add_argument(
        "-j", "--jobs", type=positive, metavar="N", help="worker processes or Ray actors"
    )
    g.add_argument(
        "--threads", type=positive, metavar="N", help="CPU threads per worker (default: shared)"
    )
    g.add_argument(
        "--executor",
        choices=["local", "ray", "inline"],
        default="local",
        help="local worker processes (default), a Ray cluster, or this process (debugging)",
    )
    g.add_argument("--address", metavar="ADDR", help="the Ray cluster to join (default: local)")
    g.add_argument("--force", action="store_true", help="rerun photos that are up to date")
    g.add_argument(
        "--prefetch",
        choices=["auto", "on", "off"],
        default="auto",
        help="segment the next photo while stylising this one (auto: when on a GPU)",
    )
    g.add_argument("--suffix", default=".png", help="the outputs' image type (.png)")
    add_working_args(p, "auto: a bar on a terminal, else one line per photo")
    add_output_args(p)
    add_config_args(p)
    p.set_defaults(func=command)
    return [p]


def command(args: argparse.Namespace) -> int:
    from ..batching import batch
    from ..batching.progress import format_seconds
    from ..errors import InputError

    if args.inputs and args.manifest:
        raise InputError("give photos or --manifest, not both")
    run = batch(
        args.inputs,
        args.styles,
        output=args.output,
        manifest=args.manifest,
        jobs=args.jobs,
        executor=args.executor,
        address=args.address,
        threads=args.threads,
        force=args.force,
        prefetch=args.prefetch,
        suffix=args.suffix,
        **session_kwargs(args),
    )
    run.run(progress=args.progress)
    c = run.counts
    print(
        f"{len(run.jobs)} photos: {c['done']} done, {c['skipped']} skipped, {c['failed']} failed "
        f"in {format_seconds(run.seconds)}; record: {run.record}"
    )
    if c["failed"]:  # a rerun retries them, and exits 1 again while they fail
        print(
            "tst batch: a rerun retries the failed photos; to leave one out, move it out of the "
            "inputs or rename it to start with '.' (hidden files are not read)",
            file=sys.stderr,
        )
    return 1 if c["failed"] else 0
