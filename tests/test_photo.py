"""tst_core.photo: decoding at the photo's own size, bit for bit, and writing with its metadata."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
import torch
from PIL import ExifTags, Image, ImageCms, ImageOps, JpegImagePlugin

from tst_core.boxes import Box
from tst_core.errors import InputError
from tst_core.photo import Photo, probe_photo, read_photo, to_pixels, write_photo

RNG = np.random.default_rng(0)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_with(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "tst camera"
    return exif.tobytes()


def exif_with_thumbnail(orientation: int, thumbnail: bytes) -> bytes:
    """EXIF (little-endian TIFF) whose IFD0 has the orientation and a stale ImageWidth, and
    whose IFD1 points at a thumbnail, as a camera writes it."""
    ifd0_at, ifd1_at = 8, 8 + 30
    thumb_at = ifd1_at + 30
    ifd0 = struct.pack("<H", 2)
    ifd0 += struct.pack("<HHII", 0x0100, 4, 1, 9999)  # ImageWidth: a file-layout tag
    ifd0 += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    ifd0 += struct.pack("<I", ifd1_at)
    ifd1 = struct.pack("<H", 2)
    ifd1 += struct.pack("<HHII", 0x0201, 4, 1, thumb_at)
    ifd1 += struct.pack("<HHII", 0x0202, 4, 1, len(thumbnail))
    ifd1 += struct.pack("<I", 0)
    tiff = b"II*\0" + struct.pack("<I", ifd0_at) + ifd0 + ifd1 + thumbnail
    return b"Exif\0\0" + tiff


def small_jpeg() -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_once(tmp_path, orientation):
    arr = RNG.integers(0, 255, (5, 7, 3), dtype=np.uint8)
    path = tmp_path / "o.png"
    Image.fromarray(arr).save(path, exif=exif_with(orientation))
    photo = read_photo(path)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    assert np.array_equal(photo.pixels, expected)
    assert probe_photo(path).size == photo.size
    assert probe_photo(path).orientation == orientation
    out = tmp_path / "out.png"
    write_photo(out, photo.output_pixels(), photo)
    again = read_photo(out)  # written upright with orientation 1: not turned a second time
    assert np.array_equal(again.pixels, expected)
    assert Image.open(out).getexif()[ExifTags.Base.Orientation] == 1
    assert Image.open(out).getexif()[ExifTags.Base.Make] == "tst camera"


def test_orientation_6_jpeg_keeps_exif_without_thumbnail_or_layout_tags(tmp_path):
    thumb = small_jpeg()
    arr = RNG.integers(0, 255, (24, 40, 3), dtype=np.uint8)
    path = tmp_path / "cam.jpg"
    Image.fromarray(arr).save(path, exif=exif_with_thumbnail(6, thumb), quality=95)
    assert Image.open(path).getexif().get_ifd(ExifTags.IFD.IFD1)  # the thumbnail is there
    photo = read_photo(path)
    assert photo.size == (40, 24)
    out = tmp_path / "out.jpg"
    write_photo(out, photo.output_pixels(), photo)
    exif = Image.open(out).getexif()
    assert exif[ExifTags.Base.Orientation] == 1
    assert ExifTags.Base.ImageWidth not in exif
    assert not exif.get_ifd(ExifTags.IFD.IFD1)
    assert len(Image.open(out).info["exif"]) < len(thumb)
    assert read_photo(out).size == (40, 24)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp"])
def test_icc_profile_is_carried(tmp_path, suffix):
    arr = RNG.integers(0, 255, (12, 10, 3), dtype=np.uint8)
    path = tmp_path / f"p{suffix}"
    Image.fromarray(arr).save(path, icc_profile=SRGB)
    photo = read_photo(path)
    assert photo.icc == SRGB
    out = tmp_path / f"out{suffix}"
    write_photo(out, photo.output_pixels(), photo)
    assert Image.open(out).info["icc_profile"] == SRGB
    if suffix in (".png", ".tif"):
        assert np.array_equal(np.asarray(Image.open(out)), arr)


def rgb16(h: int = 9, w: int = 13) -> np.ndarray:
    return RNG.integers(0, 65536, (h, w, 3), dtype=np.uint16)


def test_16_bit_rgb_png_is_read_and_written_at_16_bits_with_metadata(tmp_path):
    arr = rgb16()
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), arr[:, :, ::-1])
    assert Image.open(path).mode == "RGB"  # Pillow alone would give 8 bits
    photo = read_photo(path)
    assert photo.bits == 16 and photo.pixels.dtype == np.uint16
    assert np.array_equal(photo.pixels, arr)
    tagged = Photo(photo.pixels, icc=SRGB, exif=exif_with(1), format="PNG", bits=16)
    out = tmp_path / "out.png"
    write_photo(out, tagged.output_pixels(), tagged)
    assert np.array_equal(read_photo(out).pixels, arr)
    img = Image.open(out)
    img.load()  # the chunks written by hand are valid (CRCs, order)
    assert img.info["icc_profile"] == SRGB
    assert img.getexif()[ExifTags.Base.Make] == "tst camera"


def test_16_bit_rgb_tiff_keeps_its_bits_and_profile(tmp_path):
    import tifffile

    arr = rgb16()
    path = tmp_path / "deep.tif"
    tifffile.imwrite(path, arr, photometric="rgb")
    photo = read_photo(path)
    assert photo.bits == 16 and np.array_equal(photo.pixels, arr)
    tagged = Photo(photo.pixels, icc=SRGB, format="TIFF", bits=16)
    out = tmp_path / "out.tiff"
    write_photo(out, tagged.output_pixels(), tagged)
    with tifffile.TiffFile(out) as tif:
        assert np.array_equal(tif.asarray(), arr)
        assert tif.pages[0].tags["InterColorProfile"].value == SRGB


def test_16_bit_rgb_with_alpha_is_composited_over_white(tmp_path):
    colour = rgb16(4, 5)
    alpha = np.zeros((4, 5, 1), np.uint16)
    alpha[0] = 65535
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.concatenate([colour[:, :, ::-1], alpha], axis=2))
    pixels = read_photo(path).pixels
    assert np.array_equal(pixels[0], colour[0])
    assert (pixels[1:] == 65535).all()


def test_16_bit_grey_stays_grey_and_16_bit(tmp_path):
    arr = RNG.integers(0, 65536, (11, 6), dtype=np.uint16)
    path = tmp_path / "g.tif"
    Image.fromarray(arr).save(path)
    photo = read_photo(path)
    assert photo.bits == 16 and photo.channels == 1
    assert np.array_equal(photo.pixels[:, :, 0], arr)
    assert probe_photo(path).bits == 16 and probe_photo(path).channels == 1
    for suffix in (".tif", ".png"):
        out = tmp_path / f"out{suffix}"
        write_photo(out, photo.pixels.copy(), photo)
        assert np.array_equal(read_photo(out).pixels[:, :, 0], arr), suffix
    # an output painted in colour is RGB at 16 bits, the grey repeated where it is unpainted
    colour = photo.output_pixels()
    assert colour.shape == (11, 6, 3) and (colour == arr[:, :, None]).all()
    out = tmp_path / "colour.png"
    write_photo(out, colour, photo)
    assert np.array_equal(read_photo(out).pixels, colour)
    jpeg = tmp_path / "out.jpg"
    write_photo(jpeg, photo.pixels.copy(), photo)  # JPEG has 8 bits: rounded once
    expected = ((arr.astype(np.int64) + 128) // 257).astype(np.uint8)
    assert np.abs(read_photo(jpeg).pixels[:, :, 0].astype(int) - expected).mean() < 3  # noise


def test_cmyk_is_converted_once_to_rgb(tmp_path):
    cmyk = Image.fromarray(RNG.integers(0, 255, (8, 9, 4), dtype=np.uint8), mode="CMYK")
    path = tmp_path / "c.tif"
    cmyk.save(path)
    photo = read_photo(path)
    assert photo.channels == 3 and photo.bits == 8
    assert np.array_equal(photo.pixels, np.asarray(Image.open(path).convert("RGB")))
    assert photo.icc is None  # no CMYK profile travels with RGB pixels


def test_palette_is_converted_once_and_transparency_goes_over_white(tmp_path):
    rgb = Image.fromarray(RNG.integers(0, 255, (8, 9, 3), dtype=np.uint8))
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    path = tmp_path / "p.png"
    pal.save(path)
    photo = read_photo(path)
    assert np.array_equal(photo.pixels, np.asarray(pal.convert("RGB")))
    pal.info["transparency"] = int(np.asarray(pal)[0, 0])
    clear = tmp_path / "t.png"
    pal.save(clear, transparency=int(np.asarray(pal)[0, 0]))
    pixels = read_photo(clear).pixels
    assert (pixels[0, 0] == 255).all()


def test_jpeg_output_quality_and_chroma(tmp_path):
    arr = RNG.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    png = tmp_path / "p.png"
    Image.fromarray(arr).save(png)
    photo = read_photo(png)
    out = tmp_path / "out.jpg"
    write_photo(out, photo.output_pixels(), photo, quality=80)
    ref = tmp_path / "ref.jpg"
    Image.fromarray(arr).save(ref, quality=80, subsampling=0)
    assert Image.open(out).quantization == Image.open(ref).quantization
    assert JpegImagePlugin.get_sampling(Image.open(out)) == 0  # 4:4:4 for a non-JPEG photo
    for sampling in (0, 2):
        src = tmp_path / f"s{sampling}.jpg"
        Image.fromarray(arr).save(src, quality=90, subsampling=sampling)
        photo = read_photo(src)
        assert photo.subsampling == sampling
        write_photo(out, photo.output_pixels(), photo)
        assert JpegImagePlugin.get_sampling(Image.open(out)) == sampling
    with pytest.raises(InputError, match="quality"):
        write_photo(out, photo.output_pixels(), photo, quality=0)


def test_tensor_windows_and_resizes(tmp_path):
    arr = RNG.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    photo = Photo(arr, bits=16)
    window = photo.tensor(Box(5, 2, 15, 12))
    assert window.shape == (3, 10, 10) and window.dtype == torch.float32
    expected = torch.from_numpy(arr[2:12, 5:15].astype(np.float32) / 65535).permute(2, 0, 1)
    assert torch.allclose(window, expected)
    assert photo.tensor(size=15).shape == (3, 10, 15)
    grey = Photo(arr[:, :, :1].copy(), bits=16).tensor()
    assert grey.shape == (3, 20, 30) and torch.equal(grey[0], grey[2])
    assert np.array_equal(to_pixels(photo.tensor(), 16), arr)
    assert not photo.pixels.flags.writeable


def test_unreadable_and_bad_arrays_are_refused(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(InputError, match="bad.png"):
        read_photo(bad)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        Photo(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="bits"):
        Photo(np.zeros((4, 4, 3), np.uint8), bits=16)


# the files of ../shared/images/large: (H, W) upright, orientation, an ICC profile, bits
LARGE = {
    "aerial-palms_16bit-gray_dji_1600x1300.tif": ((1300, 1600), 1, False, 16),
    "bicycle-crowd_orient6_iphonexs_p3_4032x3024.jpg": ((4032, 3024), 6, True, 8),
    "car-red-classic-detail_eos450d_4272x2848.jpg": ((2848, 4272), 1, False, 8),
    "cat-tabby-closeup_3456x2304.jpg": ((2304, 3456), 1, True, 8),
    "dog-party-hat_orient6_pixel_4032x3024.jpg": ((4032, 3024), 6, True, 8),
    "people_group-cafe_canon-a560_3072x2304.jpg": ((2304, 3072), 1, True, 8),
    "person_man-walking_orient6_eos1000d_3888x2592.jpg": ((3888, 2592), 6, False, 8),
    "person_welder_16bit-rgb_1024x684.png": ((684, 1024), 1, False, 16),
    "person_woman-bar-beers_6000x4000.jpg": ((4000, 6000), 1, True, 8),
    "person_woman-portrait-autumn_6000x4000.jpg": ((4000, 6000), 1, True, 8),
}


@pytest.mark.needs_shared
@pytest.mark.parametrize("name", sorted(LARGE))
def test_large_photo_headers(shared, name):
    size, orientation, icc, bits = LARGE[name]
    info = probe_photo(shared("images", "large", name))
    assert (info.size, info.orientation, info.icc, info.bits) == (size, orientation, icc, bits)


@pytest.mark.needs_shared
def test_the_16_bit_welder_decodes_fully(shared, tmp_path):
    path = shared("images", "large", "person_welder_16bit-rgb_1024x684.png")
    photo = read_photo(path)
    assert photo.pixels.shape == (684, 1024, 3) and photo.bits == 16
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    assert np.array_equal(photo.pixels, stored)
    assert (photo.pixels % 257).any()  # really 16 bits, not 8 bits stretched
    out = tmp_path / "welder.png"
    write_photo(out, photo.output_pixels(), photo)
    assert np.array_equal(read_photo(out).pixels, photo.pixels)


def test_resized_keeps_bits_channels_and_metadata():
    grey = Photo(RNG.integers(0, 65536, (40, 60, 1), dtype=np.uint16), icc=SRGB, bits=16)
    small = grey.resized(30)
    assert small.size == (20, 30) and small.bits == 16 and small.channels == 1
    assert small.icc == SRGB
    assert grey.resized(60) is grey  # never enlarged
