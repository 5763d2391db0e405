"""Hostile model files for the feed-forward engines (``fast``, ``cin``) and ``tst model``.

A pickle that runs code given as a model (a ``--style`` source, the configured
``engine.fast.model``, ``tst model show|convert``) is refused in one line, exit 2, no marker, no
output; a TF-layout folder whose ``manifest.json`` points a variable at ``/dev/zero``, a FIFO, a
file outside the folder or claims an enormous shape is one line without reading it; a broken
safetensors file is one line.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import tracemalloc
from pathlib import Path

import pytest

from ..conftest import run_args
from ..plugins.fast_reference import write_tf_folder
from . import payloads
from .test_checkpoints import check_one_line


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "marker"


@pytest.fixture(autouse=True)
def no_hang():
    """A reader that blocks on a FIFO or reads /dev/zero fails the test after 30 s."""

    def too_long(signum, frame):
        raise TimeoutError("blocked reading a model")

    old = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def fast_run(f, style, engine="fast", *extra):
    args = run_args(f, "--engine", engine, *extra)
    args[args.index(f"person={f / 'style.jpg'}")] = f"person={style}"
    return args


COMMANDS = {
    "fast --style MODEL": lambda f, m: fast_run(f, m),
    "cin --style MODEL": lambda f, m: fast_run(f, m, "cin"),
    "cin mix of MODEL#names": lambda f, m: fast_run(f, f"{m}#a*0.5+{m}#b*0.5", "cin"),
    "fast engine.fast.model": lambda f, m: fast_run(
        f, "starry", "fast", "--set", f"engine.fast.model={m}"
    ),
    "model show": lambda f, m: ["model", "show", m],
    "model convert": lambda f, m: ["model", "convert", m, "-o", f / "out" / "m.safetensors"],
}


@pytest.mark.parametrize("kind", ["zip", "legacy", "plain pickle"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_pickle_given_as_a_model_is_one_line_and_never_runs(cli, files, marker, command, kind):
    path = payloads.torch_payloads(marker, files)[kind]
    assert payloads.torch_is_live(path, marker), "the payload must really run code"
    code, _, err = cli(*COMMANDS[command](files, path))
    line = check_one_line(code, err, marker)
    assert "holds executable objects" in line or "not a PyTorch checkpoint" in line, line
    assert sorted(p.name for p in (files / "out").iterdir()) == []


def hostile_folder(f: Path, variable: str, make) -> Path:
    """A valid TF-layout folder whose ``variable`` entry is replaced by ``make(f)``."""
    folder = write_tf_folder(f / "net")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest[variable] = make(f)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


TF_CASES = {
    "/dev/zero": (
        lambda f: {"filename": "/dev/zero", "shape": [9, 9, 3, 32]},
        "not a file in the folder",
    ),
    "link to /dev/zero": (
        lambda f: (
            (f / "net" / "zero").symlink_to("/dev/zero"),
            {"filename": "zero", "shape": [9, 9, 3, 32]},
        )[1],
        "is not a regular file",
    ),
    "FIFO": (
        lambda f: (os.mkfifo(f / "net" / "fifo"), {"filename": "fifo", "shape": [9, 9, 3, 32]})[1],
        "is not a regular file",
    ),
    "outside the folder": (
        lambda f: {"filename": "../photo.png", "shape": [9, 9, 3, 32]},
        "not a file in the folder",
    ),
    "absolute path": (
        lambda f: {"filename": "/etc/passwd", "shape": [9, 9, 3, 32]},
        "not a file in the folder",
    ),
    "not a name": (
        lambda f: {"filename": ["Variable"], "shape": [9, 9, 3, 32]},
        "not a file in the folder",
    ),
    "enormous shape": (
        lambda f: {"filename": "Variable", "shape": [1 << 20, 1 << 20, 1 << 20]},
        "has the shape [1048576, 1048576, 1048576]; the network needs [9, 9, 3, 32]",
    ),
    "negative shape": (
        lambda f: {"filename": "Variable", "shape": [-1, -2592]},
        "has the shape [-1, -2592]; the network needs",
    ),
    "infinite shape": (lambda f: {"filename": "Variable", "shape": [1e999]}, "cannot read"),
    # issue 23 class 2: a 1 GiB sparse file, named with the shape it holds (before, the shape
    # matched the file's size and it was read whole)
    "a 1 GiB sparse file": (
        lambda f: (
            os.truncate(_touch(f / "net" / "big"), 1 << 30),
            {"filename": "big", "shape": [1 << 28]},
        )[1],
        "has the shape [268435456]; the network needs",
    ),
    "a 1 GiB sparse file of the right shape's name": (
        lambda f: (
            os.truncate(_touch(f / "net" / "big"), 1 << 30),
            {"filename": "big", "shape": [9, 9, 3, 32]},
        )[1],
        "is too large",
    ),
    "a shape of 10**5 dimensions": (
        lambda f: {"filename": "Variable", "shape": [1] * 10**5},
        "the network needs",
    ),
}


def _touch(path: Path) -> Path:
    path.touch()
    return path


@pytest.mark.parametrize("case", sorted(TF_CASES))
@pytest.mark.parametrize("command", ["fast --style MODEL", "model show"])
def test_a_tf_folder_cannot_make_tst_read_another_file(cli, files, case, command):
    make, message = TF_CASES[case]
    folder = hostile_folder(files, "Variable", make)
    tracemalloc.start()
    try:
        code, _, err = cli(*COMMANDS[command](files, folder))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and message in err, err
    assert peak < 64 << 20, f"{peak >> 20} MiB for a hostile manifest"
    assert sorted(p.name for p in (files / "out").iterdir()) == []


def safetensors_bytes(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


BROKEN_SAFETENSORS = {
    "offsets past the end": safetensors_bytes(
        {"w": {"dtype": "F32", "shape": [1 << 30], "data_offsets": [0, 4 << 30]}}, b"\0" * 16
    ),
    "header length of 2**60": struct.pack("<Q", 1 << 60) + b"{}",
    "truncated header": struct.pack("<Q", 1000) + b'{"w": {',
    "not a tst model": safetensors_bytes({"__metadata__": {"format": "pt"}}),
}


@pytest.mark.parametrize("case", sorted(BROKEN_SAFETENSORS))
def test_a_broken_safetensors_model_is_one_line(cli, files, case):
    path = files / "m.safetensors"
    path.write_bytes(BROKEN_SAFETENSORS[case])
    for args in (COMMANDS["fast --style MODEL"](files, path), ["model", "show", path]):
        code, _, err = cli(*args)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err and str(path) in err, err
    assert sorted(p.name for p in (files / "out").iterdir()) == []


def test_model_convert_never_writes_over_its_inputs(cli, files):
    folder = write_tf_folder(files / "net")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    style = files / "style.jpg"
    for out, flag in [(folder / "net.safetensors", "input"), (style, "input")]:
        args = ["model", "convert", folder, "-o", out, "--style-image", style]
        if out == style:
            args[4] = style.with_suffix(".safetensors")
            style.with_suffix(".safetensors").symlink_to(style)
        code, _, err = cli(*args)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert flag in err, err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert style.read_bytes()[:2] == b"\xff\xd8"


@pytest.fixture
def training(tmp_path):
    """``tst train`` arguments over 2 photos (``content/``), one style and a TF net (``init/``)."""
    from PIL import Image

    (tmp_path / "content").mkdir()
    for i in range(2):
        Image.new("RGB", (64, 64), (40 * i, 90, 120)).save(tmp_path / "content" / f"p{i}.png")
    Image.new("RGB", (32, 32), (200, 60, 20)).save(tmp_path / "stripes.png")
    write_tf_folder(tmp_path / "init")
    return [
        *("train", "--style", tmp_path / "stripes.png", "--content", tmp_path / "content"),
        *("--holdout", "0", "--size", "32", "--batch", "1", "--steps", "1", "--device", "cpu"),
        *("--progress", "off"),
    ]


@pytest.mark.parametrize(
    ("output", "init", "message"),
    [
        ("content/m.safetensors", None, "a folder this run reads (--content)"),
        ("init/m.safetensors", "init", "a folder this run reads (--init-from)"),
        ("m.safetensors", "m.safetensors", "the input file '{root}/m.safetensors' (--init-from)"),
    ],
)
def test_tst_train_never_writes_over_its_inputs(cli, tmp_path, training, output, init, message):
    from tst_fast.formats import load_model, save_model

    if init == "m.safetensors":
        save_model(load_model(tmp_path / "init"), tmp_path / init)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    extra = ["--init-from", tmp_path / init] if init else []
    code, _, err = cli(*training, *extra, "-o", tmp_path / output)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert message.format(root=tmp_path) in err, err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
