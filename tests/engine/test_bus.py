"""The acceptance job on the real photo: two people in bus.jpg, two paintings, one run."""

from __future__ import annotations

import pytest

from .. import bus_people
from .helpers import style_distance


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
        segmenter_options={"masks": bus_people.write(tmp_path / "masks")},
        blend="hard",
        size=192,
        output_size=192,  # the picture at the working size, where the targets' masks are
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
