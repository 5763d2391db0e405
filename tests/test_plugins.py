"""The plugin host: entry points, blocking, broken and duplicate plugins (tst_core.plugins)."""

from __future__ import annotations

import re
from importlib import metadata

import pytest
from tst_blend.hard import HardCompositor

from tst_core import hookimpl
from tst_core.errors import DuplicatePluginError, PluginError
from tst_core.plugins import BLOCK_ENV, blocked_names, load_host

from .conftest import run_tst

GOOD = """
from tst_core import hookimpl
from tst_blend.hard import HardCompositor, HardOptions

@hookimpl
def tst_register_compositors(register):
    register("hard2", HardCompositor, options=HardOptions, description="a second hard cut")
"""
BROKEN_IMPORT = "import tst_no_such_backend  # noqa\n"
BROKEN_REGISTER = """
from tst_core import hookimpl

@hookimpl
def tst_register_engines(register):
    raise RuntimeError("needs libfoo 2.0")
"""
DUPLICATE = """
from tst_core import hookimpl
from tst_blend.hard import HardCompositor

@hookimpl
def tst_register_compositors(register):
    register("hard", HardCompositor, description="another hard")
"""


def ep(name, module):
    return metadata.EntryPoint(name=name, value=module, group="tst")


def installed_eps():
    return list(metadata.entry_points(group="tst"))


def test_first_party_plugins_come_from_entry_points():
    eps = {e.name: e for e in installed_eps()}
    assert {"maskfile", "blend"} <= set(eps)
    host = load_host()
    assert host.entry("segmenter", "maskfile").plugin == "maskfile"
    entry = host.entry("blend", "hard")
    assert (entry.plugin, entry.dist) == ("blend", "targeted-style-transfer")
    assert entry.version == metadata.version("targeted-style-transfer")
    assert all(p.status == "ok" for p in host.plugins if p.name in ("maskfile", "blend"))


def test_no_entry_points_means_no_plugins():
    host = load_host(entry_points=[])
    assert len(host.registry("segmenter")) == 0
    with pytest.raises(PluginError, match="unknown segmenter 'maskfile'; installed: none"):
        host.entry("segmenter", "maskfile")


def test_broken_plugins_are_reported_and_the_others_load(monkeypatch, tmp_path):
    (tmp_path / "tst_broken_import.py").write_text(BROKEN_IMPORT)
    (tmp_path / "tst_broken_register.py").write_text(BROKEN_REGISTER)
    monkeypatch.syspath_prepend(str(tmp_path))
    host = load_host(
        entry_points=[
            *installed_eps(),
            ep("bad-import", "tst_broken_import"),
            ep("bad-reg", "tst_broken_register"),
        ]
    )
    status = {p.name: p for p in host.plugins}
    assert status["bad-import"].status == "broken"
    assert "No module named 'tst_no_such_backend'" in status["bad-import"].reason
    assert status["bad-reg"].status == "broken"
    assert status["bad-reg"].reason == "RuntimeError: needs libfoo 2.0"
    assert "maskfile" in host.registry("segmenter")  # the others still work
    with pytest.raises(PluginError, match="broken plugins .*: bad-import, bad-reg"):
        host.entry("engine", "whatever")


def test_blocking_by_environment_variable(monkeypatch):
    monkeypatch.setenv(BLOCK_ENV, "blend, other")
    assert blocked_names() == {"blend", "other"}
    host = load_host()
    assert "hard" not in host.registry("blend")
    assert {p.name: p.status for p in host.plugins}["blend"] == "blocked"
    assert "maskfile" in host.registry("segmenter")


def test_duplicate_names_name_both_plugins(monkeypatch, tmp_path):
    (tmp_path / "tst_dup.py").write_text(DUPLICATE)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        DuplicatePluginError,
        match="compositor 'hard' is registered twice: by plugin 'blend' and by plugin 'dup'",
    ):
        load_host(entry_points=[*installed_eps(), ep("dup", "tst_dup")])
    # blocking one of them resolves it
    host = load_host(entry_points=[*installed_eps(), ep("dup", "tst_dup")], blocked={"dup"})
    assert host.entry("blend", "hard").plugin == "blend"


def test_bad_registrations_mark_the_plugin_broken(monkeypatch, tmp_path):
    (tmp_path / "tst_badname.py").write_text(
        "from tst_core import hookimpl\n"
        "@hookimpl\ndef tst_register_compositors(register):\n"
        "    register('bad name!', object, description='x')\n"
    )
    (tmp_path / "tst_badopts.py").write_text(
        "from tst_core import hookimpl\n"
        "@hookimpl\ndef tst_register_compositors(register):\n"
        "    register('fine', object, options=dict, description='x')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    host = load_host(entry_points=[ep("badname", "tst_badname"), ep("badopts", "tst_badopts")])
    status = {p.name: p for p in host.plugins}
    assert "names may use only letters" in status["badname"].reason
    assert "not a dataclass" in status["badopts"].reason
    assert len(host.registry("blend")) == 0


WRONG_OBJECTS = """
from tst_core import hookimpl

class Runs:  # a method of no kind
    def __init__(self, options, env):
        pass
    def run(self, photo):
        return photo

class Segments(Runs):  # a segmenter's method only
    def segment(self, photo):
        return None

@hookimpl
def tst_register_segmenters(register):
    register("runs", Runs, description="test: returns an object without segment()")

@hookimpl
def tst_register_engines(register):
    register("segments", Segments, description="test: returns a segmenter")

@hookimpl
def tst_register_compositors(register):
    register("not-callable", lambda o, e: type("Half", (), {"composite": 1})(), description="x")
"""


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("segmenter", "runs", "segmenter 'runs' whose factory returned a Runs without segment()"),
        (
            "engine",
            "segments",
            "engine 'segments' whose factory returned a Segments without stylize()",
        ),
        (
            "blend",
            "not-callable",
            "compositor 'not-callable' whose factory returned a Half without composite()",
        ),
    ],
)
def test_a_factory_must_return_its_kinds_protocol(monkeypatch, tmp_path, kind, name, message):
    (tmp_path / "tst_wrong_objects.py").write_text(WRONG_OBJECTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    host = load_host(entry_points=[*installed_eps(), ep("wrong", "tst_wrong_objects")])
    full = f"plugin 'wrong' registers {message} (see tst_core.types."
    with pytest.raises(PluginError, match="^" + re.escape(full)):
        host.entry(kind, name).build()


def test_a_run_with_a_factory_of_the_wrong_kind_is_one_line_naming_the_plugin(tmp_path):
    (tmp_path / "tst_wrong_objects.py").write_text(WRONG_OBJECTS)
    (tmp_path / "photo.png").write_bytes(b"not read: the engine is built first")
    dist = tmp_path / "wrong-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: wrong\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[tst]\nwrong = tst_wrong_objects\n")
    args = ["run", tmp_path / "photo.png", "--style", "a.png", "--engine", "segments"]
    proc = run_tst(*args, "-o", tmp_path / "out.png", pythonpath=[tmp_path])
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "plugin 'wrong' registers engine 'segments'" in proc.stderr
    assert "internal error" not in proc.stderr


def test_unknown_names_list_the_installed_ones():
    host = load_host()
    with pytest.raises(PluginError, match=r"unknown compositor 'nope'; installed: .*hard"):
        host.entry("blend", "nope")


def test_tst_plugins_lists_first_party_and_broken_plugins(dist_factory):
    site = dist_factory(
        "tst-broken-example",
        {"broken-example": "tst_broken_example"},
        {"tst_broken_example": BROKEN_IMPORT},
    )
    res = run_tst("plugins", pythonpath=[site])
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "maskfile" in out and "hard" in out
    assert "targeted-style-transfer" in out
    assert (
        "broken-example" in out
        and "broken: ModuleNotFoundError: No module named 'tst_no_such_backend'" in out
    )
    assert "[tst-broken-example 0.1]" in out


def test_tst_plugins_json_shows_blocked(dist_factory):
    res = run_tst("plugins", "--json", env={BLOCK_ENV: "maskfile"})
    import json

    data = json.loads(res.stdout)
    assert {"name": "maskfile", "status": "blocked"}.items() <= next(
        p for p in data["plugins"] if p["name"] == "maskfile"
    ).items()
    assert all(r["name"] != "maskfile" for r in data["registered"])


COMMANDS = """
from tst_core import hookimpl

@hookimpl
def tst_register_commands(register):
    register({name!r}, lambda parser: None, lambda args: None, help="a command")
"""


def test_a_command_registered_twice_is_an_error_naming_both(monkeypatch, tmp_path):
    for module in ("tst_cmd_a", "tst_cmd_b"):
        (tmp_path / f"{module}.py").write_text(COMMANDS.format(name="same"))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DuplicatePluginError, match="command 'same'.*'cmd-a'.*'cmd-b'"):
        load_host(entry_points=[ep("cmd-a", "tst_cmd_a"), ep("cmd-b", "tst_cmd_b")])


def test_a_plugin_command_may_not_replace_a_built_in_one(monkeypatch, tmp_path, capsys):
    from tst_core import cli, plugins

    (tmp_path / "tst_cmd_run.py").write_text(COMMANDS.format(name="run"))
    monkeypatch.syspath_prepend(str(tmp_path))
    host = load_host(entry_points=[ep("cmd-run", "tst_cmd_run")])
    monkeypatch.setattr(plugins, "_default", host)
    assert cli.main(["--help"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'run', which is built in" in err and "cmd-run" in err
    assert cli.main(["plugins"]) == 0  # built-in commands do not load plugin commands


def test_a_badly_named_command_marks_its_plugin_broken(monkeypatch, tmp_path):
    (tmp_path / "tst_cmd_bad.py").write_text(COMMANDS.format(name="no spaces"))
    monkeypatch.syspath_prepend(str(tmp_path))
    host = load_host(entry_points=[ep("cmd-bad", "tst_cmd_bad")])
    (info,) = host.plugins
    assert info.status == "broken" and "command 'no spaces'" in info.reason
    assert host.commands == {}


class _Plain:
    def __init__(self, options, env):
        pass

    def stylize(self, photo, targets, progress=None):
        raise AssertionError("not run here")


class _Resolving(_Plain):
    def resolve_style(self, parts):
        raise AssertionError("not run here")


class _Declaring:
    @hookimpl
    def tst_register_engines(self, register):
        register("says-yes", _Resolving, description="test", resolves_styles=True)
        register("undeclared", _Resolving, description="test: has resolve_style, not declared")
        register(
            "lacks-it", _Plain, description="test: declared, no resolve_style", resolves_styles=True
        )


class _BadDeclaring:
    @hookimpl
    def tst_register_compositors(self, register):
        register("resolving-blend", HardCompositor, description="test", resolves_styles=True)


def test_an_engine_declares_at_registration_whether_it_resolves_styles():
    host = load_host(extra=[("declaring", _Declaring()), ("bad", _BadDeclaring())])
    assert (
        host.entry("engine", "fast").resolves_styles and host.entry("engine", "cin").resolves_styles
    )
    assert not host.entry("engine", "gatys").resolves_styles
    assert isinstance(host.entry("engine", "says-yes").build(), _Resolving)
    with pytest.raises(PluginError) as err:
        host.entry("engine", "undeclared").build()
    assert str(err.value) == (
        "plugin 'declaring' registers engine 'undeclared' without resolves_styles=True, but its "
        "_Resolving has a resolve_style(); the two must agree (see tst_core.types.StyleResolver)"
    )
    with pytest.raises(
        PluginError, match="'lacks-it' with resolves_styles=True, but its _Plain has no"
    ):
        host.entry("engine", "lacks-it").build()
    (bad,) = [p for p in host.plugins if p.name == "bad"]
    assert bad.status == "broken" and "only an engine resolves styles" in bad.reason
