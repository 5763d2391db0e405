"""The style gallery in a real browser: a painting clicked (or tapped) before any target is
chosen gives the page's one-line error and is not left looking chosen."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import TINY, ui_server

pytestmark = pytest.mark.browser

#: the border colour of a gallery painting; transparent unless the pointer hovers over it
BORDER = "el => getComputedStyle(el).borderTopColor"
TRANSPARENT = "rgba(0, 0, 0, 0)"


@pytest.mark.parametrize("touch", [False, True], ids=["mouse", "touch"])
def test_a_painting_chosen_before_any_target_is_not_left_highlighted(
    chromium, scene, tmp_path: Path, touch: bool
):
    """A touch screen keeps ``:hover`` on what was tapped last ("sticky hover"): the painting
    tapped before any target kept the gallery's hover border after the error, as if chosen.
    The border follows a pointer that can hover only; a mouse moved away clears it."""
    (tmp_path / "tiny.toml").write_text(TINY)
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, has_touch=touch)
    page = context.new_page()
    try:
        with ui_server(
            tmp_path, "--segmenter", "maskfile", "--masks", scene.masks,
            "--styles", scene.styles, "--config", tmp_path / "tiny.toml",
        ) as server:  # fmt: skip
            page.goto(server.url)
            page.wait_for_selector("#gallery figure")
            page.set_input_files("#photo-input", str(scene.photo))
            page.wait_for_selector("#stage:not(.empty)")
            painting = page.locator("#gallery figure").nth(1)
            if touch:
                painting.tap()
            else:
                painting.hover()  # the hover border shows where a mouse can point
                assert painting.evaluate(BORDER) != TRANSPARENT
                painting.click()
            page.wait_for_selector("#error:has-text('select a target first')")
            if not touch:
                page.mouse.move(5, 995)  # away from the gallery
            assert painting.evaluate(BORDER) == TRANSPARENT
            assert page.locator("#targets li").count() == 0
    finally:
        context.close()
