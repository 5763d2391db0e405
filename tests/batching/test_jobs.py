"""Finding a batch's photos, naming its outputs, reading manifests, handing out jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tst_core.batching.dispatch import Dispatcher
from tst_core.batching.jobs import (
    Job,
    absolute_style,
    check_jobs,
    fill_placeholders,
    find_photos,
    make_jobs,
    read_manifest,
)
from tst_core.batching.progress import BatchProgress, format_seconds
from tst_core.batching.record import PhotoResult, last_skips
from tst_core.errors import InputError


@pytest.fixture
def tree(tmp_path):
    for rel in ["a.jpg", "b.PNG", "day1/c.jpg", "day1/deep/d.webp", ".hidden/e.jpg", "f.txt"]:
        (tmp_path / "in" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / rel).write_bytes(b"x")
    return tmp_path


def rels(pairs):
    return [str(rel) for _, rel in pairs]


def test_folders_mirror_their_tree_and_skip_non_photos(tree):
    pairs = find_photos([tree / "in"])
    assert rels(pairs) == ["a.jpg", "b.PNG", "day1/c.jpg", "day1/deep/d.webp"]
    assert all(p.is_absolute() for p, _ in pairs)


def test_files_globs_and_the_output_folder(tree, monkeypatch):
    monkeypatch.chdir(tree)
    assert rels(find_photos(["in/day1/c.jpg"])) == ["c.jpg"]
    assert rels(find_photos(["in/**/*.jpg"])) == ["a.jpg", "day1/c.jpg"]
    assert rels(find_photos(["in/*/c.jpg", "in/day1"])) == ["day1/c.jpg", "deep/d.webp"]
    assert rels(find_photos(["in"], exclude=tree / "in" / "day1")) == ["a.jpg", "b.PNG"]
    (tree / "links").mkdir()
    (tree / "links" / "x.jpg").symlink_to(tree / "in" / "a.jpg")  # a link keeps its own name
    assert find_photos(["links/*.jpg"]) == [(tree / "links" / "x.jpg", Path("x.jpg"))]
    assert find_photos(["links"]) == find_photos(["links/x.jpg"])
    with pytest.raises(InputError, match="'in/zzz' does not exist"):
        find_photos(["in/zzz"])
    with pytest.raises(InputError, match=r"'in/\*\.gif' matches no photo"):
        find_photos(["in/*.gif"])


def test_outputs_placeholders_and_clashes(tree, monkeypatch):
    monkeypatch.chdir(tree)
    out = tree / "out"
    jobs = make_jobs(
        find_photos(["in"]), out, ["person=s.jpg"], {"masks": "m/{rel}", "weights": "w.pt"}, ".png"
    )
    assert [j.output.relative_to(out).as_posix() for j in jobs] == [
        "a.png",
        "b.png",
        "day1/c.png",
        "day1/deep/d.png",
    ]
    assert jobs[2].overrides == {"segmenter_options": {"masks": str(tree / "m" / "day1" / "c")}}
    assert jobs[2].styles == ("person=s.jpg",)  # not a file here: left as written
    photo = Path("/x/day1/c.jpg")
    text = "{stem}|{name}|{rel}|{parent}|{other}"
    assert fill_placeholders(text, photo, Path("day1/c.jpg")) == "c|c.jpg|day1/c|day1|{other}"

    check_jobs(jobs)
    twin = Job(9, tree / "elsewhere" / "a.jpg", jobs[0].output, ())
    with pytest.raises(InputError, match="would both write"):
        check_jobs([*jobs, twin])
    same_report = Job(9, tree / "z.jpg", jobs[0].output.with_suffix(".jpg"), ())
    with pytest.raises(InputError, match=r"would both write '.*a\.json'"):
        check_jobs([*jobs, same_report])
    onto_input = Job(9, tree / "x.png", jobs[0].photo, ())
    with pytest.raises(InputError, match="is an input photo"):
        check_jobs([*jobs, onto_input])
    with pytest.raises(InputError, match="unknown image type '.bmpx'"):
        check_jobs([Job(0, tree / "a.jpg", tree / "a.bmpx", ())])


def test_a_manifest_style_made_absolute_keeps_its_target_options(tmp_path):
    """A relative style path is made absolute with its ``@KEY=VALUE`` options and strength
    kept (they were dropped), and a mix is left as written."""
    (tmp_path / "starry.jpg").write_bytes(b"x")
    text = absolute_style("person=starry.jpg@scale=1.5:2", tmp_path)
    assert text == f"person={tmp_path / 'starry.jpg'}@scale=1.5:2.0"
    assert absolute_style("all=starry.jpg*0.5+wave.jpg*0.5", tmp_path).startswith("all=starry")


def test_manifest_lines(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "starry.jpg").write_bytes(b"x")
    manifest = tmp_path / "m" / "jobs.jsonl"
    lines = [
        {"photo": "day1/a.jpg", "styles": ["person=starry.jpg:2"], "masks": "masks/a", "size": 64},
        {},
        {"photo": "/abs/b.jpg", "output": "b_custom.jpg", "sets": ["engine.gatys.iterations=5"]},
    ]
    manifest.write_text("\n".join(json.dumps(x) if x else "" for x in lines) + "\n")
    out = tmp_path / "out"
    a, b = read_manifest(manifest, out, ".png", ["all=monet.jpg"])
    assert a.photo == tmp_path / "m" / "day1" / "a.jpg" and a.output == out / "day1" / "a.png"
    assert a.styles == (f"person={tmp_path / 'm' / 'starry.jpg'}:2.0",)
    assert a.overrides == {"size": 64, "segmenter_options": {"masks": str(tmp_path / "m/masks/a")}}
    assert b.styles == ("all=monet.jpg",) and b.output == out / "b_custom.jpg"
    assert b.overrides == {"sets": ["engine.gatys.iterations=5"]}

    for bad, match in [
        ("[1]", 'line 1: expected an object with a "photo" path'),
        ('{"photo": "a.jpg", "colour": 1}', "line 1: unknown key 'colour'; known keys: blend"),
        ('{"photo": "a.jpg", "styles": ["person="]}', "line 1: --style expects SELECTOR=STYLE"),
        ("{oops", "line 1 is not JSON"),
        ('{"photo": ' + "[" * 100_000 + "]" * 100_000 + "}", "line 1 nests .* too deeply"),
        ("\n", "has no jobs"),
    ]:
        manifest.write_text(bad)
        with pytest.raises(InputError, match=match):
            read_manifest(manifest, out, ".png", ["all=monet.jpg"])
    manifest.write_text('{"photo": "a.jpg"}')
    with pytest.raises(InputError, match='no "styles", and the command gives no --style'):
        read_manifest(manifest, out, ".png")


def job(i: int) -> Job:
    return Job(i, Path(f"/p{i}.jpg"), Path(f"/o/p{i}.png"), ())


def test_dispatcher_reserves_the_next_job_and_shares_at_the_end():
    d = Dispatcher([job(i) for i in range(5)])
    assert [j.index if j else None for j in d.assign("A", ahead=True)] == [0, 1]
    assert [j.index if j else None for j in d.assign("B", ahead=False)] == [2, None]
    assert [j.index if j else None for j in d.assign("A", ahead=True)] == [1, 3]  # its reserved
    assert d.lost("A").index == 1  # A died running 1: 3 goes back to the queue
    assert [j.index for j in d.queue] == [3, 4]
    assert [j.index if j else None for j in d.assign("C", ahead=True)] == [3, 4]
    assert [j.index if j else None for j in d.assign("B", ahead=False)] == [4, None]  # taken
    assert d.assign("C", ahead=True) is None and d.assign("B", ahead=False) is None
    assert not d.busy


def test_progress_lines_and_eta(capsys):
    import sys

    shown = BatchProgress("auto", 4, sys.stderr)  # not a terminal: lines
    assert shown.mode == "lines"
    shown(PhotoResult("/a.jpg", "skipped", "up to date"))
    assert shown.eta() == "?"  # an up-to-date skip says nothing about the pace
    shown(PhotoResult("/b.jpg", "done", seconds=2.5))
    shown(PhotoResult("/c.jpg", "failed", "cannot read photo '/c.jpg'", 0.1))
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[1/4] skipped /a.jpg (0.0 s): up to date | 0 done, 1 skipped")
    assert err[1].startswith("[2/4] done /b.jpg (2.5 s) | 1 done, 1 skipped, 0 failed | ETA ")
    assert (
        "failed /c.jpg (0.1 s): cannot read photo '/c.jpg' | 1 done, 1 skipped, 1 failed" in err[2]
    )
    assert [format_seconds(s) for s in (4.4, 75, 4000)] == ["4s", "1m15s", "1h06m"]


def test_last_skips_reads_a_torn_record(tmp_path):
    record = tmp_path / "batch.jsonl"
    lines = [
        {
            "photo": "/a",
            "status": "skipped",
            "reason": "matches nothing",
            "key": "k1",
            "outputs": [],
        },
        {
            "photo": "/b",
            "status": "skipped",
            "reason": "up to date",
            "key": "k2",
            "outputs": ["/o"],
        },
        {
            "photo": "/c",
            "status": "skipped",
            "reason": "matches nothing",
            "key": "k3",
            "outputs": [],
        },
        {"photo": "/c", "status": "done", "key": "k4", "outputs": ["/o"]},
    ]
    record.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"photo": "/d", "sta')
    assert last_skips(record) == {"/a": ("k1", "matches nothing")}


def test_local_workers_take_the_visible_gpus_in_turn():
    from tst_core.batching.local import worker_gpus

    assert worker_gpus("auto", 4, None) == ["0", "1", "2", "3"]
    assert worker_gpus("cuda", 2, "5,7") == ["5", "7"]
    assert worker_gpus("auto", 1, None) == []  # one GPU: every worker shares it
    assert worker_gpus("cuda:1", 4, None) == []  # the user chose one
    assert worker_gpus("cpu", 4, None) == []
    from tst_core.batching.local import LocalExecutor, _Proc
    from tst_core.batching.worker import WorkerSpec

    executor = LocalExecutor(WorkerSpec(), 3, 1, ["0", "1"])
    executor._procs = {0: _Proc(None, None, "0"), 1: _Proc(None, None, "1")}
    assert executor._least_used_gpu() == "0"
    executor._procs[2] = _Proc(None, None, "0")
    assert executor._least_used_gpu() == "1"  # a replacement goes where a worker is missing


def test_ray_placement():
    from tst_core.batching.ray_executor import Placement, placement

    assert placement({"CPU": 2.0}, None, None) == Placement(1, 2.0, 0, 2)
    assert placement({"CPU": 2.0}, 2, None) == Placement(2, 1.0, 0, 1)
    assert placement({"CPU": 2.0}, 4, None) == Placement(4, 0.5, 0, 1)
    assert placement({"CPU": 64.0, "GPU": 8.0}, None, None) == Placement(8, 8.0, 1, 8)
    assert placement({"CPU": 64.0, "GPU": 8.0}, None, 4) == Placement(8, 4.0, 1, 4)


def test_progress_bar_counts_photos():
    import io

    stream = io.StringIO()
    shown = BatchProgress("bar", 3, stream)
    shown(PhotoResult("/a.jpg", "done", seconds=1.0))
    shown(PhotoResult("/b.jpg", "failed", "cannot read photo"))
    shown.close()
    text = stream.getvalue()
    assert "2/3" in text and "1 done, 0 skipped, 1 failed" in text and "photo/s" in text
