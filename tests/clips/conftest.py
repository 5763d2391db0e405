"""Fixtures of the clip tests: synthetic clips and a host with the clip test plugins."""

from __future__ import annotations

import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")


@pytest.fixture
def clip_host():
    from tst_core.plugins import load_host

    from .. import fakes as photo_fakes
    from . import fakes

    return load_host(extra=[("tests-fakes", photo_fakes), ("tests-clip-fakes", fakes)])


@pytest.fixture
def clip_cli(clip_host, monkeypatch, capsys):
    """``clip_cli(*args)`` → (exit status, stdout, stderr) with the clip test plugins."""
    from tst_core import plugins
    from tst_core.cli import main

    monkeypatch.setattr(plugins, "_default", clip_host)

    def call(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


@pytest.fixture
def style_png(tmp_path):
    """A flat orange style image."""
    import numpy as np
    from PIL import Image

    path = tmp_path / "style.png"
    Image.fromarray(np.full((32, 32, 3), (230, 140, 20), np.uint8)).save(path)
    return path
