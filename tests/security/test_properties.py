"""Property-based tests (Hypothesis): any text given to the selection grammar, the ``--style``
parser, ``--set`` and the TOML config loader either parses or raises the project's own error
(a :class:`~tst_core.errors.TstError`), never another exception."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tst_core.config import load_config, to_toml
from tst_core.errors import ConfigError, TstError
from tst_core.plugins import load_host
from tst_core.select import parse_selector, parse_strength, parse_style_arg

from .. import fakes

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text that looks like the grammar more often than uniform text would
GRAMMAR = st.text(alphabet=string.ascii_letters + string.digits + "#:=,.-+_ /\\@*eE", max_size=40)
ANY = st.text(max_size=60)
TEXT = st.one_of(GRAMMAR, ANY)


@pytest.fixture(scope="module")
def host():
    return load_host(extra=[("tests-fakes", fakes)])


def parses_or_tst_error(fn, *args):
    try:
        return fn(*args)
    except TstError:  # the CLI prints it as one line (tests/test_cli.py)
        return None


@SETTINGS
@given(TEXT)
def test_selectors(text):
    sel = parses_or_tst_error(parse_selector, text)
    if sel is not None:
        assert sel.kind in {"label", "rank", "id", "background", "all"}


@SETTINGS
@given(TEXT)
def test_strengths(text):
    value = parses_or_tst_error(parse_strength, text)
    if value is not None:
        assert value > 0 and value != float("inf")


@SETTINGS
@given(st.one_of(TEXT, st.builds(lambda a, b, c: f"{a}={b}:{c}", GRAMMAR, GRAMMAR, GRAMMAR)))
def test_style_arguments(text):
    req = parses_or_tst_error(parse_style_arg, text)
    if req is not None:
        assert req.selector and req.strength > 0


KEYS = st.sampled_from(
    [
        "run.size",
        "run.seed",
        "run.device",
        "run.style_size",
        "run.engine",
        "engine.gatys.lr",
        "engine.gatys.scales",
        "engine.gatys.style_layers",
        "engine.gatys.optimizer",
        "blend.feather.radius",
        "segmenter.fake-boxes.boxes",
        "segmenter.maskfile.masks",
        "nope.x.y",
    ]
)
VALUES = st.one_of(
    TEXT,
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["nan", "inf", "-inf", "1e999", "true", "[1, 2]", "[[", "1979-05-27T07:32:00-99:00", '"x"']
    ),
)


@SETTINGS
@given(st.one_of(TEXT, st.builds(lambda k, v: f"{k}={v}", KEYS, VALUES)))
def test_set_overrides(host, item):
    parses_or_tst_error(load_config, host, None, [item])


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("[" * 100_000 + "]" * 100_000, id="array"),
        pytest.param("{a=" * 3000 + "}" * 3000, id="table"),
    ],
)
@pytest.mark.parametrize("key", ["run.size", "run.device", "engine.gatys.scales"])
def test_set_values_nested_too_deeply_are_config_errors(host, key, value):
    """Too deep for Hypothesis to find: tomllib recurses once per level."""
    with pytest.raises(ConfigError, match=f"{key}: the value nests arrays or tables too deeply"):
        load_config(host, None, [f"{key}={value}"])


SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.text(max_size=12),
)
TABLE_KEYS = st.one_of(
    st.sampled_from(["base", "run", "segmenter", "engine", "blend", "size", "seed", "gatys"]),
    st.sampled_from(["iterations", "lr", "fake-boxes", "feather", "maskfile", "hard", "x"]),
)
TOML_DATA = st.recursive(
    SCALARS | st.lists(SCALARS, max_size=3),
    lambda inner: st.dictionaries(TABLE_KEYS, inner, max_size=4),
    max_leaves=12,
).filter(lambda d: isinstance(d, dict))


@SETTINGS
@given(TOML_DATA)
def test_config_files_built_from_any_tables(host, tmp_path_factory, data):
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    try:
        path.write_text(to_toml(data))
    except TstError:
        return  # a value TOML cannot hold
    parses_or_tst_error(load_config, host, path, [])


@SETTINGS
@given(st.one_of(ANY, st.binary(max_size=80).map(lambda b: b.decode("latin1"))))
def test_config_files_of_any_text(host, tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    parses_or_tst_error(load_config, host, path, [])
