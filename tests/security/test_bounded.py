"""Every file tst reads has a kind check and a size cap before it is read, and every count or
size taken from a file is checked against a limit before anything is allocated for it (issue
23 class 2): a FIFO or ``/dev/zero`` as a manifest or config, a model whose metadata lists
200 000 styles, a mask folder or label image of thousands of instances, configs and manifests
nested or chained past a limit, files that are not UTF-8 or hold NUL bytes."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from ..conftest import ROOT, run_args
from .test_paths import snapshot


def _pythonpath() -> str:
    """This checkout and the test plugins (``tests.fakes``, registered in ``conftest``'s host
    only in-process: the child gets them as a distribution, see tests/batching/conftest.py)."""
    return os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)


def _one_line(code: int, err: str) -> str:
    assert code == 2 and len(err.strip().splitlines()) == 1, (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    return err.strip()


def _batch(files, manifest, *extra):
    return [
        "batch",
        "--manifest",
        manifest,
        "-o",
        files / "out",
        "--style",
        f"person={files / 'style.jpg'}",
        "--engine",
        "fake-fill",
        "--executor",
        "inline",
        *extra,
    ]


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
@pytest.mark.parametrize("what", ["manifest", "config"])
def test_a_fifo_or_dev_zero_as_a_manifest_or_config_is_refused_at_once(files, kind, what):
    """In a child process with a timeout: a FIFO blocked the open forever, /dev/zero was read
    until memory ran out."""
    path = files / f"thing.{'jsonl' if what == 'manifest' else 'toml'}"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    plain = [a if a != "fake-fill" else "gatys" for a in run_args(files)]  # installed engines
    args = (
        [*_batch(files, path)[:-4], "--executor", "inline"]
        if what == "manifest"
        else [*plain, "--config", path]
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tst_core", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "TST_OFFLINE": "1", "PYTHONPATH": _pythonpath()},
    )
    line = _one_line(proc.returncode, proc.stderr)
    assert "not a regular file" in line, line


MANIFESTS = {
    "not UTF-8": (b'{"photo": "photo.png", "output": "\xff\xfe.png"}\n', "not UTF-8 text"),
    "a raw NUL byte": (b'{"photo": "photo.png"}\n\0\n', "NUL byte"),
    "an escaped NUL in a path": (b'{"photo": "photo\\u0000.png"}\n', "NUL byte"),
    "an escaped NUL in a mask path": (
        b'{"photo": "photo.png", "masks": "masks\\u0000"}\n',
        "NUL byte",
    ),
    "nested 500 deep": (
        b'{"photo": "photo.png", "sets": ' + b"[" * 500 + b"]" * 500 + b"}\n",
        "over 32 deep",
    ),
    "nested 100000 deep": (
        b'{"photo": "photo.png", "sets": ' + b"[" * 100000 + b"]" * 100000 + b"}\n",
        "too deeply",
    ),
}


@pytest.mark.parametrize("case", sorted(MANIFESTS))
def test_a_hostile_manifest_is_one_line(cli, files, case):
    data, phrase = MANIFESTS[case]
    manifest = files / "jobs.jsonl"
    manifest.write_bytes(data)
    before = snapshot(files)
    line = _one_line(
        *cli(*_batch(files, manifest, "--segmenter", "maskfile", "--masks", files / "masks"))[::2]
    )
    assert phrase in line, line
    assert snapshot(files) == before


def test_a_manifest_over_the_cap_is_refused_before_reading(cli, files, monkeypatch):
    from tst_core import reading

    monkeypatch.setattr(reading, "MAX_MANIFEST", 1000)
    monkeypatch.setattr("tst_core.batching.jobs.MAX_MANIFEST", 1000)
    manifest = files / "jobs.jsonl"
    manifest.write_text(json.dumps({"photo": "photo.png"}) + "\n" + " " * 2000)
    line = _one_line(
        *cli(*_batch(files, manifest, "--segmenter", "maskfile", "--masks", files / "masks"))[::2]
    )
    assert "too large" in line, line


CONFIGS = {
    "not UTF-8": (b"[run]\nsize = 32 # \xff\n", "not UTF-8 text"),
    "a NUL byte": (b"[run]\nsize = 32\n\0", "NUL byte"),
    "an array nested 400 deep": (b"[run]\nx = " + b"[" * 400 + b"]" * 400 + b"\n", "deep"),
    "a table nested 400 deep": (b"[" + b".".join([b"a"] * 400) + b"]\n", "deep"),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_a_hostile_config_is_one_line(cli, files, case):
    data, phrase = CONFIGS[case]
    config = files / "c.toml"
    config.write_bytes(data)
    line = _one_line(*cli(*run_args(files), "--config", config)[::2])
    assert phrase in line, line


def test_a_base_chain_longer_than_the_limit_is_one_line(cli, files):
    for i in range(40):
        (files / f"c{i}.toml").write_text(f'base = "c{i + 1}.toml"\n' if i < 39 else "")
    line = _one_line(*cli(*run_args(files), "--config", files / "c0.toml")[::2])
    assert "more than 32 files" in line, line


def test_a_model_listing_200000_styles_is_refused_before_allocating(cli, files):
    """The styles table drove a network of 200 000 γ/β rows (GBs) before any check."""
    from tst_fast.formats import FORMAT
    from tst_fast.network import TransformNet

    net = TransformNet("johnson-tf", 1)
    header: dict = {}
    blobs, offset = [], 0
    for key, value in net.state_dict().items():
        data = value.numpy().astype("<f4").tobytes()
        header[key] = {
            "dtype": "F32",
            "shape": list(value.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    styles = [{"name": f"s{i}", "image": None, "sha256": None} for i in range(200_000)]
    header["__metadata__"] = {
        "format": FORMAT,
        "format_version": "1",
        "architecture": "johnson-tf",
        "styles": json.dumps(styles),
    }
    text = json.dumps(header).encode()
    path = files / "many.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    tracemalloc.start()
    try:
        code, _, err = cli("model", "show", path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    line = _one_line(code, err)
    assert "safetensors header" in line or "styles" in line, line
    assert peak < 64 << 20, f"{peak >> 20} MiB"


def test_a_model_listing_more_styles_than_the_limit_is_refused(cli, files, monkeypatch):
    from tst_fast import formats

    monkeypatch.setattr(formats, "MAX_STYLES", 3)
    from tst_fast.formats import Model, StyleInfo, save_model
    from tst_fast.network import TransformNet

    path = files / "four.safetensors"
    save_model(
        Model(TransformNet("johnson-tf", 4), tuple(StyleInfo(f"s{i}") for i in range(4))), path
    )
    line = _one_line(*cli("model", "show", path)[::2])
    assert "lists 4 styles, more than 3" in line, line


def test_a_mask_folder_or_label_image_of_thousands_of_instances_is_one_line(
    cli, files, monkeypatch
):
    from tst_maskfile import segmenter as tst_maskfile  # where the reader lives

    monkeypatch.setattr(tst_maskfile, "MAX_INSTANCES", 3)
    many = files / "many"
    many.mkdir()
    for i in range(4):
        Image.fromarray(np.full((40, 60), 255, np.uint8)).save(many / f"person_{i}.png")
    args = [a if a != files / "masks" else many for a in run_args(files)]
    line = _one_line(*cli(*args)[::2])
    assert "has 4 masks; tst reads at most 3" in line, line
    labels = files / "labels.png"
    Image.fromarray(np.arange(40 * 60, dtype=np.uint16).reshape(40, 60) % 1000).save(labels)
    args = [a if a != files / "masks" else labels for a in run_args(files)]
    line = _one_line(*cli(*args)[::2])
    assert "instances; tst reads at most 3" in line, line


def test_input_folders_1100_levels_deep_are_one_line(cli, files):
    deep = files / "deep"
    _make_deep(deep, 1100)
    try:
        _deep_batch(cli, files, deep)
    finally:
        _remove_deep(deep)  # pytest's own clean-up of old temporary folders recurses


def _deep_batch(cli, files, deep) -> None:
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(files / "photo2.png")
    code, _, err = cli(
        "batch",
        deep,
        files / "photo2.png",
        "-o",
        files / "out",
        "--style",
        f"all={files / 'style.jpg'}",
        "--engine",
        "fake-fill",
        "--executor",
        "inline",
        "--progress",
        "off",
    )
    assert code in (0, 2) and "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err


def _remove_deep(root) -> None:
    """Remove a chain of ``d`` folders made by :func:`_make_deep`, deepest first."""
    depth = 0
    fd = os.open(root, os.O_RDONLY)
    fds = [fd]
    try:
        while os.path.exists(f"/proc/self/fd/{fds[-1]}/d"):
            fds.append(os.open("d", os.O_RDONLY, dir_fd=fds[-1]))
            depth += 1
        while len(fds) > 1:
            os.close(fds.pop())
            os.rmdir("d", dir_fd=fds[-1])
    finally:
        for f in fds:
            os.close(f)
    os.rmdir(root)


def _make_deep(root, levels: int) -> None:
    """A chain of folders deeper than PATH_MAX, made relative to an open folder."""
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=fd)
            new = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = new
    finally:
        os.close(fd)


def test_a_checkpoint_zip_with_a_compressed_member_is_refused_before_torch_reads_it(tmp_path):
    """torch writes its zip checkpoints uncompressed; a deflated member could inflate without
    bound inside torch's reader."""
    import zipfile

    import torch

    from tst_core.errors import WeightsError
    from tst_core.weights import load_checkpoint

    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(3)}, good)
    bomb = tmp_path / "bomb.pth"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr("good/data/9", b"\0" * (8 << 20))  # 8 MiB in a few KiB
    assert bomb.stat().st_size < 100_000
    assert load_checkpoint(good)["w"].sum() == 3
    with pytest.raises(WeightsError, match="compressed or larger than the file"):
        load_checkpoint(bomb)


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_a_yolo_model_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    from tst_yolo.backends import load_model

    from tst_core.errors import WeightsError

    path = tmp_path / "m.tflite"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    with pytest.raises(WeightsError, match="not a regular file"):
        load_model(path, None)


def _onnx_model(path, shape, imgsz=None):
    """A YOLO-like ONNX model (fixed outputs) whose input is ``shape``, with ``imgsz``
    metadata when given."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    preds, protos = np.zeros((1, 6, 3), np.float32), np.zeros((1, 1, 4, 4), np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["p"], ["output0"]),
            helper.make_node("Identity", ["q"], ["output1"]),
        ],
        "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(shape))],
        [
            helper.make_tensor_value_info("output0", TensorProto.FLOAT, preds.shape),
            helper.make_tensor_value_info("output1", TensorProto.FLOAT, protos.shape),
        ],
        [numpy_helper.from_array(preds, "p"), numpy_helper.from_array(protos, "q")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    if imgsz is not None:
        helper.set_model_props(model, {"imgsz": imgsz})
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("shape", "imgsz"),
    [
        ((1, 3, 100_000, 100_000), None),  # 120 GB of input before a pixel is read
        ((1, 3, "h", "w"), "[1000000000, 1000000000]"),
        ((1, 3, "h", "w"), "[0, -5]"),
        ((1, 3, "h", "w"), "['a', 'b']"),  # was ValueError, an internal error
        ((1, 3, "h", "w"), "{'a': 1}"),
        ((1, 3, "h", "w"), "[True, 640]"),
        ((3, "h"), None),
    ],
)
def test_a_yolo_input_size_from_the_file_is_checked_before_an_input_is_made(tmp_path, shape, imgsz):
    pytest.importorskip("onnxruntime")
    from tst_yolo.backends import load_model

    from tst_core.errors import WeightsError

    path = _onnx_model(tmp_path / "m.onnx", shape, imgsz)
    with pytest.raises(WeightsError, match="declares an input of|-D input, not an image"):
        load_model(path, 1)


@pytest.mark.parametrize(
    ("imgsz", "size"), [(None, (640, 640)), ("320", (320, 320)), ("[256, 320]", (256, 320))]
)
def test_a_yolo_input_size_in_range_is_used(tmp_path, imgsz, size):
    pytest.importorskip("onnxruntime")
    from tst_yolo.backends import load_model

    assert (
        load_model(_onnx_model(tmp_path / "m.onnx", (1, 3, "h", "w"), imgsz), 1).input_size == size
    )
