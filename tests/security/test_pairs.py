"""An image and its report are renamed one after the other; a SIGKILL between the two renames
can leave a new image beside the previous run's report (issue 23 class 9). The report names the
SHA-256 of the image written with it, so a reader can tell, and ``tst batch`` does not take such
a pair for up to date."""

from __future__ import annotations

import hashlib
import json

import pytest

from tst_core.results import IMAGE_HASH, image_matches_report

from ..batching.conftest import write_photo


@pytest.fixture
def one(tmp_path):
    write_photo(tmp_path / "p.png", 1)
    write_photo(tmp_path / "s.png", 2, (24, 24))
    return tmp_path


def _batch(cli, root, *extra):
    args = ["batch", root / "p.png", "-o", root / "out", "--style", f"all={root / 's.png'}"]
    code, _, err = cli(
        *args, "--engine", "fake-fill", "--size", "32", "--executor", "inline", *extra
    )
    assert code == 0, err
    lines = (root / "out" / "batch.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if '"photo"' in line][-1]


def test_the_report_names_the_sha256_of_its_image(cli, files):
    out = files / "out" / "o.png"
    code, _, err = cli(
        "run", files / "photo.png", "--segmenter", "maskfile", "--masks", files / "masks",
        "--style", f"all={files / 'style.jpg'}", "--engine", "fake-fill", "--size", "32",
        "-o", out,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out.with_suffix(".json").read_text())
    assert report[IMAGE_HASH] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert image_matches_report(out, report)


def test_a_batch_reruns_a_photo_whose_image_is_not_its_report_s(cli, one):
    first = _batch(cli, one)
    assert first["status"] == "done", first
    assert _batch(cli, one)["reason"] == "up to date"
    # as a SIGKILL between the renames leaves it: another run's image beside this report
    image = one / "out" / "p.png"
    report = json.loads((one / "out" / "p.json").read_text())
    write_photo(image, 7)
    assert not image_matches_report(image, report)
    again = _batch(cli, one)
    assert again["status"] == "done", again  # was: skipped, "up to date"
    report = json.loads((one / "out" / "p.json").read_text())
    assert image_matches_report(image, report)
    # a report from before the key was written is not up to date either
    report.pop(IMAGE_HASH)
    (one / "out" / "p.json").write_text(json.dumps(report))
    assert _batch(cli, one)["status"] == "done"
