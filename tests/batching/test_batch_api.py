"""``tst_core.batch(...)``: checked before it runs, yields per-photo results; CLI errors."""

from __future__ import annotations

import json

import pytest

import tst_core
from tst_core.batching.record import Record
from tst_core.cli import main
from tst_core.errors import InputError, SelectionError

from .conftest import records


def test_batch_yields_results_as_photos_finish(shoot, host):
    (shoot["photos"] / "broken.jpg").unlink()
    run = tst_core.batch(
        [shoot["photos"]],
        {"person": (shoot["style"], 2.0)},
        output=shoot["root"] / "out",
        executor="inline",
        host=host,
        segmenter="maskfile",
        segmenter_options={"masks": f"{shoot['masks']}/{{stem}}"},
        engine="fake-fill",
        blend="hard",
        size=40,
    )
    assert [j.photo.name for j in run.jobs] == ["a.png", "b.png", "c.png", "nobody.png"]
    results = list(run)
    assert [(r.status, r.photo.split("/")[-1]) for r in results] == [
        ("done", "a.png"),
        ("done", "b.png"),
        ("done", "c.png"),
        ("skipped", "nobody.png"),
    ]
    assert run.counts == {"done": 3, "skipped": 1} and len(run.setups) == 1
    report = json.loads((shoot["root"] / "out" / "a.json").read_text())
    assert report["targets"][0]["strength"] == 2.0
    assert report["config"]["segmenter"]["maskfile"]["masks"] == str(shoot["masks"] / "a")
    assert [r["status"] for r in records(shoot["root"] / "out")] == [r.status for r in results]


def test_bad_batches_fail_before_any_work(shoot, host, tmp_path):
    kw = {"output": tmp_path / "out", "executor": "inline", "host": host}
    with pytest.raises(InputError, match="no photos given"):
        tst_core.batch([], ["all=s.png"], **kw)
    with pytest.raises(SelectionError, match="no --style given"):
        tst_core.batch([shoot["photos"]], [], **kw)
    with pytest.raises(InputError, match="style image 'nope.jpg' does not exist"):
        tst_core.batch([shoot["photos"]], ["all=nope.jpg"], **kw)
    with pytest.raises(tst_core.TstError, match="unknown segmenter 'nope'"):
        tst_core.batch([shoot["photos"]], [f"all={shoot['style']}"], segmenter="nope", **kw)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no photos in"):
        tst_core.batch([tmp_path / "empty"], [f"all={shoot['style']}"], **kw)
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(json.dumps({"photo": "a.png", "size": 3}) + "\n")
    with pytest.raises(tst_core.TstError, match="photo '.*a.png': run.size must be between"):
        tst_core.batch(manifest=manifest, styles=[f"all={shoot['style']}"], **kw)
    assert not (tmp_path / "out").exists()


def test_one_batch_per_output_folder(tmp_path):
    held = Record(tmp_path)
    try:
        with pytest.raises(InputError, match="another tst batch is writing into"):
            Record(tmp_path)
    finally:
        held.close()
    Record(tmp_path).close()


def test_cli_usage_errors(tmp_path, capsys):
    def err(*args):
        code = main(["batch", *map(str, args)])
        return code, capsys.readouterr().err

    code, e = err(tmp_path, "-o", tmp_path / "o", "--manifest", "m.jsonl")
    assert code == 2 and e == "tst: error: give photos or --manifest, not both\n"
    code, e = err(tmp_path, "-o", tmp_path / "o", "--jobs", "0")
    assert code == 2 and "expected a whole number of at least 1, got '0'" in e
    code, e = err("--manifest", tmp_path / "missing.jsonl", "-o", tmp_path / "o")
    assert code == 2 and "manifest" in e and "does not exist" in e and len(e.splitlines()) == 1


def test_prefetch_segments_the_next_photo_meanwhile(shoot, host):
    (shoot["photos"] / "broken.jpg").unlink()
    kw = {
        "executor": "inline",
        "host": host,
        "segmenter": "maskfile",
        "segmenter_options": {"masks": f"{shoot['masks']}/{{stem}}"},
        "engine": "fake-fill",
        "blend": "hard",
    }
    styles = [f"person={shoot['style']}"]
    plain = list(tst_core.batch([shoot["photos"]], styles, output=shoot["root"] / "a", **kw))
    ahead = list(
        tst_core.batch([shoot["photos"]], styles, output=shoot["root"] / "b", prefetch="on", **kw)
    )
    assert [r.status for r in ahead] == [r.status for r in plain] == ["done"] * 3 + ["skipped"]
    assert ["segment_ahead" in r.timings for r in ahead[:3]] == [False, True, True]
    for name in ("a.png", "b.png", "day2/c.png"):
        a = (shoot["root"] / "a" / name).read_bytes()
        assert a == (shoot["root"] / "b" / name).read_bytes()
