"""Commands that need no model import no torch: registration is lazy (a plugin's factory and
options are ``"module:name"`` references, imported on first build), so ``tst plugins`` and
``tst --help`` cost a fraction of a second instead of torch's seconds."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import ROOT

#: runs ``tst ARGS`` in a fresh interpreter and prints which heavy modules it imported
PROBE = """
import contextlib, io, json, sys
from tst_core.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
heavy = ("torch", "torchvision", "numpy", "PIL", "scipy", "cv2")
print(json.dumps({"code": code, "out": out.getvalue(), "heavy": [m for m in heavy if m in sys.modules]}))
"""


def probe(*args: str) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [
        ("plugins",),
        ("plugins", "--json"),
        ("--help",),
        ("weights", "list"),
        ("config", "show"),
        ("config", "presets"),
        ("config", "show", "--config", "preview", "--set", "engine.gatys.iterations=7"),
        ("config", "show", "--config", "wells", "--segmenter", "yolo"),
        ("config", "show", "--config", "paper", "--engine", "fast", "--blend", "poisson"),
        ("run", "--help"),
        ("video", "--help"),
        ("ui", "--help"),
        ("train", "--help"),
    ],
)
def test_commands_that_need_no_model_import_no_torch(args):
    got = probe(*args)
    assert got["code"] in (0, None)
    assert got["heavy"] == [], f"tst {' '.join(args)} imported {got['heavy']}"


#: reads the options class of every registered plugin, then prints the heavy modules imported
OPTIONS_PROBE = """
import json, sys
from tst_core.plugins import default_host
from tst_core.registry import KINDS
host = default_host()
read = [(k, n, host.entry(k, n).options.__name__) for k in KINDS for n in host.registry(k).names()]
heavy = ("torch", "torchvision", "numpy", "PIL", "scipy", "cv2")
print(json.dumps({"read": read, "heavy": [m for m in heavy if m in sys.modules]}))
"""


def test_every_plugin_s_options_are_read_without_torch():
    """``tst config show`` builds the options of whichever plugins are chosen or configured:
    every options class lives in a module that imports nothing heavy."""
    res = subprocess.run(
        [sys.executable, "-c", OPTIONS_PROBE], capture_output=True, text=True, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.splitlines()[-1])
    kinds = {kind for kind, _, _ in got["read"]}
    assert {"segmenter", "engine", "blend"} <= kinds and len(got["read"]) >= 12, got["read"]
    assert got["heavy"] == [], f"reading the plugins' options imported {got['heavy']}"


def test_config_show_prints_the_same_configuration_as_before():
    """What the lazy path prints is the resolved configuration: the default plugins' tables."""
    out = probe("config", "show", "--set", "blend.feather.radius=5")["out"]
    for table in ("[run]", "[segmenter.torchvision]", "[engine.gatys]", "[blend.feather]"):
        assert table in out, out
    assert "radius = 5.0" in out and 'style_loss = "gram"' in out


def test_the_lazy_listing_still_names_every_plugin_object_and_command():
    out = probe("plugins")["out"]
    for name in ("gatys", "fast", "cin", "feather", "mrf", "poisson", "yolo", "grabcut"):
        assert f"  {name} " in out, out
    assert "ui " in out and "train " in out


def test_building_imports_the_module_on_first_use(host):
    """The registry holds a reference until the object is built or its options are read."""
    entry = host.entry("blend", "poisson")
    assert entry.factory_ref == "tst_blend.poisson:PoissonCompositor"
    assert entry.options.__name__ == "PoissonOptions"
    assert type(entry.build()).__name__ == "PoissonCompositor"


def test_a_reference_that_does_not_import_is_one_error_naming_the_plugin():
    from tst_core import hookimpl
    from tst_core.errors import PluginError
    from tst_core.plugins import load_host

    class Lazy:
        @hookimpl
        def tst_register_compositors(self, register):
            register(
                "gone",
                "tst_no_such_module:Gone",
                options="tst_no_such_module:Opts",
                description="refers to a module that is not installed",
            )

    host = load_host(entry_points=[], extra=[("lazy", Lazy())])
    assert host.registry("blend").names() == ["gone"]  # listed without importing anything
    message = (
        r"plugin 'lazy' registers compositor 'gone', whose factory 'tst_no_such_module:Gone' "
        r"cannot be imported \(ModuleNotFoundError: No module named 'tst_no_such_module'\)"
    )
    with pytest.raises(PluginError, match=message):
        host.entry("blend", "gone").build()


def test_the_torchvision_files_listed_are_the_installed_torchvision_s():
    """The records of torchvision weights carry its URLs and sizes without importing it; they
    must still be what the installed torchvision's enums say."""
    from tst_core.records import TORCHVISION_FILES, TORCHVISION_URL, torchvision_weights

    for weights, (file_name, size_mib) in TORCHVISION_FILES.items():
        tv = torchvision_weights(weights)
        assert (TORCHVISION_URL + file_name, size_mib) == (tv.url, tv.meta["_file_size"])
