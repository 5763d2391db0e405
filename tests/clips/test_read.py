"""Reading clips: header, span selection, and one clear error for every bad file."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from tst_core.clips.read import Span, even_size, parse_time, probe, read_frames
from tst_core.errors import InputError

from . import synthetic


@pytest.fixture
def clip(tmp_path):
    return synthetic.clip(tmp_path / "square.mp4", 24, audio=True)


def test_probe_reads_the_header(clip):
    info = probe(clip)
    assert info.size == (72, 96)
    assert info.fps == Fraction(25)
    assert info.frames == 24
    assert info.codec == "h264"
    assert info.audio == "aac"
    assert info.duration == pytest.approx(24 / 25, abs=0.05)


def test_frames_decode_close_to_what_was_written(clip):
    written = synthetic.frames(24)
    frames = list(read_frames(clip))
    assert [f.index for f in frames] == list(range(24))
    assert [f.source for f in frames] == list(range(24))
    assert frames[3].time == pytest.approx(3 / 25)
    diff = np.abs(frames[5].image.astype(int) - written[5].astype(int)).mean()
    assert diff < 8  # nearly lossless H.264 (crf 4; the noise loses some colour in 4:2:0)


def test_span_selects_by_time_and_every(clip):
    frames = list(read_frames(clip, Span(start=0.2, end=0.6, every=2)))
    assert [f.source for f in frames] == [5, 7, 9, 11, 13]
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    resumed = list(read_frames(clip, Span(start=0.2, end=0.6, every=2), first=3))
    assert [f.source for f in resumed] == [11, 13]


def test_frames_resized_to_the_working_size(clip):
    size = even_size((72, 96), 48)
    assert size == (36, 48)
    frame = next(iter(read_frames(clip, size=size)))
    assert frame.image.shape == (36, 48, 3)
    assert even_size((144, 176), 97) == (80, 96)  # both even, aspect kept within a pixel


@pytest.mark.parametrize(
    ("text", "seconds"), [("12.5", 12.5), ("1:02.5", 62.5), ("1:00:02", 3602.0), ("0", 0.0)]
)
def test_parse_time(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-1", "1:2:3:4", "nan", "inf"])
def test_parse_time_refuses(text):
    with pytest.raises(InputError, match="is not a time"):
        parse_time(text)


def test_span_checks():
    with pytest.raises(InputError, match="must come after"):
        Span(2.0, 1.0)
    with pytest.raises(InputError, match="--every"):
        Span(every=0)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as exc:
        probe(tmp_path / "nothing.mp4")
    assert "nothing.mp4" in _one_line(exc)


def test_junk_is_not_a_video(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all " * 100)
    with pytest.raises(InputError, match="not a video that FFmpeg can read") as exc:
        probe(junk)
    _one_line(exc)


def test_truncated_file_without_its_index(tmp_path, clip):
    cut = tmp_path / "cut.mp4"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # the index (moov) is written last: lost
    with pytest.raises(InputError, match="not a video that FFmpeg can read") as exc:
        probe(cut)
    _one_line(exc)


def test_truncated_file_with_its_index_first(tmp_path):
    whole = synthetic.write_clip(tmp_path / "fs.mp4", synthetic.frames(24), faststart=True)
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert probe(cut).frames == 24  # the index is intact and announces every frame
    with pytest.raises(InputError, match="damaged|truncated") as exc:
        list(read_frames(cut))
    _one_line(exc)


def test_unknown_codec(tmp_path, clip):
    odd = tmp_path / "odd.mp4"
    odd.write_bytes(clip.read_bytes().replace(b"avc1", b"zzz9"))  # a codec tag nobody knows
    with pytest.raises(InputError, match="codec is one no decoder here reads") as exc:
        probe(odd)
    _one_line(exc)


def test_audio_only_file_has_no_video(tmp_path):
    import av

    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=48000)
        a.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="flt", layout="mono"
        )
        frame.sample_rate = 48000
        frame.pts = 0
        for p in [*a.encode(frame), *a.encode()]:
            c.mux(p)
    with pytest.raises(InputError, match="has no video stream"):
        probe(path)
