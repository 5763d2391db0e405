"""The acceptance job on the real photo: two people in bus.jpg, two paintings, one run."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from .helpers import style_distance

#: outlines of the two people in front of the bus, in pixels of bus.jpg (554 × 740)
PEOPLE = {
    "000_person.png": [(75, 272), (100, 270), (108, 290), (105, 315), (130, 330), (138, 400),
                       (135, 470), (125, 480), (130, 560), (140, 595), (165, 605), (160, 615),
                       (120, 612), (118, 590), (100, 480), (80, 480), (72, 560), (70, 600),
                       (72, 615), (35, 612), (38, 595), (50, 560), (48, 480), (40, 470),
                       (38, 400), (45, 330), (70, 315), (68, 290)],
    "001_person.png": [(185, 280), (208, 282), (212, 300), (205, 322), (228, 335), (236, 400),
                       (232, 480), (225, 500), (205, 540), (198, 585), (175, 590), (172, 560),
                       (168, 500), (155, 480), (160, 400), (165, 340), (185, 322), (180, 300)],
}  # fmt: skip


def write_people_masks(folder, size=(554, 740)):
    """One PNG mask per person (person#0 = the man in the light coat), drawn from outlines."""
    folder.mkdir(exist_ok=True)
    for name, outline in PEOPLE.items():
        mask = Image.new("L", size, 0)
        ImageDraw.Draw(mask).polygon(outline, fill=255)
        mask.save(folder / name)
    return folder


@pytest.mark.slow
@pytest.mark.needs_shared
def test_two_people_take_two_different_styles(shared, tmp_path):
    from tst_core import run

    bus = shared("images/content/bus.jpg")
    starry = shared("images/style/starry_night.jpg")
    scream = shared("images/style/the_scream.jpg")
    result = run(
        bus,
        [f"person#0={starry}", f"person#1={scream}"],
        segmenter="maskfile",
        segmenter_options={"masks": write_people_masks(tmp_path / "masks")},
        blend="hard",
        size=192,
        sets=["engine.gatys.iterations=30"],
    )
    styles = [t.style for t in result.targets]  # the paintings at the working size
    for k, target in enumerate(result.targets):
        own, other = styles[k], styles[1 - k]
        mask = target.mask

        def ratio(style, mask=mask):
            """How much closer to ``style`` the person got (< 1: closer), scale-free."""
            after = style_distance(result.image, mask, style)
            return after / style_distance(result.photo, mask, style)

        # each person moved towards their own painting, and more than towards the other one
        assert ratio(own) < 0.8, k
        assert ratio(own) < ratio(other), k
    keep = result.targets.keep() > 0.5
    assert (result.image[:, keep] == result.photo[:, keep]).all()
