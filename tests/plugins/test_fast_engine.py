"""The ``fast`` and ``cin`` engines: style resolution, ROIs, passes, mixes, strength, the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from tst_fast.formats import Model, StyleInfo, file_sha256, load_model, save_model
from tst_fast.network import TransformNet

from tst_core import run
from tst_core.errors import EngineError, SelectionError
from tst_core.files import mask_to_pil, tensor_to_pil
from tst_core.types import Instance, Segmentation

from .fast_reference import write_tf_folder

H, W = 48, 64


def _photo() -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    return torch.stack([yy, xx, (yy + xx) / 2]).clamp(0, 1).contiguous()


def _seg() -> Segmentation:
    def box(x0, y0, x1, y1):
        m = torch.zeros(H, W)
        m[y0:y1, x0:x1] = 1.0
        return Instance("person", 0.9, (x0, y0, x1, y1), m)

    return Segmentation((box(4, 8, 20, 40), box(40, 6, 60, 44)), (H, W))


@pytest.fixture
def nets(tmp_path):
    """Two random Johnson nets in the TF layout, ``a`` and ``b``."""
    return {n: write_tf_folder(tmp_path / n, seed=i) for i, n in enumerate("ab")}


@pytest.fixture
def cin_model(tmp_path):
    """A 3-style CIN model file whose styles ``s0``…``s2`` have random γ/β; ``s1`` knows its image."""
    torch.manual_seed(0)
    base = load_model(write_tf_folder(tmp_path / "base"))
    net = TransformNet("johnson-tf", 3)
    state = base.net.state_dict()
    for key, value in net.state_dict().items():
        if key.startswith("convs."):
            value.copy_(state[key])
        else:
            value.copy_(state[key].expand_as(value) + 0.5 * torch.randn_like(value))
    painting = tmp_path / "painting.png"
    tensor_to_pil(torch.rand(3, 16, 16)).save(painting)
    styles = (
        StyleInfo("s0"),
        StyleInfo("s1", "painting.png", file_sha256(painting)),
        StyleInfo("s2"),
    )
    return save_model(Model(net, styles), tmp_path / "cin.safetensors"), painting


def _run(styles, engine="fast", **options):
    sets = [f"engine.{engine}.{k}={v}" for k, v in options.items()]
    return run(
        _photo(), styles, segmentation=_seg(), engine=engine, blend="hard", size=W, sets=sets
    )


def test_fast_runs_one_pass_per_style_over_each_roi(nets):
    res = _run({"person#0": str(nets["a"]), "person#1": str(nets["b"])}, roi_margin=4)
    info = res.stylized.info
    assert info["passes"] == 2
    assert info["rois"] == [[0, 4, 24, 44], [36, 2, 64, 48]]
    layers, photo = res.stylized.layers, res.photo
    assert torch.equal(layers[0, :, :, 30:], photo[:, :, 30:])  # outside a's ROI: the photo
    assert not torch.allclose(layers[0, :, 10:30, 6:18], photo[:, 10:30, 6:18], atol=0.05)
    masks = res.targets.masks()
    keep = masks.sum(0) == 0
    assert torch.equal(res.image[:, keep], photo[:, keep])
    assert res.report["targets"][0]["style"] == "a"


def test_targets_that_share_a_style_share_one_pass(nets):
    res = _run({"person#0": str(nets["a"]), "person#1": str(nets["a"])})
    assert res.stylized.info["passes"] == 1


def test_fast_pass_equals_the_network_on_the_crop(nets):
    res = _run({"person#0": str(nets["a"])}, roi_margin=0)
    net = load_model(nets["a"]).net
    with torch.no_grad():
        direct = net(res.photo[None, :, 8:40, 4:20], torch.ones(1, 1))[0]
    assert torch.allclose(res.stylized.layers[0, :, 8:40, 4:20], direct, atol=1e-6)


def test_bf16_precision_stays_close_to_fp32(nets):
    full = _run({"person#0": str(nets["a"])}).stylized
    half = _run({"person#0": str(nets["a"])}, precision="bf16").stylized
    assert (full.info["precision"], half.info["precision"]) == ("fp32", "bf16")
    assert half.layers.dtype == torch.float32
    diff = (half.layers - full.layers).abs()
    assert 0 < float(diff.mean()) < 0.02 and float(diff.max()) < 0.2


def test_strength_fades_toward_the_photo_and_above_one_is_refused(nets):
    full = _run({"person#0": str(nets["a"])}).stylized.layers[0]
    half = _run({"person#0": (str(nets["a"]), 0.5)}).stylized.layers[0]
    assert torch.allclose(half, (full + _photo()) / 2, atol=1e-6)
    with pytest.raises(EngineError, match="strength 2"):
        _run({"person#0": (str(nets["a"]), 2.0)})


def test_styles_resolve_by_name_and_by_the_image_a_model_knows(cin_model):
    path, painting = cin_model
    by_name = _run({"person#0": "s1"}, model=path)
    by_image = _run({"person#0": str(painting)}, model=path)
    by_ref = _run({"person#0": f"{path}#s1"})
    assert torch.equal(by_name.image, by_image.image) and torch.equal(by_name.image, by_ref.image)
    assert by_image.targets[0].style is not None  # the painting is kept for metrics
    assert by_name.targets[0].style is None


def test_unresolvable_styles_are_one_clear_error(cin_model, nets, tmp_path):
    path, _ = cin_model
    with pytest.raises(SelectionError, match=r"neither a file nor a style .* s0, s1, s2"):
        _run({"person#0": "starry"}, model=path)
    with pytest.raises(SelectionError, match="needs a trained model"):
        _run({"person#0": "starry"})
    other = tmp_path / "other.png"
    tensor_to_pil(torch.rand(3, 8, 8)).save(other)
    with pytest.raises(SelectionError, match="was not trained on style image"):
        _run({"person#0": str(other)}, model=path)
    with pytest.raises(SelectionError, match="has 3 styles"):
        _run({"person#0": str(path)})
    with pytest.raises(SelectionError, match="come from 2 networks"):
        _run({"person#0": f"{nets['a']}*0.5+{nets['b']}*0.5"})


def _passes(engine_name, styles, model):
    """Run ``cin`` and count the network's forward passes."""
    from tst_core.api import Pipeline, session

    sess = session(engine=engine_name, blend="hard", size=W, sets=[f"engine.cin.model={model}"])
    pipe = Pipeline(sess)
    engine = pipe.plugin("engine")
    net = engine.model(model).net
    calls = []
    handle = net.register_forward_hook(lambda *a: calls.append(1))
    try:
        res = pipe.run(_photo(), styles, segmentation=_seg())
    finally:
        handle.remove()
    return res, len(calls)


def test_cin_runs_every_target_in_one_pass(cin_model):
    path, _ = cin_model
    res, calls = _passes("cin", {"person#0": "s0", "person#1": "s2"}, path)
    assert calls == 1 and res.stylized.info["passes"] == 1
    # each person gets its own style: compare with one-style runs
    only0 = _run({"person#0": "s0"}, "cin", model=path).stylized.layers[0]
    only2 = _run({"person#1": "s2"}, "cin", model=path).stylized.layers[0]
    inside0, inside1 = (
        (slice(None), slice(12, 36), slice(6, 18)),
        (slice(None), slice(10, 40), slice(44, 56)),
    )
    both = res.stylized.layers[0]
    assert (both[inside0] - only0[inside0]).abs().mean() < (
        both[inside0] - only2[inside0]
    ).abs().mean()
    assert (both[inside1] - only2[inside1]).abs().mean() < (
        both[inside1] - only0[inside1]
    ).abs().mean()


def test_cin_one_hot_mix_equals_the_pure_style(cin_model):
    path, _ = cin_model
    pure = _run({"person#0": "s0", "person#1": "s2"}, "cin", model=path)
    mix = _run({"person#0": "s0*1+s1*0", "person#1": "s2"}, "cin", model=path)
    assert torch.equal(pure.stylized.layers, mix.stylized.layers)


def _gamma_beta_maps(monkeypatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Record the per-pixel ``(γ, β)`` maps, ``(C, h, w)`` each, every CIN layer runs with."""
    from tst_fast.network import CondInstanceNorm

    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    forward = CondInstanceNorm.forward

    def spy(self, x, weights):
        w = (
            weights
            if weights.ndim == 4
            else weights[:, :, None, None].expand(-1, -1, *x.shape[-2:])
        )
        maps = [torch.einsum("shw,sc->chw", w[0], p.detach()) for p in (self.gamma, self.beta)]
        seen.append((maps[0], maps[1]))
        return forward(self, x, weights)

    monkeypatch.setattr(CondInstanceNorm, "forward", spy)
    return seen


def test_cin_half_mix_lies_between_in_gamma_beta_and_output(cin_model, monkeypatch):
    path, _ = cin_model
    a = _run({"all": "s0"}, "cin", model=path).stylized.layers[0]
    b = _run({"all": "s2"}, "cin", model=path).stylized.layers[0]
    seen = _gamma_beta_maps(monkeypatch)
    mix = _run({"all": "s0*0.5+s2*0.5"}, "cin", model=path)
    m = mix.stylized.layers[0]
    d_ab = (a - b).norm()
    assert (m - a).norm() < d_ab and (m - b).norm() < d_ab
    assert (m - a).norm() > 0.1 * d_ab and (m - b).norm() > 0.1 * d_ab
    # the γ/β every layer ran with, at every pixel, is the mean of the two styles' rows
    norms = load_model(path).net.norms
    assert len(seen) == len(norms)
    for (gamma, beta), norm in zip(seen, norms.values(), strict=True):
        for got, rows in ((gamma, norm.gamma), (beta, norm.beta)):
            mid = ((rows[0] + rows[2]) / 2).detach()[:, None, None].expand_as(got)
            assert torch.allclose(got, mid, atol=1e-6)
            assert not torch.allclose(got, rows[0].detach()[:, None, None].expand_as(got))
    assert mix.targets[0].model_style.name == "s0*0.5+s2*0.5"


def test_cin_refuses_styles_of_two_networks(nets):
    with pytest.raises(EngineError, match="one pass of one network"):
        _run({"person#0": str(nets["a"]), "person#1": str(nets["b"])}, "cin")


def test_gatys_refuses_a_model_style_with_one_line(cli, nets, tmp_path):
    tensor_to_pil(_photo()).save(tmp_path / "photo.png")
    masks = tmp_path / "masks"
    masks.mkdir()
    mask_to_pil(_seg().instances[0].mask).save(masks / "person.png")
    base = ["run", tmp_path / "photo.png", "--segmenter", "maskfile", "--masks", masks]
    code, _, err = cli(*base, "--style", f"person={nets['a']}", "-o", tmp_path / "o.png")
    assert code == 2 and err.count("\n") == 1
    assert "is a trained model; engine 'gatys' takes style images only" in err
    assert not (tmp_path / "o.png").exists()


def test_cli_fast_run_writes_the_picture_and_report(cli, nets, tmp_path):
    tensor_to_pil(_photo()).save(tmp_path / "photo.png")
    masks = tmp_path / "masks"
    masks.mkdir()
    for i, inst in enumerate(_seg().instances):
        mask_to_pil(inst.mask).save(masks / f"00{i}_person.png")
    code, _out, err = cli(
        "run", tmp_path / "photo.png", "--segmenter", "maskfile", "--masks", masks,
        "--engine", "fast", "--style", f"person#0={nets['a']}", "--style", f"person#1={nets['b']}",
        "-o", tmp_path / "out.png",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["engine"]["passes"] == 2
    assert [t["style"] for t in report["targets"]] == ["a", "b"]
