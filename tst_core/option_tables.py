"""Typed option dataclasses: building them from TOML tables and ``--set`` strings, strictly.

A plugin's options are a dataclass; its field defaults are the only place defaults live. Field
types understood here: ``bool``, ``int``, ``float``, ``str``, ``Path``, ``Literal[...]``,
``X | None``, ``tuple[X, ...]``/``list[X]`` and ``dict[str, float]``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_NONE_WORDS = {"none", "null", ""}


def field_types(cls: type) -> dict[str, Any]:
    """``{field name: resolved type}`` of an options dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def type_name(tp: Any) -> str:
    """A short human name for a field type (for error messages)."""
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join("none" if a is type(None) else type_name(a) for a in get_args(tp))
    if origin in (tuple, list):
        args = get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return "a list of (" + ", ".join(type_name(a) for a in args) + ")"
        return f"a list of {type_name(args[0])}"
    if origin is dict:
        return f"a table of {type_name(get_args(tp)[1])}"
    return {
        bool: "true/false",
        int: "an integer",
        float: "a number",
        str: "a string",
        Path: "a path",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check a TOML value against a field type and convert it (int → float, str → Path...)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} must be {type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where} must be {type_name(tp)}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be {type_name(tp)}, got {value!r}")
        args = get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):  # a fixed-length tuple such as tuple[str, float]
                raise ConfigError(f"{where} must have {len(args)} items, got {value!r}")
            item_types = list(args)
        else:
            item_types = [args[0]] * len(value)
        items = [
            coerce(v, t, f"{where}[{i}]")
            for i, (v, t) in enumerate(zip(value, item_types, strict=True))
        ]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be {type_name(tp)}, got {value!r}")
        key_tp, val_tp = get_args(tp)
        return {
            coerce(k, key_tp, where): coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()
        }
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
        Path: lambda v: isinstance(v, (str, Path)),
    }.get(tp)
    if ok is None:
        raise TypeError(f"{where}: unsupported option type {tp!r}")
    if not ok(value):
        raise ConfigError(f"{where} must be {type_name(tp)}, got {value!r}")
    if tp is float and not math.isfinite(value):  # TOML has nan and inf; no option means them
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    return tp(value) if tp in (float, Path) else value


def parse_text(text: str, tp: Any, where: str) -> Any:
    """Turn a ``--set`` string into a value of type ``tp``.

    TOML syntax is accepted (``[1, 2]``, ``true``, ``"x"``); bare words are strings; lists may
    also be written comma-separated (``relu1_1,relu2_1``); ``none`` means ``None``.
    """
    origin = get_origin(tp)
    args = get_args(tp)
    if (
        origin in (Union, types.UnionType)
        and type(None) in args
        and text.strip().lower() in _NONE_WORDS
    ):
        return None
    value = _scalar(text, where)
    if origin in (tuple, list) and not isinstance(value, list):
        value = [_scalar(part.strip(), where) for part in text.split(",") if part.strip()]
    elif isinstance(value, (int, float)) and _wants_str(tp):
        value = text
    return coerce(value, tp, where)


def _scalar(text: str, where: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (ValueError, KeyError):  # not a TOML value (a bad date raises ValueError too)
        return text
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(f"{where}: the value nests arrays or tables too deeply") from None


def _wants_str(tp: Any) -> bool:
    if tp in (str, Path):
        return True
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return all(_wants_str(a) for a in args)
    return False


def field_type(cls: type, key: str, where: str) -> Any:
    """The type of option ``key`` of options ``cls``; an unknown key names the valid ones.

    :param where: the table's name for messages, e.g. ``"[engine.gatys]"``.
    """
    fields = field_types(cls)
    if key not in fields:
        valid = ", ".join(fields) or "(this plugin takes no options)"
        raise ConfigError(f"unknown key '{key}' in {where}; valid keys: {valid}")
    return fields[key]


def check_table(cls: type, table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The values of ``table`` checked against the fields of options ``cls`` and converted.

    The one check of option keys and types, for config files, ``--set`` and the API's
    ``*_options=`` tables. An unknown key names the valid ones (the first unknown key in
    alphabetical order); a value of the wrong type names the key and the type wanted.

    :param where: the table's name for messages, e.g. ``"[engine.gatys]"``.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of options, got {table!r}")
    types = {key: field_type(cls, key, where) for key in sorted(table, key=str)}
    return {k: coerce(v, types[k], f"{where.strip('[]')}.{k}") for k, v in table.items()}


def build(cls: type, table: Mapping[str, Any], where: str, base: Any = None) -> Any:
    """Options ``cls`` from a TOML table (over ``base``'s values, when given).

    Keys and types are checked by :func:`check_table`. The options class checks its values
    itself (``__post_init__``) and raises a plain ``ValueError`` that names the field (``"radius
    must be in [0, 512] pixels, got -1"``); that becomes a :class:`ConfigError` prefixed with
    ``where``: ``"[blend.feather] radius must be ..."``. A ``ConfigError`` passes unchanged.

    :param where: the table's name for messages, e.g. ``"[engine.gatys]"``.
    :param base: options of class ``cls`` whose other values are kept.
    """
    values = check_table(cls, table, where)
    try:
        return cls(**values) if base is None else dataclasses.replace(base, **values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where} {exc}") from None


def to_table(options: Any) -> dict[str, Any]:
    """Options dataclass → TOML-ready dict (Paths as strings, tuples as lists, None dropped)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if value is None:
            continue
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out
