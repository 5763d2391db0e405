"""The UI's operations without HTTP: what the page is offered (from the registries), segmenting
and clicking, checking a job request, running and comparing through the API, and the command
line that repeats a job."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tst_core.cli import main
from tst_core.errors import TstError
from tst_core.registry import Entry

from .conftest import TINY
from .helpers import cin_model, make_service, paintings, photo_upload, wait_for


@pytest.fixture
def service(tmp_path):
    s = make_service(tmp_path, styles=paintings(tmp_path / "styles"))
    s.jobs.start()
    yield s
    s.jobs.stop(timeout=10)


def style_id(service, name: str) -> str:
    return next(s.id for s in service.gallery.styles.values() if s.name == name)


def request(service, seg, **changes):
    if "targets" not in changes:
        changes["targets"] = [{"select": "id:0", "style": style_id(service, "red.png"), "deg": 0}]
    body = {
        "kind": "run",
        "segmentation": seg.id,
        "engine": "fake-fill",
        "blend": "hard",
        "size": 64,
        "config": "",
    }
    return {**body, **changes}


def test_the_page_is_offered_every_registered_plugin_third_party_ones_too(service):
    info = service.info()
    assert {"fake-fill", "slow", "gatys", "fast", "cin"} <= {e["name"] for e in info["engines"]}
    assert {"fake-boxes", "maskfile", "yolo"} <= {s["name"] for s in info["segmenters"]}
    assert {"hard", "feather", "mrf", "poisson"} <= {b["name"] for b in info["blends"]}
    assert [p["value"] for p in info["presets"]][:1] == [""]
    assert {"paper", "preview", "wells"} <= {p["value"] for p in info["presets"]}
    preview = next(p for p in info["presets"] if p["value"] == "preview")
    assert preview["run"] == {"engine": "gatys", "blend": "feather", "size": 256}
    assert sorted(s["name"] for s in info["styles"]) == ["blue.png", "red.png"]
    assert info["defaults"]["segmenter"] == "fake-boxes"


def test_a_click_selects_the_smallest_instance_under_it(service, tmp_path):
    photo = photo_upload(service, tmp_path)  # 80 × 60: people at x 8-32 and 48-72, a car below
    seg = service.segment(photo.id, "fake-boxes")
    assert [r["label"] for r in service.segment_info(seg)["instances"]] == [
        "person",
        "person",
        "car",
    ]
    assert service.hit(seg.id, 20, 40) == 0  # the person in front of the car
    assert service.hit(seg.id, 40, 50) == 2  # only the car
    assert service.hit(seg.id, 40, 10) is None
    assert service.hit(seg.id, -1, 10) is None and service.hit(seg.id, 80, 10) is None
    overlay = Image.open(__import__("io").BytesIO(seg.picture("overlay")))
    assert overlay.size == (80, 60)
    layer = Image.open(__import__("io").BytesIO(seg.picture("0")))
    assert layer.mode == "RGBA" and np.asarray(layer)[30, 20, 3] > 0
    assert np.asarray(layer)[30, 50, 3] == 0  # nothing drawn outside the instance


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"targets": []}, "nothing selected"),
        ({"targets": [{"select": "id:7", "style": "s0"}]}, "instances id:0 to id:2"),
        ({"targets": [{"select": "id:0", "style": "nope"}]}, "choose a style for person 0 "),
        ({"targets": [{"select": "../x", "style": "s0"}]}, "unknown target '../x'"),
        (
            {"targets": [{"select": "all", "style": "s0"}, {"select": "all", "style": "s1"}]},
            "the whole photo is selected twice",
        ),
        ({"targets": [{"select": "id:0", "style": "s0", "deg": 9}]}, "a degree from -3 to 3"),
        ({"engine": "warp"}, "unknown engine 'warp'; installed: .*fake-fill"),
        ({"size": 4}, "run.size must be between 16 and 8192 pixels, got 4"),
        ({"size": "64"}, "the size must be a whole number"),
        ({"config": "/etc/passwd"}, "unknown preset '/etc/passwd'"),
        ({"kind": "rm"}, "a job is 'run' or 'compare'"),
        ({"segmentation": "old"}, "unknown segmentation"),
        (
            {"targets": [{"select": "id:0", "style": "s0", "mix": {"style": "s1", "weight": 1}}]},
            "gives its second style a share from 0.01 to 0.99, got 1",
        ),
        (
            {"targets": [{"select": "id:0", "style": "s0", "mix": {"style": "x", "weight": 0.5}}]},
            "choose the second style of person 0's mix",
        ),
        (
            {"targets": [{"select": "id:0", "style": "s0", "mix": {"style": "s1", "weight": 0.5}}]},
            "engine 'fake-fill' does not mix styles (target id:0)",
        ),
    ],
)
def test_a_bad_job_request_is_one_sentence_and_queues_nothing(service, tmp_path, changes, message):
    seg = service.segment(photo_upload(service, tmp_path).id, "fake-boxes")
    ids = {"s0": style_id(service, "red.png"), "s1": style_id(service, "blue.png")}
    for t in changes.get("targets", []):  # the paintings' ids are only known now
        t["style"] = ids.get(t["style"], t["style"])
        if "mix" in t:
            t["mix"]["style"] = ids.get(t["mix"]["style"], t["mix"]["style"])
    with pytest.raises(TstError, match=message.replace("(", r"\(").replace(")", r"\)")):
        service.submit(request(service, seg, **changes))
    assert not service.jobs.jobs


def test_a_run_goes_through_the_pipeline_and_writes_the_image_and_its_report(service, tmp_path):
    seg = service.segment(photo_upload(service, tmp_path).id, "fake-boxes")
    blue = style_id(service, "blue.png")
    targets = [
        {"select": "background", "style": blue},
        {"select": "id:1", "style": blue, "deg": 0.5},
    ]
    job = service.submit(request(service, seg, targets=targets))
    wait_for(lambda: job.finished, what="the job")
    assert job.state == "done", job.error
    # the picture, its report, and the page's display copies (fitted view, photo for 1:1)
    assert sorted(job.outputs) == [
        "photo_tst.json", "photo_tst.png", "photo_tst_before.jpg", "photo_tst_view.jpg"
    ]  # fmt: skip
    assert job.result["image"] == f"/api/jobs/{job.id}/files/photo_tst.png"
    assert all(p.is_file() for p in job.outputs.values())
    words = shlex.split(job.command)
    assert words[:2] == ["tst", "run"] and words[3:5] == ["--segmenter", "fake-boxes"]
    # the upload itself dies with the server's work folder: the command names a kept copy
    kept = Path(words[2])
    assert kept.is_relative_to(service.kept) and kept.name == seg.photo.path.name
    assert kept.read_bytes() == seg.photo.path.read_bytes()
    styles = [words[i + 1] for i, w in enumerate(words) if w == "--style"]
    assert styles == [f"background={service.gallery.styles[blue].path}",
                      f"person#1={service.gallery.styles[blue].path}:deg=0.5"]  # fmt: skip
    assert words[-2:] == ["-o", "photo_tst.png"]


def test_compare_runs_tst_compare_on_the_same_job(service, tmp_path):
    seg = service.segment(photo_upload(service, tmp_path).id, "fake-boxes")
    job = service.submit(request(service, seg, kind="compare"))
    wait_for(lambda: job.finished, timeout=60, what="the comparison")
    assert job.state == "done", job.error
    assert sorted(job.outputs) == ["photo_compare.csv", "photo_compare.json", "photo_compare.png"]
    header, *rows = job.result["table"]
    assert header[:3] == ["engine", "blend", "seam ↓"]
    assert [r[1] for r in rows] == service.host.registry("blend").names()
    assert "--blend feather,hard,mrf,poisson" in job.command.replace("'", "")


def test_engines_that_can_send_pictures_while_they_work_are_asked_to(service):
    assert service._snapshot_sets("gatys") == ["engine.gatys.snapshot_every=1"]
    assert service._snapshot_sets("fake-fill") == []


def test_the_command_line_the_page_shows_makes_the_same_picture(scene, tmp_path, monkeypatch):
    """A real gatys job through the UI, then its command line through the CLI: same pixels."""
    tiny = tmp_path / "tiny.toml"
    tiny.write_text(TINY)
    service = make_service(
        tmp_path,
        styles=scene.styles,
        segmenter="maskfile",
        flags={"masks": str(scene.masks)},
        config=str(tiny),
    )
    service.jobs.start()
    try:
        dest = service.uploads / "p" / scene.photo.name
        dest.parent.mkdir(parents=True)
        dest.write_bytes(scene.photo.read_bytes())
        seg = service.segment(service.add_photo(dest).id, "maskfile")
        starry = style_id(service, "starry_night.jpg")
        target = {"select": "id:1", "style": starry, "deg": 0.3}
        body = request(service, seg, targets=[target], engine="gatys", blend="feather")
        job = service.submit({**body, "config": str(tiny)})
        wait_for(lambda: job.finished, timeout=120, what="the gatys job")
        assert job.state == "done", job.error
    finally:
        service.jobs.stop(timeout=10)
    monkeypatch.chdir(tmp_path)
    words = shlex.split(job.command)
    assert "--masks" in words and words[words.index("--config") + 1] == str(tiny)
    assert main([*words[1:], "--progress", "off"]) == 0
    ui = np.asarray(Image.open(job.outputs[f"{scene.photo.stem}_tst.png"]))
    cli = np.asarray(Image.open(tmp_path / f"{scene.photo.stem}_tst.png"))
    assert ui.shape == cli.shape and np.array_equal(ui, cli)


def test_a_target_mixes_two_paintings_when_the_engine_mixes(tmp_path, monkeypatch, cli):
    """``cin`` with a model that knows both paintings: a 30 % mix runs as the command line the
    page shows (the same pixels from the CLI), and lies between the two pure styles."""
    styles = paintings(tmp_path / "styles")
    model = cin_model(tmp_path / "cin.safetensors", [styles / "red.png", styles / "blue.png"])
    service = make_service(tmp_path, styles=styles, sets=(f"engine.cin.model={model}",))
    assert service.engine_info("cin") == {"name": "cin", "mixes": True}
    assert service.engine_info("fast")["mixes"] and service.engine_info("gatys")["mixes"]
    assert not service.engine_info("fake-fill")["mixes"]
    with monkeypatch.context() as m:  # the page asks the registry: no engine (nor VGG) is built
        m.setattr(Entry, "build", lambda *a: pytest.fail("an engine was built to ask"))
        assert service.engine_info("cin")["mixes"] and service.engine_info("gatys")["mixes"]
    service.jobs.start()
    try:
        seg = service.segment(photo_upload(service, tmp_path).id, "fake-boxes")
        red, blue = style_id(service, "red.png"), style_id(service, "blue.png")
        jobs = {}
        for name, target in [
            ("mix", {"style": red, "mix": {"style": blue, "weight": 0.3}}),
            ("red", {"style": red}),
            ("blue", {"style": blue}),
        ]:
            body = request(service, seg, targets=[{"select": "id:0", **target}], engine="cin")
            jobs[name] = service.submit(body)
        wait_for(lambda: all(j.finished for j in jobs.values()), timeout=60, what="the cin jobs")
    finally:
        service.jobs.stop(timeout=10)
    assert all(j.state == "done" for j in jobs.values()), [j.error for j in jobs.values()]
    job = jobs["mix"]
    words = shlex.split(job.command)
    assert (
        words[words.index("--style") + 1]
        == f"person#0={styles / 'red.png'}*0.7+{styles / 'blue.png'}*0.3"
    )
    report = json.loads(job.outputs["photo_tst.json"].read_text())
    target = report["targets"][0]
    assert target["style"] == "red.png*0.7+blue.png*0.3"
    assert [(name, round(w, 3)) for _, name, w in target["model_style"]] == [
        ("red", 0.7),
        ("blue", 0.3),
    ]
    image = {
        k: np.asarray(Image.open(j.outputs["photo_tst.png"])).astype(float) for k, j in jobs.items()
    }
    to_red, to_blue = (np.abs(image["mix"] - image[k]).sum() for k in ("red", "blue"))
    between = np.abs(image["red"] - image["blue"]).sum()
    assert 0 < to_red < between and 0 < to_blue < between
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(*words[1:], "--progress", "off")
    assert code == 0, err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "photo_tst.png")), image["mix"])
