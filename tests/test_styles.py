"""The STYLE grammar: sources, model styles, names and convex mixes (tst_core.styles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tst_core.errors import SelectionError
from tst_core.select import parse_style_arg
from tst_core.styles import StyleMix, describe, image_only, parse_style, style_parts


def test_a_single_source_stays_a_string():
    assert parse_style("starry.jpg") == "starry.jpg"
    assert parse_style(" udnie ") == "udnie"


def test_a_mix_parses_into_weighted_parts():
    mix = parse_style("a.jpg*0.7+b.jpg*0.3")
    assert mix == StyleMix((("a.jpg", 0.7), ("b.jpg", 0.3)))
    assert parse_style("starry_night*2+the_scream") == StyleMix(
        (("starry_night", 2.0), ("the_scream", 1.0))
    )


def test_mix_weights_are_normalised_and_checked():
    parts = style_parts(parse_style("a.jpg*7+b.jpg*3"))
    assert [p.weight for p in parts] == pytest.approx([0.7, 0.3])
    one_hot = style_parts(parse_style("a.jpg*1+b.jpg*0"))
    assert [p.weight for p in one_hot] == [1.0, 0.0]
    with pytest.raises(SelectionError, match="not all zero"):
        parse_style("a.jpg*0+b.jpg*0")
    with pytest.raises(SelectionError, match="empty style"):
        parse_style("a.jpg*0.5+")


def test_an_existing_file_is_one_path_whatever_it_contains(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("odd+name*2.jpg").write_bytes(b"x")
    assert parse_style("odd+name*2.jpg") == "odd+name*2.jpg"
    (part,) = style_parts("odd+name*2.jpg")
    assert part.kind == "image" and part.source == Path("odd+name*2.jpg")


def test_sources_are_classified(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("udnie").mkdir()
    Path("m.safetensors").write_bytes(b"x")
    Path("s.png").write_bytes(b"x")
    kinds = {
        "udnie": ("model", ""),
        "m.safetensors": ("model", ""),
        "m.safetensors#starry": ("model", "starry"),
        "udnie#udnie": ("model", "udnie"),
        "s.png": ("image", ""),
        "missing.jpg": ("image", ""),  # reading it says it is missing, as before
        "starry_night": ("name", ""),
    }
    for text, (kind, name) in kinds.items():
        (part,) = style_parts(parse_style(text))
        assert (part.kind, part.name) == (kind, name), text
    with pytest.raises(SelectionError, match="after '#'"):
        style_parts("m.safetensors#")


def test_describe_names_each_part():
    parts = style_parts(parse_style("a/starry.jpg*0.75+the_scream*0.25"))
    assert describe(parts) == "starry.jpg*0.75+the_scream*0.25"


def test_image_only_engines_refuse_mixes_models_and_names(tmp_path):
    (tmp_path / "udnie").mkdir()
    with pytest.raises(SelectionError, match="does not mix styles"):
        image_only(style_parts(parse_style("a.jpg+b.jpg")), "gatys")
    with pytest.raises(SelectionError, match="is a trained model; engine 'gatys' takes style"):
        image_only(style_parts(str(tmp_path / "udnie")), "gatys")
    with pytest.raises(SelectionError, match="style name"):
        image_only(style_parts("starry_night"), "gatys")


def test_style_arg_keeps_strength_and_lists_sources():
    req = parse_style_arg("person#0=a.jpg*0.7+b.jpg*0.3:0.5")
    assert req.strength == 0.5 and req.sources == ("a.jpg", "b.jpg")
    assert req.style_name == "a.jpg*0.7+b.jpg*0.3"
    assert parse_style_arg("person=m.safetensors#starry:2").style == "m.safetensors#starry"
