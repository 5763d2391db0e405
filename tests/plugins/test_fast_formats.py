"""tst_fast model formats: the TF layout against an independent numpy network, pytorch/examples'
TransformerNet, the safetensors model file and its metadata, refusing pickles, `tst model`."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from tst_fast.formats import load_model, save_model
from tst_fast.network import TransformNet

from tst_core.errors import WeightsError

from .fast_reference import ExamplesTransformerNet, numpy_tf_forward, write_tf_folder


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth-ish RGB test image (H, W, 3) on 0..255."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([yy, xx, 1 - yy * xx], -1) * 200
    return (base + rng.uniform(0, 55, (h, w, 3))).astype(np.float32)


def _ours(model, image: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(image / 255.0).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        out = model.net(x, torch.ones(1, 1))
    return out[0].permute(1, 2, 0).double().numpy() * 255.0


@pytest.mark.parametrize("size", [(28, 44), (32, 32)])
def test_tf_layout_matches_the_numpy_network(tmp_path, size):
    folder = write_tf_folder(tmp_path / "rand", seed=1)
    image = _photo(*size)
    diff = np.abs(_ours(load_model(folder), image) - numpy_tf_forward(folder, image))
    assert diff.max() < 0.02, f"max abs difference {diff.max():.4f} in 0..255"


@pytest.mark.needs_shared
def test_converted_shared_network_matches_the_numpy_network(tmp_path, shared, cli):
    folder = shared("models/fast-style-tf/udnie")
    out = tmp_path / "udnie.safetensors"
    code, _stdout, err = cli("model", "convert", folder, "-o", out)
    assert code == 0, err
    image = _photo(36, 52, seed=3)
    reference = numpy_tf_forward(folder, image)
    for model in (load_model(out), load_model(folder)):
        diff = np.abs(_ours(model, image) - reference)
        assert diff.max() < 0.05, f"max abs difference {diff.max():.4f} in 0..255"
    assert reference.std() > 10  # a real stylisation, not a flat image


def test_pth_of_pytorch_examples_loads_weights_only(tmp_path):
    torch.manual_seed(0)
    ref = ExamplesTransformerNet()
    for m in ref.modules():  # random affine norms, as a trained net has
        if isinstance(m, torch.nn.InstanceNorm2d):
            torch.nn.init.normal_(m.weight, 1.0, 0.2)
            torch.nn.init.normal_(m.bias, 0.0, 0.2)
    state = ref.state_dict()
    state["in1.running_mean"] = torch.zeros(32)  # old checkpoints carry these; ignored
    torch.save(state, tmp_path / "candy.pth")
    model = load_model(tmp_path / "candy.pth")
    assert model.net.arch == "johnson-pt" and model.styles[0].name == "candy"
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        expected = ref(x * 255).clamp(0, 255) / 255
        ours = model.net(x, torch.ones(1, 1))
    assert (ours - expected).abs().max() * 255 < 0.01


def test_a_state_dict_of_another_layout_is_refused(tmp_path):
    torch.save({"conv1.conv2d.weight": torch.zeros(3)}, tmp_path / "x.pth")
    with pytest.raises(WeightsError, match="not a TransformerNet state dict"):
        load_model(tmp_path / "x.pth")


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import os

        return (os.makedirs, (self.path,))


@pytest.mark.parametrize("name", ["evil.pth", "evil.safetensors", "evil.bin"])
def test_a_pickle_given_as_a_model_is_refused_and_never_run(tmp_path, name):
    marker = tmp_path / "ran"
    (tmp_path / name).write_bytes(pickle.dumps({"w": _Evil(str(marker))}, protocol=2))
    with pytest.raises(WeightsError):
        load_model(tmp_path / name)
    assert not marker.exists()


def test_model_file_round_trips_with_metadata(tmp_path):
    model = load_model(write_tf_folder(tmp_path / "tfnet"))
    model.training = {"step": 12, "degree": 2.5, "content": ["a.jpg"]}
    save_model(model, tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    assert back.styles == model.styles and back.training == model.training
    assert back.source["format"] == "fast-style-tf"
    for (k, a), (_, b) in zip(
        model.net.state_dict().items(), back.net.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    from safetensors import safe_open

    with safe_open(str(tmp_path / "m.safetensors"), "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "tst-transform-net" and meta["architecture"] == "johnson-tf"
    assert json.loads(meta["styles"]) == [{"name": "tfnet", "image": None, "sha256": None}]


def test_safetensors_of_another_kind_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(WeightsError, match="not a tst model"):
        load_model(tmp_path / "other.safetensors")


def test_wrong_shapes_are_one_error(tmp_path):
    model = load_model(write_tf_folder(tmp_path / "tfnet"))
    model.net = TransformNet("johnson-tf", 1)
    model.net.convs["conv1"].weight = torch.nn.Parameter(torch.zeros(32, 3, 3, 3))
    save_model(model, tmp_path / "bad.safetensors")
    with pytest.raises(WeightsError, match=r"convs.conv1.weight is \(32, 3, 3, 3\)"):
        load_model(tmp_path / "bad.safetensors")


def test_model_show_and_convert_commands(tmp_path, cli):
    folder = write_tf_folder(tmp_path / "wave")
    painting = tmp_path / "painting.png"
    painting.write_bytes(b"not really a png, only hashed")
    out = tmp_path / "wave.safetensors"
    code, stdout, err = cli(
        "model", "convert", folder, "-o", out, "--name", "great_wave", "--style-image", painting
    )
    assert code == 0, err
    code, stdout, err = cli("model", "show", out, "--json")
    assert code == 0, err
    info = json.loads(stdout)
    assert info["architecture"] == "johnson-tf" and info["parameters"] == 1_677_638
    (style,) = info["styles"]
    assert style["name"] == "great_wave" and style["image"] == "painting.png"
    assert len(style["sha256"]) == 64
    code, stdout, err = cli("model", "show", out)
    assert "great_wave  image painting.png" in stdout
    code, _, err = cli("model", "show", painting)
    assert code == 2 and err.count("\n") == 1 and "is not a model" in err
    code, _, err = cli("model", "convert", folder, "-o", tmp_path / "x.pt")
    assert code == 2 and "must end in .safetensors" in err
