"""The ``tst`` parser and :func:`main`: the built-in commands (one module each), the commands
plugins register, and how an error or a signal ends a command."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import PluginError, TstError
from . import batch, compare, config, plugins, run, segment, video, weights
from .args import Parser, add_plugin_flags
from .signals import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Terminated,
    end_on_closed_output,
    output_closed,
    sigterm_raises,
)
from .text import error_line, printable

if TYPE_CHECKING:
    from ..registry import CommandEntry, FlagEntry

#: the built-in commands, in the order ``tst --help`` lists them
COMMANDS = (segment, run, compare, batch, video, plugins, config, weights)
BUILTIN_COMMANDS = frozenset(
    {"segment", "run", "compare", "batch", "video", "plugins", "config", "weights"}
)


def build_parser(
    commands: Mapping[str, CommandEntry] | None = None,
    flags: Mapping[str, FlagEntry] | None = None,
) -> argparse.ArgumentParser:
    """The ``tst`` parser: the built-in commands, then ``commands`` that plugins registered;
    ``flags`` that plugins added go to the commands that take the configuration block."""
    parser = Parser(
        prog="tst", description="Targeted style transfer: a different style for each object."
    )
    parser.add_argument("--version", action="version", version=f"tst {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMANDS:
        for configured in module.register(sub):
            add_plugin_flags(configured, flags or {})
    _add_plugin_commands(sub, commands or {})
    return parser


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
    from ..plugins import default_host

    return default_host().commands


def _plugin_flags(argv: Sequence[str]) -> Mapping[str, FlagEntry]:
    """The flags plugins add, when ``argv`` runs a command that takes them (those commands
    load the plugins anyway; ``tst --version``, ``--help`` and the others do not)."""
    words = [a for a in argv if not a.startswith("-")]
    if words[:1] not in (["segment"], ["run"], ["compare"], ["batch"], ["video"]) and words[:2] != [
        "config",
        "show",
    ]:
        return {}
    from ..plugins import default_host

    return default_host().flags


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tst ARGV``; returns the exit status (0, 2 for a user's error, 1 for a bug, 130 or
    143 for a signal, 141 when stdout or stderr was closed by its reader, see
    :mod:`~tst_core.cli.signals`)."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # what is still buffered meets a closed pipe here, not at exit
    except BrokenPipeError:
        if not output_closed():
            raise
        return end_on_closed_output()
    return code


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(_plugin_commands(argv), _plugin_flags(argv))
    except TstError as exc:  # two plugins with one command or flag, or a built-in one
        print(error_line(str(exc)), file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (one line, see Parser.error), --help, --version
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "offline", False):
        from ..hub import OFFLINE_ENV

        os.environ[OFFLINE_ENV] = "1"  # for this process and any it starts
    try:
        with sigterm_raises():
            code = args.func(args)
    except TstError as exc:
        if args.debug:
            raise
        print(error_line(str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tst: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("tst: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except Exception as exc:
        if args.debug or (isinstance(exc, BrokenPipeError) and output_closed()):
            raise
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
            # a path given to tst (outputs' names are checked before the work, with their
            # temporaries'): the first stat() of it says so
            print(error_line(f"file name too long: '{exc.filename}'"), file=sys.stderr)
            return 2
        print(
            printable(
                f"tst: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                "(rerun with --debug and report it)"
            ),
            file=sys.stderr,
        )
        return 1
    return int(code or 0)
