"""The torchvision feature networks (VGG-11/16/19, ResNet-50) on randomly initialised weights of
the real architectures: layer maps against torchvision's module names, features against
torchvision's own forward pass, options, and end-to-end runs."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from torch import nn

from tst_core.engine import resnet, vgg
from tst_core.engine.options import GatysOptions
from tst_core.engine.vgg import build_network, layer_specs, receptive_field
from tst_core.errors import ConfigError, WeightsError

from ..synthetic import random_pictures

CFGS = {"vgg11": "A", "vgg16": "D", "vgg19": "E"}


def _normalised(x):
    mean = torch.tensor(vgg.TORCHVISION_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(vgg.TORCHVISION_STD).view(1, 3, 1, 1)
    return (x - mean) / std


@pytest.fixture(scope="module")
def resnet_checkpoint(tmp_path_factory):
    """torchvision's ResNet-50, randomly initialised, and its state dict saved as a file."""
    import torchvision

    torch.manual_seed(5)
    model = torchvision.models.resnet50(weights=None).eval()
    path = tmp_path_factory.mktemp("resnet") / "resnet50.pth"
    torch.save(model.state_dict(), path)
    return model, path


@pytest.mark.parametrize("arch", ["vgg11", "vgg16", "vgg19"])
def test_vgg_layer_map_matches_torchvision_features(arch):
    """Layer i is torchvision's ``features[i]``: the same kind and width, in the same order."""
    from torchvision.models import vgg as tv_vgg

    features = tv_vgg.make_layers(tv_vgg.cfgs[CFGS[arch]])
    specs = layer_specs(arch)
    assert len(specs) == len(features)
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for spec, module in zip(specs, features, strict=True):
        assert isinstance(module, kinds[spec.kind]), (spec.name, module)
        if spec.kind == "conv":
            assert module.out_channels == spec.channels, spec.name


def test_vgg11_has_the_default_layers():
    o = GatysOptions(network="torchvision-vgg11")
    assert o.content_layers == ("conv4_2",) and o.style_layers[-1] == "relu5_1"
    assert vgg.layer_names("torchvision-vgg11")[6:10] == (
        "conv3_1",
        "relu3_1",
        "conv3_2",
        "relu3_2",
    )


def test_resnet_layer_map_matches_torchvision_module_names(resnet_checkpoint):
    model, _ = resnet_checkpoint
    modules = dict(model.named_modules())
    for spec in resnet.layer_specs():
        assert spec.name in modules, spec.name
        if spec.kind == "block":
            assert modules[spec.name].conv3.out_channels == spec.channels
    for alias, stage in resnet.aliases().items():
        assert stage == f"{alias}.{len(modules[alias]) - 1}"  # the stage's last block
    x = torch.rand(1, 3, 64, 96)
    net = build_network("torchvision-resnet50", layers=["layer4"], weights=resnet_checkpoint[1])
    names = [s.name for s in resnet.layer_specs()]
    with torch.no_grad():
        feats = net(x, names)
    for spec in resnet.layer_specs():
        assert feats[spec.name].shape[-2:] == (64 // spec.stride, 96 // spec.stride), spec.name
        assert feats[spec.name].shape[1] == spec.channels


def test_resnet_features_equal_torchvision_forward(resnet_checkpoint):
    model, path = resnet_checkpoint
    net = build_network("torchvision-resnet50", layers=["layer2", "bn1"], weights=path)
    assert net.last == "layer2.3" and net.arch == "resnet50"
    x = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        got = net(x, ["bn1", "relu", "layer1", "layer2"])
        bn1 = model.bn1(model.conv1(_normalised(x)))
        layer1 = model.layer1(model.maxpool(torch.relu(bn1)))
        layer2 = model.layer2(layer1)
    torch.testing.assert_close(got["bn1"], bn1)  # not overwritten by the ReLU after it
    torch.testing.assert_close(got["relu"], torch.relu(bn1))
    torch.testing.assert_close(got["layer1"], layer1, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got["layer2"], layer2, rtol=1e-4, atol=1e-5)
    assert not any(p.requires_grad for p in net.parameters())


def test_resnet_padding_and_pooling_options(resnet_checkpoint):
    path = resnet_checkpoint[1]
    flat = torch.full((1, 3, 64, 64), 0.5)
    for padding, flat_expected in (("reflect", True), ("zero", False)):
        f = build_network("torchvision-resnet50", layers=["layer1"], padding=padding, weights=path)
        out = f(flat, ["layer1"])["layer1"]
        spread = float((out - out[..., 8:9, 8:9]).abs().max())
        assert (spread < 1e-3) is flat_expected, (padding, spread)
    x = torch.rand(1, 3, 32, 32)
    f_max = build_network("torchvision-resnet50", layers=["maxpool"], weights=path)
    f_avg = build_network("torchvision-resnet50", layers=["maxpool"], pooling="avg", weights=path)
    assert (f_max(x, ["maxpool"])["maxpool"] - f_avg(x, ["maxpool"])["maxpool"]).abs().max() > 0.1


@pytest.mark.parametrize("layer", ["maxpool", "layer1.0"])
def test_resnet_receptive_field_is_the_gradient_support(resnet_checkpoint, layer):
    """One output cell depends on exactly ``field`` input columns (average pooling, so that the
    pooling passes gradient to all its inputs)."""
    spec = receptive_field(layer, "resnet50")
    net = build_network(
        "torchvision-resnet50", layers=[layer], pooling="avg", weights=resnet_checkpoint[1]
    )
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    out = net(x, [layer])[layer]
    c = out.shape[-1] // 2
    out[0, :, c, c].abs().sum().backward()
    cols = torch.nonzero(x.grad[0].abs().sum(dim=(0, 1)) > 0).flatten()
    assert int(cols.max() - cols.min()) + 1 == spec.field


def test_options_take_the_networks_default_layers_and_check_others():
    o = GatysOptions(network="torchvision-resnet50")
    assert o.content_layers == resnet.CONTENT_LAYERS and o.style_layers == resnet.STYLE_LAYERS
    assert receptive_field("layer3", "torchvision-resnet50").stride == 16
    custom = GatysOptions(network="torchvision-resnet50", style_layers=("layer1.2", "layer4"))
    assert custom.style_layers == ("layer1.2", "layer4")
    with pytest.raises(ConfigError, match="unknown layer 'relu3_1' for torchvision-resnet50"):
        GatysOptions(network="torchvision-resnet50", style_layers=("relu3_1",))
    with pytest.raises(ConfigError, match="unknown layer 'layer2'"):
        GatysOptions(network="vgg19", content_layers=("layer2",))


def test_a_vgg_checkpoint_is_not_a_resnet(tmp_path):
    path = tmp_path / "x.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(WeightsError, match="not a torchvision resnet50 checkpoint"):
        build_network("torchvision-resnet50", layers=["relu"], weights=path)


def test_missing_resnet_offline_names_file_url_and_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as err:
        build_network("torchvision-resnet50", layers=["relu"])
    msg = str(err.value)
    assert "resnet50-0676ba61.pth" in msg and "download.pytorch.org/models/" in msg
    assert "`tst weights fetch resnet50-imagenet`" in msg


@pytest.fixture
def pictures(tmp_path):
    return random_pictures(tmp_path, (36, 48), (32, 32))


@pytest.mark.parametrize("arch", ["vgg11", "vgg16", "vgg19", "resnet50"])
def test_each_network_runs_end_to_end(cli, pictures, resnet_checkpoint, tmp_path, arch):
    """tst run with each torchvision network on random weights of its architecture."""
    if arch == "resnet50":
        weights = resnet_checkpoint[1]
    else:
        from .test_vgg import _random_torchvision_checkpoint

        weights = _random_torchvision_checkpoint(tmp_path, arch)[1]
    out = pictures / "out.png"
    code, _, err = cli(
        "run", pictures / "p.png", "--style", f"person={pictures / 's.png'}", "--segmenter", "fake-boxes",
        "--size", 48, "--blend", "hard", "-o", out,
        "--set", f"engine.gatys.network=torchvision-{arch}",
        "--set", f"engine.gatys.weights={weights}",
        "--set", "engine.gatys.iterations=2", "--set", "engine.gatys.scales=[1.0]",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out.with_suffix(".json").read_text())
    gatys = report["config"]["engine"]["gatys"]
    assert gatys["network"] == f"torchvision-{arch}"
    assert gatys["style_layers"][0] == ("relu" if arch == "resnet50" else "relu1_1")
    assert report["final_losses"]["content"] > 0 and report["final_losses"]["style/0"] > 0
    assert report["segmenter"]["ran"] and Image.open(out).size == (48, 36)


def test_config_show_lists_the_network_and_its_layers(cli):
    code, out, err = cli("config", "show", "--set", "engine.gatys.network=torchvision-resnet50")
    assert code == 0, err
    assert 'network = "torchvision-resnet50"' in out and 'content_layers = ["layer2"]' in out
    code, _, err = cli("config", "show", "--set", "engine.gatys.network=resnet")
    assert code == 2 and "torchvision-vgg11" in err and "torchvision-resnet50" in err
