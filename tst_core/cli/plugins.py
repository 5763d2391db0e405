"""``tst plugins``: the installed segmenters, engines, compositors and commands, and what is
broken and why."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> list[argparse.ArgumentParser]:
    """Add the command to ``sub``; returns its parsers that take the configuration block."""
    p = sub.add_parser(
        "plugins", help="list segmenters, engines and compositors, and broken plugins"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command)
    return []


def command(args: argparse.Namespace) -> None:
    from ..plugins import default_host
    from ..registry import KIND_TITLES, KINDS

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
    from ..engine.networks import NETWORKS, network_weights

    return [(n, network_weights(n)) for n in NETWORKS]
