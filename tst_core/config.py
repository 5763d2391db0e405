"""Configuration: TOML presets with ``base =`` inheritance, ``--set`` overrides, strict keys.

A config file has a ``[run]`` table (:class:`RunOptions`) and one table per plugin, under the
plugin's kind and registry name::

    base = "paper"            # a preset name or a path relative to this file

    [run]
    engine = "gatys"
    size = 384

    [engine.gatys]
    iterations = 300

    [blend.mrf]
    band = 12

Resolution order, later wins: option defaults < ``base`` chain < the file < ``--set`` overrides
(``--set run.size=256``, ``--set engine.gatys.optimizer=adam``) < explicit CLI flags.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from . import option_tables as opts
from .device import check_device_name
from .errors import ConfigError, InputError, PluginError
from .plugins import Host
from .reading import MAX_CONFIG, check_nesting, read_text
from .registry import KINDS, Kind

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class RunOptions:
    """The ``[run]`` table: which plugins to use and the working size.

    :param segmenter: registry name of the segmenter.
    :param engine: registry name of the style engine.
    :param blend: registry name of the compositor.
    :param size: long side in pixels of the working image (the photo is resized to it).
    :param style_size: long side of the style images in pixels; for every target without
        its own ``@scale`` it also fixes the painting's size in the engine (no relative style
        scale); ``None``: loaded at ``size`` and sized per target by the engine.
    :param device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    :param seed: random seed for reproducible runs; ``None`` for a random one.
    :param fill_holes: fill each target's holes of at most this fraction of its area before the
        engine and the compositor (see :mod:`tst_core.cleanup`); 0: keep them.
    :param snap_edges: extend a target's edge to the frame border where it stops within this
        many pixels of it (working size); 0: off.
    :param smooth_edges: smooth each target's edge with a Gaussian of this σ in pixels of the
        working image; 0: off.
    :param output_size: long side in pixels of the picture written; ``None`` (the default):
        the photo's own size, every pixel outside the targets' band the photo's own. A number
        keeps the small picture of earlier versions (the photo reduced to it first).
    :param jpeg_quality: quality of a JPEG or WebP output, 1..100 (Pillow's scale).
    :param max_memory: the memory the run's work may use, as ``4GiB``, ``512MB`` or bytes;
        ``None``: half of the memory free when the run starts, on the CPU at most 3 GiB (see
        :mod:`tst_core.memory`).
        A photo or window that cannot fit is refused before any work.
    :param upsample: how the layers of an engine that works at the working size are brought to
        the photo's size: ``guided`` (the photo's finer detail added where the stylisation
        follows it, see :mod:`tst_core.upsample`) or ``bicubic`` (a plain resize).
    :param refine: a segmenter that cuts regions from prompts (``grabcut``, ``sam``) that cuts
        every instance the segmenter found again, from its box and mask, keeping its label and
        score (``--refine``); ``None``: the segmenter's masks as they are.
    """

    segmenter: str = "torchvision"
    engine: str = "gatys"
    blend: str = "feather"
    size: int = 512
    style_size: int | None = None
    device: str = "auto"
    seed: int | None = 0
    fill_holes: float = 0.005
    snap_edges: int = 3
    smooth_edges: float = 0.0
    output_size: int | None = None
    jpeg_quality: int = 95
    max_memory: str | None = None
    upsample: Literal["guided", "bicubic"] = "guided"
    refine: str | None = None

    def __post_init__(self) -> None:
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise ConfigError(
                f"run.seed must be a whole number from 0 to 2**63 - 1, got {self.seed}"
            )
        if not 16 <= self.size <= 8192:
            raise ConfigError(f"run.size must be between 16 and 8192 pixels, got {self.size}")
        check_device_name(self.device)
        if not 0.0 <= self.fill_holes <= 1.0:
            raise ConfigError(
                f"run.fill_holes must be a fraction from 0 to 1, got {self.fill_holes}"
            )
        if not 0 <= self.snap_edges <= 64:
            raise ConfigError(f"run.snap_edges must be from 0 to 64 pixels, got {self.snap_edges}")
        if not 0.0 <= self.smooth_edges <= 32.0:
            raise ConfigError(
                f"run.smooth_edges must be from 0 to 32 pixels, got {self.smooth_edges}"
            )
        if self.style_size is not None and not 16 <= self.style_size <= 8192:
            raise ConfigError(
                f"run.style_size must be between 16 and 8192 pixels, got {self.style_size}"
            )
        if self.output_size is not None and not 16 <= self.output_size <= 65536:
            raise ConfigError(
                f"run.output_size must be between 16 and 65536 pixels, got {self.output_size}"
            )
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"run.jpeg_quality must be from 1 to 100, got {self.jpeg_quality}")
        if self.max_memory is not None:
            from .memory import parse_size

            try:
                parse_size(self.max_memory)
            except ValueError as exc:
                raise ConfigError(f"run.max_memory: {exc}") from None
        if self.upsample not in ("guided", "bicubic"):
            raise ConfigError(f"run.upsample must be 'guided' or 'bicubic', got {self.upsample!r}")

    def budget(self) -> int:
        """Bytes the run's work may use: :attr:`max_memory`, or the default share of the memory
        free now (:func:`tst_core.memory.default_budget` on the run's device)."""
        from .device import resolve_device
        from .memory import default_budget, parse_size

        if self.max_memory is not None:
            return parse_size(self.max_memory)
        return default_budget(resolve_device(self.device))


TOP_KEYS = ("base", "run", *KINDS)


@dataclass(frozen=True)
class Config:
    """A fully resolved configuration.

    :param run: the ``[run]`` options.
    :param plugins: ``{kind: {name: options}}`` for every plugin table seen in the files or
        overrides; other plugins use their defaults (see :meth:`options_for`).
    :param sources: the files read, base first.
    """

    run: RunOptions = field(default_factory=RunOptions)
    plugins: dict[Kind, dict[str, Any]] = field(default_factory=dict)
    sources: tuple[Path, ...] = ()

    def options_for(self, host: Host, kind: Kind, name: str) -> Any:
        """The options of plugin ``name`` of ``kind``: configured, or its defaults."""
        configured = self.plugins.get(kind, {}).get(name)
        return configured if configured is not None else host.entry(kind, name).options()

    def replace_run(self, **changes: Any) -> Config:
        """A copy with some ``[run]`` values replaced (``None`` values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        return dataclasses.replace(self, run=opts.build(RunOptions, changes, "[run]", self.run))

    def with_options(self, host: Host, kind: Kind, name: str, table: Mapping[str, Any]) -> Config:
        """A copy in which some options of plugin ``name`` of ``kind`` are replaced by the
        values of ``table`` (checked as a config file's ``[kind.name]`` table is)."""
        if not table:
            return self
        base = self.options_for(host, kind, name)
        return self.with_plugin_options(
            kind, name, opts.build(type(base), table, f"[{kind}.{name}]", base)
        )

    def with_plugin_options(self, kind: Kind, name: str, options: Any) -> Config:
        """A copy in which plugin ``name`` of ``kind`` uses ``options``."""
        plugins = {k: dict(v) for k, v in self.plugins.items()}
        plugins.setdefault(kind, {})[name] = options
        return dataclasses.replace(self, plugins=plugins)

    def to_dict(self, host: Host) -> dict[str, Any]:
        """TOML-ready dict: ``[run]`` plus the options of the selected and configured plugins."""
        out: dict[str, Any] = {"run": opts.to_table(self.run)}
        selected = {
            "segmenter": self.run.segmenter,
            "engine": self.run.engine,
            "blend": self.run.blend,
        }
        for kind in KINDS:
            names = set(self.plugins.get(kind, {}))
            if kind in selected and selected[kind] in host.registry(kind):
                names.add(selected[kind])
            tables = {n: opts.to_table(self.options_for(host, kind, n)) for n in sorted(names)}
            if tables:
                out[kind] = tables
        return out


def preset_dirs() -> list[Path]:
    """Where preset names are looked up: the source tree's ``configs/``, then the package's."""
    dirs = [Path(__file__).resolve().parent.parent / "configs"]
    with contextlib.suppress(ModuleNotFoundError, TypeError):
        dirs.append(Path(str(resources.files("tst_core") / "presets")))
    return [d for d in dirs if d.is_dir()]


def preset_names() -> list[str]:
    """Names of the shipped presets (``paper``, ``preview``, ...)."""
    return sorted({p.stem for d in preset_dirs() for p in d.glob("*.toml")})


def find_config(ref: str | Path, relative_to: Path | None = None) -> Path:
    """Resolve a config reference: a path (relative to ``relative_to``) or a preset name."""
    candidates = []
    path = Path(ref)
    if relative_to is not None and not path.is_absolute():
        candidates.append(relative_to / path)
    candidates.append(path)
    stem = path.name[:-5] if path.name.endswith(".toml") else path.name
    candidates += [d / f"{stem}.toml" for d in preset_dirs()]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
        if candidate.exists() and not candidate.is_dir():  # would block or never end
            raise ConfigError(
                f"config '{candidate}' is not a regular file (a FIFO, device or socket)"
            )
    raise ConfigError(
        f"config '{ref}' not found (neither a file nor a preset); presets: {', '.join(preset_names())}"
    )


def read_chain(ref: str | Path) -> tuple[dict[str, Any], tuple[Path, ...]]:
    """Read a config file and its ``base`` chain, merged (base first, the file wins)."""
    chain: list[Path] = []
    tables: list[dict[str, Any]] = []
    path: Path | None = find_config(ref)
    while path is not None:
        path = path.resolve()
        if path in chain:
            cycle = " -> ".join(p.name for p in [*chain, path])
            raise ConfigError(f"config inheritance loops: {cycle}")
        chain.append(path)
        if len(chain) > MAX_CHAIN:
            raise ConfigError(
                f"config '{chain[0]}' inherits through more than {MAX_CHAIN} files ('base' "
                "chain); flatten it"
            )
        data = _read_toml(path)
        tables.append(data)
        base = data.pop("base", None)
        if base is not None and not isinstance(base, str):
            raise ConfigError(f"'base' in '{path}' must be a string (a preset name or a path)")
        path = find_config(base, path.parent) if base else None
    merged: dict[str, Any] = {}
    for data in reversed(tables):
        _merge(merged, data)
    return merged, tuple(reversed(chain))


#: The largest config file read (presets take about 1 KB).
MAX_CONFIG_BYTES = MAX_CONFIG
#: The most files a ``base`` chain may hold (the presets' is 2).
MAX_CHAIN = 32


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = read_text(path, "config", MAX_CONFIG_BYTES)
        data = tomllib.loads(text)
        check_nesting(data, f"config '{path}'")
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, a bad date, deep nesting
        raise ConfigError(f"config '{path}' is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key '{unknown[0]}' in '{path}'; valid top-level keys: {', '.join(TOP_KEYS)}"
        )
    return data


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def load_config(
    host: Host, config: str | Path | None = None, sets: tuple[str, ...] | list[str] = ()
) -> Config:
    """Resolve a configuration against the installed plugins.

    :param config: a file path or preset name; ``None`` for the built-in defaults.
    :param sets: overrides ``"section.key=value"``: ``run.size=256``, ``engine.gatys.iterations=50``.
    """
    raw, sources = read_chain(config) if config is not None else ({}, ())
    for item in sets:
        _apply_set(host, raw, item)
    return config_from_tables(host, raw, sources)


def config_from_tables(
    host: Host, raw: Mapping[str, Any], sources: tuple[Path, ...] = ()
) -> Config:
    """A configuration from its tables (``{"run": {...}, "engine": {"gatys": {...}}}``, as a
    config file or :meth:`Config.to_dict` gives them), checked as a config file is."""
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key '{unknown[0]}' in the configuration; valid top-level keys: "
            f"{', '.join(TOP_KEYS)}"
        )
    if not isinstance(raw.get("run", {}), dict):
        raise ConfigError("'run' must be a table of options")
    run = opts.build(RunOptions, raw.get("run", {}), "[run]")
    plugins: dict[Kind, dict[str, Any]] = {}
    for kind in KINDS:
        section = raw.get(kind, {})
        if not isinstance(section, dict):
            raise ConfigError(f"'{kind}' must be a table of plugin tables, like [{kind}.NAME]")
        for name, table in section.items():
            entry = _entry(host, kind, name, f"[{kind}.{name}]")
            if not isinstance(table, dict):
                raise ConfigError(f"'{kind}.{name}' must be a table of options")
            plugins.setdefault(kind, {})[name] = opts.build(
                entry.options, table, f"[{kind}.{name}]"
            )
    return Config(run, plugins, sources)


def _entry(host: Host, kind: Kind, name: str, where: str) -> Any:
    try:
        return host.entry(kind, name)
    except PluginError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _apply_set(host: Host, raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ConfigError(f"--set expects section.key=value (e.g. run.size=256), got '{item}'")
    if parts[0] == "run" and len(parts) == 2:
        tp = opts.field_type(RunOptions, parts[1], "[run]")
        raw.setdefault("run", {})[parts[1]] = opts.parse_text(text, tp, key)
        return
    if parts[0] in KINDS and len(parts) == 3:
        kind = typing.cast(Kind, parts[0])
        entry = _entry(host, kind, parts[1], f"--set {key}")
        tp = opts.field_type(entry.options, parts[2], f"[{kind}.{parts[1]}]")
        table = raw.setdefault(kind, {}).setdefault(parts[1], {})
        table[parts[2]] = opts.parse_text(text, tp, key)
        return
    raise ConfigError(
        f"--set key '{key}' must be run.KEY or KIND.PLUGIN.KEY with KIND one of {', '.join(KINDS)}"
    )


def to_toml(data: dict[str, Any]) -> str:
    """Serialise a config dict (as from :meth:`Config.to_dict`) to TOML text."""
    lines: list[str] = []
    _emit(lines, data, [])
    return "\n".join(lines).strip() + "\n"


def _emit(lines: list[str], table: dict[str, Any], path: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    if path and (scalars or not table):
        lines += ["", f"[{'.'.join(path)}]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, value in table.items():
        if isinstance(value, dict):
            _emit(lines, value, [*path, key])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ConfigError(f"cannot write {value!r} to TOML")
