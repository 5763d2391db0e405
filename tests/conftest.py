"""Fixtures shared by every test.

``../shared`` (photos and weights, never committed) is found through :func:`shared_path`
only; tests that need it skip with a clear reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture(autouse=True)
def _isolate(monkeypatch):
    """No test sees a user's plugin blocks; every test starts with a fresh default host."""
    from tst_core import plugins

    monkeypatch.delenv(plugins.BLOCK_ENV, raising=False)
    plugins.reset_default_host()
    torch.manual_seed(0)
    yield
    plugins.reset_default_host()
