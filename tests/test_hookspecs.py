"""Every hookspec has a test here, named ``test_<hookspec name>`` (datasette-style).

``test_every_hookspec_has_a_test`` fails when a hookspec is added without one.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, replace

import pytest
import torch

import tst_core
from tst_core import hookimpl, hookspecs
from tst_core.errors import DuplicatePluginError
from tst_core.files import write_image
from tst_core.plugins import load_host
from tst_core.records import WeightsRecord
from tst_core.types import Instance, Segmentation, StylizeResult

SPECS = sorted(
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("tst_")
)


def test_every_hookspec_has_a_test():
    assert SPECS, "no hookspecs found"
    missing = [s for s in SPECS if f"test_{s}" not in globals()]
    assert not missing, f"hookspecs without a test in {__file__}: {missing}"


@pytest.mark.parametrize("name", SPECS)
def test_every_hookspec_is_documented(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert ":param register:" in doc and len(doc.splitlines()) >= 3
    assert list(inspect.signature(getattr(hookspecs, name)).parameters) == ["register"]


@dataclass(frozen=True)
class HalfOptions:
    label: str = "thing"
    upper: bool = False


class HalfSegmenter:
    """One instance: the left half of the photo."""

    def __init__(self, options, env):
        self.label = options.label.upper() if options.upper else options.label

    def segment(self, photo):
        h, w = photo.shape[-2:]
        mask = torch.zeros(h, w)
        mask[:, : w // 2] = 1
        return Segmentation((Instance(self.label, 0.5, (0.0, 0.0, w / 2, float(h)), mask),), (h, w))


class InvertEngine:
    def __init__(self, options, env):
        self.env = env

    def stylize(self, photo, targets, progress=None):
        return StylizeResult(
            (1 - photo).expand(len(targets), -1, -1, -1), [{"total": 0.0}], {"seed": self.env.seed}
        )


class MaxCompositor:
    def __init__(self, options, env):
        pass

    def composite(self, photo, stylized, targets):
        out = photo.clone()
        for k, t in enumerate(targets):
            out = torch.where(t.mask > 0, torch.maximum(out, stylized[k]), out)
        return out


def configure_hello(parser):
    parser.add_argument("who")
    parser.add_argument("--code", type=int, default=0)


def run_hello(args):
    if args.who == "nobody":
        raise tst_core.TstError("nobody to greet")
    print(f"hello {args.who}")
    return args.code


class Plugin:
    @hookimpl
    def tst_register_commands(self, register):
        register("hello", configure_hello, run_hello, help="greet someone")

    @hookimpl
    def tst_register_segmenters(self, register):
        register("half", HalfSegmenter, options=HalfOptions, description="left half")

    @hookimpl
    def tst_register_engines(self, register):
        register("invert", InvertEngine, description="1 - photo")

    @hookimpl
    def tst_register_compositors(self, register):
        register("max", MaxCompositor, description="brighter of the two")

    @hookimpl
    def tst_register_weights(self, register):
        register(HALF_NET)

    @hookimpl
    def tst_register_flags(self, register):
        register("--half-label", kind="segmenter", name="half", option="label", help="its label")
        register("--half-upper", kind="segmenter", name="half", option="upper", help="shout")


HALF_NET = WeightsRecord(
    name="half-net",
    url="http://127.0.0.1:9/half-net.pth",
    plugin="test-plugin",
    architecture="half",
    licence="MIT",
    sha256="0" * 64,
    size=5 * 2**20,
    description="test: a checkpoint record",
)


@pytest.fixture
def plugin_host():
    return load_host(extra=[("test-plugin", Plugin())])


def run_all(host, **kw):
    photo = torch.linspace(0, 1, 3 * 16 * 16).reshape(3, 16, 16)
    defaults = {"segmenter": "half", "engine": "invert", "blend": "hard", "size": 16}
    return tst_core.run(
        photo, {"thing": torch.rand(3, 4, 4)}, host=host, **{**defaults, **kw}
    ), photo


def test_tst_register_segmenters(plugin_host):
    entry = plugin_host.entry("segmenter", "half")
    assert (entry.plugin, entry.description, entry.options) == (
        "test-plugin",
        "left half",
        HalfOptions,
    )
    result, _ = run_all(plugin_host)
    assert [i.label for i in result.segmentation.instances] == ["thing"]
    assert result.targets[0].instance_ids == (0,)
    seg = tst_core.segment(
        torch.rand(3, 4, 6), segmenter="half", sets=["segmenter.half.label=cat"], host=plugin_host
    )
    assert [i.label for i in seg.segmentation.instances] == ["cat"]  # options reach the factory


def test_tst_register_engines(plugin_host):
    entry = plugin_host.entry("engine", "invert")
    assert entry.plugin == "test-plugin"
    result, photo = run_all(plugin_host, seed=42)
    assert result.stylized.info == {"seed": 42}  # the factory received the run's Env
    assert torch.allclose(result.image[:, :, :8], 1 - photo[:, :, :8])
    assert torch.equal(result.image[:, :, 8:], photo[:, :, 8:])


def test_tst_register_compositors(plugin_host):
    assert plugin_host.entry("blend", "max").description == "brighter of the two"
    result, photo = run_all(plugin_host, blend="max")
    assert torch.equal(result.image[:, :, :8], torch.maximum(photo, 1 - photo)[:, :, :8])
    assert torch.equal(result.image[:, :, 8:], photo[:, :, 8:])


def test_tst_register_commands(plugin_host, monkeypatch, capsys):
    from tst_core import cli, plugins

    entry = plugin_host.commands["hello"]
    assert (entry.plugin, entry.help) == ("test-plugin", "greet someone")
    monkeypatch.setattr(plugins, "_default", plugin_host)
    assert cli.main(["hello", "world"]) == 0
    assert capsys.readouterr().out == "hello world\n"
    assert cli.main(["hello", "world", "--code", "3"]) == 3  # run's return value is the status
    capsys.readouterr()
    assert cli.main(["hello", "nobody"]) == 2  # a TstError is one line, as for built-ins
    assert capsys.readouterr().err == "tst: error: nobody to greet\n"
    assert cli.main(["--help"]) == 0
    assert "greet someone" in capsys.readouterr().out
    assert cli.main(["plugins"]) == 0
    assert "hello" in capsys.readouterr().out


def test_tst_register_weights(plugin_host, monkeypatch, capsys):
    from tst_core import cli, plugins

    weights = plugin_host.weights()
    assert weights["half-net"] is HALF_NET
    # the first-party records live beside their plugins and come through the same hook
    assert {weights[n].plugin for n in ("sam-vit-b", "maskrcnn-v2-coco", "fcn-resnet50-voc")} == {
        "sam",
        "torchvision",
        "semantic",
    }
    assert weights["vgg19-imagenet"].plugin == "gatys"
    monkeypatch.setattr(plugins, "_default", plugin_host)
    assert cli.main(["weights", "list"]) == 0
    (row,) = [r for r in capsys.readouterr().out.splitlines() if r.startswith("half-net ")]
    assert row.split() == ["half-net", "test-plugin", "5", "no", "MIT"]

    class Again:
        @hookimpl
        def tst_register_weights(self, register):
            register(replace(HALF_NET, url="http://127.0.0.1:9/other.pth"))

    host = load_host(extra=[("test-plugin", Plugin()), ("again", Again())])
    with pytest.raises(DuplicatePluginError, match=r"weights 'half-net' are registered twice"):
        host.weights()


def test_tst_register_flags(plugin_host, monkeypatch, capsys, tmp_path):
    from tst_core import cli, plugins

    flag = plugin_host.flags["--half-label"]
    assert (flag.plugin, flag.kind, flag.name, flag.option, flag.switch) == (
        "test-plugin",
        "segmenter",
        "half",
        "label",
        False,
    )
    assert plugin_host.flags["--half-upper"].switch  # a bool option: a flag without a value
    monkeypatch.setattr(plugins, "_default", plugin_host)
    photo = tmp_path / "p.png"
    write_image(photo, torch.rand(3, 8, 12))

    def labels(*flags):
        assert cli.main(["segment", str(photo), "--segmenter", "half", "--json", *flags]) == 0
        return [r["label"] for r in json.loads(capsys.readouterr().out)["instances"]]

    assert labels("--half-label", "cat") == ["cat"]
    assert labels("--half-label", "cat", "--half-upper") == ["CAT"]
    # it wins over --set, wherever it stands, as the built-in flags do
    assert labels("--half-label", "cat", "--set", "segmenter.half.label=dog") == ["cat"]
    assert cli.main(["config", "show", "--segmenter", "half", "--half-label", "owl"]) == 0
    assert 'label = "owl"' in capsys.readouterr().out
    assert cli.main(["run", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--half-label LABEL its label (sets segmenter.half.label; plugin" in help_text
    assert cli.main(["plugins"]) == 0 and "--half-label" not in capsys.readouterr().out


@dataclass(frozen=True)
class ClashOptions:
    size: int = 1


class Clash:
    @hookimpl
    def tst_register_compositors(self, register):
        register("clash", MaxCompositor, options=ClashOptions, description="test")

    @hookimpl
    def tst_register_flags(self, register):
        register("--size", kind="blend", name="clash", option="size", help="taken")


class Foreign:
    @hookimpl
    def tst_register_flags(self, register):
        register("--half-size", kind="segmenter", name="half", option="label", help="not mine")


def test_a_plugin_flag_may_not_take_a_built_in_one_nor_set_another_plugins_options(
    monkeypatch, capsys
):
    from tst_core import cli, plugins

    host = load_host(extra=[("test-plugin", Plugin()), ("clash", Clash()), ("foreign", Foreign())])
    monkeypatch.setattr(plugins, "_default", host)
    assert cli.main(["run", "--help"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "tst: error: plugin 'clash' adds the flag --size, which `tst run` already has; "
        "block the plugin with TST_BLOCK_PLUGINS=clash\n"
    )
    assert cli.main(["plugins"]) == 0  # commands without the configuration do not load them
    (foreign,) = [p for p in host.plugins if p.name == "foreign"]
    assert foreign.status == "broken" and "which it does not register" in foreign.reason


class FrameTracker:
    """Every instance of every frame as its own track, numbered from 100 by frame and rank
    (a tracker that follows nothing: enough to see that the host calls a plugin's)."""

    def __init__(self, options, env):
        self.calls = []

    def start(self, size, fps):
        tracker = self

        class Session:
            frame = 0

            def update(self, frame, segmentation, motion):
                from tst_core.clips.tracks import TrackedInstance

                tracker.calls.append((tuple(frame.shape), segmentation is None, motion is None))
                out = []
                for rank, inst in enumerate(segmentation or ()):
                    tid = 100 + 10 * self.frame + rank
                    out.append(TrackedInstance(tid, inst.label, inst.score, inst.box, inst.mask))
                self.frame += 1
                return out

        return Session()


class TrackerPlugin:
    @hookimpl
    def tst_register_trackers(self, register):
        register("per-frame", FrameTracker, description="a new track in every frame")

    @hookimpl
    def tst_register_segmenters(self, register):
        register("half", HalfSegmenter, options=HalfOptions, description="left half")


def test_tst_register_trackers(tmp_path):
    pytest.importorskip("av")
    pytest.importorskip("cv2")
    from tests.clips import synthetic

    host = load_host(extra=[("test-tracker", TrackerPlugin())])
    entry = host.entry("tracker", "per-frame")
    assert (entry.plugin, entry.description) == ("test-tracker", "a new track in every frame")
    clip = synthetic.clip(tmp_path / "c.mp4", 3)
    result = tst_core.video(
        clip,
        output=None,
        preview=tmp_path / "ids",
        host=host,
        segmenter="half",
        tracker="per-frame",
        size=32,
    )
    assert [row["id"] for row in result.tracks.summary()] == [100, 110, 120]
    assert sorted(p.name for p in (tmp_path / "ids").iterdir()) == [
        "000001.png",
        "000002.png",
        "000003.png",
    ]
