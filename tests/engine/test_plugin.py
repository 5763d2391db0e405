"""The engines as plugins: registration, presets, the CLI and the API end to end."""

from __future__ import annotations

import json

import pytest
import torch

from tst_core.cli import main
from tst_core.config import load_config
from tst_core.engine.options import ADDITIONS_OFF, GatysOptions
from tst_core.errors import ConfigError
from tst_core.files import mask_to_pil, tensor_to_pil

from .helpers import box_mask, photo, stripes


def test_both_engines_are_registered_with_their_options(host):
    reg = host.registry("engine")
    for name in ("gatys", "gatys-full"):
        entry = reg.get(name)
        assert entry.options is GatysOptions and entry.plugin == "gatys"
        assert entry.description


def test_presets_fill_the_engine_table(host):
    paper = load_config(host, "paper").plugins["engine"]["gatys"]
    assert (paper.pooling, paper.init, paper.content_layers) == ("avg", "noise", ("relu4_2",))
    assert {k: getattr(paper, k) for k in ADDITIONS_OFF} == ADDITIONS_OFF  # tst's additions off
    wells = load_config(host, "wells").plugins["engine"]["gatys"]
    assert wells.content_layers == ("conv2_2", "conv4_2") and wells.pooling == "avg"
    preview = load_config(host, "preview").plugins["engine"]["gatys"]
    assert _steps(preview) < _steps(GatysOptions())


def _steps(o: GatysOptions) -> int:
    """L-BFGS steps over all scales (``scale_iterations`` where given, else ``iterations`` each)."""
    return sum(o.scale_iterations) if o.scale_iterations else o.iterations * len(o.scales)


def test_set_overrides_are_typed_and_checked(host):
    cfg = load_config(
        host,
        None,
        ["engine.gatys.scales=0.5,1.0", "engine.gatys.optimizer=adam", "engine.gatys.lr=none"],
    )
    o = cfg.plugins["engine"]["gatys"]
    assert o.scales == (0.5, 1.0) and o.optimizer == "adam" and o.lr is None
    with pytest.raises(ConfigError, match="scales must increase"):
        load_config(host, None, ["engine.gatys.scales=2.0"])
    with pytest.raises(ConfigError, match="must be one of 'lbfgs', 'adam', 'sgd'"):
        load_config(host, None, ["engine.gatys-full.optimizer=newton"])


@pytest.fixture
def job(tmp_path):
    """A 64 px photo, a style image and a folder with one mask, as files."""
    tensor_to_pil(photo(64, 64)).save(tmp_path / "photo.png")
    tensor_to_pil(stripes(48, 48)).save(tmp_path / "style.png")
    masks = tmp_path / "masks"
    masks.mkdir()
    mask_to_pil(box_mask(64, 64, 8, 56, 4, 36)).save(masks / "thing.png")
    return tmp_path


def _argv(job, *extra):
    return [
        "run",
        str(job / "photo.png"),
        "--segmenter",
        "maskfile",
        "--masks",
        str(job / "masks"),
        "--style",
        f"thing={job / 'style.png'}",
        "--blend",
        "hard",
        "--size",
        "64",
        "-o",
        str(job / "out.png"),
        "--set",
        "engine.gatys.iterations=3",
        *extra,
    ]


@pytest.mark.parametrize("engine", ["gatys", "gatys-full"])
def test_cli_run_writes_the_picture_and_the_engine_report(job, engine, capsys):
    argv = _argv(job, "--engine", engine, "--set", f"engine.{engine}.iterations=3")
    assert main(argv) == 0
    report = json.loads((job / "out.json").read_text())
    # the default is coarse to fine: 3 iterations at 32 px, then 3 at 64 px
    assert report["engine"]["engine"] == engine and report["engine"]["iterations"] == 6
    # the region is the whole 64 px frame, optimised 16 px beyond each border (frame_pad)
    assert [r["sizes"] for r in report["engine"]["regions"]] == [[[48, 48], [96, 96]]]
    assert set(report["final_losses"]) >= {"total", "content", "style/0"}
    assert (job / "out.png").is_file()


def test_cli_nan_guard_is_one_line_and_writes_nothing(job, capsys):
    assert (
        main(
            _argv(
                job,
                *("--set", "engine.gatys.lr=1000", "--set", "engine.gatys.iterations=6"),
                *("--progress", "off"),  # off a terminal, progress lines precede the error
            )
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("tst: error: the optimisation diverged") and "\n" not in err
    assert not (job / "out.png").exists() and not (job / "out.json").exists()


def test_api_run_with_a_strength_in_degrees(job):
    from tst_core import run

    result = run(
        job / "photo.png",
        [f"thing={job / 'style.png'}:deg=1"],
        segmenter="maskfile",
        segmenter_options={"masks": job / "masks"},
        blend="hard",
        size=64,
        sets=["engine.gatys.iterations=2"],
    )
    assert result.targets[0].strength == pytest.approx(10.0)
    assert result.stylized.layers.shape == (1, 3, 64, 64)
    outside = result.targets[0].mask <= 0.5
    assert torch.equal(result.image[:, outside], result.photo[:, outside])
