"""A broken plugin cannot end every command (issue 23 class 8): one that raises ``SystemExit``
or ``KeyboardInterrupt`` (or ``GeneratorExit``) while importing or registering is reported as
broken like any other, and the other plugins and commands work; a real Ctrl-C while plugins
load still stops the command."""

from __future__ import annotations

import json

from ..conftest import run_tst

REGISTER = """
from tst_core import hookimpl

@hookimpl
def tst_register_compositors(register):
    {body}
"""

CASES = {
    "sys.exit() at import": "import sys\nsys.exit(3)\n",
    "SystemExit(0) at import": "raise SystemExit(0)\n",
    "KeyboardInterrupt at import": "raise KeyboardInterrupt\n",
    "GeneratorExit at import": "raise GeneratorExit\n",
    "sys.exit() while registering": REGISTER.format(body="import sys; sys.exit(5)"),
    "KeyboardInterrupt while registering": REGISTER.format(body="raise KeyboardInterrupt"),
    "sys.exit() while registering flags": REGISTER.replace(
        "tst_register_compositors", "tst_register_flags"
    ).format(body="import sys; sys.exit(6)"),
}


def test_plugins_that_raise_systemexit_or_keyboardinterrupt_are_only_broken(dist_factory):
    """One distribution with a plugin per case (one child process for all: each is slow)."""
    names = {case: f"rude{i}" for i, case in enumerate(sorted(CASES))}
    site = dist_factory(
        "tst-rude",
        {name: f"tst_{name}" for name in names.values()},
        {f"tst_{name}": CASES[case] for case, name in names.items()},
    )
    res = run_tst("plugins", "--json", pythonpath=[site])
    assert res.returncode == 0, res.stderr
    plugins = {p["name"]: p for p in json.loads(res.stdout)["plugins"]}
    for case, name in names.items():
        assert plugins[name]["status"] == "broken", (case, plugins[name])
    assert plugins["maskfile"]["status"] == "ok"
    res = run_tst("config", "presets", pythonpath=[site])
    assert res.returncode == 0 and "paper" in res.stdout, res.stderr


def test_a_real_ctrl_c_while_plugins_load_still_stops_the_command(dist_factory):
    body = "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(2)\n"
    site = dist_factory("tst-slow", {"slow": "tst_slow"}, {"tst_slow": body})
    res = run_tst("plugins", pythonpath=[site])
    assert res.returncode != 0 and "maskfile" not in res.stdout, (res.returncode, res.stdout)


def test_a_plugin_that_exits_while_registering_weights_is_one_line(dist_factory):
    """The weights hook runs when the records are first needed (tst weights list): a
    ``SystemExit`` there is the plugin's failure, named, not a silent end of the command."""
    body = REGISTER.replace("tst_register_compositors", "tst_register_weights").format(
        body="import sys; sys.exit(0)"
    )
    site = dist_factory("tst-rude-weights", {"rudew": "tst_rudew"}, {"tst_rudew": body})
    res = run_tst("weights", "list", pythonpath=[site])
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "rudew" in lines[0] and "SystemExit" in lines[0], res.stderr
