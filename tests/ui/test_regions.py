"""Regions drawn in the page (Debian's chromium): drag a box around a person → a new target
whose mask GrabCut cut inside the box (no weights); a right-click takes pixels away; the run
reads the regions back as mask files, and its command line gives the same picture."""

from __future__ import annotations

import base64
import io
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ..conftest import run_tst
from .conftest import ui_server
from .test_browser import LONG, open_photo, tiny  # noqa: F401 (tiny: a fixture)

pytestmark = pytest.mark.browser


def to_page(page, size: tuple[int, int], x: float, y: float) -> tuple[float, float]:
    box = page.locator("#photo").bounding_box()
    return box["x"] + x * box["width"] / size[0], box["y"] + y * box["height"] / size[1]


def drag(page, size, start, end) -> None:
    page.mouse.move(*to_page(page, size, *start))
    page.mouse.down()
    page.mouse.move(*to_page(page, size, *end), steps=5)
    page.mouse.up()


def layer(page, url: str) -> np.ndarray:
    """A selection layer the page shows (display size): where its alpha is set."""
    data = page.request.get(url).body()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))[:, :, 3] > 0


def test_drag_a_box_click_run_and_rerun_from_the_command_line(page, scene, tiny, tmp_path):  # noqa: F811
    person = scene.people[0]
    ys, xs = np.nonzero(person)
    box = (xs.min() - 8, ys.min() - 8, xs.max() + 9, ys.max() + 9)
    with ui_server(
        tmp_path, "--segmenter", "maskfile", "--masks", scene.masks, "--styles", scene.styles,
        "--config", tiny,
    ) as server:  # fmt: skip
        size = open_photo(page, server.url, scene.photo)
        page.check("#tool-box")
        drag(page, size, box[:2], box[2:])
        page.wait_for_selector("#targets li[data-select='id:2']")
        assert "cut by grabcut" in page.locator("#status").inner_text()
        src = page.locator("#layers img[data-select='id:2']").get_attribute("src")
        before = layer(page, server.url + src.lstrip("/"))
        # right-click on a pixel of the region near its edge: taken away
        dh, dw = before.shape
        rows, cols = np.nonzero(before)
        k = int(np.argmin(rows))  # the region's top pixel
        x, y = (cols[k] + 0.5) * size[0] / dw, (rows[k] + 2.5) * size[1] / dh
        page.mouse.click(*to_page(page, size, x, y), button="right")
        page.wait_for_selector("#stage .point.outside")
        page.wait_for_selector("#layers img[data-select='id:2'][src*='v=2']")
        src = page.locator("#layers img[data-select='id:2']").get_attribute("src")
        after = layer(page, server.url + src.lstrip("/"))
        assert not after[rows[k] + 2, cols[k]]  # (GrabCut cuts the rest again: it may grow)

        page.click("#gallery figure[title='starry_night.jpg']")
        page.select_option("#blend", "hard")
        page.fill("#size", "64")
        page.click("#run")
        page.wait_for_selector("#progress-text:has-text('done')", timeout=LONG)
        words = shlex.split(page.locator("#command").inner_text())
        with page.expect_download() as download:
            page.click("#download-image")
        from_page = np.asarray(Image.open(download.value.path()).convert("RGB"))
        assert words[words.index("--segmenter") + 1] == "maskfile"
        folder = words[words.index("--masks") + 1]
        mask = np.asarray(Image.open(f"{folder}/002_region.png")) > 127
        inside = np.zeros_like(mask)
        inside[max(box[1], 0) : box[3], max(box[0], 0) : box[2]] = True
        assert mask.any() and not (mask & ~inside).any(), "the region spills out of its box"
        assert (mask & person).sum() > 0.5 * person.sum(), "the region misses most of the person"
        # the same job from a terminal, with the exported masks (while the server keeps the
        # uploads): the same picture
        out = tmp_path / "again.png"
        words[words.index("-o") + 1] = str(out)
        done = run_tst(*words[1:])
        assert done.returncode == 0, done.stderr
        assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), from_page)


def mask_of(page, server, target: str) -> np.ndarray:
    """The target's mask at the photo's size (the page's "mask 1:1" view)."""
    src = page.locator(f"#layers img[data-select='{target}']").get_attribute("src")
    sid = src.split("/")[3]
    data = page.request.get(f"{server.url}api/segmentations/{sid}/masks/{target[3:]}.png").body()
    return np.asarray(Image.open(io.BytesIO(data)))


def version(page) -> int:
    src = page.locator("#photo").get_attribute("src")
    return int(src.split("v=")[1]) if "v=" in src else 0


def wait_version(page, n: int) -> None:
    page.wait_for_selector(f"#photo[src$='?v={n}']")


def test_brush_eraser_undo_and_redo(page, scene, tiny, tmp_path):  # noqa: F811
    """Paint adds pixels, erase removes them, undo restores the previous mask exactly; 50
    strokes, 50 undos and 50 redos come back to the same masks."""
    person = scene.people[0]
    ys, xs = np.nonzero(person)
    cx, cy = float(xs.mean()), float(ys.mean())
    with ui_server(
        tmp_path, "--segmenter", "maskfile", "--masks", scene.masks, "--styles", scene.styles,
        "--config", tiny,
    ) as server:  # fmt: skip
        size = open_photo(page, server.url, scene.photo)
        page.mouse.click(*to_page(page, size, *scene.inside_point(0)))
        page.wait_for_selector("#targets li[data-select='id:0']")
        m0 = mask_of(page, server, "id:0")
        assert np.array_equal(m0 > 127, person)
        page.check("#tool-brush")
        right = xs.max() + 30.0
        drag(page, size, (right, cy - 40), (right, cy + 40))
        wait_version(page, 1)
        m1 = mask_of(page, server, "id:0")
        assert (m1 >= m0).all() and (m1 > m0).sum() > 100  # painted in, nothing taken
        page.check("#tool-eraser")
        drag(page, size, (cx - 60, cy), (cx + 60, cy))
        wait_version(page, 2)
        m2 = mask_of(page, server, "id:0")
        assert (m2 <= m1).all() and (m2 < m1).sum() > 100  # erased, nothing added
        page.keyboard.press("Control+z")
        wait_version(page, 3)
        assert np.array_equal(mask_of(page, server, "id:0"), m1)
        page.keyboard.press("Control+z")
        wait_version(page, 4)
        assert np.array_equal(mask_of(page, server, "id:0"), m0)

        page.check("#tool-brush")
        page.check("#brush-soft")
        v = version(page)
        for k in range(50):
            x = xs.min() + (xs.max() - xs.min()) * k / 49
            drag(page, size, (x, ys.min() - 20), (x + 5, ys.min() - 10))
            v += 1
            wait_version(page, v)
        painted = mask_of(page, server, "id:0")
        assert (painted > m0).sum() > 500 and ((painted > 0) & (painted < 255)).any()  # soft
        for _ in range(50):
            page.keyboard.press("Control+z")
            v += 1
            wait_version(page, v)
        assert np.array_equal(mask_of(page, server, "id:0"), m0)
        for _ in range(50):
            page.keyboard.press("Control+Shift+Z")
            v += 1
            wait_version(page, v)
        assert np.array_equal(mask_of(page, server, "id:0"), painted)
        assert page.locator("#redo").is_disabled() and page.locator("#undo").is_enabled()


def drop(page, path: Path) -> None:
    """Drop the file ``path`` on the page, as a person drags it from a file manager."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            return transfer;
        }""",
        [data, path.name],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def test_a_tst_picture_dropped_on_the_page_restores_its_job(page, scene, tiny, tmp_path):  # noqa: F811
    """Run a job (a person, a painting, keep colours, a compositor, a size); open the picture
    it wrote: the same targets, masks and settings come back, and running again gives the
    same picture."""
    with ui_server(
        tmp_path, "--segmenter", "maskfile", "--masks", scene.masks, "--styles", scene.styles,
        "--config", tiny,
    ) as server:  # fmt: skip
        size = open_photo(page, server.url, scene.photo)
        page.mouse.click(*to_page(page, size, *scene.inside_point(1)))
        page.wait_for_selector("#targets li[data-select='id:1']")
        page.click("#gallery figure[title='starry_night.jpg']")
        page.check("#targets li[data-select='id:1'] .look-color")
        page.select_option("#blend", "hard")
        page.fill("#size", "48")
        page.click("#run")
        page.wait_for_selector("#progress-text:has-text('done')", timeout=LONG)
        assert "@color=keep" in page.locator("#command").inner_text()
        with page.expect_download() as download:
            page.click("#download-image")
        picture = tmp_path / "picture.png"
        picture.write_bytes(Path(download.value.path()).read_bytes())

        page.goto(server.url)  # a fresh page: nothing selected, default settings
        page.wait_for_selector("#gallery figure")
        drop(page, picture)
        page.wait_for_selector("#seg-info:has-text('restored from the recipe')")
        page.wait_for_selector("#stage:not(.empty)")
        rows = page.locator("#targets li")
        assert rows.count() == 1
        row = page.locator("#targets li").first
        assert "starry_night.jpg" in row.inner_text()
        assert row.locator(".look-color").is_checked()
        assert not row.locator(".look-mask").is_checked()
        assert page.locator("#blend").input_value() == "hard"
        assert page.locator("#size").input_value() == "48"
        page.click("#run")
        page.wait_for_selector("#progress-text:has-text('done')", timeout=LONG)
        with page.expect_download() as again:
            page.click("#download-image")
        first = np.asarray(Image.open(picture).convert("RGB"))
        second = np.asarray(Image.open(again.value.path()).convert("RGB"))
    assert np.array_equal(first, second)
