"""Offline checkpoint lookup and weights_only loading (tst_core.weights)."""

from __future__ import annotations

import pickle

import pytest
import torch

from tst_core.errors import WeightsError
from tst_core.weights import cache_dir, load_checkpoint, load_state_dict, locate


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path
    torch.hub._hub_dir = None  # back to $TORCH_HOME-derived default


def test_cache_lookup_follows_torch_home(torch_home):
    assert cache_dir() == torch_home / "hub" / "checkpoints"
    with pytest.raises(WeightsError) as err:
        locate(
            "m-123.pth",
            what="Model X",
            url="https://host/m-123.pth",
            alternatives="or use --segmenter yolo",
        )
    msg = str(err.value)
    assert "Model X weights are missing: 'm-123.pth'" in msg
    assert str(torch_home / "hub" / "checkpoints") in msg
    assert (
        "download https://host/m-123.pth into that folder" in msg
        and "or use --segmenter yolo" in msg
    )
    assert "\n" not in msg
    cache_dir().mkdir(parents=True)
    torch.save({"w": torch.ones(2)}, cache_dir() / "m-123.pth")
    assert locate("m-123.pth", what="Model X") == cache_dir() / "m-123.pth"


def test_explicit_path_wins_and_must_exist(tmp_path, torch_home):
    path = tmp_path / "mine.pth"
    with pytest.raises(WeightsError, match="checkpoint '.*mine.pth' does not exist"):
        locate("m.pth", path=path, what="Model X")
    torch.save({"w": torch.zeros(1)}, path)
    assert locate("m.pth", path=path, what="Model X") == path


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_loading_is_weights_only(tmp_path, capsys):
    good = tmp_path / "good.pth"
    torch.save({"w": torch.arange(3)}, good)
    assert torch.equal(load_checkpoint(good)["w"], torch.arange(3))
    evil = tmp_path / "evil.pth"
    with evil.open("wb") as f:
        pickle.dump({"x": Evil()}, f, protocol=2)
    with pytest.raises(WeightsError, match="cannot load checkpoint .*weights_only=True"):
        load_checkpoint(evil)
    assert "must never run" not in capsys.readouterr().out


def test_load_state_dict_unwraps_model_and_refuses_other_objects(tmp_path):
    state = {"w": torch.ones(2)}
    torch.save({"model": state, "epoch": 3}, tmp_path / "train.pth")
    torch.save([torch.ones(2)], tmp_path / "list.pth")
    assert load_state_dict(tmp_path / "train.pth").keys() == {"w"}
    with pytest.raises(
        WeightsError, match=r"SAM vit_b checkpoint '.*list.pth' holds no state dict"
    ):
        load_state_dict(tmp_path / "list.pth", "SAM vit_b checkpoint")
