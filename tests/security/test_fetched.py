"""A pickle that runs code among fetched weights: a mirror (or a record's host) serves it, the
download passes every check a record can make (its digest is the record's), and the loader
still refuses it: one line, exit 2, no marker. The server is on loopback (no test touches the
internet)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from tst_core import hub
from tst_core.records import records

from ..conftest import run_args
from ..hub import server as loopback
from . import payloads
from .test_checkpoints import check_one_line


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty ``$TORCH_HOME`` with fetching allowed; returns its checkpoint folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.delenv(hub.OFFLINE_ENV, raising=False)
    return tmp_path / "torch-home" / "hub" / "checkpoints"


@pytest.fixture
def server():
    state, srv = loopback.start()
    yield state
    srv.shutdown()
    srv.server_close()


COMMANDS = {
    "engine network torchvision-vgg16": (
        "vgg16-imagenet",
        lambda f: [
            *run_args(f, "--engine", "gatys"),
            "--set",
            "engine.gatys.network=torchvision-vgg16",
        ],
    ),
    "semantic segmenter": (
        "lraspp-mobilenetv3-voc",
        lambda f: [
            *("segment", f / "photo.png", "--segmenter", "semantic"),
            *("--set", "segmenter.semantic.model=lraspp_mobilenet_v3_large"),
        ],
    ),
    "torchvision segmenter (the default)": (
        "maskrcnn-v2-coco",
        lambda f: ["segment", f / "photo.png"],
    ),
}


@pytest.mark.parametrize("case", sorted(COMMANDS))
def test_a_fetched_pickle_that_runs_code_is_refused(
    cli, files, cache, server, marker, monkeypatch, case
):
    name, command = COMMANDS[case]
    evil = payloads.torch_payloads(marker, files)["zip"]
    assert payloads.torch_is_live(evil, marker), "the payload must really run code"
    real = records()[name]
    served = server.record(real.file_name, evil.read_bytes())
    monkeypatch.setitem(
        records(), name, replace(real, url=served.url, sha256=served.sha256, size=None)
    )
    code, _, err = cli(*command(files))
    lines = [line for line in err.strip().splitlines() if not line.startswith("tst: fetching ")]
    line = check_one_line(code, "\n".join(lines), marker)
    assert "holds executable objects" in line and "was refused" in line, line
    assert server.count(real.file_name) == 1  # it was fetched, checked, then refused on load
    assert sorted(p.name for p in (files / "out").iterdir()) == []


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "marker"
