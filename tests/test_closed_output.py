"""A reader that closes tst's output early (``tst weights list | head -2``) ends the command
quietly, as ``ls | head`` ends ``ls``: no "internal error", status 141 (128 + SIGPIPE)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tst_core.cli import main
from tst_core.cli.signals import EXIT_BROKEN_PIPE

from .conftest import ROOT

TST = "import sys; from tst_core.cli import main; sys.exit(main())"


def run_with_stdout_closed(*args: str) -> tuple[int, str]:
    """``tst ARGS`` whose stdout pipe is closed by its reader before tst writes a line."""
    proc = subprocess.Popen(
        [sys.executable, "-c", TST, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the only reader: every write of tst's now meets a closed pipe
    err = proc.stderr.read().decode()
    return proc.wait(timeout=120), err


@pytest.mark.parametrize(
    "args",
    [("weights", "list"), ("plugins",), ("plugins", "--json"), ("config", "presets")],
)
def test_a_closed_stdout_ends_the_command_quietly(args):
    code, err = run_with_stdout_closed(*args)
    assert err == "", err
    assert code == EXIT_BROKEN_PIPE == 141


def test_config_show_and_debug_too():
    """``config show`` prints its TOML at the end; ``--debug`` shows no traceback for it."""
    for args in (("config", "show"), ("--debug", "config", "show")):
        code, err = run_with_stdout_closed(*args)
        assert (code, err) == (EXIT_BROKEN_PIPE, ""), args


def test_a_reader_that_takes_two_lines_sees_them_and_tst_says_nothing_more():
    proc = subprocess.Popen(
        [sys.executable, "-c", TST, "weights", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    head = [proc.stdout.readline(), proc.stdout.readline()]
    proc.stdout.close()
    err = proc.stderr.read().decode()
    # tst may have written everything before the reader closed (status 0) or not (141)
    assert proc.wait(timeout=120) in (0, EXIT_BROKEN_PIPE) and err == ""
    assert head[0].split()[:2] == [b"name", b"plugin"] and head[1].strip()


def test_a_broken_pipe_elsewhere_stays_an_internal_error(monkeypatch, capsys):
    """Only a closed stdout or stderr ends quietly: a pipe or socket of the command's own that
    breaks (stdout still open) is a bug to report, as before."""
    from tst_core.cli import config

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(config, "presets", broken)
    assert main(["config", "presets"]) == 1
    err = capsys.readouterr().err
    assert "internal error: BrokenPipeError" in err
