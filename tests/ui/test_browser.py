"""``tst ui`` in a real browser (Debian's chromium): click a person, give it a painting, run,
download and check the picture, compare; cancel a running job, and close the tab of another;
mix two paintings on one person with an engine that mixes; a bad upload is the CLI's one line.

Each server is a ``tst ui`` child process on a free loopback port with a few iterations at one
scale, so the three tests take about half a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

from tst_core.files import read_image, to_uint8_hwc
from tst_core.types import resize_mask

from .conftest import TINY, Scene, ui_server
from .helpers import cin_model

pytestmark = pytest.mark.browser

LONG = 60_000  # ms: the longest wait for a job at 64 px on a busy 2-core machine


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def open_photo(page, url: str, photo: Path) -> tuple[int, int]:
    """Open the page, upload ``photo``, wait until its instances are drawn; (W, H) of the photo."""
    page.goto(url)
    page.wait_for_selector("#gallery figure")
    page.set_input_files("#photo-input", str(photo))
    page.wait_for_selector("#stage:not(.empty)")
    stage = page.locator("#stage")
    return int(stage.get_attribute("data-width")), int(stage.get_attribute("data-height"))


def click_photo(page, size: tuple[int, int], x: float, y: float) -> None:
    """Click the photo at photo pixel ``(x, y)``, wherever the page laid it out."""
    box = page.locator("#photo").bounding_box()
    page.mouse.click(box["x"] + x * box["width"] / size[0], box["y"] + y * box["height"] / size[1])


def select_person(page, scene: Scene, size: tuple[int, int], person: int) -> None:
    click_photo(page, size, *scene.inside_point(person))
    page.wait_for_selector(f"#targets li[data-select='id:{person}']")


def person_at(scene: Scene, person: int, size: tuple[int, int], working: int):
    """The person's pixels at the photo's ``size``, and those within two working pixels of
    them (a mask worked at ``working`` px is refined to the photo's edges within that)."""
    mask = resize_mask(torch.from_numpy(scene.people[person]).float(), size) > 0.5
    inside = mask.numpy()
    near = ndimage.distance_transform_edt(~inside) <= 2 * max(size) / working
    return inside, near


def test_click_a_person_give_it_a_painting_run_and_download(page, scene, tiny, tmp_path):
    with ui_server(
        tmp_path, "--segmenter", "maskfile", "--masks", scene.masks, "--styles", scene.styles,
        "--config", tiny,
    ) as server:  # fmt: skip
        size = open_photo(page, server.url, scene.photo)
        assert page.locator("#seg-info").inner_text().startswith("2 instances (maskfile")
        # click the second person; again to deselect; and once more to select it
        select_person(page, scene, size, 1)
        click_photo(page, size, *scene.inside_point(1))
        page.wait_for_selector("#targets li", state="detached")
        select_person(page, scene, size, 1)
        assert page.locator("#layers img[data-select='id:1']").count() == 1
        page.click("#gallery figure[title='starry_night.jpg']")
        assert "starry_night.jpg" in page.locator("#targets li").inner_text()
        page.select_option("#blend", "hard")  # a hard cut: outside the person stays the photo
        page.fill("#size", "64")
        page.click("#run")
        page.wait_for_selector("#progress-text:has-text('done')", timeout=LONG)

        command = page.locator("#command").inner_text()
        assert re.search(r"--style 'person#1=\S*starry_night\.jpg' ", command), command
        assert "--segmenter maskfile --masks" in command and "--blend hard --size 64" in command
        with page.expect_download() as download:
            page.click("#download-image")
        result = np.asarray(Image.open(download.value.path()).convert("RGB")).astype(int)
        with page.expect_download() as download:
            page.click("#download-report")
        report = json.loads(Path(download.value.path()).read_text())

        page.click("#compare")  # the same job through tst compare: its sheet and table
        page.wait_for_selector("#compare-view:not([hidden])", timeout=LONG)
        rows = page.locator("#compare-table tr").all_inner_texts()
        assert rows[0].split()[:3] == ["engine", "blend", "seam"]
        assert [r.split()[1] for r in rows[1:]] == ["feather", "hard", "mrf", "poisson"]
        assert page.locator("#sheet").evaluate("img => img.naturalWidth") > 0
        assert "tst compare" in page.locator("#command").inner_text()

    assert download.value.suggested_filename == f"{scene.photo.stem}_tst.json"
    assert [t["selector"] for t in report["targets"]] == ["id:1"]
    assert report["targets"][0]["style"] == "starry_night.jpg"
    photo = read_image(scene.photo)  # the result comes at the photo's own size
    assert result.shape == (*photo.shape[-2:], 3)
    inside, near = person_at(scene, 1, result.shape[:2], 64)
    change = np.abs(result - to_uint8_hwc(photo).astype(int)).max(axis=2)
    assert change[inside].mean() > 8, "the clicked person hardly changed"
    assert change[~near].max() == 0, "pixels away from the clicked person changed"

    # the server is gone and so are its uploads: the page's line, pasted into a shell, still
    # makes the same picture (it names a kept copy of the upload, and person#1, not id:1)
    shutil.rmtree(tmp_path / "work" / "uploads")
    again = tmp_path / "again"
    again.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    pasted = subprocess.run(
        ["bash", "-c", command], cwd=again, env=env, capture_output=True, text=True
    )
    assert pasted.returncode == 0, pasted.stderr
    repeated = np.asarray(Image.open(again / f"{scene.photo.stem}_tst.png").convert("RGB"))
    assert np.array_equal(repeated.astype(int), result)


def test_cancel_stops_a_running_job_and_so_does_closing_its_tab(page, scene, tiny, tmp_path):
    with ui_server(
        tmp_path, "--segmenter", "maskfile", "--masks", scene.masks, "--styles", scene.styles,
        "--config", tiny, "--set", "engine.gatys.iterations=100000", "--abandon-after", "2",
    ) as server:  # fmt: skip
        size = open_photo(page, server.url, scene.photo)
        select_person(page, scene, size, 0)
        page.click("#gallery figure[title='the_scream.jpg']")
        page.click("#run")
        page.wait_for_selector("#progress-text:has-text('iteration')", timeout=LONG)
        page.wait_for_selector("#preview:not([hidden])", timeout=LONG)  # the picture so far
        job = re.search(r"/api/jobs/([^/]+)/preview", page.locator("#preview").get_attribute("src"))
        assert job
        assert page.locator("#cancel").is_enabled() and page.locator("#run").is_disabled()
        page.click("#cancel")
        page.wait_for_selector("#progress-text:has-text('cancelled')", timeout=LONG)
        status = server.status(job[1])  # "cancelled" only once the optimisation has returned
        assert status["state"] == "cancelled" and 0 < status["step"] < status["total"]
        assert page.locator("#run").is_enabled()
        assert page.locator("#downloads").is_hidden()
        assert not list((server.workdir / "jobs").glob("*/*"))  # nothing written

        page.click("#run")  # again, and close the tab while it runs
        page.wait_for_selector(f"#preview:not([hidden]):not([src*='{job[1]}'])", timeout=LONG)
        second = re.search(
            r"/api/jobs/([^/]+)/preview", page.locator("#preview").get_attribute("src")
        )
        assert second and server.status(second[1])["state"] == "running"
        page.close()
        deadline = time.monotonic() + 30
        while server.status(second[1])["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        status = server.status(second[1])
        assert status["state"] == "cancelled", status
        assert status["note"] == "cancelled: no page watched it for 2 s"


def test_an_engine_that_mixes_offers_a_second_painting_per_target(page, scene, tiny, tmp_path):
    """``cin`` with a model trained (here: made) on two paintings of the gallery: a target
    mixes them 70/30, and only the clicked person changes."""
    paintings = [scene.styles / "starry_night.jpg", scene.styles / "the_scream.jpg"]
    model = cin_model(tmp_path / "cin.safetensors", paintings)
    with ui_server(
        tmp_path, "--segmenter", "maskfile", "--masks", scene.masks, "--styles", scene.styles,
        "--config", tiny, "--set", f"engine.cin.model={model}",
    ) as server:  # fmt: skip
        size = open_photo(page, server.url, scene.photo)
        select_person(page, scene, size, 1)
        page.click("#gallery figure[title='starry_night.jpg']")
        page.wait_for_selector("#targets li .style-name:has-text('starry_night.jpg')")
        assert page.locator("#targets .add-mix").count() == 1  # gatys mixes paintings too
        page.select_option("#engine", "cin")
        page.click("#targets .add-mix")
        page.click("#gallery figure[title='the_scream.jpg']")
        page.locator("#targets .mix-share").fill("0.3")
        assert "the_scream.jpg" in page.locator("#targets .mix").inner_text()
        assert "30 %" in page.locator("#targets .mix").inner_text()
        page.select_option("#blend", "hard")
        page.fill("#size", "64")
        page.click("#run")
        page.wait_for_selector("#progress-text:has-text('done')", timeout=LONG)
        words = shlex.split(page.locator("#command").inner_text())
        assert words[words.index("--engine") + 1] == "cin"
        style = f"person#1={paintings[0].resolve()}*0.7+{paintings[1].resolve()}*0.3"  # as the UI resolves
        assert words[words.index("--style") + 1] == style, words
        with page.expect_download() as download:
            page.click("#download-image")
        result = np.asarray(Image.open(download.value.path()).convert("RGB")).astype(int)
    inside, near = person_at(scene, 1, result.shape[:2], 64)
    change = np.abs(result - to_uint8_hwc(read_image(scene.photo)).astype(int)).max(axis=2)
    assert change[inside].mean() > 8 and change[~near].max() == 0


def _bomb(path: Path, side: int = 30_000) -> Path:
    """A PNG whose header claims ``side``² pixels (far over the decompression-bomb limit)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat))
    return path


def test_a_bad_upload_shows_the_one_line_error(page, scene, tiny, tmp_path):
    notes = tmp_path / "holiday.jpg"
    notes.write_text("this is not a photo\n")
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(1_200_000))
    with ui_server(
        tmp_path, "--segmenter", "maskfile", "--masks", scene.masks, "--styles", scene.styles,
        "--config", tiny, "--max-upload-mb", "1",
    ) as server:  # fmt: skip
        page.goto(server.url)
        page.wait_for_selector("#gallery figure")
        for upload, expected in [
            (notes, r"tst: error: cannot read photo 'holiday\.jpg': not an image format tst reads"),
            (big, r"tst: error: upload 'big\.png' is larger than the 1 MB limit"),
            (_bomb(tmp_path / "bomb.png"), r"tst: error: photo 'bomb\.png' is too large"),
        ]:
            page.set_input_files("#photo-input", str(upload))
            page.wait_for_selector(f"#error:has-text('{upload.name}')")
            line = page.locator("#error").inner_text()
            assert re.match(expected, line), line
            assert "\n" not in line and "Traceback" not in line
        assert page.locator("#stage").get_attribute("class") == "stage empty"
        assert not [p for p in (server.workdir / "uploads").rglob("*") if p.is_file()]
        assert "Traceback" not in server.log.read_text()


def test_a_24_megapixel_photo_comes_back_at_its_size_and_shows_at_1_to_1(
    page, scene, tiny, tmp_path
):
    """A 6000 × 4000 upload runs, its result is the photo's size, 1:1 shows both pictures at
    their own size in a panel that pans, and the download is the full-size file."""
    w, h = 6000, 4000
    yy, xx = np.mgrid[0:h:8, 0:w:8]
    small = np.stack([60 + xx // 40, 90 + yy // 30, 150 - yy // 40], axis=-1).clip(0, 255)
    photo_img = Image.fromarray(small.astype(np.uint8), "RGB").resize((w, h), Image.BILINEAR)
    ImageDraw.Draw(photo_img).ellipse((2600, 1200, 3400, 3600), fill=(200, 160, 120))
    photo = tmp_path / "big.jpg"
    photo_img.save(photo, quality=90)
    masks = tmp_path / "masks"
    masks.mkdir()
    mask = Image.new("L", (600, 400), 0)  # the mask at a working size, as a segmenter keeps it
    ImageDraw.Draw(mask).ellipse((260, 120, 340, 360), fill=255)
    mask.save(masks / "000_person.png")
    with ui_server(
        tmp_path, "--segmenter", "maskfile", "--masks", masks, "--styles", scene.styles,
        "--config", tiny,
    ) as server:  # fmt: skip
        size = open_photo(page, server.url, photo)
        assert size == (w, h)
        click_photo(page, size, 3000, 2400)
        page.wait_for_selector("#targets li[data-select='id:0']")
        page.click("#gallery figure[title='starry_night.jpg']")
        page.select_option("#blend", "hard")
        page.fill("#size", "64")
        page.click("#run")
        page.wait_for_selector("#progress-text:has-text('done')", timeout=4 * LONG)
        assert page.locator("#result-caption").inner_text().startswith(f"({w}×{h} px")
        fitted = page.locator("#result-after").evaluate("img => img.naturalWidth")
        assert fitted <= 1024  # the fitted view loads a display copy

        page.click("#zoom")  # 1:1: the full-size files, one image pixel per CSS pixel
        page.wait_for_function(
            f"() => document.getElementById('result-after').naturalWidth === {w} && "
            f"document.getElementById('result-before').naturalWidth === {w}",
            timeout=LONG,
        )
        stage = page.locator("#result-stage")
        shown = page.locator("#result-after").evaluate("img => img.getBoundingClientRect().width")
        assert abs(shown - w) < 1
        # opened on the person: centred once both full-size pictures have loaded (their size is
        # known, and laid out, before their load event, so wait for the page to centre)
        page.wait_for_function(
            "() => { const s = document.getElementById('result-stage');"
            " return s.scrollLeft < 3000 && 3000 < s.scrollLeft + s.clientWidth"
            " && s.scrollTop < 2400 && 2400 < s.scrollTop + s.clientHeight; }",
            timeout=LONG,
        )
        left = stage.evaluate("s => s.scrollLeft")
        stage.scroll_into_view_if_needed()  # the mouse acts on what the viewport shows
        box = stage.bounding_box()
        page.mouse.move(box["x"] + 200, box["y"] + 200)
        page.mouse.down()
        page.mouse.move(box["x"] + 100, box["y"] + 150, steps=4)
        page.mouse.up()
        assert stage.evaluate("s => s.scrollLeft") == pytest.approx(left + 100, abs=2)
        page.fill("#before-after", "50")
        page.dispatch_event("#before-after", "input")
        clip = page.locator("#result-after").evaluate("img => img.style.clipPath")
        assert clip == "inset(0px 0px 0px 50%)"

        with page.expect_download() as download:
            page.click("#download-image")
    result = np.asarray(Image.open(download.value.path()).convert("RGB"))
    assert result.shape == (h, w, 3)
    original = np.asarray(Image.open(photo).convert("RGB"))
    assert np.array_equal(result[:, :2000], original[:, :2000])  # far from the person: its own
    person = (slice(1300, 3500), slice(2700, 3300))  # inside the ellipse: painted
    assert np.abs(result[person].astype(int) - original[person]).max() > 8
