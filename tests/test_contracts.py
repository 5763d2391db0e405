"""What plugins return is checked where it enters the next stage: a wrong shape is one
sentence naming the plugin (kornia-style), not an error three stages later."""

from __future__ import annotations

import pytest
import torch

import tst_core
from tst_core import hookimpl
from tst_core.contracts import check_shape
from tst_core.errors import PluginError
from tst_core.plugins import load_host
from tst_core.types import StylizeResult


class OneLayerEngine:
    """One layer, whatever the number of targets (a common slip)."""

    def __init__(self, options, env):
        pass

    def stylize(self, photo, targets, progress=None):
        return StylizeResult(photo[None].clone())


class GreyCompositor:
    """Returns ``(H, W)``, not ``(3, H, W)``."""

    def __init__(self, options, env):
        pass

    def composite(self, photo, stylized, targets):
        return photo.mean(0)


class Plugin:
    @hookimpl
    def tst_register_engines(self, register):
        register("one-layer", OneLayerEngine, description="test: always one layer")

    @hookimpl
    def tst_register_compositors(self, register):
        register("grey", GreyCompositor, description="test: (H, W)")


@pytest.fixture
def bad_host():
    from . import fakes

    return load_host(extra=[("tests-fakes", fakes), ("bad-shapes", Plugin())])


def run(host, **kw):
    return tst_core.run(
        torch.rand(3, 16, 20),
        {"id:0": torch.rand(3, 8, 8), "id:1": torch.rand(3, 8, 8)},
        host=host,
        segmenter="fake-boxes",
        size=20,
        **kw,
    )


def test_an_engine_returning_the_wrong_layers_is_named(bad_host):
    with pytest.raises(PluginError) as err:
        run(bad_host, engine="one-layer", blend="hard")
    assert str(err.value) == (
        "engine 'one-layer' (plugin 'bad-shapes') returned layers of shape (1, 3, 16, 20) "
        "(torch.float32); expected (2, 3, 16, 20) (floating point)"
    )


def test_a_compositor_returning_the_wrong_shape_is_named(bad_host):
    with pytest.raises(PluginError, match=r"^compositor 'grey' \(plugin 'bad-shapes'\) "):
        run(bad_host, engine="fake-fill", blend="grey")


def test_tst_compare_checks_every_compositor(bad_host):
    from tst_core.compare import compare

    with pytest.raises(PluginError, match=r"^compositor 'grey' \(plugin 'bad-shapes'\) "):
        compare(
            torch.rand(3, 16, 20),
            {"id:0": torch.rand(3, 8, 8)},
            host=bad_host,
            segmenter="fake-boxes",
            engines=["fake-fill"],
            blends=["hard", "grey"],
            size=20,
            features=lambda x: {"relu1_1": x, "conv4_2": x},
        )


def test_check_shape_names_a_value_that_is_no_tensor():
    with pytest.raises(PluginError, match=r"^engine 'x' returned layers as a list; expected"):
        check_shape([1], (1, 3, 2, 2), "engine 'x' returned layers")
    check_shape(torch.zeros(1, 3, 2, 2), (1, 3, 2, 2), "fine")
