"""``tst config show`` and ``tst config presets``: the resolved configuration, the presets."""

from __future__ import annotations

import argparse
from typing import Any

from .args import Parser, add_config_args, session_kwargs


def register(sub: Any) -> list[argparse.ArgumentParser]:
    """Add the command to ``sub``; returns its parsers that take the configuration block."""
    p = sub.add_parser("config", help="show the resolved configuration or the presets")
    csub = p.add_subparsers(
        dest="config_command", metavar="ACTION", parser_class=Parser, required=True
    )
    shown = c = csub.add_parser("show", help="print the fully resolved configuration as TOML")
    add_config_args(c)
    c.add_argument("--engine")
    c.add_argument("--blend")
    c.set_defaults(func=show)
    c = csub.add_parser("presets", help="list the shipped presets")
    c.set_defaults(func=presets)
    return [shown]


def show(args: argparse.Namespace) -> None:
    from ..config import to_toml
    from ..sessions import session

    sess = session(**session_kwargs(args))
    print(to_toml(sess.config.to_dict(sess.host)), end="")


def presets(args: argparse.Namespace) -> None:
    from ..config import find_config, preset_names

    for name in preset_names():
        first = find_config(name).read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
        print(f"{name:<10} {first}")
