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


#: outputs inside -o (here the whole tree) that land on what the batch reads
OUTPUTS = {
    "the photo": ("photos/b.png", "is an input photo"),
    "the photo, through a link": ("out/photo.png", "(photo)"),
    "the style image": ("style.png", "(style image)"),
    "the style image, through a link": ("out/link.png", "(style image)"),
    "a mask": ("masks/a/person.png", "(segmenter.maskfile.masks)"),
    "into the masks folder": ("masks/a/new.png", "(segmenter.maskfile.masks)"),
    "the manifest, as the report": ("jobs.png", "(manifest)"),
}


@pytest.mark.parametrize("case", sorted(OUTPUTS))
def test_a_batch_output_onto_an_input_is_refused_before_any_photo(cli, tree, case):
    output, message = OUTPUTS[case]
    lines = [
        {"photo": "photos/a.png", "output": output, "masks": "masks/a"},
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
        tree,  # everything the batch reads lies inside -o
        "--suffix",
        ".jpg",
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


# --- class 1 of issue 23: a manifest never chooses where tst writes ---------------------------


@pytest.fixture
def outside(tmp_path):
    """A folder beside ``out`` holding ``victim.png`` and ``victim.json``, and a link
    ``out/escape`` to it (planted before the batch)."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "victim.png").write_bytes(b"precious image")
    (folder / "victim.json").write_text('{"precious": true}')
    return folder


def _escape_outputs(tree, outside):
    (tree / "out" / "escape").symlink_to(outside)
    (tree / "out" / "deep").mkdir()
    (tree / "out" / "deep" / "up").symlink_to(tree)
    return {
        "absolute": (str(outside / "victim.png"), "is an absolute path"),
        "dot-dot": ("../elsewhere/victim.png", "has a '..' part"),
        "dot-dot inside": ("sub/../../elsewhere/victim.png", "has a '..' part"),
        "a link to a folder outside": ("escape/victim.png", "leads out of"),
        "a link deeper down": ("deep/up/elsewhere/victim.png", "leads out of"),
        "NUL byte": ("a\0.png", "NUL byte"),
        "empty": ("", "is not a file name"),
        "the folder itself": (".", "is not a file name"),
        "not text": (7, '"output" must be a file name'),
    }


CASES = [
    "absolute",
    "dot-dot",
    "dot-dot inside",
    "a link to a folder outside",
    "a link deeper down",
    "NUL byte",
    "empty",
    "the folder itself",
    "not text",
]


@pytest.mark.parametrize("case", CASES)
def test_a_manifest_output_outside_o_is_refused(cli, tree, outside, case):
    output, message = _escape_outputs(tree, outside)[case]
    lines = [
        {"photo": "photos/a.png", "output": output, "masks": "masks/a"},
        {"photo": "photos/b.png", "masks": "masks/b"},
    ]
    manifest = tree / "jobs.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = snapshot(tree)
    args = ["batch", "--manifest", manifest, "-o", tree / "out"]
    args += ["--style", f"person={tree / 'style.png'}", "--segmenter", "maskfile"]
    args += ["--engine", "fake-fill", "--blend", "hard", "--size", 40, "--executor", "inline"]
    code, _, err = cli(*args, "--progress", "off")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert message in err and "line 1" in err, err
    assert snapshot(tree) == before  # nothing written anywhere, not even the record


def test_the_mirrored_tree_does_not_follow_a_planted_link_out_of_o(cli, tmp_path, outside):
    """``photos/day2/c.png`` mirrors to ``out/day2/c.png``; ``out/day2`` is a link outside."""
    for rel in ("a.png", "day2/victim.png"):
        write_photo(tmp_path / "photos" / rel, 1)
    write_photo(tmp_path / "style.png", 9, (24, 24))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "day2").symlink_to(outside)
    before = snapshot(tmp_path)
    args = ["batch", tmp_path / "photos", "-o", tmp_path / "out", "--style", tmp_path / "style.png"]
    args += ["--engine", "fake-fill", "--blend", "hard", "--size", 40, "--executor", "inline"]
    code, _, err = cli(*args, "--progress", "off")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "leads out of" in err and "day2" in err, err
    assert snapshot(tmp_path) == before


def test_a_link_planted_after_the_checks_is_caught_before_the_write(tmp_path, host, outside):
    """Checked again just before each write: a folder swapped for a link between ``batch()``
    and the photo's turn fails that photo, and nothing lands outside ``-o``."""
    import tst_core

    write_photo(tmp_path / "photos" / "day2" / "victim.png", 1)
    write_photo(tmp_path / "style.png", 9, (24, 24))
    run = tst_core.batch(
        [tmp_path / "photos"],
        [f"all={tmp_path / 'style.png'}"],
        output=tmp_path / "out",
        executor="inline",
        host=host,
        engine="fake-fill",
        blend="hard",
        size=40,
    )
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "day2").symlink_to(outside)
    before = snapshot(outside)
    results = list(run)
    assert [r.status for r in results] == ["failed"], results
    assert "leads out of" in results[0].reason, results[0].reason
    assert snapshot(outside) == before
