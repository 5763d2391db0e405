"""``tst ui`` test fixtures: a scene (photo, masks, paintings), the server in a child process,
and Debian's chromium driven by Playwright.

The scene is ``bus.jpg`` with the two people of :mod:`tests.bus_people` and the paintings of
``../shared`` when it has them, else a small synthetic street with two figures and two made-up
textures named as the real paintings, so the tests read the same either way.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from .. import bus_people
from ..conftest import ROOT, shared_root

CHROMIUM = os.environ.get("TST_CHROMIUM", "/usr/bin/chromium")
#: as the lead's notes say: Debian's chromium, headless, with nothing that calls home
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: a few iterations at one scale: the browser tests check the plumbing, not the painting
TINY = """# tests: a few iterations at one scale
[run]
size = 64

[engine.gatys]
iterations = 4
scales = [1.0]
max_side = 0   # the working size only (no native levels), then upsampled
"""


@dataclass(frozen=True)
class Scene:
    """A photo, its maskfile folder (``masks``: the person masks, id 0 and id 1) and paintings."""

    photo: Path
    masks: Path
    styles: Path
    people: tuple[np.ndarray, ...]  # bool (H, W) per person id

    def inside_point(self, person: int) -> tuple[float, float]:
        """``(x, y)`` in photo pixels, deep inside that person's mask."""
        from scipy import ndimage

        dist = ndimage.distance_transform_edt(self.people[person])
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        return float(x) + 0.5, float(y) + 0.5


def _synthetic_street(folder: Path) -> tuple[Path, Path]:
    w, h = 120, 160
    yy, xx = np.mgrid[0:h, 0:w]
    street = np.stack([80 + xx, 120 + yy // 2, 160 - yy // 2], axis=-1).clip(0, 255)
    img = Image.fromarray(street.astype(np.uint8), "RGB")
    masks = folder / "masks"
    masks.mkdir()
    index = []
    for i, (box, colour) in enumerate(
        [((15, 40, 50, 140), (200, 170, 120)), ((70, 50, 100, 145), (30, 30, 40))]
    ):
        ImageDraw.Draw(img).ellipse(box, fill=colour)
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).ellipse(box, fill=255)
        mask.save(masks / f"00{i}_person.png")
        index.append({"file": f"00{i}_person.png", "label": "person", "score": 0.9 - 0.1 * i})
    (masks / "instances.json").write_text(json.dumps({"instances": index}))
    photo = folder / "street.png"
    img.save(photo)
    return photo, masks


def _paintings(folder: Path) -> Path:
    styles = folder / "styles"
    styles.mkdir()
    rng = np.random.default_rng(0)
    for name, tint in [("starry_night.jpg", (40, 60, 160)), ("the_scream.jpg", (220, 110, 30))]:
        noise = rng.integers(0, 255, (96, 96, 1))
        stripes = (np.sin(np.arange(96) / 3.0)[None, :, None] * 90).astype(int)
        arr = (np.array(tint)[None, None, :] + noise // 2 + stripes - 60).clip(0, 255)
        Image.fromarray(arr.astype(np.uint8), "RGB").save(styles / name, quality=95)
    (styles / "notes.txt").write_text("not a painting: the gallery leaves it out\n")
    return styles


@pytest.fixture(scope="session")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    folder = tmp_path_factory.mktemp("scene")
    bus = shared_root() / "images" / "content" / "bus.jpg"
    paintings = shared_root() / "images" / "style"
    if bus.is_file():
        photo, masks = bus, bus_people.write(folder / "masks")
    else:
        photo, masks = _synthetic_street(folder)
    styles = paintings if (paintings / "starry_night.jpg").is_file() else _paintings(folder)
    people = tuple(np.asarray(Image.open(p)) > 127 for p in sorted(masks.glob("*.png")))
    return Scene(photo, masks, styles, people)


@dataclass
class UiServer:
    """A running ``tst ui``: its URL, process, work folder and the log it wrote."""

    url: str
    process: subprocess.Popen[str]
    workdir: Path
    log: Path

    def status(self, job_id: str) -> dict:
        with urllib.request.urlopen(f"{self.url}api/jobs/{job_id}", timeout=10) as r:
            return json.loads(r.read())


@contextlib.contextmanager
def ui_server(tmp: Path, *args: object, timeout: float = 90.0) -> Iterator[UiServer]:
    """Start ``tst ui --port 0 ARGS`` and yield it once it printed its URL; stop it with
    SIGINT (as Ctrl-C does) and check it exits cleanly."""
    workdir, log = tmp / "work", tmp / "server.log"
    command = [sys.executable, "-m", "tst_core", "ui", "--port", "0", "--workdir", workdir]
    with log.open("w") as err:
        proc = subprocess.Popen(
            [str(a) for a in [*command, *args]],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=ROOT,
        )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or []], daemon=True).start()
    try:
        first = lines.get(timeout=timeout)
    except queue.Empty:
        first = ""
    match = re.search(r"http://\S+/", first)
    if not match:
        proc.kill()
        proc.wait()
        raise AssertionError(f"tst ui did not start: {first!r} {log.read_text()}")
    server = UiServer(match[0], proc, workdir, log)
    try:
        yield server
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"tst ui did not stop on SIGINT: {log.read_text()}") from None
        assert code == 0, log.read_text()


@pytest.fixture(scope="module")
def chromium():
    """Debian's chromium under Playwright (skipped, outside CI, where it is not installed)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests need {CHROMIUM}: apt-get install -y chromium")
        pytest.skip(f"needs {CHROMIUM} (apt-get install -y chromium), or deselect -m 'not browser'")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request):
    """A fresh page whose off-machine requests are recorded (there must be none)."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.foreign = []
    page.errors = []
    page.on("request", lambda r: _record_foreign(page, r.url))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()  # a test may have closed the page already (a closed tab)
    assert not page.errors, page.errors
    assert not page.foreign, f"the page asked for files elsewhere: {page.foreign}"


def _record_foreign(page, url: str) -> None:
    if not re.match(r"^(http://127\.0\.0\.1:\d+/|blob:|data:)", url):
        page.foreign.append(url)
