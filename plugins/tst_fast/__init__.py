"""Feed-forward style engines: ``fast`` (Johnson et al. 2016 transform networks, one pass per
style) and ``cin`` (conditional instance norm, Dumoulin et al. 2017: K styles in one pass),
and the commands ``tst model`` (show, convert) and ``tst train``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tst_core import hookimpl
from tst_core.registry import Register, RegisterCommand

from .options import FeedForwardOptions

if TYPE_CHECKING:
    from tst_core.types import Env


def make_fast(options: FeedForwardOptions, env: Env) -> Any:
    from .engine import FastEngine

    return FastEngine(options, env)


def make_cin(options: FeedForwardOptions, env: Env) -> Any:
    from .engine import CinEngine

    return CinEngine(options, env)


@hookimpl
def tst_register_engines(register: Register) -> None:
    register(
        "fast",
        make_fast,
        options=FeedForwardOptions,
        resolves_styles=True,
        description="trained transform networks (Johnson et al.): one pass per style over its targets",
    )
    register(
        "cin",
        make_cin,
        options=FeedForwardOptions,
        resolves_styles=True,
        description="one conditional-instance-norm network: every target's style in one pass",
    )


@hookimpl
def tst_register_commands(register: RegisterCommand) -> None:
    from .commands import configure_model, run_model
    from .train_cli import configure_train, run_train

    register(
        "model",
        configure_model,
        run_model,
        help="show a style network's styles and metadata, or convert one into a tst model file",
    )
    register(
        "train",
        configure_train,
        run_train,
        help="train a conditional-instance-norm network on style images over content photos",
    )
