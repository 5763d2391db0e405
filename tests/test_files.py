"""Reading images and masks, and atomic writing (tst_core.files)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tst_core import files, imageops
from tst_core.errors import InputError


def rgb_array(h=12, w=20):
    """A picture with a red left half and a blue right half, so orientation is visible."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (255, 0, 0)
    arr[:, w // 2 :] = (0, 0, 255)
    return arr


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif", ".bmp"])
def test_common_formats_read_as_float_rgb(tmp_path, suffix):
    path = tmp_path / f"img{suffix}"
    Image.fromarray(rgb_array()).save(path, quality=100) if suffix in (
        ".jpg",
        ".webp",
    ) else Image.fromarray(rgb_array()).save(path)
    t = files.read_image(path)
    assert t.dtype == torch.float32 and t.shape == (3, 12, 20)
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    assert t[0, 6, 2] > 0.9 and t[2, 6, 2] < 0.1  # red on the left
    assert t[2, 6, 17] > 0.9  # blue on the right


@pytest.mark.parametrize(
    ("orientation", "shape", "red_at"),
    [
        (1, (12, 20), (6, 2)),  # as stored
        (3, (12, 20), (6, 17)),  # rotated 180°: red moves right
        (6, (20, 12), (2, 6)),  # rotate 90° CW to view: left half goes to the top
        (8, (20, 12), (17, 6)),  # rotate 90° CCW to view: left half goes to the bottom
        (2, (12, 20), (6, 17)),  # mirrored
    ],
)
def test_exif_orientation_is_applied(tmp_path, orientation, shape, red_at):
    img = Image.fromarray(rgb_array())
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.jpg"
    img.save(path, exif=exif.tobytes(), quality=100)
    t = files.read_image(path)
    assert tuple(t.shape[-2:]) == shape
    y, x = red_at
    assert t[0, y, x] > 0.9 and t[2, y, x] < 0.1


def test_grayscale_becomes_three_equal_channels(tmp_path):
    Image.fromarray(np.full((5, 7), 128, np.uint8), "L").save(tmp_path / "g.png")
    t = files.read_image(tmp_path / "g.png")
    assert t.shape == (3, 5, 7)
    assert torch.allclose(t, torch.full_like(t, 128 / 255))


def test_rgba_is_composited_over_white(tmp_path):
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 255  # red
    arr[:2, ..., 3] = 255  # top opaque, bottom transparent
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    t = files.read_image(tmp_path / "a.png")
    assert torch.allclose(t[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(t[:, 3, 0], torch.tensor([1.0, 1.0, 1.0]))


def test_palette_image(tmp_path):
    img = Image.fromarray(rgb_array()).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    img.save(tmp_path / "p.png")
    t = files.read_image(tmp_path / "p.png")
    assert t[0, 6, 2] > 0.9 and t[2, 6, 17] > 0.9


def test_cmyk_jpeg(tmp_path):
    Image.fromarray(rgb_array()).convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    t = files.read_image(tmp_path / "c.jpg")
    assert t.shape == (3, 12, 20)
    assert t[0, 6, 2] > 0.85 and t[2, 6, 2] < 0.15


def test_sixteen_bit_grayscale_uses_the_full_range(tmp_path):
    arr = np.array([[0, 32768, 65535]], np.uint16)
    Image.fromarray(arr).save(tmp_path / "d.png")
    t = files.read_image(tmp_path / "d.png")
    assert torch.allclose(t[0, 0], torch.tensor([0.0, 32768 / 65535, 1.0]), atol=1e-6)


def test_sixteen_bit_mask(tmp_path):
    Image.fromarray(np.array([[0, 65535]], np.uint16)).save(tmp_path / "m.png")
    assert torch.equal(files.read_mask(tmp_path / "m.png"), torch.tensor([[0.0, 1.0]]))


def test_mask_from_alpha_when_transparent(tmp_path):
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[0, :, 3] = 255
    Image.fromarray(arr, "RGBA").save(tmp_path / "m.png")
    assert torch.equal(files.read_mask(tmp_path / "m.png"), torch.tensor([[1.0, 1.0], [0.0, 0.0]]))


def test_decompression_bombs_are_refused(tmp_path, monkeypatch):
    Image.new("RGB", (100, 100)).save(tmp_path / "big.png")
    monkeypatch.setenv("TST_MAX_PIXELS", "5000")
    with pytest.raises(InputError, match=r"too large \(100×100.*decompression-bomb guard"):
        files.read_image(tmp_path / "big.png")
    monkeypatch.setenv(
        "TST_MAX_PIXELS", "2000"
    )  # over 2× the limit: Pillow's own guard fires first
    with pytest.raises(InputError, match="too large"):
        files.read_image(tmp_path / "big.png")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_text("not an image"), "not an image format"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40), "cannot read"),
    ],
)
def test_unreadable_inputs(tmp_path, make, message):
    path = tmp_path / "x.png"
    make(path)
    with pytest.raises(InputError, match=message):
        files.read_image(path)


def test_truncated_jpeg_is_an_input_error(tmp_path):
    Image.fromarray(rgb_array(64, 64)).save(tmp_path / "t.jpg")
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot read"):
        files.read_image(tmp_path / "t.jpg")


def test_unknown_output_type(tmp_path):
    with pytest.raises(InputError, match="unknown image type '.gif'"):
        files.image_format(tmp_path / "o.gif")


def test_resize_long_side():
    t = torch.rand(3, 30, 60)
    assert imageops.resize_long_side(t, 20).shape == (3, 10, 20)
    assert imageops.resize_long_side(t, None) is t
    assert imageops.resize_long_side(t, 60) is t


def test_to_uint8_hwc_clips_rounds_and_is_contiguous():
    image = torch.tensor([-0.01, 0.0, 0.5, 1.0, 1.01, 0.2]).reshape(3, 1, 2)
    arr = files.to_uint8_hwc(image)
    assert arr.shape == (1, 2, 3) and arr.dtype == np.uint8 and arr.flags["C_CONTIGUOUS"]
    # channel c of pixel x is image[c, 0, x]: out-of-range values clip instead of wrapping
    assert arr[0, :, 0].tolist() == [0, 0] and arr[0, :, 1].tolist() == [128, 255]
    assert arr[0, :, 2].tolist() == [255, 51]


def test_corrupt_exif_adds_no_warning_line(tmp_path):
    """Pillow warns about broken EXIF data; the photo still reads, and a one-line message must
    stay one line."""
    import struct
    import warnings

    entries = struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<HHII", 0x010E, 2, 40, 38)
    ifd = b"II" + struct.pack("<HI", 42, 8) + struct.pack("<H", 2) + entries + b"\0\0\0\0short"
    Image.fromarray(rgb_array()).save(tmp_path / "bad.jpg", exif=b"Exif\0\0" + ifd)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        image = files.read_image(tmp_path / "bad.jpg")
    assert image.shape[0] == 3
    assert [str(w.message) for w in seen] == []


@pytest.mark.parametrize("make", ["fifo", "folder"])
def test_inputs_that_are_not_regular_files_are_refused_before_opening(tmp_path, make):
    import os

    path = tmp_path / "photo.png"
    os.mkfifo(path) if make == "fifo" else path.mkdir()
    with pytest.raises(InputError, match="is not a regular file|is a folder"):
        files.read_image(path)
