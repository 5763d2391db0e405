"""The recipe every picture carries, and ``tst run --recipe``: the metadata round trip (PNG
iTXt, JPEG standard and extended XMP, WebP), masks stored losslessly, a bit-identical rerun on
the CPU, and the refusals (no recipe, a newer tst, an edited recipe, a missing or changed file)
as one line and exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tst_core import metadata, recipe
from tst_core.photo import Photo, photo_writer
from tst_core.recipe import RecipeError, decode_mask, encode_mask

from .engine.helpers import PAPER

#: gatys at a tiny size with the masks of the ``files`` fixture (60×40 photo, two people)
TINY_GATYS = [
    "--engine",
    "gatys",
    "--size",
    "64",
    "--seed",
    "3",
    "--device",
    "cpu",
    "--set",
    "engine.gatys.iterations=4",
    "--set",
    "engine.gatys.scales=[1.0]",
    *[w for k, v in PAPER.items() for w in ("--set", f"engine.gatys.{k}={json.dumps(v)}")],
]


def picture(tmp_path, fmt: str, text: str, name: str = "p") -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    path = tmp_path / f"{name}.{fmt.lower()}"
    photo_writer(pixels, Photo(pixels), fmt, text={recipe.KEY: text})(path)
    with Image.open(path) as img:  # still a picture every reader opens
        assert np.asarray(img.convert("RGB")).shape == (24, 32, 3)
        if fmt == "PNG":
            assert np.array_equal(np.asarray(img), pixels)
    return path.read_bytes()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("length", [100, 300_000])  # 300 kB: extended XMP in a JPEG
def test_text_survives_every_format(tmp_path, fmt, length):
    rng = np.random.default_rng(1)
    text = "".join(chr(c) for c in rng.integers(0x20, 0x2FF, length))  # incompressible-ish
    data = picture(tmp_path, fmt, text)
    assert metadata.read_bytes(data, recipe.KEY) == text
    assert metadata.read_bytes(data, "tst:other") is None


def test_a_jpeg_extended_xmp_with_a_wrong_digest_is_not_read(tmp_path):
    rng = np.random.default_rng(2)
    text = "".join(chr(c) for c in rng.integers(0x20, 0x2FF, 300_000))
    data = bytearray(picture(tmp_path, "JPEG", text))
    assert metadata.read_bytes(bytes(data), recipe.KEY) == text
    at = data.find(b"http://ns.adobe.com/xmp/extension/")
    assert at > 0
    data[at + 200] ^= 0x01  # a byte of the first extended chunk
    assert metadata.read_bytes(bytes(data), recipe.KEY) is None


@pytest.mark.parametrize(
    ("values", "encoding"),
    [
        (lambda m: (m > 0.5).float(), "png1"),
        (lambda m: torch.round(m * 255) / 255, "png8"),
        (lambda m: m, "f32"),
    ],
)
def test_masks_are_stored_losslessly(values, encoding):
    mask = values(torch.rand(33, 47))
    entry = encode_mask(mask)
    assert entry["encoding"] == encoding
    assert torch.equal(decode_mask(json.loads(json.dumps(entry))), mask)


def run_and_rerun(cli, files):
    out, again = files / "out" / "out.png", files / "out" / "again.png"
    code, _, err = cli(*run_args_gatys(files))
    assert code == 0, err
    code, stdout, err = cli("run", "--recipe", out, "-o", again)
    assert code == 0, err
    return out, again, stdout


def run_args_gatys(files):
    from .conftest import run_args

    args = [a for a in run_args(files) if a not in ("--engine", "fake-fill", "--size", 32)]
    return [*args, *TINY_GATYS]


def test_a_rerun_from_the_recipe_is_bit_identical_on_the_cpu(cli, files):
    """gatys at 64 px, 4 iterations, seed 3: the picture made again from its own recipe has
    the same pixels, and the rerun's recipe records the same masks."""
    out, again, stdout = run_and_rerun(cli, files)
    first = np.asarray(Image.open(out))
    second = np.asarray(Image.open(again))
    assert np.array_equal(first, second)
    photo = np.asarray(Image.open(files / "photo.png").convert("RGB"))
    assert first.shape == photo.shape  # the picture at the photo's own size
    assert np.abs(first.astype(int) - photo.astype(int)).max() > 0  # something was stylised
    assert "masks from the recipe" in stdout
    r1 = recipe.parse(metadata.read(out, recipe.KEY) or "", "out")
    r2 = recipe.parse(metadata.read(again, recipe.KEY) or "", "again")
    assert [t["mask"] for t in r1["targets"]] == [t["mask"] for t in r2["targets"]]
    assert r1["seed"] == r2["seed"] == 3 and r1["device"] == "cpu"
    roles = [f["role"] for f in r1["files"]]
    assert roles == ["photo", "style"]  # the segmenter's mask folder is not needed to rerun


def test_the_recipe_holds_what_the_issue_asks(cli, files):
    code, _, err = cli(*run_args_gatys(files))
    assert code == 0, err
    r = recipe.parse(metadata.read(files / "out" / "out.png", recipe.KEY) or "", "out")
    assert {"tst", "torch", "gatys", "maskfile", "blend"} <= set(r["versions"])
    assert r["config"]["engine"]["gatys"]["iterations"] == 4
    assert r["targets"][0]["selector"] == "person"
    assert r["targets"][0]["style"].endswith("style.jpg")
    assert r["targets"][0]["mask"]["encoding"] == "png1"
    assert isinstance(r["threads"], int) and r["threads"] >= 1
    assert r["inputs"]["files"]["segmenter.maskfile.masks"]["sha256"]  # the masks' hash
    assert [f["sha256"] for f in r["files"]] == [
        r["inputs"]["photo"]["sha256"],
        r["inputs"]["styles"][0]["sha256"],
    ]


def rewrite(path, change) -> None:
    """Rewrite the recipe of the PNG ``path`` after ``change(recipe_dict)``."""
    found = json.loads(metadata.read(path, recipe.KEY) or "")
    change(found)
    pixels = np.asarray(Image.open(path))
    photo_writer(pixels, Photo(pixels), "PNG", text={recipe.KEY: recipe.to_text(found)})(path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p, f: p.unlink(), r"cannot read picture '.*out\.png'|does not exist"),
        (
            lambda p, f: Image.open(f / "photo.png").save(p),
            r"'.*out\.png' carries no tst recipe",
        ),
        (
            lambda p, f: rewrite(p, lambda r: r["targets"][0].update(style="/x.jpg")),
            r"has been changed since tst wrote it \(its SHA-256 does not match\)",
        ),
        (
            lambda p, f: rewrite(
                p, lambda r: (r["versions"].update(tst="99.0"), r.update(sha256=recipe.digest(r)))
            ),
            r"was written by tst 99\.0, newer than this tst .*; update tst to rerun it",
        ),
        (
            lambda p, f: rewrite(
                p, lambda r: (r.update(version=2), r.update(sha256=recipe.digest(r)))
            ),
            r"newer than this tst",
        ),
        (
            lambda p, f: (f / "style.jpg").unlink(),
            r"names the style '.*style\.jpg', which does not exist",
        ),
        (
            lambda p, f: (f / "photo.png").write_bytes((f / "photo.png").read_bytes() + b"x"),
            r"the photo '.*photo\.png' has changed since the recipe .* \(its SHA-256 differs\)",
        ),
    ],
)
def test_a_recipe_that_cannot_be_rerun_is_one_line(cli, files, damage, message):
    import re

    code, _, err = cli(*run_args_gatys(files))
    assert code == 0, err
    out = files / "out" / "out.png"
    damage(out, files)
    code, _, err = cli("run", "--recipe", out, "-o", files / "out" / "again.png")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), err
    assert not (files / "out" / "again.png").exists()


def test_recipe_with_other_arguments_is_refused(cli, files):
    code, _, err = cli("run", files / "photo.png", "--recipe", files / "x.png")
    assert code == 2 and "leave out photo" in err


def test_the_recipe_parser_refuses_malformed_masks():
    with pytest.raises(RecipeError, match="malformed"):
        decode_mask({"size": [2, 2]})
    with pytest.raises(RecipeError, match="impossible size"):
        decode_mask({"size": [0, 2], "data": "", "encoding": "f32"})
