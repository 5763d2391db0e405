"""The README's picture of ``tst ui``: a real run on ``../shared``'s bus photo, in chromium.

Starts ``tst ui`` with the yolo segmenter and the shared paintings, clicks the two people in
front of the bus, gives them The Starry Night and The Scream, runs at ``--size`` (the defaults
otherwise: gatys, feather, 100 + 100 iterations) and saves a screenshot of the finished page::

    flock /tmp/tst-heavy.lock python -m tests.ui.screenshot docs/images/ui.jpg --size 384
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from ..conftest import shared_root
from .conftest import CHROMIUM, CHROMIUM_ARGS, ui_server

# points inside the man in the beige coat and the man in the black coat (bus.jpg pixels)
PEOPLE = {(88, 400): "starry_night.jpg", (195, 400): "the_scream.jpg"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--size", type=int, default=384)
    args = parser.parse_args()
    shared = shared_root()
    model = shared / "models" / "yolov8n-seg" / "yolov8n-seg_int8.tflite"
    with tempfile.TemporaryDirectory() as tmp, ui_server(
        Path(tmp), "--segmenter", "yolo", "--weights", model, "--styles", shared / "images" / "style",
    ) as server, sync_playwright() as p:  # fmt: skip
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(server.url)
        page.wait_for_selector("#gallery figure")
        page.set_input_files("#photo-input", str(shared / "images" / "content" / "bus.jpg"))
        page.wait_for_selector("#stage:not(.empty)")
        box = page.locator("#photo").bounding_box()
        stage = page.locator("#stage")
        w, h = int(stage.get_attribute("data-width")), int(stage.get_attribute("data-height"))
        for (x, y), painting in PEOPLE.items():
            count = page.locator("#targets li").count()
            page.mouse.click(box["x"] + x * box["width"] / w, box["y"] + y * box["height"] / h)
            page.wait_for_selector(f"#targets li >> nth={count}")
            page.click(f"#gallery figure[title='{painting}']")
        page.fill("#size", str(args.size))
        t0 = time.monotonic()
        page.click("#run")
        page.wait_for_selector("#progress-text:has-text('done')", timeout=30 * 60_000)
        page.locator("#result-after").evaluate("img => img.decode()")  # loaded and drawn
        jpeg = args.output.suffix.lower() in (".jpg", ".jpeg")
        page.screenshot(
            path=str(args.output),
            full_page=True,
            **({"type": "jpeg", "quality": 88} if jpeg else {}),
        )
        print(f"{args.output}: run {time.monotonic() - t0:.0f} s", file=sys.stderr)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
