"""``tst video`` and ``tst_core.video`` on small synthetic clips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tst_core
from tst_core.clips.flow import FlowEstimator, grey, warping_error
from tst_core.clips.read import probe, read_frames
from tst_core.errors import InputError, SelectionError

from ..conftest import ROOT
from . import synthetic

#: the fake segmenter and engine of tests/clips/fakes.py at 96 px
FAKES = ("--segmenter", "fake-colour", "--engine", "fake-noise", "--size", "96")
GONE = (10, 11, 12)


@pytest.fixture
def clip(tmp_path):
    return synthetic.clip(tmp_path / "square.mp4", 24, gone=GONE, audio=True)


def run_video(clip_host, clip, output, styles=None, **kwargs):
    kwargs.setdefault("segmenter", "fake-colour")
    kwargs.setdefault("engine", "fake-noise")
    kwargs.setdefault("size", 96)
    return tst_core.video(clip, styles or [], output=output, host=clip_host, **kwargs)


def decoded(path: Path) -> list[np.ndarray]:
    return [f.image for f in read_frames(path)]


def test_writes_h264_with_the_audio_copied_unchanged(clip_host, clip, style_png, tmp_path):
    out = tmp_path / "out.mp4"
    result = run_video(clip_host, clip, out, [f"square={style_png}"], segment_frames=10)
    assert result.outputs == (out, tmp_path / "out.json")
    info = probe(out)
    assert (info.frames, info.fps, info.size, info.codec) == (24, Fraction(25), (72, 96), "h264")
    import av

    def audio_packets(path):
        with av.open(str(path)) as c:
            return [(bytes(p), p.pts) for p in c.demux(c.streams.audio[0]) if p.size]

    source, copied = audio_packets(clip), audio_packets(out)
    assert len(source) > 40
    assert copied == source  # every packet, byte for byte, at the same time
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["frames"] == 24 and report["stylised_here"] == 24
    assert report["targets"][0]["tracks"] == [0]
    assert report["targets"][0]["frames"] == 21  # the square is gone for three frames
    assert not (tmp_path / ".out.mp4.tst-video").exists()  # the work folder is removed


def test_the_square_is_stylised_and_the_rest_untouched(clip_host, clip, style_png, tmp_path):
    out = tmp_path / "out.mp4"
    run_video(clip_host, clip, out, [f"square={style_png}"], crf=0, temporal="off")
    source, result = decoded(clip), decoded(out)
    x, y = synthetic.square_at(5)
    inner = (slice(y + 4, y + 16), slice(x + 4, x + 16))
    assert np.abs(result[5][inner].astype(int) - source[5][inner]).mean() > 30
    far = (slice(50, 72), slice(0, 30))  # far from the square's path
    assert np.abs(result[5][far].astype(int) - source[5][far]).mean() < 2
    assert np.abs(result[11].astype(int) - source[11]).mean() < 2  # frame without the square


def test_a_frame_folder(clip_host, clip, style_png, tmp_path):
    out = tmp_path / "frames"
    result = run_video(clip_host, clip, out, [f"square={style_png}"], frame_format="webp", end=0.4)
    assert result.outputs == (out, tmp_path / "frames.json")
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{i:06d}.webp" for i in range(1, 11)]


def test_frames_are_written_at_the_clips_own_size(clip_host, style_png, tmp_path):
    """The tracks, the engine and the temporal stage work at the working size (48 px on the
    long side); the frames come out at the clip's 96 × 192, and every pixel away from the
    square is the decoded frame's own, bit for bit."""
    from PIL import Image

    clip = synthetic.clip(tmp_path / "wide.mp4", 8, size=(96, 192))
    out = tmp_path / "frames"
    result = run_video(clip_host, clip, out, [f"square={style_png}"], size=48)
    assert result.report["working_size"] == [24, 48]
    assert result.report["output_size"] == [96, 192]
    source = decoded(clip)
    for i in range(8):
        frame = np.asarray(Image.open(out / f"{i + 1:06d}.png").convert("RGB"))
        assert frame.shape == (96, 192, 3)
        x, y = synthetic.square_at(i)
        inner = (slice(y + 4, y + 16), slice(x + 4, x + 16), 1)  # green: the square's ~35,
        assert (frame[inner].astype(int) - source[i][inner]).mean() > 30  # the style's 140
        far = (slice(None), slice(x + 20 + 96, None))  # beyond the window's reach
        assert np.array_equal(frame[far], source[i][far])
    small = run_video(
        clip_host, clip, tmp_path / "small.mp4", [f"square={style_png}"], size=48, output_size=64
    )
    assert small.report["output_size"] == [32, 64]
    assert probe(tmp_path / "small.mp4").size == (32, 64)


def test_start_end_every(clip_host, clip, style_png, tmp_path):
    out = tmp_path / "part.mp4"
    run_video(clip_host, clip, out, [f"square={style_png}"], start=0.2, end=0.84, every=2)
    info = probe(out)
    assert info.frames == 8  # source frames 5, 7, ..., 19
    assert info.fps == Fraction(25, 2)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["span"] == {"start": 0.2, "end": 0.84, "every": 2}


def test_preview_tracks_draws_the_ids(clip_host, clip, tmp_path):
    out = tmp_path / "tracks.mp4"
    result = run_video(clip_host, clip, None, preview=out)
    assert result.outputs == (out,)
    assert [row["id"] for row in result.tracks.summary()] == [0]
    frames = decoded(out)
    assert len(frames) == 24
    source = decoded(clip)
    changed = []
    for i, (f, s) in enumerate(zip(frames, source, strict=True)):
        x, y = synthetic.square_at(i)
        area = (slice(y, y + 20), slice(x, min(96, x + 20)))
        changed.append(np.abs(f[area].astype(int) - s[area]).mean() > 10)
    assert changed == [i not in GONE for i in range(24)]  # drawn where the track is visible


def test_preview_tracks_are_drawn_at_the_clips_own_size(clip_host, tmp_path):
    # tracked at 48 px on a 96 x 192 clip: the preview is the clip's size, the track's tint and
    # box where the square is in the clip's pixels, the rest of the frame the clip's own
    clip = synthetic.clip(tmp_path / "wide.mp4", 6, size=(96, 192))
    source = decoded(clip)
    video_out, folder_out = tmp_path / "tracks.mp4", tmp_path / "tracks"
    for out in (video_out, folder_out):
        run_video(clip_host, clip, None, preview=out, size=48)
    frames = decoded(video_out)
    pngs = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder_out.glob("*.png"))]
    assert len(frames) == len(pngs) == 6
    for i, (f, png, s) in enumerate(zip(frames, pngs, source, strict=True)):
        assert f.shape == png.shape == (96, 192, 3)
        x, y = synthetic.square_at(i)
        square = (slice(y + 2, y + 18), slice(x + 2, x + 18))
        assert np.abs(f[square].astype(int) - s[square]).mean() > 10
        far = (slice(None), slice(x + 60, None))
        assert np.abs(png[far].astype(int) - s[far]).mean() < 3


def test_the_ids_of_the_preview_are_the_ids_of_the_run(clip_host, clip, style_png, tmp_path):
    run_video(clip_host, clip, tmp_path / "a.mp4", [f"id:0={style_png}"])
    with pytest.raises(
        SelectionError, match=r"selector 'id:3' matches nothing: the clip's track ids are 0"
    ):
        run_video(clip_host, clip, tmp_path / "b.mp4", [f"id:3={style_png}"])


def _warping_errors(result_path: Path, clip: Path, masks: list[np.ndarray]) -> float:
    """Mean warping error inside the target over the clip, with the photo's own flow."""
    photo, result = decoded(clip), decoded(result_path)
    flow = FlowEstimator("fast")
    errors = []
    for t in range(1, len(photo)):
        motion = flow.motion(grey(photo[t - 1]), grey(photo[t]))
        if masks[t].sum() and masks[t - 1].sum():
            errors.append(warping_error(result[t], result[t - 1], motion, masks[t]))
    return float(np.mean(errors))


def test_warping_error_of_tsts_method_is_below_per_frame(clip_host, tmp_path, style_png):
    clip = synthetic.clip(tmp_path / "moving.mp4", 20)
    styles = [f"square={style_png}"]
    per_frame = run_video(
        clip_host, clip, tmp_path / "off.mp4", styles, temporal="off", mask_smoothing=0.0, crf=0
    )
    tst = run_video(clip_host, clip, tmp_path / "tst.mp4", styles, crf=0)
    log = per_frame.tracks
    masks = [
        (f[0].mask(log.size).numpy() > 0.5).astype(np.float32) if 0 in f else np.zeros(log.size)
        for f in log.frames
    ]
    off = _warping_errors(tmp_path / "off.mp4", clip, masks)
    ours = _warping_errors(tmp_path / "tst.mp4", clip, masks)
    assert tst.report["temporal"] == "blend"
    assert ours < 0.5 * off, (ours, off)
    # consistency is not bought by painting less: the square keeps the style's colour
    orange = np.array([230, 140, 20])
    distance = {}
    for name in ("off", "tst"):
        frames = decoded(tmp_path / f"{name}.mp4")
        colours = [f[m > 0].mean(0) for f, m in zip(frames, masks, strict=True) if m.sum()]
        distance[name] = np.abs(np.mean(colours, 0) - orange).max()
    assert distance["tst"] <= distance["off"] + 5, distance


def test_a_selector_that_never_matches_is_one_line_and_writes_nothing(
    clip_cli, clip, style_png, tmp_path
):
    out = tmp_path / "out.mp4"
    code, _, err = clip_cli(
        "video",
        clip,
        "-o",
        out,
        "--style",
        f"dog={style_png}",
        *FAKES,
        "--progress",
        "off",
    )
    assert code == 2
    assert err.count("\n") == 1
    assert "selector 'dog' matches nothing in the clip; tracks found: square" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["square.mp4", "style.png"])


@pytest.mark.parametrize("damage", ["junk", "truncated", "codec", "missing"])
def test_a_bad_clip_is_one_line_exit_2_and_nothing_written(
    clip_cli, clip, style_png, tmp_path, damage
):
    bad = tmp_path / "bad.mp4"
    data = clip.read_bytes()
    if damage == "junk":
        bad.write_bytes(b"\x00junk" * 1000)
    elif damage == "truncated":
        bad.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "codec":
        bad.write_bytes(data.replace(b"avc1", b"zzz9"))
    out = tmp_path / "out.mp4"
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = clip_cli(
        "video",
        bad,
        "-o",
        out,
        "--style",
        f"square={style_png}",
        *FAKES,
    )
    assert code == 2, err
    assert err.startswith("tst: error: ") and err.count("\n") == 1, err
    assert "bad.mp4" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_truncated_stream_found_while_tracking_writes_nothing(clip_host, style_png, tmp_path):
    whole = synthetic.write_clip(tmp_path / "fs.mp4", synthetic.frames(24), faststart=True)
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match="cut.mp4"):
        run_video(clip_host, cut, tmp_path / "out.mp4", [f"square={style_png}"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "fs.mp4", "style.png"]


def test_output_over_the_clip_is_refused(clip_host, clip, style_png):
    with pytest.raises(InputError, match="refusing to overwrite the input file"):
        run_video(clip_host, clip, clip, [f"square={style_png}"])


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from tst_core import plugins
from tst_core.plugins import load_host
from tests import fakes as photo_fakes
from tests.clips import fakes
plugins._default = load_host(extra=[("tests-fakes", photo_fakes), ("tests-clip-fakes", fakes)])
from tst_core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_run_resumes_without_redoing_finished_frames(clip, style_png, tmp_path):
    script = tmp_path / "tst_with_fakes.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    log, marker, out = tmp_path / "calls.log", tmp_path / "die", tmp_path / "out.mp4"
    marker.touch()
    args = [
        sys.executable,
        str(script),
        "video",
        str(clip),
        "-o",
        str(out),
        "--style",
        f"square={style_png}",
        *FAKES,
        "--segment-frames",
        "8",
        "--set",
        f"engine.fake-noise.log={log}",
        "--set",
        f"engine.fake-noise.die_if={marker}",
        "--set",
        "engine.fake-noise.calls=12",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == -9, first.stderr  # killed while stylising segment 1
    assert not out.exists()
    assert len(log.read_text().splitlines()) == 12  # 8 of segment 0, 4 of segment 1
    work = tmp_path / ".out.mp4.tst-video"
    assert (work / "segment-00000.mp4").exists() and not (work / "segment-00001.mp4").exists()
    second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    calls = log.read_text().splitlines()
    # the first 8 frames (one of them empty: frames 10-12 have no square) are not redone:
    # segments 1 and 2 hold 16 frames, 3 of which show no square
    assert len(calls) == 12 + 13
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["stylised_here"] == 16
    assert probe(out).frames == 24
    assert not work.exists()
