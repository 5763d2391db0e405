"""The flags that more than one command takes, each defined once.

``tst run``, ``segment``, ``compare``, ``batch``, ``config show`` and the ``tst ui`` plugin
command all take the configuration block (``--config``/``--set``, ``--segmenter``,
``--device``) and the segmenter flags (:data:`~tst_core.segmenter_flags.SEGMENTER_FLAGS`,
which batch manifests and the UI's command lines use too). Only the standard library is
imported here: ``tst --help`` loads this module.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import PluginError, printable
from ..segmenter_flags import SEGMENTER_FLAGS

if TYPE_CHECKING:
    from ..registry import FlagEntry


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        text = printable(" ".join(message.split()))  # one line, no terminal escapes
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def positive(text: str) -> int:
    """A whole number of at least 1 (an argparse ``type``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got '{text}'")
    return value


def names(text: str) -> list[str]:
    """``"hard, feather"`` → ``["hard", "feather"]`` (an argparse ``type``)."""
    found = [n.strip() for n in text.split(",") if n.strip()]
    if not found:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got '{text}'")
    return found


def add_config_args(
    p: argparse.ArgumentParser,
    *,
    title: str = "configuration",
    segmenter_flags: Sequence[str] = tuple(SEGMENTER_FLAGS),
    offline: bool = True,
) -> None:
    """The configuration block: ``--config``, ``--set``, ``--segmenter``, ``--offline``,
    ``--device`` and the segmenter flags named in ``segmenter_flags``
    (:func:`session_kwargs` reads them back)."""
    g = p.add_argument_group(title)
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
    g.add_argument(
        "--refine",
        metavar="SEGMENTER",
        help="cut every instance again from its box and mask with a segmenter that takes "
        "prompts (grabcut: no weights; sam), keeping its label and score",
    )
    if offline:
        add_offline_arg(g)
    g.add_argument("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    s = p.add_argument_group("segmenter inputs (passed to the chosen segmenter's options)")
    for key in segmenter_flags:
        SEGMENTER_FLAGS[key].add_to(s)


def add_offline_arg(p: Any) -> None:
    p.add_argument(
        "--offline",
        action="store_true",
        help="never fetch weights (as TST_OFFLINE=1): a missing checkpoint is an error",
    )


def add_style_arg(
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


def add_plugin_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", help="style engine plugin (default from the config: gatys)")
    p.add_argument("--blend", help="compositor plugin: hard, feather, mrf, poisson, ...")


def add_working_args(
    p: argparse.ArgumentParser,
    progress: str = "auto: a bar on a terminal, else a line every 30 s: stage, iteration, loss, ETA",
) -> None:
    p.add_argument(
        "--size", type=int, metavar="PX", help="long side of the working image in pixels"
    )
    p.add_argument("--style-size", type=int, metavar="PX", help="long side of the style images")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory the work may use, e.g. 4GiB or 512MB (default: half of what is free, on the "
        "CPU at most 3GiB); a photo that cannot fit is refused before any work",
    )
    p.add_argument(
        "--progress",
        choices=["auto", "bar", "lines", "off"],
        default="auto",
        help=f"progress display on stderr ({progress})",
    )


def add_output_args(p: argparse.ArgumentParser) -> None:
    """The flags of the picture written: its size and JPEG quality."""
    p.add_argument(
        "--output-size",
        type=int,
        metavar="PX",
        help="long side of the picture written (default: the photo's own size; --size is the "
        "working size)",
    )
    p.add_argument(
        "--jpeg-quality", type=int, metavar="Q", help="quality of a JPEG or WebP output, 1-100 (95)"
    )


def segmenter_options(args: argparse.Namespace) -> dict[str, Any]:
    """The segmenter options the segmenter flags in ``args`` give."""
    return {k: getattr(args, k) for k in SEGMENTER_FLAGS if getattr(args, k, None) is not None}


def add_plugin_flags(p: argparse.ArgumentParser, flags: Mapping[str, FlagEntry]) -> None:
    """The flags plugins add (:func:`~tst_core.hookspecs.tst_register_flags`), in a group of
    their own; :func:`session_kwargs` turns them into ``--set`` overrides after ``--set``."""
    if not flags:
        return
    g = p.add_argument_group("plugin flags (each sets an option of the plugin that adds it)")
    for f in flags.values():
        where = f"sets {f.kind}.{f.name}.{f.option}; plugin {f.plugin}"
        value: dict[str, Any] = (
            {"action": "store_const", "const": "true"}
            if f.switch
            else {"metavar": f.metavar or f.option.upper()}
        )
        try:
            g.add_argument(f.flag, dest=_dest(f), help=f"{f.help} ({where})", **value)
        except argparse.ArgumentError:
            raise PluginError(
                f"plugin '{f.plugin}' adds the flag {f.flag}, which `{p.prog}` already has; "
                f"block the plugin with TST_BLOCK_PLUGINS={f.plugin}"
            ) from None
    p.set_defaults(plugin_flags=tuple(flags.values()))


def _dest(flag: FlagEntry) -> str:
    return "plugin_flag_" + flag.flag[2:].replace("-", "_")


def plugin_sets(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides the plugin flags given in ``args`` stand for."""
    flags: Sequence[FlagEntry] = getattr(args, "plugin_flags", ())
    return [
        f.set_text(getattr(args, _dest(f))) for f in flags if getattr(args, _dest(f)) is not None
    ]


def session_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`tst_core.api.session` arguments of a command's parsed ``args``."""
    kw = {
        "config": args.config,
        "sets": [*args.sets, *plugin_sets(args)],
        "segmenter": args.segmenter,
        "refine": getattr(args, "refine", None),
        "device": args.device,
        "segmenter_options": segmenter_options(args),
    }
    for name in (
        "engine", "blend", "size", "style_size", "seed", "output_size", "jpeg_quality", "max_memory"
    ):  # fmt: skip
        if hasattr(args, name):
            kw[name] = getattr(args, name)
    return kw
