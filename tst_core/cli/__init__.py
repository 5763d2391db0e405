"""The ``tst`` command line: parse, call the API, print. Nothing else lives here.

One module per built-in command (``segment``, ``run``, ``compare``, ``batch``, ``plugins``,
``config``, ``weights``), each with ``register(subparsers)`` and the function it runs; the
flags several commands share are defined once in :mod:`~tst_core.cli.args`, the signal policy
in :mod:`~tst_core.cli.signals`; :mod:`~tst_core.cli.app` builds the parser and runs
:func:`main` (the ``tst`` console script).
"""

from .app import build_parser, main

__all__ = ["build_parser", "main"]
