"""Fixtures shared by every test.

``../shared`` (photos and weights, never committed) is found through :func:`shared_path`
only; tests that need it skip with a clear reason when it is absent.
"""

from __future__ import annotations

import builtins
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """Ctrl-C behaves as at a terminal, in the tests and in the commands they start.

    A shell without job control starts a background command (``nohup pytest &``, some CI
    runners) with SIGINT ignored, which its children inherit across ``exec``; then Python never
    raises ``KeyboardInterrupt`` and the interrupt tests (tests/batching, tests/test_save.py)
    would test nothing. A handled signal is reset to the default at ``exec``, so installing
    Python's own handler here also gives every child command a working Ctrl-C.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def shared_root() -> Path:
    """``$TST_SHARED`` or ``../shared`` beside the project root."""
    return Path(os.environ.get("TST_SHARED", ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path of a file under ``../shared``; skips the calling test when it is missing."""
    path = shared_root().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the ../shared assets; set TST_SHARED to their folder)")
    return path


@pytest.fixture
def shared():
    """``shared("images/content/bus.jpg")`` → Path, or skip when ../shared lacks it."""
    return shared_path


@pytest.fixture
def host():
    """A host with the installed plugins plus the test plugins of :mod:`tests.fakes`."""
    from tst_core.plugins import load_host

    from . import fakes

    return load_host(extra=[("tests-fakes", fakes)])


@pytest.fixture
def cli(host, monkeypatch, capsys):
    """``cli(*args)`` → (exit status, stdout, stderr), with the test plugins installed."""
    from tst_core import plugins
    from tst_core.cli import main

    monkeypatch.setattr(plugins, "_default", host)

    def call(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def run_tst(*args, pythonpath=(), env=None) -> subprocess.CompletedProcess[str]:
    """``python -m tst_core ARGS`` in a child process; ``pythonpath`` goes before the rest."""
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "tst_core", *map(str, args)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
    )


@pytest.fixture(autouse=True)
def _isolate(monkeypatch):
    """No test sees a user's plugin blocks or weights mirror, none may fetch weights (the fetch
    tests serve them from a loopback server and turn this off), and every test starts with a
    fresh default host."""
    from tst_core import hub, plugins

    monkeypatch.delenv(plugins.BLOCK_ENV, raising=False)
    monkeypatch.delenv(hub.MIRROR_ENV, raising=False)
    monkeypatch.setenv(hub.OFFLINE_ENV, "1")
    plugins.reset_default_host()
    torch.manual_seed(0)
    yield
    plugins.reset_default_host()


def make_dist(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """Write a minimal installed distribution into ``root`` (put ``root`` on sys.path/PYTHONPATH).

    :param entry_points: ``{name: module}`` in the ``tst`` group.
    :param modules: ``{module name: source}`` written as top-level ``.py`` files.
    """
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[tst]\n{lines}")
    for name, source in modules.items():
        (root / f"{name}.py").write_text(source)
    return root


def child_pythonpath(site: Path) -> str:
    """``$PYTHONPATH`` for worker processes: the test plugins, this checkout, and what the
    tests themselves were given (a checkout run with ``PYTHONPATH=$PWD:$PWD/plugins`` must not
    have its workers import the plugins of another checkout installed in the environment)."""
    return ":".join(p for p in (str(site), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)


def install_dist(mp: pytest.MonkeyPatch, site: Path) -> None:
    """Put the distribution in ``site`` and this checkout on ``sys.path`` and on the
    ``$PYTHONPATH`` that child processes (batch workers, Ray workers) inherit, and forget the
    cached host so that the next one finds the distribution's entry points."""
    from tst_core import plugins

    mp.syspath_prepend(str(site))
    mp.syspath_prepend(str(ROOT))
    mp.setenv("PYTHONPATH", child_pythonpath(site))
    plugins.reset_default_host()


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A local Ray cluster (2 CPUs) whose workers, and this process, find the test plugins of
    :mod:`tests.fakes` and :mod:`tests.clips.fakes`; its GCS address."""
    pytest.importorskip("ray")
    from tst_core import plugins
    from tst_core.batching.ray_executor import import_ray

    ray = import_ray()  # the executor's own way in, with its settings
    site = make_dist(
        tmp_path_factory.mktemp("site"),
        "tst-test-fakes",
        {"tests-fakes": "tests.fakes", "tests-clip-fakes": "tests.clips.fakes"},
        {},
    )
    with pytest.MonkeyPatch.context() as mp:
        install_dist(mp, site)
        print_before = builtins.print
        info = ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
        try:
            yield info.address_info["address"]
        finally:
            ray.shutdown()
            plugins.reset_default_host()
        # Ray swaps print for its tqdm-safe one unless told not to, and the rest of the suite
        # (and a notebook) would keep it
        assert builtins.print is print_before


@pytest.fixture
def dist_factory(tmp_path):
    """``dist_factory(dist, entry_points, modules)`` → a folder holding that distribution."""
    counter = iter(range(1000))
    return lambda *a: make_dist(tmp_path / f"site{next(counter)}", *a)


@pytest.fixture
def files(tmp_path):
    """For CLI tests: a 60×40 photo with two 'people' drawn as masks, a style image, an output folder."""
    photo = np.zeros((40, 60, 3), np.uint8)
    photo[..., 1] = 120
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(tmp_path / "style.jpg")
    masks = tmp_path / "masks"
    masks.mkdir()
    for i, (x0, x1) in enumerate([(5, 20), (35, 55)]):
        m = np.zeros((40, 60), np.uint8)
        m[5:35, x0:x1] = 255
        Image.fromarray(m).save(masks / f"person_{i}.png")
    out = tmp_path / "out"
    out.mkdir()
    return tmp_path


def run_args(files, *extra):
    """``tst run`` of the ``files`` photo: maskfile masks, the fake-fill engine, 32 px."""
    return [
        "run",
        files / "photo.png",
        "--segmenter",
        "maskfile",
        "--masks",
        files / "masks",
        "--style",
        f"person={files / 'style.jpg'}",
        "--engine",
        "fake-fill",
        "--blend",
        "hard",
        "--size",
        32,
        "-o",
        files / "out" / "out.png",
        *extra,
    ]
