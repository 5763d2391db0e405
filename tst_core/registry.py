"""Name → factory registries for segmenters, engines and compositors.

Plugins fill them through the ``tst_register_*`` hooks; everything that needs a plugin by name
(the pipeline, the config loader, ``tst plugins``, error messages) asks them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from .errors import DuplicatePluginError, PluginError
from .types import Compositor, Engine, Env, Segmenter

if TYPE_CHECKING:
    from .records import WeightsRecord

Kind = Literal["segmenter", "engine", "blend"]
KINDS: tuple[Kind, ...] = ("segmenter", "engine", "blend")
KIND_TITLES: dict[Kind, str] = {"segmenter": "segmenter", "engine": "engine", "blend": "compositor"}
#: the protocol (in :mod:`tst_core.types`) what a factory of each kind returns must follow
PROTOCOLS: dict[Kind, type] = {"segmenter": Segmenter, "engine": Engine, "blend": Compositor}

T = TypeVar("T")


@dataclass(frozen=True)
class NoOptions:
    """Options dataclass for plugins that take none."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered plugin object.

    :param kind: ``"segmenter"``, ``"engine"`` or ``"blend"`` (a compositor).
    :param name: registry name, what users type (``--blend mrf``).
    :param factory: ``factory(options, env) -> object`` following the kind's protocol.
    :param options: a dataclass type; its field defaults are the plugin's defaults.
    :param description: one line for ``tst plugins``.
    :param plugin: entry-point name of the plugin that registered it.
    :param dist: distribution that provides the plugin, and its ``version``.
    :param resolves_styles: an engine that runs trained styles (model files, style names,
        mixes) through ``resolve_style`` (:class:`~tst_core.types.StyleResolver`); declared
        at registration, so that a caller (the UI) knows without building the engine.
    """

    kind: Kind
    name: str
    factory: Callable[[Any, Env], T]
    options: type
    description: str
    plugin: str
    dist: str | None = None
    version: str | None = None
    resolves_styles: bool = False

    def build(self, options: Any = None, env: Env | None = None) -> T:
        """Create the plugin object; ``options`` defaults to the options dataclass defaults.

        :raises PluginError: naming the plugin, when the object lacks a method of its kind's
            protocol (:data:`PROTOCOLS`), or has ``resolve_style`` exactly when it was not
            registered with ``resolves_styles=True``.
        """
        obj = self.factory(options if options is not None else self.options(), env or Env())
        protocol = PROTOCOLS[self.kind]
        # stricter than isinstance(obj, protocol), which accepts any attribute of that name
        missing = [m for m in _methods(protocol) if not callable(getattr(obj, m, None))]
        if missing:
            raise PluginError(
                f"plugin '{self.plugin}' registers {KIND_TITLES[self.kind]} '{self.name}' whose "
                f"factory returned a {type(obj).__name__} without "
                f"{', '.join(m + '()' for m in missing)} (see tst_core.types.{protocol.__name__})"
            )
        if self.kind == "engine" and callable(getattr(obj, "resolve_style", None)) != (
            self.resolves_styles
        ):
            said = "with" if self.resolves_styles else "without"
            has = "has no" if self.resolves_styles else "has a"
            raise PluginError(
                f"plugin '{self.plugin}' registers engine '{self.name}' {said} "
                f"resolves_styles=True, but its {type(obj).__name__} {has} resolve_style(); "
                "the two must agree (see tst_core.types.StyleResolver)"
            )
        return obj


def _methods(protocol: type) -> list[str]:
    """The public methods a protocol class declares."""
    return [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")]


class Register(Protocol):
    """The callable a ``tst_register_*`` hook receives."""

    def __call__(
        self,
        name: str,
        factory: Callable[[Any, Env], Any],
        *,
        options: type = NoOptions,
        description: str,
        resolves_styles: bool = False,
    ) -> None: ...


@dataclass(frozen=True)
class CommandEntry:
    """One plugin subcommand of the ``tst`` command line.

    :param name: what users type after ``tst``.
    :param configure: ``configure(parser)`` adds the command's arguments.
    :param run: ``run(args) -> int | None`` does the work.
    :param help: one line for ``tst --help``.
    :param plugin: entry-point name of the plugin that registered it.
    """

    name: str
    configure: Callable[[Any], None]
    run: Callable[[Any], int | None]
    help: str
    plugin: str


class RegisterCommand(Protocol):
    """The callable the ``tst_register_commands`` hook receives."""

    def __call__(
        self,
        name: str,
        configure: Callable[[Any], None],
        run: Callable[[Any], int | None],
        *,
        help: str,
    ) -> None: ...


@dataclass(frozen=True)
class FlagEntry:
    """A command-line flag a plugin adds (``tst run`` and the other commands that take the
    configuration block): ``FLAG VALUE`` sets option ``option`` of its ``[kind.name]``.

    :param flag: ``--checker-cell``.
    :param kind: the kind of the plugin object whose option it sets.
    :param name: that object's registry name (one the same plugin registers).
    :param option: a field of that object's options dataclass.
    :param help: one line for ``--help``.
    :param metavar: the value's name in ``--help``; default: the option's name in capitals.
    :param switch: the option is a ``bool``: the flag takes no value and sets it true.
    :param plugin: entry-point name of the plugin that added it.
    """

    flag: str
    kind: Kind
    name: str
    option: str
    help: str
    metavar: str | None
    switch: bool
    plugin: str

    def set_text(self, value: str) -> str:
        """The ``--set`` override the flag stands for, with ``value`` given."""
        return f"{self.kind}.{self.name}.{self.option}={value}"


class RegisterFlag(Protocol):
    """The callable the ``tst_register_flags`` hook receives."""

    def __call__(
        self,
        flag: str,
        *,
        kind: Kind,
        name: str,
        option: str,
        help: str,
        metavar: str | None = None,
    ) -> None: ...


class RegisterWeights(Protocol):
    """The callable the ``tst_register_weights`` hook receives."""

    def __call__(self, record: WeightsRecord) -> None: ...


class Registry(Generic[T]):
    """Registered plugin objects of one kind, by name."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        #: plugins that failed to load, ``{plugin name: reason}``, for error messages
        self.broken: dict[str, str] = {}

    @property
    def title(self) -> str:
        return KIND_TITLES[self.kind]

    def add(self, entry: Entry[T]) -> None:
        """Add ``entry``; a name registered twice is an error naming both plugins."""
        if not entry.name or not entry.name.replace("-", "").replace("_", "").isalnum():
            raise PluginError(
                f"plugin '{entry.plugin}' registers {self.title} {entry.name!r}: "
                "names may use only letters, digits, '-' and '_'"
            )
        if not dataclasses.is_dataclass(entry.options):
            raise PluginError(
                f"plugin '{entry.plugin}' registers {self.title} '{entry.name}' "
                "with options that are not a dataclass"
            )
        old = self._entries.get(entry.name)
        if old is not None:
            raise DuplicatePluginError(
                f"{self.title} '{entry.name}' is registered twice: by plugin '{old.plugin}' "
                f"and by plugin '{entry.plugin}'; block one with TST_BLOCK_PLUGINS={entry.plugin}"
            )
        self._entries[entry.name] = entry

    def get(self, name: str) -> Entry[T]:
        """The entry called ``name``; unknown names are an error listing the installed ones."""
        try:
            return self._entries[name]
        except KeyError:
            installed = ", ".join(sorted(self._entries)) or "none"
            msg = f"unknown {self.title} '{name}'; installed: {installed}"
            if self.broken:
                msg += "; broken plugins (see `tst plugins`): " + ", ".join(sorted(self.broken))
            raise PluginError(msg) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)
