"""Decompression bombs: a zip appended to a YOLO model, PNGs whose size or text chunks explode.

Each is refused with one line (exit 2 from the CLI) without inflating the bomb into memory.
"""

from __future__ import annotations

import shutil
import struct
import tracemalloc
import zipfile
import zlib

import pytest

from tst_core.errors import WeightsError

from ..conftest import run_args, shared_path

MODEL = ("models", "yolov8n-seg", "yolov8n-seg_int8.tflite")


def append_zip_bomb(path, mib):
    """Append a zip whose one member inflates to ``mib`` MiB of zeros (about 1/1000 of it on
    disk), as Ultralytics appends its metadata zip to TFLite files."""
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("metadata.json", "w", force_zip64=True) as member,
    ):
        for _ in range(mib):
            member.write(bytes(1 << 20))


def test_a_zip_bomb_in_the_model_metadata_is_refused_without_inflating_it(tmp_path):
    from tst_yolo.backends import _names_from_zip

    model = tmp_path / "bomb.tflite"
    model.write_bytes(b"TFL3" + bytes(1000))
    append_zip_bomb(model, 256)
    assert model.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(WeightsError, match="metadata member 'metadata.json' of 256 MiB"):
            _names_from_zip(model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"read {peak >> 20} MiB of a bomb"


def test_metadata_under_the_cap_is_still_read(tmp_path):
    from tst_yolo.backends import _names_from_zip

    model = tmp_path / "named.tflite"
    model.write_bytes(b"TFL3" + bytes(100))
    with zipfile.ZipFile(model, "a") as zf:
        zf.writestr("metadata.json", '{"names": {"0": "cat", "1": "dog"}}')
    assert _names_from_zip(model) == {0: "cat", 1: "dog"}


@pytest.mark.needs_shared
def test_the_real_model_with_a_bomb_appended_is_one_line(cli, files, tmp_path):
    pytest.importorskip("ai_edge_litert")
    model = tmp_path / "bomb.tflite"
    shutil.copy(shared_path(*MODEL), model)
    append_zip_bomb(model, 64)
    code, _, err = cli("segment", files / "photo.png", "--segmenter", "yolo", "--weights", model)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "metadata member 'metadata.json' of 64 MiB" in err


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, extra=b""):
    """A grayscale PNG that claims ``width``×``height`` but holds one row of data."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    data = png_chunk(b"IDAT", zlib.compress(b"\x00" + bytes(min(width, 64))))
    return b"\x89PNG\r\n\x1a\n" + header + extra + data + png_chunk(b"IEND", b"")


def text_bomb(mib):
    """A zTXt chunk that inflates to ``mib`` MiB."""
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(mib)) + compressor.flush()
    return png_chunk(b"zTXt", b"Comment\x00\x00" + body)


BOMBS = {
    "100000×100000 photo": (lambda f: png(100_000, 100_000), "photo", "too large"),
    "100000×100000 mask": (lambda f: png(100_000, 100_000), "mask", "too large"),
    "100000×100000 style": (lambda f: png(100_000, 100_000), "style", "too large"),
    "100000×100000 label image": (lambda f: png(100_000, 100_000), "labels", "too large"),
    "zTXt bomb photo": (lambda f: png(60, 40, text_bomb(64)), "photo", "cannot read photo"),
    "100000×100000 photo to segment": (lambda f: png(100_000, 100_000), "segment", "too large"),
}


@pytest.mark.parametrize("case", sorted(BOMBS))
def test_png_bombs_are_one_line(cli, files, case):
    make, role, message = BOMBS[case]
    bomb = files / "bomb.png"
    bomb.write_bytes(make(files))
    args = run_args(files)
    if role == "segment":
        args = ["segment", bomb, "--segmenter", "fake-boxes", "--overlay", files / "out" / "i.png"]
    elif role == "photo":
        args[1] = bomb
    elif role == "mask":
        shutil.copy(bomb, files / "masks" / "person_9.png")
    elif role == "style":
        args[args.index(f"person={files / 'style.jpg'}")] = f"person={bomb}"
    else:
        args[args.index(files / "masks")] = bomb
    tracemalloc.start()
    try:
        code, _, err = cli(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert message in err
    assert peak < 64 << 20, f"{peak >> 20} MiB for a bomb"
    assert sorted(p.name for p in (files / "out").iterdir()) == []
