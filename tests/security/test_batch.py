"""``tst batch`` never writes over what it reads: a manifest ``output`` (or the mirrored tree)
that lands on a photo, a style image, a mask, the masks folder or the manifest itself
— directly, through ``..`` or through a link — is one line and exit 2 before any photo runs,
and every file is as it was."""

from __future__ import annotations

import json

import pytest

from ..batching.conftest import write_mask, write_photo
from .test_paths import snapshot


@pytest.fixture
def tree(tmp_path):
    """``photos/a.png``, ``photos/b.png``, ``masks/`` (one mask per photo), ``style.png``,
    ``out/link.png`` and ``out/photo.png`` linked to the style image and ``b.png``."""
    for i, name in enumerate(["a", "b"]):
        write_photo(tmp_path / "photos" / f"{name}.png", i)
        write_mask(tmp_path / "masks" / name / "person.png", (4, 4, 20, 20))
    write_photo(tmp_path / "style.png", 9, (24, 24))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link.png").symlink_to(tmp_path / "style.png")
    (tmp_path / "out" / "photo.png").symlink_to(tmp_path / "photos" / "b.png")
    return tmp_path


OUTPUTS = {
    "the photo, by ..": ("../photos/b.png", "is an input photo"),
    "the photo, through a link": ("photo.png", "(photo)"),
    "the style image": ("{root}/style.png", "(style image)"),
    "the style image, through a link": ("link.png", "(style image)"),
    "a mask": ("../masks/a/person.png", "(segmenter.maskfile.masks)"),
    "into the masks folder": ("../masks/a/new.png", "(segmenter.maskfile.masks)"),
    "the manifest, as the report": ("../jobs.png", "(manifest)"),
}


@pytest.mark.parametrize("case", sorted(OUTPUTS))
def test_a_batch_output_onto_an_input_is_refused_before_any_photo(cli, tree, case):
    output, message = OUTPUTS[case]
    lines = [
        {"photo": "photos/a.png", "output": output.format(root=tree), "masks": "masks/a"},
        {"photo": "photos/b.png", "masks": "masks/b"},
    ]
    manifest = tree / "jobs.json"  # JSON lines, by a name a report could have
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = snapshot(tree)
    args = [
        "batch",
        "--manifest",
        manifest,
        "-o",
        tree / "out",
        "--style",
        f"person={tree / 'style.png'}",
    ]
    args += ["--segmenter", "maskfile", "--engine", "fake-fill", "--blend", "hard", "--size", 40]
    code, _, err = cli(*args, "--executor", "inline", "--progress", "off")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert message in err and "photo '" in err, err
    assert snapshot(tree) == before  # nothing written, not even the batch record


def test_the_batch_record_is_never_appended_to_the_manifest(cli, tree):
    manifest = tree / "out" / "batch.jsonl"
    manifest.write_text(json.dumps({"photo": "../photos/a.png", "masks": "../masks/a"}) + "\n")
    before = snapshot(tree)
    args = [
        "batch",
        "--manifest",
        manifest,
        "-o",
        tree / "out",
        "--style",
        f"person={tree / 'style.png'}",
    ]
    args += ["--segmenter", "maskfile", "--engine", "fake-fill", "--blend", "hard", "--size", 40]
    code, _, err = cli(*args, "--executor", "inline", "--progress", "off")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "the batch record in -o" in err and "(manifest)" in err, err
    assert snapshot(tree) == before
