"""Fixing a person's mask in ``tst ui``, through the real page (Debian's chromium, Playwright):
the photo of the woman at the bar (``../shared/images/large/person_woman-bar-beers_6000x4000.jpg``
downsized to 1500×1000), segmented by yolo, whose mask of her runs into the bar; a box drawn
around her (GrabCut cuts her again from it), then a few brush and eraser strokes.

Prints each action and the seconds the page took to show its result, the total, and the count
of actions; writes the page's screenshot (``docs/images/regions_page.jpg``) and the masks
before and after (``--out``).

    python benchmarks/regions_page.py [--out /tmp/regions_page] [--steps box,strokes]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, ui_server  # noqa: E402

SHARED = ROOT.parent / "shared"
PHOTO = SHARED / "images" / "large" / "person_woman-bar-beers_6000x4000.jpg"
YOLO = SHARED / "models" / "yolov8n-seg" / "yolov8n-seg_int8.tflite"
#: the box around her and the strokes (photo pixels of the 1500×1000 copy): (tool, size in
#: screen pixels, [(x, y), ...])
BOX = ((425, 180), (1165, 858))
STROKES = [  # yolo's mask runs 5-10 px past her right forearm and over her hand
    ("eraser", 2, [(985, 655), (992, 700), (1000, 740), (1012, 775), (1025, 792)]),
    ("eraser", 2, [(1030, 796), (1080, 793), (1130, 797)]),
]


def downsized(folder: Path) -> Path:
    out = folder / "woman_1500.jpg"
    if not out.is_file():
        with Image.open(PHOTO) as im:
            im.draft("RGB", (1500, 1000))
            im.convert("RGB").resize((1500, 1000), Image.LANCZOS).save(out, quality=92)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/regions_page"))
    parser.add_argument("--steps", default="strokes", help="box, refine, strokes (comma)")
    parser.add_argument("--screenshot", type=Path, default=ROOT / "docs/images/regions_page.jpg")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    steps = args.steps.split(",")
    photo = downsized(args.out)
    from playwright.sync_api import sync_playwright

    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    log: list[tuple[str, float]] = []
    with _server(args.out) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(server.url)
        page.wait_for_selector("#status:has-text('open a photo')")
        t_start = time.perf_counter()

        def timed(what: str, act, done) -> None:
            t0 = time.perf_counter()
            act()
            done()
            log.append((what, time.perf_counter() - t0))
            print(f"{what:<48} {log[-1][1]:6.2f} s", flush=True)

        version = [0]

        def next_version() -> None:
            version[0] += 1
            page.wait_for_selector(f"#photo[src$='?v={version[0]}']")

        size = (1500, 1000)

        def at(x: float, y: float) -> tuple[float, float]:
            b = page.locator("#photo").bounding_box()
            return b["x"] + x * b["width"] / size[0], b["y"] + y * b["height"] / size[1]

        def drag(points) -> None:
            page.mouse.move(*at(*points[0]))
            page.mouse.down()
            for pt in points[1:]:
                page.mouse.move(*at(*pt), steps=4)
            page.mouse.up()

        timed(
            "open the photo (upload, yolo)",
            lambda: page.set_input_files("#photo-input", str(photo)),
            lambda: page.wait_for_selector("#stage:not(.empty)"),
        )
        before = mask(page, server.url, 0)
        timed(
            "click her (select yolo's person)",
            lambda: page.mouse.click(*at(800, 330)),
            lambda: page.wait_for_selector("#targets li[data-select='id:0']"),
        )
        if "box" in steps:
            timed("choose 'Draw a region'", lambda: page.check("#tool-box"), lambda: None)
            timed(
                "drag a box around her (GrabCut)",
                lambda: drag([BOX[0], BOX[1]]),
                lambda: (
                    next_version(),
                    page.wait_for_selector("#targets li[data-select='id:10']"),
                ),
            )
            timed(
                "remove yolo's person from the targets",
                lambda: page.click("#targets li[data-select='id:0'] .remove"),
                lambda: page.wait_for_selector("#targets li[data-select='id:0']", state="detached"),
            )
            timed(
                "highlight the new region",
                lambda: page.click("#targets li[data-select='id:10']"),
                lambda: None,
            )
        if "refine" in steps:
            timed(
                "Cut again (GrabCut from yolo's mask)",
                lambda: page.click("#refine"),
                next_version,
            )
        if "strokes" in steps:
            for tool, width, points in STROKES:
                timed(f"choose the {tool}", lambda t=tool: page.check(f"#tool-{t}"), lambda: None)
                timed(
                    f"size {width}",
                    lambda w=width: page.locator("#brush-size").fill(str(w)),
                    lambda: None,
                )
                timed(f"{tool} stroke", lambda pts=points: drag(pts), next_version)
        total = time.perf_counter() - t_start
        page.check("#tool-select")
        page.screenshot(
            path=str(args.screenshot), clip={"x": 0, "y": 0, "width": 930, "height": 500}
        )
        region = 10 if "box" in steps else 0
        after = mask(page, server.url, region)
        Image.fromarray(before).save(args.out / "mask_yolo.png")
        Image.fromarray(after).save(args.out / "mask_fixed.png")
        browser.close()
    print(f"{len(log)} actions, {total:.1f} s from the photo's upload to the fixed mask")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


def mask(page, url: str, index: int) -> np.ndarray:
    src = page.locator("#photo").get_attribute("src")
    sid = src.split("/")[3]
    data = page.request.get(f"{url}api/segmentations/{sid}/masks/{index}.png").body()
    return np.asarray(Image.open(io.BytesIO(data)))


def _server(out: Path):
    return ui_server(out, "--segmenter", "yolo", "--weights", YOLO, timeout=180.0)


if __name__ == "__main__":
    os.environ.setdefault("TST_OFFLINE", "1")
    main()
