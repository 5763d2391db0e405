"""``tst_core.outputs.inside``: a path taken from data (a manifest's ``output``, a recipe's, a UI
job's) either stays inside the folder the user chose, after every link on the way, or is one
:class:`InputError`; :func:`make_folders_inside` makes its folders under the same rule."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tst_core.errors import InputError
from tst_core.outputs import inside, make_folders_inside


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """``out/`` with a real subfolder, links leading out (to a sibling, to ``/``, to ``..``),
    a link to itself and one that stays inside; ``secret/`` beside it."""
    base = tmp_path_factory.mktemp("inside")
    out = base / "out"
    (out / "sub" / "deeper").mkdir(parents=True)
    (base / "secret").mkdir()
    (out / "esc").symlink_to(base / "secret")
    (out / "sub" / "up").symlink_to("..")
    (out / "sub" / "upup").symlink_to("../..")
    (out / "rootfs").symlink_to("/")
    (out / "self").symlink_to(".")
    (out / "in").symlink_to("sub/deeper")
    (out / "file.png").symlink_to(base / "secret" / "x.png")
    (out / "dangling").symlink_to(base / "nowhere" / "x")
    return out


PARTS = ["a", "sub", "deeper", "up", "upup", "esc", "rootfs", "self", "in", "file.png"]
PARTS += ["dangling", "..", ".", "", "x.png", "\0", "/", "~", "a\\..\\b"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PARTS), min_size=0, max_size=6), st.booleans())
def test_inside_or_refused(root, parts, absolute):
    text = ("/" if absolute else "") + "/".join(parts)
    try:
        dest = inside(root, text, what="output")
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    real, real_root = Path(os.path.realpath(dest)), Path(os.path.realpath(root))
    assert real.is_relative_to(real_root) and real != real_root, (text, real)
    assert dest.is_relative_to(root)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/etc/passwd", "absolute path"),
        ("../x.png", "'..' part"),
        ("esc/x.png", "leads out of"),
        ("sub/up/esc/x.png", "leads out of"),
        ("sub/upup/x.png", "leads out of"),
        ("rootfs/tmp/x.png", "leads out of"),
        ("file.png", "leads out of"),
        ("dangling", "leads out of"),
        ("self", "leads out of"),
        ("", "not a file name"),
        ("x\0.png", "NUL byte"),
    ],
)
def test_refusals_name_the_reason(root, text, message):
    with pytest.raises(InputError, match=message):
        inside(root, text, what="output")


def test_links_that_stay_inside_are_fine(root):
    assert inside(root, "in/x.png") == root / "in" / "x.png"
    assert inside(root, "sub/up/sub/x.png") == root / "sub" / "up" / "sub" / "x.png"


def test_make_folders_inside_creates_and_refuses(root, tmp_path):
    made = make_folders_inside(root, root / "new" / "two" / "three")
    assert made.is_dir() and not made.is_symlink()
    with pytest.raises(InputError, match="leads out of"):
        make_folders_inside(root, root / "esc" / "new")
    assert not (root.parent / "secret" / "new").exists()
    with pytest.raises(InputError, match="not inside"):
        make_folders_inside(root, tmp_path / "elsewhere")
