"""Fixtures of the fetch tests: an empty ``$TORCH_HOME``, network allowed (to loopback only:
every URL points at the server below) and the loopback server."""

from __future__ import annotations

import pytest
import torch

from tst_core import hub

from . import server as loopback


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty ``$TORCH_HOME``; its cache folder is ``torch_home / "hub" / "checkpoints"``."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    return home


@pytest.fixture
def online(monkeypatch, torch_home):
    """Fetching allowed (the suite is offline otherwise); the cache is empty."""
    monkeypatch.delenv(hub.OFFLINE_ENV, raising=False)
    return torch_home / "hub" / "checkpoints"


@pytest.fixture
def server():
    state, srv = loopback.start()
    yield state
    srv.shutdown()
    srv.server_close()
