"""Name → factory registries for segmenters, engines and compositors.

Plugins fill them through the ``tst_register_*`` hooks; everything that needs a plugin by name
(the pipeline, the config loader, ``tst plugins``, error messages) asks them.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from .errors import DuplicatePluginError, PluginError

if TYPE_CHECKING:
    from .records import WeightsRecord
    from .types import Env

Kind = Literal["segmenter", "engine", "blend", "tracker"]
KINDS: tuple[Kind, ...] = ("segmenter", "engine", "blend", "tracker")
KIND_TITLES: dict[Kind, str] = {
    "segmenter": "segmenter",
    "engine": "engine",
    "blend": "compositor",
    "tracker": "tracker",
}
#: the protocol (in :mod:`tst_core.types`) what a factory of each kind returns must follow
PROTOCOL_NAMES: dict[Kind, str] = {
    "segmenter": "Segmenter",
    "engine": "Engine",
    "blend": "Compositor",
    "tracker": "Tracker",
}


def protocol(kind: Kind) -> type:
    """The protocol class of ``kind`` (:mod:`tst_core.types` imports torch, so on demand)."""
    from . import types

    return getattr(types, PROTOCOL_NAMES[kind])


#: a factory or an options dataclass, or where to import it from: ``"package.module:Name"``
#: (imported on first use, so that listing plugins imports none of their heavy modules)
Ref = Any

T = TypeVar("T")


@dataclass(frozen=True)
class NoOptions:
    """Options dataclass for plugins that take none."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered plugin object.

    :param kind: ``"segmenter"``, ``"engine"``, ``"blend"`` (a compositor) or ``"tracker"``.
    :param name: registry name, what users type (``--blend mrf``).
    :param factory_ref: ``factory(options, env) -> object`` following the kind's protocol, or
        ``"module:name"`` where to import it from when the first object is built.
    :param options_ref: a dataclass type (its field defaults are the plugin's defaults), or
        ``"module:name"`` where to import it from when the options are first needed.
    :param description: one line for ``tst plugins``.
    :param plugin: entry-point name of the plugin that registered it.
    :param dist: distribution that provides the plugin, and its ``version``.
    :param resolves_styles: an engine that runs trained styles (model files, style names,
        mixes) through ``resolve_style`` (:class:`~tst_core.types.StyleResolver`); declared
        at registration, so that a caller (the UI) knows without building the engine.
    """

    kind: Kind
    name: str
    factory_ref: Ref
    options_ref: Ref
    description: str
    plugin: str
    dist: str | None = None
    version: str | None = None
    resolves_styles: bool = False

    @functools.cached_property
    def factory(self) -> Callable[[Any, Env], T]:
        """The factory, imported on first use.

        :raises PluginError: naming the plugin, when its module cannot be imported.
        """
        factory = self._resolve(self.factory_ref, "factory")
        if not callable(factory):
            raise PluginError(f"{self._what()}: its factory {factory!r} is not callable")
        return factory

    @functools.cached_property
    def options(self) -> type:
        """The options dataclass, imported on first use.

        :raises PluginError: naming the plugin, when its module cannot be imported or the
            options are not a dataclass.
        """
        options = self._resolve(self.options_ref, "options")
        if not (isinstance(options, type) and dataclasses.is_dataclass(options)):
            raise PluginError(f"{self._what()} with options that are not a dataclass")
        return options

    def _what(self) -> str:
        return f"plugin '{self.plugin}' registers {KIND_TITLES[self.kind]} '{self.name}'"

    def _resolve(self, ref: Ref, what: str) -> Any:
        if not isinstance(ref, str):
            return ref
        return resolve_ref(ref, f"{self._what()}, whose {what} {ref!r}")

    def build(self, options: Any = None, env: Env | None = None) -> T:
        """Create the plugin object; ``options`` defaults to the options dataclass defaults.

        :raises PluginError: naming the plugin, when the object lacks a method of its kind's
            protocol (:data:`PROTOCOL_NAMES`), or has ``resolve_style`` exactly when it was not
            registered with ``resolves_styles=True``.
        """
        from .types import Env

        obj = self.factory(options if options is not None else self.options(), env or Env())
        proto = protocol(self.kind)
        # stricter than isinstance(obj, protocol), which accepts any attribute of that name
        missing = [m for m in _methods(proto) if not callable(getattr(obj, m, None))]
        if missing:
            raise PluginError(
                f"plugin '{self.plugin}' registers {KIND_TITLES[self.kind]} '{self.name}' whose "
                f"factory returned a {type(obj).__name__} without "
                f"{', '.join(m + '()' for m in missing)} (see tst_core.types.{proto.__name__})"
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


def lazy_names(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each name from its submodule on first use.

    A plugin package re-exports its classes with it, so that ``from tst_yolo import
    YoloSegmenter`` works while importing ``tst_yolo`` (which ``tst plugins`` does) imports no
    heavy module (PEP 562)::

        __getattr__ = lazy_names(__name__, {"YoloSegmenter": "segmenter"})

    :param names: exported name → submodule (relative to ``package``) that defines it.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{names[name]}"), name)

    return __getattr__


def resolve_ref(ref: str, what: str) -> Any:
    """Import ``"package.module:name"`` (``name`` may be dotted) and return the object.

    :param what: the start of the error message, naming who gave ``ref``.
    :raises PluginError: ``what`` followed by why the import failed.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"{what} is not 'package.module:name'")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # a broken plugin module is one line naming the plugin
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise PluginError(f"{what} cannot be imported ({reason})") from exc
    return obj


class Register(Protocol):
    """The callable a ``tst_register_*`` hook receives."""

    def __call__(
        self,
        name: str,
        factory: Callable[[Any, Env], Any] | str,
        *,
        options: type | str = NoOptions,
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
        if not isinstance(entry.options_ref, str) and not dataclasses.is_dataclass(
            entry.options_ref
        ):
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
