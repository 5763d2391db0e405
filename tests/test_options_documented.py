"""Every option a user can set is documented where ``tst`` and the README point: the ``:param``
list of its options dataclass (as datasette's ``test_settings_are_documented``)."""

from __future__ import annotations

import inspect
import re

import pytest

from tst_core.config import RunOptions
from tst_core.option_tables import field_types
from tst_core.plugins import load_host
from tst_core.registry import KINDS

HOST = load_host()
TABLES = {"run": RunOptions} | {
    f"{kind}.{name}": HOST.entry(kind, name).options
    for kind in KINDS
    for name in HOST.registry(kind).names()
}


def params(cls: type) -> dict[str, str]:
    """``{name: text}`` of the ``:param name:`` entries of ``cls``'s docstring (``:param a, b:``
    documents both)."""
    doc = inspect.getdoc(cls) or ""
    out = {}
    for m in re.finditer(r":param ([\w, ]+):(.*?)(?=:param |\Z)", doc, re.S):
        for name in m.group(1).split(","):
            out[name.strip()] = " ".join(m.group(2).split())
    return out


def test_every_installed_plugin_is_here():
    assert {"segmenter.torchvision", "engine.gatys", "blend.feather"} <= set(TABLES)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_option_is_documented_and_nothing_else(table):
    cls = TABLES[table]
    documented, fields = set(params(cls)), set(field_types(cls))
    assert not fields - documented, f"[{table}] options without a :param: in {cls.__name__}"
    assert not documented - fields, f"{cls.__name__} documents options it does not have"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_no_option_is_a_switch_for_tests(table):
    """Test-only switches (random weights and the like) are constructor arguments of the plugin
    (``model=``), not options a user sees in ``tst config show``."""
    for name, text in params(TABLES[table]).items():
        assert not re.search(r"\btests? only\b|\bfor tests\b", text, re.I), (table, name, text)
