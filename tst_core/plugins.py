"""The plugin manager: loads every plugin of the ``tst`` entry-point group into registries.

* Plugins are found only through entry points (first-party ones too).
* ``TST_BLOCK_PLUGINS=name1,name2`` blocks plugins by entry-point name.
* A plugin that fails to import or to register is recorded as broken with the reason; the
  others load as usual. That holds for ``SystemExit`` and ``KeyboardInterrupt`` too, which a
  plugin may raise itself (``sys.exit()`` in a module, a bare ``raise KeyboardInterrupt``):
  only a real Ctrl-C while plugins load (a SIGINT, told apart by a handler installed for the
  load) stops the command.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from . import hookspecs
from .errors import DuplicatePluginError, PluginError, printable
from .option_tables import field_types
from .registry import (
    KINDS,
    CommandEntry,
    Entry,
    FlagEntry,
    Kind,
    NoOptions,
    Register,
    RegisterCommand,
    RegisterFlag,
    Registry,
)

if TYPE_CHECKING:
    from .records import WeightsRecord
    from .types import Env

ENTRY_POINT_GROUP = "tst"
BLOCK_ENV = "TST_BLOCK_PLUGINS"

_HOOKS: dict[Kind, str] = {
    "segmenter": "tst_register_segmenters",
    "engine": "tst_register_engines",
    "blend": "tst_register_compositors",
    "tracker": "tst_register_trackers",
}


@dataclass(frozen=True)
class PluginInfo:
    """What ``tst plugins`` says about one plugin (an entry point)."""

    name: str
    status: Literal["ok", "broken", "blocked"]
    dist: str | None = None
    version: str | None = None
    reason: str = ""


@dataclass
class Host:
    """Loaded plugins and the registries they filled."""

    pm: pluggy.PluginManager
    registries: dict[Kind, Registry[Any]]
    plugins: list[PluginInfo] = field(default_factory=list)
    #: subcommands that plugins add to the command line, by name
    commands: dict[str, CommandEntry] = field(default_factory=dict)
    #: flags that plugins add to the commands that take the configuration, by flag
    flags: dict[str, FlagEntry] = field(default_factory=dict)
    _weights: dict[str, WeightsRecord] | None = field(default=None, repr=False)

    def registry(self, kind: Kind) -> Registry[Any]:
        return self.registries[kind]

    def entry(self, kind: Kind, name: str) -> Entry[Any]:
        return self.registries[kind].get(name)

    def weights(self) -> dict[str, WeightsRecord]:
        """The checkpoint records the plugins register, by name (collected on the first call:
        see :func:`~tst_core.hookspecs.tst_register_weights`).

        :raises PluginError: naming the plugin whose hook failed, or both plugins of a name.
        """
        if self._weights is None:
            self._weights = _collect_weights(self.pm)
        return self._weights


def blocked_names(env: str | None = None) -> set[str]:
    """Entry-point names listed in ``$TST_BLOCK_PLUGINS`` (comma or space separated)."""
    raw = os.environ.get(BLOCK_ENV, "") if env is None else env
    return {part for part in raw.replace(",", " ").split() if part}


def _short_reason(exc: BaseException) -> str:
    line = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return printable(line.splitlines()[0] if line else type(exc).__name__)


#: what a plugin may raise while it loads or registers and still be only "broken": every
#: exception, and the ones meant to end a program, which are not its to end
PLUGIN_FAILURES = (Exception, SystemExit, KeyboardInterrupt, GeneratorExit)


class _Interrupted(KeyboardInterrupt):
    """A real Ctrl-C (SIGINT) while plugins load: it stops the command, unlike a
    ``KeyboardInterrupt`` that a plugin raises by itself."""


@contextlib.contextmanager
def _real_interrupts_marked() -> Iterator[None]:
    """While plugins load, a SIGINT raises :class:`_Interrupted` (where Python's own handler
    is in place and this is the main thread, which alone receives signals)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def interrupted(signum: int, frame: object) -> None:
        raise _Interrupted

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _dist_of(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def load_host(
    *,
    entry_points: Iterable[metadata.EntryPoint] | None = None,
    extra: Sequence[tuple[str, object]] = (),
    blocked: Iterable[str] | None = None,
) -> Host:
    """Load plugins and fill the registries.

    :param entry_points: entry points to load; default: the installed ``tst`` group.
    :param extra: ``(name, plugin object)`` pairs registered besides the entry points (tests).
    :param blocked: entry-point names to skip; default: from ``$TST_BLOCK_PLUGINS``.
    """
    with _real_interrupts_marked():
        return _load_host(entry_points, extra, blocked)


def _load_host(
    entry_points: Iterable[metadata.EntryPoint] | None,
    extra: Sequence[tuple[str, object]],
    blocked: Iterable[str] | None,
) -> Host:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    block = set(blocked_names() if blocked is None else blocked)
    infos: dict[str, PluginInfo] = {}
    eps = metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
    for ep in sorted(eps, key=lambda e: e.name):
        dist, version = _dist_of(ep)
        if ep.name in infos:
            continue  # the same distribution seen twice on sys.path: the first one wins
        if ep.name in block:
            infos[ep.name] = PluginInfo(
                ep.name, "blocked", dist, version, f"blocked by {BLOCK_ENV}"
            )
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except _Interrupted:
            raise
        except PLUGIN_FAILURES as exc:  # a broken plugin must not break the others
            infos[ep.name] = PluginInfo(ep.name, "broken", dist, version, _short_reason(exc))
            continue
        infos[ep.name] = PluginInfo(ep.name, "ok", dist, version)
    for name, obj in extra:
        if name in block:
            infos[name] = PluginInfo(name, "blocked", reason=f"blocked by {BLOCK_ENV}")
            continue
        pm.register(obj, name=name)
        infos[name] = PluginInfo(name, "ok")
    pm.check_pending()
    registries, commands, flags = _fill_registries(pm, infos)
    return Host(pm, registries, sorted(infos.values(), key=lambda p: p.name), commands, flags)


def _fill_registries(
    pm: pluggy.PluginManager, infos: dict[str, PluginInfo]
) -> tuple[dict[Kind, Registry[Any]], dict[str, CommandEntry], dict[str, FlagEntry]]:
    """Call each plugin's register hooks one plugin at a time, so that every registered name
    is attributed to its plugin; a plugin whose hook raises is marked broken and its entries
    (and commands and flags) are dropped."""
    registries: dict[Kind, Registry[Any]] = {kind: Registry(kind) for kind in KINDS}
    commands: dict[str, CommandEntry] = {}
    flags: dict[str, FlagEntry] = {}
    for plugin_name, plugin in list(pm.list_name_plugin()):
        if plugin is None or plugin_name is None:
            continue
        info = infos[plugin_name]
        staged: list[Entry[Any]] = []
        staged_commands: list[CommandEntry] = []
        staged_flags: list[FlagEntry] = []
        try:
            for kind in KINDS:
                for impl in getattr(pm.hook, _HOOKS[kind]).get_hookimpls():
                    if impl.plugin_name == plugin_name:
                        impl.function(register=_stager(kind, info, staged))
            for impl in pm.hook.tst_register_commands.get_hookimpls():
                if impl.plugin_name == plugin_name:
                    impl.function(register=_command_stager(info, staged_commands))
            for impl in pm.hook.tst_register_flags.get_hookimpls():
                if impl.plugin_name == plugin_name:
                    impl.function(register=_flag_stager(info, staged, staged_flags))
            for entry in staged:
                registries[entry.kind].add(entry)
            for command in staged_commands:
                _add_command(commands, command)
            for flag in staged_flags:
                _add_flag(flags, flag)
        except (DuplicatePluginError, _Interrupted):
            raise  # the user must choose one, see Registry.add; a real Ctrl-C
        except PLUGIN_FAILURES as exc:
            infos[plugin_name] = PluginInfo(
                plugin_name, "broken", info.dist, info.version, _short_reason(exc)
            )
            for entry in staged:
                registries[entry.kind]._entries.pop(entry.name, None)
            pm.unregister(name=plugin_name)
    broken = {p.name: p.reason for p in infos.values() if p.status == "broken"}
    for registry in registries.values():
        registry.broken = broken
    return registries, commands, flags


def _stager(kind: Kind, info: PluginInfo, staged: list[Entry[Any]]) -> Register:
    def register(
        name: str,
        factory: Callable[[Any, Env], Any] | str,
        *,
        options: type | str = NoOptions,
        description: str,
        resolves_styles: bool = False,
    ) -> None:
        if resolves_styles and kind != "engine":
            raise PluginError(
                f"plugin '{info.name}' registers {kind} '{name}' with resolves_styles=True; "
                "only an engine resolves styles"
            )
        staged.append(
            Entry(
                kind,
                name,
                factory,
                options,
                description.strip(),
                info.name,
                info.dist,
                info.version,
                resolves_styles,
            )
        )

    return register


def _command_stager(info: PluginInfo, staged: list[CommandEntry]) -> RegisterCommand:
    def register(
        name: str,
        configure: Callable[[Any], None],
        run: Callable[[Any], int | None],
        *,
        help: str,
    ) -> None:
        if not name or not name.replace("-", "").isalnum() or not name[0].isalpha():
            raise PluginError(
                f"plugin '{info.name}' registers command {name!r}: a command name starts with "
                "a letter and uses only letters, digits and '-'"
            )
        staged.append(CommandEntry(name, configure, run, help.strip(), info.name))

    return register


def _flag_stager(
    info: PluginInfo, entries: list[Entry[Any]], staged: list[FlagEntry]
) -> RegisterFlag:
    def register(
        flag: str,
        *,
        kind: Kind,
        name: str,
        option: str,
        help: str,
        metavar: str | None = None,
    ) -> None:
        if not _FLAG.fullmatch(flag):
            raise PluginError(
                f"plugin '{info.name}' adds the flag {flag!r}: a flag is -- and lower-case "
                "words joined by - (--checker-cell)"
            )
        own = [e for e in entries if (e.kind, e.name) == (kind, name)]
        if not own:
            raise PluginError(
                f"plugin '{info.name}' adds the flag {flag} for {kind} '{name}', which it does "
                "not register (a flag sets an option of the plugin's own objects)"
            )
        types = field_types(own[0].options)
        if option not in types:
            raise PluginError(
                f"plugin '{info.name}' adds the flag {flag} for option '{option}' of "
                f"[{kind}.{name}], which has no such option; options: {', '.join(types)}"
            )
        switch = types[option] is bool
        staged.append(FlagEntry(flag, kind, name, option, help.strip(), metavar, switch, info.name))

    return register


_FLAG = re.compile(r"--[a-z][a-z0-9]*(-[a-z0-9]+)*")


def _add_flag(flags: dict[str, FlagEntry], flag: FlagEntry) -> None:
    old = flags.get(flag.flag)
    if old is not None:
        raise DuplicatePluginError(
            f"the flag {flag.flag} is added twice: by plugin '{old.plugin}' and by plugin "
            f"'{flag.plugin}'; block one with {BLOCK_ENV}={flag.plugin}"
        )
    flags[flag.flag] = flag


def _add_command(commands: dict[str, CommandEntry], command: CommandEntry) -> None:
    old = commands.get(command.name)
    if old is not None:
        raise DuplicatePluginError(
            f"command '{command.name}' is registered twice: by plugin '{old.plugin}' and by "
            f"plugin '{command.plugin}'; block one with {BLOCK_ENV}={command.plugin}"
        )
    commands[command.name] = command


def _collect_weights(pm: pluggy.PluginManager) -> dict[str, WeightsRecord]:
    found: dict[str, tuple[str, WeightsRecord]] = {}
    for impl in pm.hook.tst_register_weights.get_hookimpls():

        def register(record: WeightsRecord, plugin: str = impl.plugin_name) -> None:
            old = found.get(record.name)
            if old is not None:
                raise DuplicatePluginError(
                    f"weights '{record.name}' are registered twice: by plugin '{old[0]}' and by "
                    f"plugin '{plugin}'; block one with {BLOCK_ENV}={plugin}"
                )
            found[record.name] = (plugin, record)

        try:
            with _real_interrupts_marked():
                impl.function(register=register)
        except (DuplicatePluginError, _Interrupted):
            raise
        except PLUGIN_FAILURES as exc:  # SystemExit too: a plugin does not end the command
            raise PluginError(
                f"plugin '{impl.plugin_name}' failed to register its weights: {_short_reason(exc)}"
            ) from exc
    return {name: record for name, (_, record) in found.items()}


_default: Host | None = None


def default_host() -> Host:
    """The host with every installed plugin, loaded once per process."""
    global _default
    if _default is None:
        _default = load_host()
    return _default


def reset_default_host() -> None:
    """Forget the cached host (tests that change entry points or ``$TST_BLOCK_PLUGINS``)."""
    global _default
    _default = None
