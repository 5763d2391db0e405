"""The Python API (tst_core.run / segment) with PIL images and tensors."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import torch
from PIL import Image

import tst_core
from tst_core import hookimpl
from tst_core.errors import ConfigError, InputError, SelectionError
from tst_core.plugins import load_host
from tst_core.select import StyleRequest
from tst_core.types import Progress, StylizeResult

from . import fakes

ARGS = {"segmenter": "fake-boxes", "engine": "fake-fill", "blend": "hard", "size": 40}


def test_run_with_tensors_and_pil_images(host):
    photo = torch.rand(3, 30, 40)
    style = Image.new("RGB", (8, 8), (255, 0, 0))
    result = tst_core.run(
        photo, {"car": style, "person#0": (torch.ones(3, 4, 4), 3.0)}, host=host, **ARGS
    )
    assert result.image.shape == (3, 30, 40) and result.image.dtype == torch.float32
    assert [t.strength for t in result.targets] == [1.0, 3.0]
    assert torch.allclose(result.image[:, 25, 20], torch.tensor([1.0, 0.0, 0.0]))  # the car is red
    assert torch.equal(result.image[:, 0, 39], photo[:, 0, 39])  # the corner is untouched
    assert isinstance(result.to_pil(), Image.Image)


def test_progress_callback_gets_every_step(host):
    seen: list[Progress] = []
    style = torch.rand(3, 5, 5)
    tst_core.run(
        torch.rand(3, 20, 20),
        {"car": style},
        progress=seen.append,
        host=host,
        sets=["engine.fake-fill.iterations=4"],
        **ARGS,
    )
    assert [p.step for p in seen] == [1, 2, 3, 4] and all(p.total == 4 for p in seen)


class SpyEngine:
    """Records the sizes it is given and returns the photo unchanged."""

    seen: ClassVar[dict] = {}

    def __init__(self, options, env):
        pass

    def stylize(self, photo, targets, progress=None):
        source = targets[0].style_source
        SpyEngine.seen.update(
            photo=tuple(photo.shape),
            style=tuple(targets[0].style.shape),
            source=None if source is None else tuple(source.shape),
        )
        return StylizeResult(photo.expand(len(targets), -1, -1, -1), [], {})


class SpyPlugin:
    @hookimpl
    def tst_register_engines(self, register):
        register("spy", SpyEngine, description="records sizes")


def test_working_size_and_style_size():
    host = load_host(extra=[("fakes", fakes), ("spy", SpyPlugin())])
    tst_core.run(
        torch.rand(3, 60, 90),
        {"car": torch.rand(3, 100, 50)},
        host=host,
        **{**ARGS, "engine": "spy", "size": 45, "style_size": 20},
    )
    # the painting is also kept larger (up to 4× the style size), for supersampling
    assert SpyEngine.seen == {"photo": (3, 30, 45), "style": (3, 20, 10), "source": (3, 80, 40)}
    for painting, source in (((3, 60, 30), (3, 60, 30)), ((3, 20, 10), None)):
        tst_core.run(
            torch.rand(3, 60, 90),
            {"car": torch.rand(*painting)},
            host=host,
            **{**ARGS, "engine": "spy", "size": 45, "style_size": 20},
        )
        assert SpyEngine.seen["source"] == source  # never enlarged; none when not larger
    tst_core.run(
        torch.rand(3, 60, 90),
        {"car": torch.rand(3, 8, 4200)},
        host=host,
        **{**ARGS, "engine": "spy", "size": 45, "style_size": 1100},
    )
    assert SpyEngine.seen["source"] == (3, 8, 4096)  # at most the largest painting's side


def test_save_writes_image_and_report_atomically(host, tmp_path):
    result = tst_core.run(torch.rand(3, 20, 30), {"car": torch.rand(3, 5, 5)}, host=host, **ARGS)
    written = result.save(tmp_path / "x.jpg")
    assert [p.name for p in written] == ["x.jpg", "x.json"]
    assert json.loads((tmp_path / "x.json").read_text())["targets"][0]["selector"] == "car"
    result.save(tmp_path / "y.png", report=False)
    assert not (tmp_path / "y.json").exists()


def test_save_never_overwrites_an_input(host, tmp_path):
    Image.new("RGB", (30, 20)).save(tmp_path / "p.png")
    result = tst_core.run(tmp_path / "p.png", ["car=" + str(tmp_path / "p.png")], host=host, **ARGS)
    with pytest.raises(InputError, match="refusing to overwrite"):
        result.save(tmp_path / "p.png")


def test_precomputed_segmentation_skips_the_segmenter(host):
    from tst_core.types import Instance, Segmentation

    mask = torch.zeros(10, 10)
    mask[:5] = 1
    seg = Segmentation((Instance("sky", 0.5, (0, 0, 10, 5), mask),), (10, 10))
    result = tst_core.run(
        torch.rand(3, 10, 10),
        {"sky": torch.rand(3, 4, 4)},
        segmentation=seg,
        host=host,
        **{**ARGS, "size": 16, "segmenter": "fake-weights"},
    )  # never built
    assert result.targets[0].instance_ids == (0,)
    with pytest.raises(InputError, match="segmentation is"):
        tst_core.run(
            torch.rand(3, 12, 10), {"sky": torch.rand(3, 4, 4)}, segmentation=seg, host=host, **ARGS
        )


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        (torch.rand(4, 5, 5), "float32 \\(3, H, W\\)"),
        (torch.rand(3, 5, 5) * 3, "must lie in \\[0, 1\\]"),
        (42, "must be a path, a PIL image or a \\(3, H, W\\) tensor"),
    ],
)
def test_bad_photo_objects(host, photo, message):
    with pytest.raises(InputError, match=message):
        tst_core.run(photo, {"car": torch.rand(3, 4, 4)}, host=host, **ARGS)


def test_styles_are_required(host):
    with pytest.raises(SelectionError, match="no --style"):
        tst_core.run(torch.rand(3, 20, 20), [], host=host, **ARGS)


def test_segment_api(host):
    res = tst_core.segment(torch.rand(3, 20, 40), segmenter="fake-boxes", host=host)
    assert [r["id"] for r in res.rows()] == [0, 1, 2]
    assert res.rows()[0]["box"] == [4.0, 2.0, 16.0, 18.0]


def test_report_names_its_inputs_by_content(host, tmp_path):
    """The report's ``inputs`` hash the photo, each style and the segmenter's files, and the
    fingerprint of the report read back equals the pipeline's before the run."""
    from tst_core.api import Pipeline, session, style_requests
    from tst_core.fingerprint import report_fingerprint

    photo, style = tmp_path / "p.png", tmp_path / "s.png"
    Image.new("RGB", (40, 30), (10, 20, 30)).save(photo)
    Image.new("RGB", (8, 8), (200, 0, 0)).save(style)
    masks = tmp_path / "masks"
    masks.mkdir()
    mask = Image.new("L", (40, 30), 0)
    mask.paste(255, (5, 5, 20, 25))
    mask.save(masks / "person.png")
    kw = {"segmenter": "maskfile", "segmenter_options": {"masks": masks}}
    pipe = Pipeline(session(host=host, engine="fake-fill", blend="hard", size=40, **kw))
    requests = style_requests([f"person={style}:2"])
    key = pipe.session.fingerprint(photo, requests)
    result = pipe.run(photo, requests)
    result.save(tmp_path / "out.png")
    report = json.loads((tmp_path / "out.json").read_text())
    inputs = report["inputs"]
    assert inputs["photo"]["path"] == str(photo) and len(inputs["photo"]["sha256"]) == 64
    assert inputs["styles"][0]["selector"] == "person" and inputs["styles"][0]["strength"] == 2.0
    assert set(inputs["files"]) == {"segmenter.maskfile.masks"}
    assert report_fingerprint(report) == key

    mask.paste(255, (0, 0, 3, 3))
    mask.save(masks / "person.png")  # a mask changed: another run
    assert pipe.session.fingerprint(photo, requests) != key
    moved = tmp_path / "moved.png"
    photo.rename(moved)  # the same bytes elsewhere: the same run
    mask.paste(0, (0, 0, 3, 3))
    mask.save(masks / "person.png")
    assert pipe.session.fingerprint(moved, requests) == key


def test_pipelines_share_built_plugins(host):
    from tst_core.api import Pipeline, session

    shared: dict = {}
    a = Pipeline(session(host=host, segmenter="fake-boxes", engine="fake-fill"), shared)
    b = Pipeline(session(host=host, segmenter="fake-boxes", engine="fake-fill", size=64), shared)
    c = Pipeline(
        session(
            host=host,
            segmenter="fake-boxes",
            engine="fake-fill",
            sets=["engine.fake-fill.iterations=9"],
        ),
        shared,
    )
    assert a.plugin("engine") is b.plugin("engine")  # the size is not the engine's option
    assert c.plugin("engine") is not a.plugin("engine")
    assert c.plugin("engine").options.iterations == 9


# --- issue 10, item 6: the API checks what the CLI checks, before any work --------------------


class NoWork:
    """A segmenter that fails the test when it is asked to work."""

    def __init__(self, options, env):
        pass

    def segment(self, photo):
        raise AssertionError("segmented before checking the arguments")


class NoWorkPlugin:
    @staticmethod
    @hookimpl
    def tst_register_segmenters(register):
        register("no-work", NoWork, description="test: must not run")


@pytest.fixture
def strict_host():
    return load_host(extra=[("tests-fakes", fakes), ("no-work", NoWorkPlugin)])


STRICT = {**ARGS, "segmenter": "no-work"}


@pytest.mark.parametrize(
    ("photo", "styles", "kwargs", "error", "message"),
    [
        (
            None,
            {"car": ("s", -1.0)},
            {},
            SelectionError,
            "strength of 'car' must be a finite number above 0",
        ),
        (None, {"car": ("s", 0.0)}, {}, SelectionError, "must be a finite number above 0, got 0.0"),
        (None, {"car": ("s", float("nan"))}, {}, SelectionError, "finite number above 0"),
        (None, {"car": ("s", "2")}, {}, SelectionError, "strength of 'car' must be a number"),
        (None, {"car": ("s", 2.0, 3)}, {}, SelectionError, "STYLE or \\(STYLE, STRENGTH\\)"),
        (None, {"car#x": "s"}, {}, SelectionError, "cannot parse selector 'car#x'"),
        (None, [StyleRequest("car", "s", -2.0)], {}, SelectionError, "finite number above 0"),
        (None, [42], {}, SelectionError, "not int"),
        (None, {"car": "s"}, {"size": "64"}, ConfigError, "run.size must be an integer, got '64'"),
        (None, {"car": "s"}, {"seed": 2**70}, ConfigError, "run.seed must be a whole number"),
        (None, {"car": "s"}, {"seed": 1.5}, ConfigError, "run.seed must be an integer or none"),
        (torch.zeros(3, 0, 0), {"car": "s"}, {}, InputError, "photo tensor is empty"),
        (torch.full((3, 4, 4), float("nan")), {"car": "s"}, {}, InputError, "NaN or infinite"),
        (torch.full((3, 4, 4), float("inf")), {"car": "s"}, {}, InputError, "NaN or infinite"),
    ],
)
def test_api_mistakes_are_the_cli_errors_before_any_work(
    strict_host, photo, styles, kwargs, error, message
):
    photo = torch.rand(3, 20, 20) if photo is None else photo
    with pytest.raises(error, match=message):
        tst_core.run(photo, styles, host=strict_host, **{**STRICT, **kwargs})


@pytest.mark.parametrize(
    ("style", "strength", "message"),
    [
        ("s.jpg:-1", -1.0, "must be a finite number above 0"),
        ("s.jpg:nan", float("nan"), "must be a finite number above 0"),
    ],
)
def test_cli_and_api_refuse_a_strength_alike(cli, files, strict_host, style, strength, message):
    from .conftest import run_args

    code, _, err = cli(*run_args(files), "--style", f"person#0={style}")
    assert code == 2 and message in err
    with pytest.raises(SelectionError, match=message):
        tst_core.run(torch.rand(3, 9, 9), {"car": ("s.jpg", strength)}, host=strict_host, **STRICT)


def test_a_nan_style_tensor_is_refused_before_segmentation(strict_host):
    nan_style = torch.full((3, 4, 4), float("nan"))
    with pytest.raises(InputError, match="style image tensor holds NaN"):
        tst_core.run(torch.rand(3, 9, 9), {"car": nan_style}, host=strict_host, **STRICT)


def test_the_api_takes_per_target_options_as_the_command_line_does():
    from tst_core.api import style_requests

    (a, b, c) = style_requests(
        {"person#0": "a.jpg@scale=1.5:2", "person#1": ("b.jpg@supersample=2", 3.0), "car": "c.jpg"}
    )
    assert (a.style, a.strength, a.options.given()) == ("a.jpg", 2.0, {"scale": 1.5})
    assert (b.style, b.strength, b.options.given()) == ("b.jpg", 3.0, {"supersample": 2.0})
    assert c.options.given() == {}
    with pytest.raises(SelectionError, match="the strength of 'dog' is given twice"):
        style_requests({"dog": ("d.jpg:2", 3.0)})
    with pytest.raises(SelectionError, match="@scale must be a number"):
        style_requests(["dog=d.jpg@scale=-1"])


def test_engine_and_blend_options_as_plain_tables(host):
    """``engine_options=`` and ``blend_options=`` replace some of the chosen plugins' options
    over the configured ones, as ``segmenter_options=`` does; the run uses them."""
    sets = ["engine.fake-fill.fail=false", "blend.feather.radius=3"]
    kw = {**ARGS, "blend": "feather", "sets": sets}
    sess = tst_core.session(
        host=host, engine_options={"iterations": 3}, blend_options={"profile": "gaussian"}, **kw
    )
    engine = sess.config.options_for(host, "engine", "fake-fill")
    blend = sess.config.options_for(host, "blend", "feather")
    assert (engine.iterations, engine.fail) == (3, False)
    assert (blend.radius, blend.profile) == (3.0, "gaussian")
    result = tst_core.run(
        torch.rand(3, 40, 40),
        {"all": torch.rand(3, 8, 8)},
        host=host,
        engine_options={"iterations": 3},
        **kw,
    )
    assert len(result.stylized.losses) == 3
    assert result.report["config"]["engine"]["fake-fill"]["iterations"] == 3
    with pytest.raises(ConfigError, match=r"unknown key 'radius' in \[engine.fake-fill\]"):
        tst_core.session(host=host, engine_options={"radius": 1}, **kw)
