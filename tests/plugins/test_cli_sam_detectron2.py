"""sam and detectron2 through the CLI: missing packages, missing weights, bad prompts.

Every such path must be one line on stderr, exit status 2, and no output file.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from functools import partial

import pytest
import torch

from tst_core.cli import main
from tst_core.files import write_image

ZOO = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    write_image(path, torch.rand(3, 48, 64))
    return path


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    cache = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(cache))
    return cache


def fails_with_one_line(capsys, argv: list[str], *needles: str) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("tst: error: "), err
    for needle in needles:
        assert needle in err, err
    return err


def test_sam_without_checkpoint(capsys, photo, empty_cache, tmp_path):
    pytest.importorskip("segment_anything")
    overlay = tmp_path / "o.png"
    argv = ["segment", str(photo), "--segmenter", "sam", "--box", "0,0,20,20"]
    fails_with_one_line(
        capsys,
        [*argv, "--overlay", str(overlay)],
        "sam_vit_b_01ec64.pth",
        str(empty_cache),
        "--weights FILE",
        "--segmenter yolo",
    )
    assert not overlay.exists()
    fails_with_one_line(
        capsys, [*argv, "--set", "segmenter.sam.model_type=vit_h"], "sam_vit_h_4b8939.pth"
    )


def test_sam_with_a_missing_weights_file(capsys, photo, tmp_path):
    pytest.importorskip("segment_anything")
    argv = ["segment", str(photo), "--segmenter", "sam", "--point", "5,5"]
    fails_with_one_line(
        capsys, [*argv, "--weights", str(tmp_path / "x.pth")], "x.pth' does not exist"
    )


def test_sam_without_segment_anything(capsys, photo, monkeypatch):
    monkeypatch.setitem(sys.modules, "segment_anything", None)
    argv = ["segment", str(photo), "--segmenter", "sam", "--box", "0,0,20,20"]
    fails_with_one_line(
        capsys, argv, "segment-anything", 'pip install "targeted-style-transfer[sam]"'
    )


def test_sam_prompt_errors(capsys, photo, monkeypatch):
    pytest.importorskip("segment_anything")
    base = ["segment", str(photo), "--segmenter", "sam"]
    fails_with_one_line(capsys, base, "--point X,Y or --box", "mode=automatic")
    fails_with_one_line(
        capsys,
        [*base, "--box", "0,0,5,5", "--set", "segmenter.sam.mode=automatic"],
        "mode=prompts",
    )
    fails_with_one_line(capsys, [*base, "--box", "9,0,5,5"], "X0 < X1")
    import tst_sam.segmenter
    from tst_sam.model import build_sam

    monkeypatch.setattr(tst_sam.segmenter, "build_sam", partial(build_sam, pretrained=False))
    fails_with_one_line(capsys, [*base, "--point", "500,5"], "outside the 64×48 photo")


def test_detectron2_without_detectron2(capsys, photo, monkeypatch):
    monkeypatch.setitem(sys.modules, "detectron2", None)
    fails_with_one_line(
        capsys,
        ["segment", str(photo), "--segmenter", "detectron2"],
        "needs the Python package 'detectron2'",
        "git+https://github.com/facebookresearch/detectron2.git",
    )


def test_detectron2_without_checkpoint(capsys, photo, empty_cache, tmp_path):
    pytest.importorskip("detectron2")
    overlay = tmp_path / "o.png"
    fails_with_one_line(
        capsys,
        ["segment", str(photo), "--segmenter", "detectron2", "--overlay", str(overlay)],
        "model_final_f10217.pkl",
        str(empty_cache),
        "--weights FILE",
        "--segmenter yolo",
        "https://dl.fbaipublicfiles.com/detectron2/" + ZOO[:-5],
    )
    assert not overlay.exists()


def test_detectron2_unknown_config(capsys, photo):
    pytest.importorskip("detectron2")
    fails_with_one_line(
        capsys,
        [
            *("segment", str(photo), "--segmenter", "detectron2"),
            *("--set", "segmenter.detectron2.config=nope/model.yaml"),
        ],
        "neither a file nor a model-zoo config name",
    )


def test_the_tst_command_exits_2_and_plugins_load_without_their_packages(photo, tmp_path):
    """In a fresh interpreter where neither package can be imported: `tst plugins` lists both,
    `tst segment` with each fails with one line and status 2."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["segment_anything"] = None
        sys.modules["detectron2"] = None
        from tst_core.cli import main
        sys.exit(main(sys.argv[1:]))
        """
    )
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120
    )
    listed = run("plugins")
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines() if line.startswith("  ")}
    assert {"sam", "detectron2"} <= names
    assert "not loaded" not in listed.stdout
    for args in (["sam", "--box", "0,0,5,5"], ["detectron2"]):
        done = run("segment", str(photo), "--segmenter", *args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert "which is not installed" in done.stderr
