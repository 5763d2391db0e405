"""The ``text`` segmenter end to end on a tiny randomly initialised OWLv2 (the architecture of
``google/owlv2-base-patch16-ensemble``, built from a config, never downloaded): phrases →
boxes → masks cut by grabcut → targets a ``--style`` selects by phrase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import tst_core
from tst_core.api import Pipeline, session
from tst_core.errors import InputError, WeightsError
from tst_core.plugins import load_host

from .. import fakes

pytest.importorskip("cv2")
transformers = pytest.importorskip("transformers")

from tst_text.options import TextOptions  # noqa: E402

#: CLIP's BPE vocabulary cut down to letters: ids 52 and 53 are the start and end tokens (OWL
#: treats a query whose first id is 0 as padding)
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def tiny_owlv2(folder: Path, seed: int = 0) -> Path:
    """A checkpoint folder in Hugging Face's layout: config.json, model.safetensors (random
    weights; the box head's last layer zeroed so each patch's box is its grid cell, as a
    trained head starts from), vocab.json and merges.txt."""
    from safetensors.torch import save_file

    text = {
        "vocab_size": 64,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 16,
        "bos_token_id": 52,
        "eos_token_id": 53,
        "pad_token_id": 53,
    }
    vision = {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 64,
        "patch_size": 16,
    }
    config = transformers.Owlv2Config(text_config=text, vision_config=vision, projection_dim=16)
    torch.manual_seed(seed)
    model = transformers.Owlv2ForObjectDetection(config).eval()
    with torch.no_grad():
        model.box_head.dense2.weight.zero_()
        model.box_head.dense2.bias.zero_()
    folder.mkdir(parents=True, exist_ok=True)
    config.to_json_file(str(folder / "config.json"))
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(folder / "model.safetensors"),
    )
    vocab: dict[str, int] = {}
    for c in LETTERS:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder


@pytest.fixture(scope="module")
def owl(tmp_path_factory) -> Path:
    return tiny_owlv2(tmp_path_factory.mktemp("owlv2") / "tiny")


def scene() -> tuple[torch.Tensor, torch.Tensor]:
    """128×128 noisy grey photo with a red disc (centre 64,64, radius 12): the tiny model's
    boxes are its 4×4 grid cells, and the one around the centre holds the disc."""
    g = torch.Generator().manual_seed(1)
    photo = 0.4 + 0.05 * torch.randn(3, 128, 128, generator=g)
    ys, xs = torch.meshgrid(torch.arange(128), torch.arange(128), indexing="ij")
    disc = ((ys - 64) ** 2 + (xs - 64) ** 2) <= 12**2
    photo = torch.where(disc, torch.tensor([0.85, 0.15, 0.1]).view(3, 1, 1), photo)
    return photo.clamp(0, 1).float(), disc


def text_session(owl: Path, **options):
    host = load_host(extra=[("tests-fakes", fakes)])
    table = {"prompt": "red ball. tile", "weights": owl, "threshold": 0.0, **options}
    return session(host=host, segmenter="text", seed=0, device="cpu", segmenter_options=table)


@pytest.mark.filterwarnings("ignore:text. the box of")  # grid cells of plain background
def test_phrases_become_boxes_then_masks_then_targets(owl):
    photo, disc = scene()
    seg = Pipeline(text_session(owl, max_instances=16)).plugin("segmenter").segment(photo)
    assert len(seg) >= 1 and seg.size == (128, 128)
    assert {i.label for i in seg} <= {"red ball", "tile"}
    assert [i.score for i in seg] == sorted((i.score for i in seg), reverse=True)
    for inst in seg:  # each box cut by grabcut: a mask inside its box
        assert inst.mask.shape == (128, 128) and bool((inst.mask > 0.5).any())
        assert 0.0 <= inst.score <= 1.0
    assert all(sum(i.label == p for i in seg) <= 16 for p in ("red ball", "tile"))
    best = max(float((i.mask.bool() & disc).sum() / (i.mask.bool() | disc).sum()) for i in seg)
    assert best > 0.8  # the cell around the disc: cut to the disc
    # the whole run: the segmenter finds them, a --style selects the first by its phrase
    label = seg.instances[0].label
    res = tst_core.run(
        photo,
        {f"{label}#0": torch.full((3, 8, 8), 0.5)},
        segmenter="text",
        engine="fake-fill",
        blend="hard",
        size=128,
        seed=0,
        device="cpu",
        host=load_host(extra=[("tests-fakes", fakes)]),
        segmenter_options={
            "prompt": "red ball. tile",
            "weights": owl,
            "threshold": 0.0,
            "max_instances": 16,
        },
    )
    assert res.report["targets"][0]["selector"] == f"{label}#0"
    assert torch.equal(res.segmentation.instances[0].mask, seg.instances[0].mask)
    inside = seg.instances[0].mask > 0.5
    changed = (res.image - photo).abs().sum(0) > 1e-3
    assert float(changed[inside].float().mean()) > 0.9
    assert not bool(changed[~inside].any())


@pytest.mark.filterwarnings("ignore:text. the box of")
def test_a_threshold_above_every_score_finds_nothing(owl):
    photo, _ = scene()
    seg = Pipeline(text_session(owl, threshold=1.0)).plugin("segmenter").segment(photo)
    assert len(seg) == 0


def test_no_words_a_bad_folder_or_no_folder_is_one_sentence(owl, tmp_path):
    with pytest.raises(InputError, match="needs words to look for"):
        Pipeline(text_session(owl, prompt=" . ")).plugin("segmenter")
    with pytest.raises(WeightsError, match="is not an OWLv2 checkpoint folder: it has no"):
        Pipeline(text_session(tmp_path)).plugin("segmenter")
    with pytest.raises(WeightsError, match="revision and SHA-256 are not recorded"):
        Pipeline(text_session(None)).plugin("segmenter")


def test_the_phrases_are_split_on_dots_and_semicolons():
    assert TextOptions(prompt="Red  car. shirt;red car").phrases() == ["red car", "shirt"]


def test_the_owlv2_record_is_listed_with_its_licence_and_never_fetched_unverified():
    from tst_core.hub import fetch
    from tst_core.records import record

    rec = record("owlv2-base-patch16-ensemble")
    assert rec.plugin == "text" and rec.licence.startswith("Apache-2.0")
    assert rec.sha256 is None and rec.pending
    with pytest.raises(WeightsError, match="not recorded yet"):
        fetch(rec)


@pytest.mark.filterwarnings("ignore:text. the box of")
def test_tst_segment_takes_the_prompt_flag(owl, tmp_path, cli):
    from PIL import Image

    photo, _ = scene()
    path = tmp_path / "disc.png"
    Image.fromarray((photo.permute(1, 2, 0) * 255).round().byte().numpy()).save(path)
    code, out, err = cli(
        "segment", path, "--segmenter", "text", "--prompt", "Red ball", "--weights", owl,
        "--set", "segmenter.text.threshold=0.0", "--set", "segmenter.text.max_instances=16",
    )  # fmt: skip
    assert code == 0, err
    assert "red ball" in out and "(text," in out
    code, _, err = cli("segment", path, "--segmenter", "text", "--weights", owl)
    assert code == 2 and err.count("\n") == 1 and "needs words to look for" in err
