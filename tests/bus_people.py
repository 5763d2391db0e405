"""Masks of the two people in front of the bus in ``../shared/images/content/bus.jpg``.

Drawn by hand from coordinates read off the photo (554 × 740): polygons and ellipses, so the
edges are rough, as a quick segmenter's would be. ``person#0`` is the man in the beige coat,
``person#1`` the man in the black coat. The tests use them; run as a module to write them as a
``maskfile`` folder::

    python -m tests.bus_people benchmarks/results/bus_masks
    tst compare ../shared/images/content/bus.jpg --segmenter maskfile \\
        --masks benchmarks/results/bus_masks --style person#0=... --style person#1=...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = (554, 740)  # (width, height) of bus.jpg

# (ellipses (x0, y0, x1, y1), polygons [(x, y), ...]) per person, in photo pixels
PEOPLE = {
    "000_person.png": (
        [(67, 268, 113, 324), (35, 584, 73, 616), (117, 584, 167, 613)],
        [
            [(62, 318), (116, 316), (134, 342), (138, 400), (133, 442), (131, 482), (42, 482),
             (38, 420), (40, 362), (47, 332)],
            [(42, 476), (88, 476), (80, 520), (72, 590), (46, 590), (44, 530)],
            [(88, 476), (132, 476), (128, 520), (134, 588), (116, 590), (104, 530), (92, 500)],
        ],
    ),
    "001_person.png": (
        [(178, 276, 214, 332), (170, 558, 202, 590)],
        [
            [(172, 326), (221, 326), (232, 360), (235, 420), (234, 472), (215, 482), (160, 486),
             (153, 470), (157, 400), (162, 345)],
            [(166, 478), (230, 478), (226, 510), (215, 545), (205, 548), (200, 562), (172, 563),
             (168, 520)],
        ],
    ),
}  # fmt: skip


def person_masks(size: tuple[int, int] = SIZE) -> dict[str, Image.Image]:
    """``{file name: 8-bit mask}`` at ``size`` (width, height) for the two people."""
    sx, sy = size[0] / SIZE[0], size[1] / SIZE[1]
    out = {}
    for name, (ellipses, polygons) in PEOPLE.items():
        img = Image.new("L", size, 0)
        draw = ImageDraw.Draw(img)
        for x0, y0, x1, y1 in ellipses:
            draw.ellipse((x0 * sx, y0 * sy, x1 * sx, y1 * sy), fill=255)
        for poly in polygons:
            draw.polygon([(x * sx, y * sy) for x, y in poly], fill=255)
        out[name] = img
    return out


def write(folder: Path) -> Path:
    """Write the masks and an ``instances.json`` (labels, scores) into ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for i, (name, img) in enumerate(person_masks().items()):
        img.save(folder / name)
        index.append({"file": name, "id": i, "label": "person", "score": 0.9 - 0.1 * i})
    (folder / "instances.json").write_text(json.dumps({"instances": index}, indent=2) + "\n")
    return folder


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "bus_masks"))
