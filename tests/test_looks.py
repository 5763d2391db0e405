"""Per-target settings: ``@color=keep`` and ``@mask=soft``, through the pipeline on a small
synthetic photo (64 px, a few iterations)."""

from __future__ import annotations

import pytest
import torch

import tst_core
from tst_core import looks, metrics
from tst_core.engine.color import rgb_to_yiq
from tst_core.errors import SelectionError
from tst_core.select import parse_style_arg
from tst_core.types import Instance, Segmentation, Target, TargetOptions, Targets

from .engine.helpers import PAPER, box_mask, photo, stripes

N = 64
#: the engine at a tiny size: one scale, the paper's loss (tst's additions each have tests)
GATYS = {"iterations": 12, "scales": [1.0], "style_weight": 100.0, **PAPER}


def half(value: float = 1.0) -> Segmentation:
    """One instance: the left half of the frame at grey level ``value``."""
    mask = box_mask(N, N, 0, N, 0, N // 2) * value
    return Segmentation((Instance("thing", 0.9, (0, 0, N // 2, N), mask),), (N, N))


def run(styles, segmentation=None, **kw):
    return tst_core.run(
        photo(N, N),
        styles,
        segmentation=segmentation or half(),
        engine="gatys",
        blend="hard",
        size=N,
        seed=0,
        device="cpu",
        engine_options={**GATYS, **kw.pop("engine_options", {})},
        **kw,
    )


@pytest.mark.parametrize(
    ("text", "given"),
    [
        ("thing=a.jpg@color=keep", {"color": "keep"}),
        ("thing=a.jpg@mask=soft:2", {"mask": "soft"}),
        ("thing=a.jpg@color=style@mask=hard", {}),  # the defaults, written out
        ("thing=a.jpg@COLOR=Keep@scale=2", {"color": "keep", "scale": 2.0}),
    ],
)
def test_the_grammar_takes_color_and_mask(text, given):
    request = parse_style_arg(text)
    assert request.options.given() == given
    assert parse_style_arg(request.text()).options == request.options  # written back as read


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("thing=a.jpg@color=grey", r"@color must be style or keep, got 'grey'"),
        ("thing=a.jpg@mask=0.5", r"@mask must be hard or soft, got '0.5'"),
        ("thing=a.jpg@colour=keep", r"unknown target option '@colour'; known: .*@color=, @mask="),
    ],
)
def test_bad_color_and_mask_options_are_one_line(text, message):
    with pytest.raises(SelectionError, match=message):
        parse_style_arg(text)


def test_color_keep_keeps_the_photos_chrominance_and_stylises_the_luminance(tmp_path):
    """The target's I and Q stay the photo's (within rounding) while its luminance moves;
    the same run without the option takes the painting's colours."""
    from PIL import Image

    painting = tmp_path / "stripes.png"
    Image.fromarray((stripes().permute(1, 2, 0) * 255).byte().numpy()).save(painting)
    inside = box_mask(N, N, 0, N, 0, N // 2) > 0.5
    original = rgb_to_yiq(photo(N, N))
    kept = rgb_to_yiq(run([f"thing={painting}@color=keep"]).image)
    free = rgb_to_yiq(run([f"thing={painting}"]).image)
    kept_chroma = float((kept[1:, inside] - original[1:, inside]).abs().mean())
    free_chroma = float((free[1:, inside] - original[1:, inside]).abs().mean())
    luma = float((kept[0, inside] - original[0, inside]).abs().mean())
    assert kept_chroma < 0.005, kept_chroma
    assert free_chroma > 10 * kept_chroma
    assert luma > 0.02, "the luminance was not stylised"
    assert torch.equal(kept[:, ~inside], original[:, ~inside])  # outside: the photo


def test_a_soft_mask_at_half_grey_gives_about_half_the_style(tmp_path):
    """The style distance of the region to the painting falls by about half as much at 0.5
    grey as at 1.0 (and a hard mask at 0.5 grey is no target at all: its edge is the 0.5 line)."""
    from PIL import Image

    painting = tmp_path / "stripes.png"
    Image.fromarray((stripes().permute(1, 2, 0) * 255).byte().numpy()).save(painting)
    style = f"thing={painting}@mask=soft"
    full = run([style], half(1.0))
    grey = run([style], half(0.5))
    features = metrics.vgg19_features()
    measured = Targets((Target("thing", box_mask(N, N, 0, N, 0, N // 2), stripes()),), (N, N))

    def distance(image):
        return metrics.style_distance(image, measured, features)[0]

    before = distance(photo(N, N))
    drop_full = before - distance(full.image)
    drop_grey = before - distance(grey.image)
    assert drop_full > 0
    assert 0.3 < drop_grey / drop_full < 0.7, (drop_grey / drop_full, before, drop_full)
    # the engine and the compositor saw the support: the same region as at full grey
    assert torch.equal(grey.targets[0].mask > 0, full.targets[0].mask > 0)


def test_soft_masks_give_the_engine_their_support_and_fade_the_layers():
    soft = box_mask(8, 8, 0, 8, 0, 4) * torch.linspace(0, 1, 8).view(1, 8)
    hard = box_mask(8, 8, 0, 8, 4, 8)
    targets = Targets(
        (
            Target("a", soft, torch.rand(3, 4, 4), options=TargetOptions(mask="soft")),
            Target("b", hard, torch.rand(3, 4, 4)),
        ),
        (8, 8),
    )
    shapes = looks.engine_targets(targets)
    assert torch.equal(shapes[0].mask, (soft > looks.SUPPORT).float())
    assert torch.equal(shapes[1].mask, hard)
    photo_, layers = torch.zeros(3, 8, 8), torch.ones(2, 3, 8, 8)
    out = looks.apply(photo_, layers, targets)
    assert torch.allclose(out[0], soft.expand(3, 8, 8))  # faded by the grey level
    assert torch.equal(out[1], layers[1])


def test_gatys_mixes_two_paintings_through_the_pipeline(tmp_path):
    """``red*0.5+blue*0.5`` on gatys (refused before: only the feed-forward engines mixed):
    the region's colour lies between the red-only and the blue-only runs, and the report
    names the mix."""
    from PIL import Image

    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    Image.new("RGB", (32, 32), (230, 30, 30)).save(red)
    Image.new("RGB", (32, 32), (30, 30, 230)).save(blue)
    inside = box_mask(N, N, 0, N, 0, N // 2) > 0.5

    def redness(image):
        return float((image[0, inside] - image[2, inside]).mean())

    mix = run([f"thing={red}*0.5+{blue}*0.5"])
    only_red, only_blue = (
        redness(run([f"thing={red}"]).image),
        redness(run([f"thing={blue}"]).image),
    )
    assert only_blue < redness(mix.image) < only_red, (only_blue, redness(mix.image), only_red)
    assert mix.report["targets"][0]["style"] == "red.png*0.5+blue.png*0.5"
