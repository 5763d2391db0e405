"""Registers the ``gatys`` and ``gatys-full`` engines (entry point ``gatys`` in group ``tst``)."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from ..registry import Register
from ..types import Env
from .options import GatysOptions


def make_gatys(options: GatysOptions, env: Env) -> Any:
    from .gatys import GatysEngine

    return GatysEngine(options, env)


def make_gatys_full(options: GatysOptions, env: Env) -> Any:
    from .gatys import GatysFullEngine

    return GatysFullEngine(options, env)


@hookimpl
def tst_register_engines(register: Register) -> None:
    register(
        "gatys",
        make_gatys,
        options=GatysOptions,
        description="masked Gram loss on VGG-19: every target in its own style, one optimisation",
    )
    register(
        "gatys-full",
        make_gatys_full,
        options=GatysOptions,
        description="baseline: whole-frame Gatys stylisation once per target; the compositor cuts",
    )
