"""Fixtures for batch tests: a folder of tiny photos with per-photo masks, and the test plugins
of :mod:`tests.fakes` installed as a distribution, so worker processes and Ray actors (which
load plugins from entry points, like any new process) find them too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ..conftest import install_dist, make_dist


def write_photo(path: Path, seed: int, size: tuple[int, int] = (40, 32)) -> Path:
    """A small RGB photo (``size`` is width, height) of smooth random colour."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.uniform(0, 255, (4, 5, 3)).astype(np.uint8)
    img = Image.fromarray(base, "RGB").resize((w, h), Image.BILINEAR)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def write_mask(
    path: Path, box: tuple[int, int, int, int], size: tuple[int, int] = (40, 32)
) -> None:
    """A white rectangle ``(x0, y0, x1, y1)`` on black, ``size`` width × height."""
    arr = np.zeros((size[1], size[0]), np.uint8)
    x0, y0, x1, y1 = box
    arr[y0:y1, x0:x1] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "L").save(path)


@pytest.fixture
def plugins_dist(tmp_path_factory, monkeypatch):
    """The test plugins as an installed distribution, on sys.path and $PYTHONPATH."""
    site = make_dist(
        tmp_path_factory.mktemp("site"), "tst-test-fakes", {"tests-fakes": "tests.fakes"}, {}
    )
    install_dist(monkeypatch, site)
    return site


@pytest.fixture
def shoot(tmp_path):
    """``photos/``: a.png, b.png, day2/c.png (each with a person and a car), nobody.png (only a
    car), broken.jpg (not an image); ``masks/<stem>/``: each photo's masks; ``style.png``."""
    photos = tmp_path / "photos"
    masks = tmp_path / "masks"
    for i, rel in enumerate(["a.png", "b.png", "day2/c.png", "nobody.png"]):
        write_photo(photos / rel, i)
        stem = Path(rel).stem
        write_mask(masks / stem / "car.png", (0, 20, 40, 32))
        if stem != "nobody":
            write_mask(masks / stem / "person.png", (5 + 3 * i, 2, 20 + 3 * i, 20))
    (photos / "broken.jpg").write_bytes(b"this is not a JPEG")
    write_mask(masks / "broken" / "person.png", (5, 2, 20, 20))
    (photos / "notes.txt").write_text("not a photo: a folder contributes image files only")
    style = write_photo(tmp_path / "style.png", 99, (24, 24))
    write_photo(tmp_path / "style2.png", 98, (24, 24))
    return {"root": tmp_path, "photos": photos, "masks": masks, "style": style}


def records(outdir: Path) -> list[dict]:
    return [json.loads(line) for line in (outdir / "batch.jsonl").read_text().splitlines()]


def statuses(outdir: Path) -> dict[str, str]:
    """``{photo name: status}`` of the last line of each photo."""
    return {Path(r["photo"]).name: r["status"] for r in records(outdir)}
