"""The page's per-target settings beside strength, keep colours and soft mask (Debian's
chromium): a second painting mixed in with its share, and a style scale, for ``gatys``; they
reach the run's recipe and come back when its picture is dropped on the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tst_core import recipe, rerun

from .conftest import ui_server
from .test_browser import LONG, open_photo, select_person, tiny  # noqa: F401 (tiny: a fixture)
from .test_regions import drop

pytestmark = pytest.mark.browser


def test_gatys_mixes_a_second_painting_with_a_style_scale(page, scene, tiny, tmp_path):  # noqa: F811
    with ui_server(
        tmp_path, "--segmenter", "maskfile", "--masks", scene.masks, "--styles", scene.styles,
        "--config", tiny,
    ) as server:  # fmt: skip
        size = open_photo(page, server.url, scene.photo)
        assert page.locator("#engine").input_value() == "gatys"
        select_person(page, scene, size, 1)
        row = page.locator("#targets li[data-select='id:1']")
        page.click("#gallery figure[title='starry_night.jpg']")
        row.locator(".add-mix").click()  # gatys mixes paintings
        page.click("#gallery figure[title='the_scream.jpg']")
        row.locator(".mix-share").fill("0.3")
        assert "30 %" in row.locator(".mix").inner_text()
        row.locator(".look-scale").fill("1.5")
        row.locator(".look-scale").dispatch_event("change")
        page.select_option("#blend", "hard")
        page.fill("#size", "48")
        page.click("#run")
        page.wait_for_selector("#progress-text:has-text('done')", timeout=LONG)
        with page.expect_download() as download:
            page.click("#download-image")
        picture = tmp_path / "picture.png"
        picture.write_bytes(Path(download.value.path()).read_bytes())
        _, styles = recipe.segmentation(rerun.read(picture))
        starry, scream = (
            str((scene.styles / n).resolve()) for n in ("starry_night.jpg", "the_scream.jpg")
        )
        (style,) = styles  # the recipe's own instance ids: only the targets' masks are kept
        assert style.split("=", 1)[1] == f"{starry}*0.7+{scream}*0.3@scale=1.5", style

        page.goto(server.url)  # a fresh page: the dropped picture brings both back
        page.wait_for_selector("#gallery figure")
        drop(page, picture)
        page.wait_for_selector("#seg-info:has-text('restored from the recipe')")
        row = page.locator("#targets li").first
        assert "the_scream.jpg" in row.locator(".mix").inner_text()
        assert "30 %" in row.locator(".mix").inner_text()
        assert row.locator(".look-scale").input_value() == "1.5"
