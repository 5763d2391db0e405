"""``tst train`` on 4 tiny photos at 64 px for a few steps: the loss falls, ``norm-only`` leaves
every other parameter bit for bit, ``--resume`` continues from the same step."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from tst_fast.formats import load_model
from tst_fast.options import TrainOptions
from tst_fast.train import split_content, state_path, train

from tst_core.errors import InputError
from tst_core.files import tensor_to_pil

from .fast_reference import write_tf_folder


@pytest.fixture
def job(tmp_path):
    return make_job(tmp_path)


def make_job(tmp_path):
    """4 content photos (64-80 px), 2 style images and a random Johnson net to start from."""
    gen = torch.Generator().manual_seed(0)
    content = tmp_path / "content"
    content.mkdir()
    for i in range(4):
        yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 80), indexing="ij")
        img = torch.stack([yy, xx, (yy * xx)]) * 0.7 + 0.3 * torch.rand(3, 64, 80, generator=gen)
        tensor_to_pil(img.roll(i * 9, dims=-1)).save(content / f"p{i}.png")
    for name, period in (("stripes", 4), ("checks", 8)):
        y = torch.arange(48).view(-1, 1) // period
        x = torch.arange(48).view(1, -1) // period
        pattern = ((y + x) % 2).float() if name == "checks" else (y % 2).float().expand(48, 48)
        tensor_to_pil(torch.stack([pattern, 1 - pattern, pattern * 0.5])).save(
            tmp_path / f"{name}.png"
        )
    init = write_tf_folder(tmp_path / "init", seed=2)
    return TrainOptions(
        styles=(tmp_path / "stripes.png", tmp_path / "checks.png"),
        content=content,
        output=tmp_path / "out.safetensors",
        size=64,
        batch=2,
        steps=6,
        lr=0.1,
        schedule="constant",
        init_from=init,
        holdout=1,
        device="cpu",
    )


def test_norm_only_training_lowers_the_loss_and_freezes_the_rest(job):
    model = train(job)
    history = model.training["history"]
    assert [h["step"] for h in history] == list(range(1, 7))
    first = sum(h["total"] for h in history[:2]) / 2
    last = sum(h["total"] for h in history[-2:]) / 2
    assert last < 0.9 * first, history
    init = load_model(job.init_from).net.state_dict()
    trained = load_model(job.output)
    assert [s.name for s in trained.styles] == ["init", "stripes", "checks"]
    changed = 0
    for key, value in trained.net.state_dict().items():
        if key.startswith("convs."):
            assert torch.equal(value, init[key]), key
        else:  # the old style's row stays bit for bit; the new rows moved
            assert torch.equal(value[0], init[key][0]), key
            changed += not torch.equal(value[1:], init[key].expand(2, -1))
    assert changed == 32  # every γ and β of the 16 norms
    meta = trained.training
    assert (
        meta["step"] == 6
        and meta["train"] == "norm-only"
        and meta["held_out"] == [p.name for p in split_content(job)[1]]
    )
    assert trained.styles[1].sha256 and trained.styles[1].image == "stripes.png"


def test_resume_continues_from_the_same_step(job, tmp_path):
    whole = train(replace(job, output=tmp_path / "whole.safetensors"))
    part = replace(job, output=tmp_path / "part.safetensors", steps=3)
    train(part)
    assert state_path(part.output).is_file()
    resumed = train(replace(part, steps=6, resume=True))
    assert [h["step"] for h in resumed.training["history"]] == list(range(1, 7))
    assert resumed.training["step"] == 6
    for (k, a), b in zip(
        whole.net.state_dict().items(), resumed.net.state_dict().values(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), k


def test_bad_settings_are_one_sentence(job, tmp_path):
    with pytest.raises(InputError, match="no training state"):
        train(replace(job, resume=True))
    with pytest.raises(InputError, match="leaves none to train on"):
        train(replace(job, holdout=4))
    with pytest.raises(InputError, match="norm-only needs --init-from"):
        train(replace(job, init_from=None, train="norm-only"))
    with pytest.raises(InputError, match="already has the style"):
        train(
            replace(
                job, styles=(job.styles[0], job.content / "p0.png"), init_from=_named(job, tmp_path)
            )
        )


def _named(job, tmp_path):
    """A model whose one style is called 'stripes'."""
    out = tmp_path / "named.safetensors"
    from tst_fast.formats import save_model

    m = load_model(job.init_from)
    m.styles = (replace(m.styles[0], name="stripes"),)
    return save_model(m, out)


def test_holdout_is_a_seeded_choice(job):
    assert split_content(job) == split_content(job)
    _, a = split_content(replace(job, holdout=2, seed=1))
    _, b = split_content(replace(job, holdout=2, seed=5))
    assert len(a) == len(b) == 2


def test_train_command_writes_model_checkpoints_and_previews(job, cli, tmp_path):
    code, out, err = cli(
        "train", "--init-from", job.init_from, "--style", job.styles[0], "--style", job.styles[1],
        "--content", job.content, "--holdout", "1", "--size", "64", "--batch", "2",
        "--steps", "4", "--checkpoint-every", "2", "--keep-checkpoints", "--preview-every", "2",
        "--progress", "lines", "--device", "cpu", "-o", job.output,
    )  # fmt: skip
    assert code == 0, err
    assert "train: 4/4" in err and "img/s" in err
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out."))
    assert names == [
        "out.preview.step000002.png", "out.preview.step000004.png", "out.safetensors",
        "out.step000002.safetensors", "out.step000004.safetensors", "out.train.safetensors",
    ]  # fmt: skip
    code, out, _ = cli("model", "show", job.output, "--json")
    info = json.loads(out)
    assert [s["name"] for s in info["styles"]] == ["init", "stripes", "checks"]
    assert info["training"]["step"] == 4
    code, _, err = cli(
        "train", "--style", tmp_path / "nope.png", "--content", job.content, "-o", job.output
    )
    assert code == 2 and "does not exist" in err and err.count("\n") == 1


@pytest.mark.parametrize("arch", ["vgg11", "vgg16"])
def test_train_takes_each_torchvision_vgg_loss_network(job, cli, tmp_path, monkeypatch, arch):
    """``--network torchvision-vgg11|-vgg16``: the checkpoint found in the torch cache (here a
    randomly initialised one of that architecture, as none is on these machines)."""
    from tst_core.records import records

    from ..engine.test_vgg import _random_torchvision_checkpoint

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    _, path = _random_torchvision_checkpoint(tmp_path, arch)
    path.rename(cache / records()[f"{arch}-imagenet"].file_name)
    code, _, err = cli(
        "train", "--init-from", job.init_from, "--style", job.styles[0],
        "--content", job.content, "--holdout", "1", "--size", "32", "--batch", "1",
        "--steps", "2", "--network", f"torchvision-{arch}", "--progress", "off",
        "--device", "cpu", "-o", job.output,
    )  # fmt: skip
    assert code == 0, err
    assert load_model(job.output).training["network"] == f"torchvision-{arch}"
