"""``fast`` and ``cin`` at native resolution: exact tiles, the memory plan, ``stylize_native``."""

from __future__ import annotations

import pytest
import torch
from tst_fast import tiled
from tst_fast.engine import CinEngine, FastEngine
from tst_fast.formats import Model, StyleInfo, load_model, save_model
from tst_fast.native import enlarge
from tst_fast.network import TransformNet
from tst_fast.options import FeedForwardOptions

from tst_core.device import torch_threads
from tst_core.errors import EngineError
from tst_core.files import read_image
from tst_core.types import ModelStyle, Target, Targets
from tst_core.upsample import shrink, upsample_image

from .fast_reference import write_tf_folder

ONE = 1 / 255


@pytest.fixture(autouse=True)
def one_thread():
    """The tests' small tensors run fastest on one thread (on a shared machine two threads
    spin-waiting for each other cost seconds per pass)."""
    with torch_threads(1):
        yield


def _random_net(arch: str, styles: int) -> TransformNet:
    torch.manual_seed(0)
    net = TransformNet(arch, styles)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.normal_(0.0, 0.1)
            if name.endswith("gamma"):
                p.add_(1.0)
    return net.eval().requires_grad_(False)


def _tiles(size: tuple[int, int], tile: int) -> tiled.TilePlan:
    return tiled.TilePlan(size, tile, tile // 4, 0, 0, 0)


def _weights(kind: str, styles: int, size: tuple[int, int]) -> torch.Tensor:
    torch.manual_seed(1)
    if kind == "mix":
        return torch.softmax(torch.randn(styles), 0)
    w = torch.rand(styles, *size)
    return w / w.sum(0)


@pytest.mark.parametrize(
    ("arch", "kind", "tile"),
    [("johnson-tf", "mix", 24), ("johnson-tf", "map", 40), ("johnson-pt", "mix", 40),
     ("johnson-pt", "map", 24)],
)  # fmt: skip
def test_tiled_pass_equals_the_untiled_one(arch, kind, tile):
    net = _random_net(arch, 3)
    size = (70, 90)  # not multiples of 4: the region is padded as forward pads it
    image = torch.rand(3, *size)
    weights = _weights(kind, 3, size)
    with torch.inference_mode():
        whole = net(image[None], weights[None])[0]
        out = tiled.run(net, image, weights, _tiles(size, tile))
    assert ((whole > 0) & (whole < 1)).float().mean() > 0.3  # not saturated: a real comparison
    diff = (out - whole).abs()
    assert float(diff.max()) <= ONE
    assert float(diff.mean()) < 1e-5  # float rounding, not a near miss


def test_tiles_with_their_own_statistics_or_no_halo_leave_seams(monkeypatch):
    """What the exact pass avoids: each tile normalised alone, or tiles without halos."""
    net = _random_net("johnson-tf", 1)
    image, w = torch.rand(3, 64, 64), torch.ones(1)
    with torch.inference_mode():
        whole = net(image[None], w[None])[0]
        alone = torch.cat([net(image[None, :, :, x : x + 32], w[None])[0] for x in (0, 32)], dim=-1)
        monkeypatch.setattr(tiled, "halo", lambda layers: 0)
        no_halo = tiled.run(net, image, w, _tiles((64, 64), 16))
    assert float((alone - whole).abs().max()) > 10 * ONE
    assert float((no_halo - whole).abs().max()) > 10 * ONE


@pytest.mark.needs_shared
def test_tiled_pass_equals_the_untiled_one_on_a_real_model(shared):
    net = load_model(shared("models", "fast-style-tf", "udnie")).net.eval().requires_grad_(False)
    photo = shrink(read_image(shared("images", "content", "tubingen.jpg")), (96, 128))
    with torch.inference_mode():
        whole = net(photo[None], torch.ones(1, 1))[0]
        for tile in (32, 64):
            out = tiled.run(net, photo, torch.ones(1), _tiles((96, 128), tile))
            assert float((out - whole).abs().max()) <= ONE


def test_plan_fits_the_budget_or_says_so_in_one_line():
    small = tiled.plan((100, 120), 2**30)
    assert small.tile == 0 and small.steps == 1  # fits whole: the plain pass
    big = tiled.plan((4000, 6000), 2 * 2**30)
    assert big.tile > 0 and big.tile % 4 == 0 and big.peak <= 2 * 2**30
    assert big.steps == 6 * big.tiles + 10 * big.body_tiles
    larger = tiled.plan((4000, 6000), 3 * 2**30)
    assert larger.tile > big.tile  # more memory, larger tiles
    with pytest.raises(EngineError) as err:
        tiled.plan((4000, 6000), 2**30, what="the pass")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("the pass needs at least 1.7 GiB") and "budget is 1.0 GiB" in message


# --- the engines ------------------------------------------------------------------------------

H, W = 96, 128


@pytest.fixture
def nets(tmp_path):
    return {n: write_tf_folder(tmp_path / n, seed=i) for i, n in enumerate("ab")}


def _targets(*styles: tuple[str, str, float], strengths=(1.0, 0.5)) -> Targets:
    m1 = torch.zeros(H, W)
    m1[10:50, 10:40] = 1.0
    m2 = torch.zeros(H, W)
    m2[30:90, 70:120] = 1.0
    items = [
        Target(f"t{k}", m, None, s, model_style=ModelStyle((style,)))
        for k, (m, style, s) in enumerate(zip((m1, m2), styles, strengths, strict=False))
    ]
    return Targets(tuple(items), (H, W))


def _style(net) -> tuple[str, str, float]:
    return (str(net), net.name, 1.0)


def _photo() -> torch.Tensor:
    torch.manual_seed(2)
    return shrink(torch.rand(3, H // 8, W // 8), (H, W)).contiguous()  # smooth, like a photo


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles as small as 16 px, so a budget can force tiles on the tests' small photos."""
    monkeypatch.setattr(tiled, "MIN_TILE", 16)


def test_fast_native_at_scale_one_equals_stylize_in_tiles_too(nets, small_tiles):
    engine = FastEngine(FeedForwardOptions(render="native"))
    photo, targets = _photo(), _targets(_style(nets["a"]), _style(nets["b"]))
    ref = engine.stylize(photo, targets).layers
    whole = engine.stylize_native(photo, targets, scale=1.0, budget=2**30)
    assert [p["tile"] for p in whole.info["native_passes"]] == [0, 0]
    steps = []
    tight = engine.stylize_native(
        photo, targets, lambda p: steps.append(p.step), scale=1.0, budget=4 * 2**20
    )
    assert all(p["tile"] > 0 for p in tight.info["native_passes"])  # the budget forced tiles
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > 16
    for res in (whole, tight):
        assert res.layers.shape == (2, 3, H, W)
        assert float((res.layers - ref).abs().max()) <= ONE


def test_cin_native_at_scale_one_equals_stylize_in_tiles_too(tmp_path, small_tiles):
    torch.manual_seed(0)
    base = load_model(write_tf_folder(tmp_path / "base")).net
    net = TransformNet("johnson-tf", 2)
    state = base.state_dict()
    for key, value in net.state_dict().items():
        value.copy_(state[key] if key.startswith("convs.") else state[key].expand_as(value))
        if not key.startswith("convs."):
            value.add_(0.5 * torch.randn_like(value))
    path = save_model(Model(net, (StyleInfo("s0"), StyleInfo("s1"))), tmp_path / "cin.safetensors")
    engine = CinEngine(FeedForwardOptions(render="native"))
    photo = _photo()
    targets = _targets((str(path), "s0", 1.0), (str(path), "s1", 1.0))
    ref = engine.stylize(photo, targets).layers
    tight = engine.stylize_native(photo, targets, scale=1.0, budget=6 * 2**20)
    assert tight.info["native_passes"][0]["tile"] > 0
    assert float((tight.layers - ref).abs().max()) <= ONE


def test_fast_working_render_is_the_working_size_pass_enlarged(nets):
    """At the working scale the network sees the window shrunk to ``scale`` (as stylize sees
    the frame resized to run.size) and the rendering is enlarged onto the native window."""
    engine = FastEngine(FeedForwardOptions(roi_margin=200))  # every pass sees the frame
    photo, targets = _photo(), _targets(_style(nets["a"]))
    res = engine.stylize_native(photo, targets, scale=0.5, budget=2**30)
    assert res.info["render"] == "working"
    assert res.info["native_passes"][0]["size"] == [W // 2, H // 2]
    small = shrink(photo, (H // 2, W // 2))
    ref = enlarge(engine.stylize(small, targets.resized((H // 2, W // 2))).layers[0], photo)
    assert res.layers.shape == (1, 3, H, W)
    assert float((res.layers[0] - ref).abs().max()) <= 1e-5


def test_working_render_upsamples_with_the_photos_detail_or_a_plain_resize(nets):
    photo, targets = _photo(), _targets(_style(nets["a"]))
    res = {
        method: FastEngine(FeedForwardOptions(roi_margin=200, upsample=method)).stylize_native(
            photo, targets, scale=0.5, budget=2**30
        )
        for method in ("guided", "bicubic")
    }
    assert res["guided"].info["upsample"] == "guided"
    small = FastEngine(FeedForwardOptions(roi_margin=200)).stylize(
        shrink(photo, (H // 2, W // 2)), targets.resized((H // 2, W // 2))
    )
    plain = upsample_image(small.layers[0], photo, method="bicubic")
    assert float((res["bicubic"].layers[0] - plain).abs().max()) <= 1e-5
    assert not torch.allclose(res["guided"].layers[0], plain, atol=0.01)  # the photo's detail


def test_photo_outside_the_passes_and_strength_at_native_size(nets):
    engine = FastEngine(FeedForwardOptions(roi_margin=4))
    photo, targets = _photo(), _targets(_style(nets["a"]), _style(nets["b"]))
    res = engine.stylize_native(photo, targets, scale=0.5, budget=2**30)
    x0, y0, x1, y1 = res.info["rois"][0]
    assert (x0, y0, x1, y1) == (2, 2, 48, 58)  # the box grown by 4 working px = 8 native px
    assert torch.equal(res.layers[0, :, :, 48:], photo[:, :, 48:])
    full = FastEngine(FeedForwardOptions(roi_margin=4)).stylize_native(
        photo, _targets(_style(nets["a"]), _style(nets["b"]), strengths=(1.0, 1.0)),
        scale=0.5, budget=2**30,
    )  # fmt: skip
    assert torch.allclose(res.layers[1], 0.5 * photo + 0.5 * full.layers[1], atol=1e-6)


def test_a_job_over_the_budget_is_refused_before_it_starts(nets):
    engine = FastEngine(FeedForwardOptions(render="native"))
    called = []
    with pytest.raises(EngineError, match="memory budget is 3 MiB"):
        engine.stylize_native(
            _photo(), _targets(_style(nets["a"])), called.append, scale=1.0, budget=3 * 2**20
        )
    assert called == []
    with pytest.raises(EngineError, match="scale"):
        engine.stylize_native(_photo(), _targets(_style(nets["a"])), scale=1.5, budget=2**30)
