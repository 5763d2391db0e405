"""Configuration: presets, `base =` inheritance, --set overrides, strict keys (tst_core.config)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tst_core.config import RunOptions, find_config, load_config, preset_names, read_chain, to_toml
from tst_core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_come_from_the_options_dataclasses(host):
    cfg = load_config(host)
    assert cfg.run == RunOptions()
    assert cfg.options_for(host, "engine", "fake-fill").iterations == 3
    assert cfg.sources == ()


def test_shipped_presets_load(host):
    assert {"paper", "preview", "wells"} <= set(preset_names())
    for name in preset_names():
        cfg = load_config(host, name)
        assert cfg.sources[-1] == find_config(name).resolve()


def test_base_inheritance_chain_later_file_wins(tmp_path, host):
    write(tmp_path / "a.toml", "[run]\nsize = 300\nseed = 7\n[engine.fake-fill]\niterations = 9\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    write(sub / "b.toml", 'base = "../a.toml"\n[run]\nsize = 200\n')
    write(tmp_path / "c.toml", 'base = "sub/b.toml"\n[engine.fake-fill]\nfail = true\n')
    cfg = load_config(host, tmp_path / "c.toml")
    assert cfg.run.size == 200  # b overrides a
    assert cfg.run.seed == 7  # from a, through b
    opts = cfg.options_for(host, "engine", "fake-fill")
    assert (opts.iterations, opts.fail) == (9, True)  # tables merge key by key
    assert [p.name for p in cfg.sources] == ["a.toml", "b.toml", "c.toml"]


def test_base_can_name_a_preset(tmp_path, host):
    write(tmp_path / "mine.toml", 'base = "preview"\n[run]\nseed = 3\n')
    cfg = load_config(host, tmp_path / "mine.toml")
    preview = load_config(host, "preview")
    assert cfg.run.size == preview.run.size and cfg.run.seed == 3


def test_inheritance_loops_are_errors(tmp_path, host):
    write(tmp_path / "a.toml", 'base = "b.toml"\n')
    write(tmp_path / "b.toml", 'base = "a.toml"\n')
    with pytest.raises(ConfigError, match="loops: a.toml -> b.toml -> a.toml"):
        load_config(host, tmp_path / "a.toml")


def test_missing_config_lists_presets(host):
    with pytest.raises(ConfigError, match="not found.*presets: .*paper"):
        load_config(host, "no-such-preset")


def test_invalid_toml_is_a_config_error(tmp_path, host):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(host, write(tmp_path / "bad.toml", "[run\nsize = 1"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "colour = 1\n",
            "unknown key 'colour' in .*valid top-level keys: base, run, segmenter, engine, blend",
        ),
        (
            "[run]\nsise = 256\n",
            r"unknown key 'sise' in \[run\]; valid keys: segmenter, engine, blend, size",
        ),
        (
            "[engine.fake-fill]\niters = 2\n",
            r"unknown key 'iters' in \[engine.fake-fill\]; valid keys: iterations, fail",
        ),
        (
            "[engine.nope]\nx = 1\n",
            r"\[engine.nope\]: unknown engine 'nope'; installed: .*fake-fill",
        ),
        ("[run]\nsize = 'big'\n", "run.size must be an integer, got 'big'"),
        ("[run]\nsize = 4\n", "run.size must be between 16 and 8192"),
        ("[engine.fake-fill]\nfail = 1\n", "engine.fake-fill.fail must be true/false, got 1"),
        ("engine = 3\n", "'engine' must be a table"),
    ],
)
def test_strict_keys_and_types(tmp_path, host, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(host, write(tmp_path / "c.toml", text))


def test_set_overrides_parse_by_field_type(host):
    cfg = load_config(
        host,
        "preview",
        [
            "run.size=64",
            "run.seed=none",
            "run.device=cpu",
            "engine.fake-fill.iterations=5",
            "engine.fake-fill.fail=true",
            "segmenter.fake-boxes.boxes=[['dog', 1.0, 0, 0, 1, 1]]",
        ],
    )
    assert (cfg.run.size, cfg.run.seed, cfg.run.device) == (64, None, "cpu")
    opts = cfg.options_for(host, "engine", "fake-fill")
    assert (opts.iterations, opts.fail) == (5, True)
    assert cfg.options_for(host, "segmenter", "fake-boxes").boxes == (
        ("dog", 1.0, 0.0, 0.0, 1.0, 1.0),
    )


def test_set_overrides_win_over_files(tmp_path, host):
    path = write(tmp_path / "c.toml", "[run]\nsize = 300\n")
    assert load_config(host, path, ["run.size=100"]).run.size == 100


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("run.size", "expects section.key=value"),
        ("size=3", "must be run.KEY or KIND.PLUGIN.KEY"),
        ("run.colour=red", r"unknown key 'colour' in \[run\]"),
        ("run.size=abc", "run.size must be an integer, got 'abc'"),
        (
            "engine.fake-fill.nope=1",
            r"unknown key 'nope' in \[engine.fake-fill\]; valid keys: iterations, fail",
        ),
        ("blend.nope.x=1", "unknown compositor 'nope'; installed: feather, hard, mrf, poisson"),
    ],
)
def test_bad_set_overrides(host, item, message):
    with pytest.raises(ConfigError, match=message):
        load_config(host, None, [item])


@pytest.mark.parametrize(
    ("table", "key", "value", "message"),
    [
        (
            "engine.fake-fill",
            "iters",
            "2",
            r"^unknown key 'iters' in \[engine.fake-fill\]; valid keys: iterations, fail",
        ),
        ("engine.fake-fill", "fail", "1", "^engine.fake-fill.fail must be true/false, got 1$"),
        (
            "engine.fake-fill",
            "iterations",
            "'many'",
            "^engine.fake-fill.iterations must be an integer, got 'many'$",
        ),
        (
            "blend.feather",
            "radius",
            "-1",
            r"^\[blend.feather\] radius must be in \[0, 4096\] pixels, got -1.0$",
        ),
    ],
)
def test_a_file_a_set_and_the_api_check_an_option_alike(tmp_path, host, table, key, value, message):
    """One checker: a config file's table, ``--set`` and ``session(<kind>_options=...)``; an
    options class's own ``ValueError`` is prefixed with its table."""
    from tst_core.api import session

    kind, name = table.split(".")
    path = write(tmp_path / "c.toml", f"[{table}]\n{key} = {value}\n")
    values = tomllib.loads(path.read_text())[kind][name]
    ways = [
        lambda: load_config(host, path),
        lambda: load_config(host, None, [f"{table}.{key}={value}"]),
        lambda: session(host=host, **{kind: name, f"{kind}_options": values}),
    ]
    errors = []
    for way in ways:
        with pytest.raises(ConfigError, match=message) as err:
            way()
        errors.append(str(err.value))
    assert errors == [errors[0]] * 3


def test_list_values_accept_commas_or_toml(host):
    from tst_core.option_tables import parse_text

    assert parse_text("relu1_1,relu2_1", tuple[str, ...], "k") == ("relu1_1", "relu2_1")
    assert parse_text('["a", "b"]', tuple[str, ...], "k") == ("a", "b")
    assert parse_text("0.5, 1", tuple[float, ...], "k") == (0.5, 1.0)
    assert parse_text("12", str, "k") == "12"  # a string field keeps digits as text


def test_show_writes_toml_that_loads_back_identically(tmp_path, host):
    cfg = load_config(
        host,
        "preview",
        [
            "run.segmenter=fake-boxes",
            "run.engine=fake-fill",
            "run.blend=hard",
            "engine.fake-fill.iterations=4",
        ],
    )
    text = to_toml(cfg.to_dict(host))
    data = tomllib.loads(text)
    assert data["run"]["size"] == cfg.run.size
    assert data["engine"]["fake-fill"] == {"iterations": 4, "fail": False, "seconds": 0.0}
    assert "segmenter" in data and "fake-boxes" in data["segmenter"]
    again = load_config(host, write(tmp_path / "shown.toml", text))
    assert again.run == cfg.run
    assert again.to_dict(host) == cfg.to_dict(host)


def test_read_chain_returns_the_files_base_first(tmp_path):
    write(tmp_path / "a.toml", "[run]\nsize = 99\n")
    write(tmp_path / "b.toml", 'base = "a.toml"\n')
    merged, chain = read_chain(tmp_path / "b.toml")
    assert merged == {"run": {"size": 99}}
    assert [p.name for p in chain] == ["a.toml", "b.toml"]
