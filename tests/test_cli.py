"""The CLI: the run and segment commands, and every kind of bad input.

Bad input must give exit status 2, exactly one line on stderr, no traceback, and leave no
output file behind.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from .conftest import run_args


def test_run_writes_the_image_and_its_report(cli, files):
    code, out, err = cli(*run_args(files))
    assert code == 0, err
    assert sorted(p.name for p in (files / "out").iterdir()) == ["out.json", "out.png"]
    img = Image.open(files / "out" / "out.png")
    assert img.size == (60, 40)  # the photo's own size (--size 32 is the working size)
    report = json.loads((files / "out" / "out.json").read_text())
    assert [i["label"] for i in report["instances"]] == ["person", "person"]
    assert report["targets"][0]["selector"] == "person" and report["targets"][0][
        "instance_ids"
    ] == [0, 1]
    assert report["config"]["run"]["engine"] == "fake-fill"
    assert report["config"]["segmenter"]["maskfile"]["masks"] == str(files / "masks")
    assert set(report["timings"]) == {"segment", "select", "stylize", "composite", "total"}
    assert report["final_losses"] == {"total": pytest.approx(1 / 3)}
    assert {"tst", "torch", "python"} <= set(report["versions"])
    assert "wrote" in out and "out.png" in out


def test_run_changes_only_the_selected_pixels(cli, files):
    code, _, err = cli(*run_args(files, "--size", 60))
    assert code == 0, err
    out = np.asarray(Image.open(files / "out" / "out.png")).astype(int)
    assert out.shape == (40, 60, 3)
    assert abs(out[20, 2] - [0, 120, 0]).max() <= 1  # outside both people: the photo
    assert abs(out[20, 10] - [200, 200, 200]).max() <= 2  # inside: the fake engine's flat colour
    assert abs(out[20, 40] - [200, 200, 200]).max() <= 2


def test_progress_lines_when_asked(cli, files):
    code, _, err = cli(*run_args(files, "--progress", "lines"))
    assert code == 0
    assert "stylize: 1/3" in err and "stylize: 3/3" in err


def seg_args(f, *extra):
    return ["segment", f / "photo.png", "--segmenter", "maskfile", "--masks", f / "masks", *extra]


def with_photo(f, photo):
    return [*run_args(f)[:1], photo, *run_args(f)[2:]]


def write(path, text):
    path.write_text(text)


def write_index(f, score=0.9):
    entries = [{"file": f"person_{i}.png", "label": "person", "score": score} for i in range(2)]
    (f / "masks" / "instances.json").write_text(json.dumps({"instances": entries}))


def save_labels(f):
    labels = np.zeros((40, 60), np.uint8)
    labels[5:35, 5:20] = 1
    Image.fromarray(labels, "L").save(f / "labels.png")


def with_segmenter(f, name, *options):
    args = run_args(f)
    i = args.index("--segmenter")
    args[i + 1 : i + 4] = [name, *options]  # replaces maskfile --masks DIR
    args[args.index(f"person={f / 'style.jpg'}")] = f"all={f / 'style.jpg'}"
    return args


def save(img, path):
    img.save(path)


# case: (setup(files) or None, args(files), message regex for the one stderr line)
BAD = {
    "missing photo": (
        None,
        lambda f: with_photo(f, f / "nope.jpg"),
        "photo '.*nope.jpg' does not exist",
    ),
    "unreadable photo": (
        lambda f: write(f / "text.jpg", "hello"),
        lambda f: with_photo(f, f / "text.jpg"),
        "not an image format",
    ),
    "huge photo": (
        lambda f: save(Image.new("RGB", (300, 300)), f / "huge.png"),
        lambda f: with_photo(f, f / "huge.png"),
        "too large .*decompression-bomb",
    ),
    "missing style": (
        None,
        lambda f: [*run_args(f), "--style", f"person#1={f / 'nostyle.jpg'}"],
        "style image '.*nostyle.jpg' does not exist",
    ),
    "unknown segmenter": (
        None,
        lambda f: [*run_args(f), "--segmenter", "nope"],
        "unknown segmenter 'nope'; installed: .*maskfile",
    ),
    "unknown engine": (
        None,
        lambda f: [*run_args(f), "--engine", "nope"],
        "unknown engine 'nope'; installed: .*fake-fill",
    ),
    "unknown blend": (
        None,
        lambda f: [*run_args(f), "--blend", "nope"],
        "unknown compositor 'nope'; installed: .*hard",
    ),
    "selector matches nothing": (
        None,
        lambda f: [*run_args(f), "--style", f"dog={f / 'style.jpg'}"],
        r"selector 'dog' matches nothing; labels found: person \(2\)",
    ),
    "malformed style": (
        None,
        lambda f: [*run_args(f), "--style", "person="],
        "--style expects SELECTOR=STYLE_IMAGE",
    ),
    "bad config key": (
        None,
        lambda f: [*run_args(f), "--set", "run.colour=red"],
        r"unknown key 'colour' in \[run\]",
    ),
    "bad config value": (
        None,
        lambda f: [*run_args(f), "--set", "engine.fake-fill.iterations=many"],
        "engine.fake-fill.iterations must be an integer",
    ),
    "bad config file": (
        lambda f: write(f / "c.toml", "[run]\nsise = 1\n"),
        lambda f: [*run_args(f), "--config", f / "c.toml"],
        r"unknown key 'sise' in \[run\]",
    ),
    "missing config": (
        None,
        lambda f: [*run_args(f), "--config", "no-such"],
        "config 'no-such' not found",
    ),
    "wrong mask size": (
        lambda f: save(Image.new("L", (10, 10), 255), f / "masks" / "dog.png"),
        run_args,
        "mask 'dog.png' is 10×10 but the photo is 60×40",
    ),
    "empty mask": (
        lambda f: save(Image.new("L", (60, 40), 0), f / "masks" / "dog.png"),
        run_args,
        "mask 'dog.png' is empty",
    ),
    "missing masks": (
        None,
        lambda f: [*run_args(f), "--masks", f / "nomasks"],
        "masks '.*nomasks' do not exist",
    ),
    "masks option on the wrong segmenter": (
        None,
        lambda f: [*run_args(f), "--segmenter", "fake-boxes"],
        r"unknown key 'masks' in \[segmenter.fake-boxes\]; valid keys: boxes",
    ),
    "missing weights": (
        None,
        lambda f: ["segment", f / "photo.png", "--segmenter", "fake-weights"],
        "fake segmenter weights are missing: 'fake-seg-0123abcd.pth' is not in .*never downloads"
        ".*--weights FILE, or use --segmenter fake-boxes",
    ),
    "weights path that does not exist": (
        None,
        lambda f: [
            "segment",
            f / "photo.png",
            "--segmenter",
            "fake-weights",
            "--weights",
            f / "w.pth",
        ],
        "checkpoint '.*w.pth' does not exist",
    ),
    "weights file that is not a checkpoint": (
        lambda f: write(f / "w.pth", "junk"),
        lambda f: [
            "segment",
            f / "photo.png",
            "--segmenter",
            "fake-weights",
            "--weights",
            f / "w.pth",
        ],
        "cannot load fake segmenter checkpoint .*: it is not a PyTorch checkpoint",
    ),
    "output over the input": (
        None,
        lambda f: [*run_args(f), "-o", f / "photo.png"],
        "refusing to overwrite the input file",
    ),
    "output folder missing": (
        None,
        lambda f: [*run_args(f), "-o", f / "nodir" / "o.png"],
        "folder '.*nodir' does not exist",
    ),
    "output type unknown": (
        None,
        lambda f: [*run_args(f), "-o", f / "out" / "o.gif"],
        "unknown image type '.gif'",
    ),
    "engine failure": (
        None,
        lambda f: [*run_args(f), "--set", "engine.fake-fill.fail=true"],
        "the loss became NaN",
    ),
    "bad size": (
        None,
        lambda f: [*run_args(f), "--size", "big"],
        "argument --size: invalid int value: 'big'",
    ),
    "size out of range": (
        None,
        lambda f: [*run_args(f), "--size", "4"],
        "run.size must be between 16 and 8192",
    ),
    "bad device": (None, lambda f: [*run_args(f), "--device", "tpu"], "unknown device 'tpu'"),
    "no style": (
        None,
        lambda f: ["run", f / "photo.png"],
        "the following arguments are required: --style",
    ),
    "bad box": (
        None,
        lambda f: ["segment", f / "photo.png", "--box", "1,2,x"],
        "expected comma-separated numbers",
    ),
    "overlay type unknown": (
        None,
        lambda f: seg_args(f, "--overlay", f / "ids.gif"),
        "unknown image type '.gif'",
    ),
    "overlay over input": (
        None,
        lambda f: seg_args(f, "--overlay", f / "photo.png"),
        "refusing to overwrite the input file",
    ),
    "export into a full folder": (
        lambda f: write(f / "out" / "keep.txt", "x"),
        lambda f: seg_args(f, "--export-masks", f / "out"),
        "already exists and is not empty",
    ),
    # issue 10, item 2: every file the run reads is an input, folders of masks included
    "-o over a mask of --masks": (
        None,
        lambda f: [*run_args(f), "-o", f / "masks" / "person_0.png"],
        "refusing to write -o '.*person_0.png' into '.*masks', a folder this run reads",
    ),
    "-o into the --masks folder": (
        None,
        lambda f: [*run_args(f), "-o", f / "masks" / "new.png"],
        "a folder this run reads",
    ),
    "report over instances.json": (
        write_index,
        lambda f: [*run_args(f), "-o", f / "masks" / "instances.png"],
        "a folder this run reads",
    ),
    "-o over the label image": (
        save_labels,
        lambda f: [*run_args(f, "--masks", f / "labels.png"), "-o", f / "labels.png"],
        r"refusing to overwrite the input file '.*labels.png' \(segmenter.maskfile.masks\) with -o",
    ),
    "overlay over a mask": (
        None,
        lambda f: seg_args(f, "--overlay", f / "masks" / "person_0.png"),
        "refusing to write --overlay '.*person_0.png' into",
    ),
    "report over the config file": (
        lambda f: write(f / "c.json", "[run]\nsize = 32\n"),
        lambda f: [*run_args(f), "--config", f / "c.json", "-o", f / "c.png"],
        r"refusing to overwrite the input file '.*c.json' \(config\) with the report of -o",
    ),
    "report over the checkpoint": (
        lambda f: torch.save({"w": torch.ones(1)}, f / "w.json"),
        lambda f: [
            *with_segmenter(f, "fake-weights", "--weights", f / "w.json"),
            "-o",
            f / "w.png",
        ],
        r"overwrite the input file '.*w.json' \(segmenter.fake-weights.weights\)",
    ),
    "-o through .. over the photo": (
        None,
        lambda f: [*run_args(f), "-o", f / "out" / ".." / "photo.png"],
        "refusing to overwrite the input file '.*photo.png' \\(photo\\)",
    ),
    "-o through a linked folder over the photo": (
        lambda f: (f / "link").symlink_to(f),
        lambda f: [*run_args(f), "-o", f / "link" / "photo.png"],
        "refusing to overwrite the input file",
    ),
    # names longer than the file system takes (ENAMETOOLONG from the first stat of them)
    "photo name too long": (
        None,
        lambda f: with_photo(f, f / ("p" * 300 + ".png")),
        "file name too long: '.*ppp.png'",
    ),
    "style name too long": (
        None,
        lambda f: [*run_args(f), "--style", f"person#0={f / ('s' * 300 + '.jpg')}"],
        "file name too long: '.*sss.jpg'",
    ),
    "config name too long": (
        None,
        lambda f: [*run_args(f), "--config", f / ("c" * 300 + ".toml")],
        "file name too long: '.*ccc.toml'",
    ),
    "masks name too long": (
        None,
        lambda f: [*run_args(f), "--masks", f / ("m" * 300)],
        "file name too long: '.*mmm'",
    ),
    # item 4: destinations are checked before the work
    "-o an existing folder": (
        lambda f: (f / "out" / "shot.png").mkdir(),
        lambda f: [*run_args(f), "-o", f / "out" / "shot.png"],
        "-o '.*shot.png' is a folder; give a file name",
    ),
    "report name is a folder": (
        lambda f: (f / "out" / "out.json").mkdir(),
        run_args,
        "the report of -o '.*out.json' is a folder",
    ),
    # item 5: user mistakes that were internal errors
    "strength degree overflows": (
        None,
        lambda f: [*run_args(f), "--style", f"person#0={f / 'style.jpg'}:deg=400"],
        "strength ':deg=400' is too large",
    ),
    "seed beyond 64 bits": (
        None,
        lambda f: [*run_args(f), "--seed", str(2**70)],
        "run.seed must be a whole number from 0 to 2\\*\\*63 - 1",
    ),
    "adam with an enormous step": (
        None,
        lambda f: [
            *run_args(f, "--engine", "gatys"),
            "--set",
            "engine.gatys.optimizer=adam",
            "--set",
            "engine.gatys.lr=1e300",
        ],
        r"\[engine.gatys\] lr must be above 0 and at most 1000",
    ),
    "score 'high' in instances.json": (
        lambda f: write_index(f, score="high"),
        run_args,
        "the score of 'person_0.png' must be a number from 0 to 1, got 'high'",
    ),
    # item 8: NaN and infinite strengths are strengths, refused before segmentation
    "nan strength": (
        None,
        lambda f: [*run_args(f), "--style", f"person#0={f / 'style.jpg'}:nan"],
        "strength ':nan' must be a finite number above 0",
    ),
    "inf strength": (
        None,
        lambda f: [*run_args(f), "--style", f"person#0={f / 'style.jpg'}:inf"],
        "strength ':inf' must be a finite number above 0",
    ),
}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b""
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_and_no_output(cli, files, monkeypatch, case):
    setup, make_args, message = BAD[case]
    monkeypatch.setenv("TST_MAX_PIXELS", "50000")  # the "huge photo" is 300×300
    if setup:
        setup(files)
    before = snapshot(files)
    args = make_args(files)
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert re.search(message, lines[0]), lines[0]
    assert snapshot(files) == before, "bad input left files behind"


@pytest.mark.parametrize("command", ["run", "compare"])
def test_output_over_a_style_with_a_strength_is_refused_before_any_work(
    cli, files, monkeypatch, command
):
    import tst_core.api
    import tst_core.compare

    def no_work(*args, **kwargs):
        raise AssertionError("stylised before checking the outputs")

    if command == "run":
        monkeypatch.setattr(tst_core.api.Pipeline, "run", no_work)
    else:
        monkeypatch.setattr(tst_core.compare.Comparison, "run", no_work)
    style = files / "style.jpg"
    args = [command, *run_args(files)[1:], "-o", style]
    args[args.index(f"person={style}")] = f"person={style}:2"
    code, _, err = cli(*args)
    assert code == 2
    assert "refusing to overwrite the input file" in err


def test_debug_shows_the_traceback(cli, files):
    from tst_core.errors import InputError

    with pytest.raises(InputError):
        cli("--debug", *run_args(files)[:1], files / "nope.jpg", *run_args(files)[2:])


def test_segment_prints_a_table_and_json(cli, files):
    code, out, _ = cli("segment", files / "photo.png", "--segmenter", "fake-boxes")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("3 instances (fake-boxes")
    assert lines[1].split()[:5] == ["id", "label", "score", "area", "%"]
    assert lines[2].split()[:4] == ["0", "person", "0.90", "24.00"]
    code, out, _ = cli("segment", files / "photo.png", "--segmenter", "fake-boxes", "--json")
    data = json.loads(out)
    assert [r["label"] for r in data["instances"]] == ["person", "person", "car"]
    assert data["instances"][2]["box"] == [0.0, 20.0, 60.0, 40.0]


@pytest.mark.parametrize("suffix, fmt", [(".jpg", "JPEG"), (".webp", "WEBP"), (".png", "PNG")])
def test_segment_overlay_is_written_in_the_format_its_name_says(cli, files, suffix, fmt):
    out = files / f"ids{suffix}"
    code, _, err = cli(
        "segment", files / "photo.png", "--segmenter", "fake-boxes", "--overlay", out
    )
    assert code == 0, err
    assert Image.open(out).format == fmt


def test_segment_overlay_and_export_round_trip(cli, files):
    out_dir = files / "out"
    code, _, err = cli(
        "segment",
        files / "photo.png",
        "--segmenter",
        "fake-boxes",
        "--overlay",
        out_dir / "ids.png",
        "--export-masks",
        out_dir / "masks",
    )
    assert code == 0, err
    overlay = np.asarray(Image.open(out_dir / "ids.png"))
    assert overlay.shape == (40, 60, 3)
    assert not np.array_equal(overlay[20, 10], [0, 120, 0])  # tinted where an instance is
    names = sorted(p.name for p in (out_dir / "masks").iterdir())
    assert names == ["000_person.png", "001_person.png", "002_car.png", "instances.json"]
    # the maskfile segmenter reads the export back unchanged
    code, again, _ = cli(
        "segment",
        files / "photo.png",
        "--segmenter",
        "maskfile",
        "--masks",
        out_dir / "masks",
        "--json",
    )
    _, first, _ = cli("segment", files / "photo.png", "--segmenter", "fake-boxes", "--json")
    assert code == 0
    assert json.loads(again)["instances"] == json.loads(first)["instances"]


def test_plugins_and_config_commands(cli):
    code, out, _ = cli("plugins")
    assert code == 0 and "fake-fill" in out and "maskfile" in out
    code, out, _ = cli(
        "config", "show", "--config", "preview", "--segmenter", "fake-boxes", "--set", "run.seed=5"
    )
    assert code == 0
    assert "[run]" in out and "seed = 5" in out and "[segmenter.fake-boxes]" in out
    code, out, _ = cli("config", "presets")
    assert code == 0 and "preview" in out


def test_no_command_prints_help(cli):
    code, out, _ = cli()
    assert code == 2 and "usage: tst" in out
