"""Hostile paths: FIFOs and devices as inputs, links to /etc/passwd and /dev/zero, traversal in
labels and in ``instances.json``. Each is one line and exit 2 (or, for odd labels, a correct
export), and nothing is written outside the output folder."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from ..conftest import run_args


@pytest.fixture(autouse=True)
def no_hang():
    """A reader that blocks on a FIFO fails the test after 20 s instead of hanging it."""

    def too_long(signum, frame):
        raise TimeoutError("blocked reading an input")

    old = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def snapshot(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        key = str(p.relative_to(root))
        if p.is_symlink():
            out[key] = f"-> {os.readlink(p)}"
        elif p.is_file():
            out[key] = p.read_bytes()
        else:
            out[key] = "dir" if p.is_dir() else "special"
    return out


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def replace(args, old, new):
    return [new if a == old else a for a in args]


def weights_args(f, weights):
    return ["segment", f / "photo.png", "--segmenter", "fake-weights", "--weights", weights]


def config_file(f, text):
    (f / "c.toml").write_text(text)
    return f / "c.toml"


STYLE = "person={}"

CASES = {
    # FIFOs: a reader would block forever
    "FIFO photo": lambda f: replace(run_args(f), f / "photo.png", fifo(f / "p.png")),
    "FIFO style": lambda f: replace(
        run_args(f), STYLE.format(f / "style.jpg"), STYLE.format(fifo(f / "s.jpg"))
    ),
    "FIFO mask": lambda f: (fifo(f / "masks" / "person_9.png"), run_args(f))[1],
    "FIFO label image": lambda f: replace(run_args(f), f / "masks", fifo(f / "labels.png")),
    "FIFO instances.json": lambda f: (fifo(f / "masks" / "instances.json"), run_args(f))[1],
    "FIFO config": lambda f: [*run_args(f), "--config", fifo(f / "c.toml")],
    "FIFO base config": lambda f: [
        *run_args(f),
        "--config",
        config_file(f, f'base = "{fifo(f / "b.toml")}"\n'),
    ],
    "FIFO weights": lambda f: weights_args(f, fifo(f / "w.pth")),
    # devices, directly and through links
    "/dev/zero photo": lambda f: replace(run_args(f), f / "photo.png", Path("/dev/zero")),
    "/dev/zero mask link": lambda f: (
        (f / "masks" / "person_9.png").symlink_to("/dev/zero"),
        run_args(f),
    )[1],
    "/dev/zero label image": lambda f: replace(run_args(f), f / "masks", Path("/dev/zero")),
    "/dev/zero config": lambda f: [*run_args(f), "--config", "/dev/zero"],
    "/dev/zero weights": lambda f: weights_args(f, "/dev/zero"),
    # links to a file that is no image, config or checkpoint
    "/etc/passwd mask link": lambda f: (
        (f / "masks" / "person_9.png").symlink_to("/etc/passwd"),
        run_args(f),
    )[1],
    "/etc/passwd config": lambda f: [*run_args(f), "--config", "/etc/passwd"],
    "/etc/passwd base config": lambda f: [
        *run_args(f),
        "--config",
        config_file(f, 'base = "/etc/passwd"\n'),
    ],
    "/etc/passwd weights": lambda f: weights_args(f, "/etc/passwd"),
}

MESSAGES = {
    "FIFO": "is not a regular file",
    "/dev/zero": "is not a regular file",
    "/etc/passwd mask": "not an image format",
    "/etc/passwd config": "is not valid TOML",
    "/etc/passwd base": "is not valid TOML",
    "/etc/passwd weights": "not a PyTorch checkpoint",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_inputs_are_one_line_and_leave_everything_as_it_was(cli, files, case):
    args = CASES[case](files)
    before = snapshot(files)
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    message = next(m for k, m in MESSAGES.items() if case.startswith(k))
    assert message in lines[0], lines[0]
    assert snapshot(files) == before


BAD_FILES = ["../photo.png", "/etc/passwd", "sub/person_0.png", "..", "", 42, "a\\b.png"]


@pytest.mark.parametrize("name", BAD_FILES)
def test_traversal_in_instances_json_is_refused(cli, files, name):
    entries = [{"file": name, "label": "person"}, {"file": "person_1.png", "label": "person"}]
    (files / "masks" / "instances.json").write_text(json.dumps({"instances": entries}))
    before = snapshot(files)
    code, _, err = cli(*run_args(files))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "which is not a file name in that folder" in err
    assert snapshot(files) == before


ODD_LABELS = [
    "../../evil",
    "/etc/cron.d/job",
    "..",
    ".hidden",
    "a\x00b",
    "x" * 300,
    "\x1b[31mred\x1b[0m",
    "sp ace/ö",
    "",
]


def boxes_option(labels):
    rows = [[label, 0.9 - 0.01 * i, 0.0, 0.0, 0.5, 0.5] for i, label in enumerate(labels)]
    return "segmenter.fake-boxes.boxes=" + json.dumps(rows)


def test_odd_labels_export_inside_the_folder_and_read_back_unchanged(cli, files):
    before = snapshot(files)
    export = files / "out" / "masks"
    args = ["segment", files / "photo.png", "--segmenter", "fake-boxes"]
    code, out, err = cli(*args, "--set", boxes_option(ODD_LABELS), "--export-masks", export)
    assert code == 0, err
    written = {k for k in snapshot(files) if k not in before}
    assert all(k.startswith("out/masks") for k in written), written
    names = sorted(p.name for p in export.iterdir())
    assert len(names) == len(ODD_LABELS) + 1 and "instances.json" in names
    assert all(len(n.encode()) <= 60 and "/" not in n and "\x00" not in n for n in names)
    assert "\x1b" not in out and "\\x1b[31mred" in out  # the terminal sees an escape, not red
    code, again, err = cli(
        "segment", files / "photo.png", "--segmenter", "maskfile", "--masks", export, "--json"
    )
    assert code == 0, err
    assert [i["label"] for i in json.loads(again)["instances"]] == ODD_LABELS


def test_control_characters_in_an_error_line_are_escaped(cli, files):
    code, _, err = cli(
        "run",
        files / "photo.png",
        "--segmenter",
        "fake-boxes",
        "--set",
        boxes_option(["\x1b]0;pwned\x07", "dog\u202ecat"]),
        "--style",
        f"person={files / 'style.jpg'}",
        "-o",
        files / "out" / "o.png",
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err
    assert "\\x1b]0;pwned\\x07" in err and "dog\\u202ecat" in err
