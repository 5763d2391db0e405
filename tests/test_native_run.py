"""``tst run`` at the photo's own size: every kind of photo file comes back at its size, upright,
with its profile and bit depth, and the pixels outside the targets' windows are its own."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms

from tst_core.photo import png_with_metadata, read_photo

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
RNG = np.random.default_rng(7)


def smooth(h: int, w: int, channels: int = 3, top: int = 255) -> np.ndarray:
    """A smooth picture with a little noise, ``(h, w, channels)`` of 0..top."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = [0.2 + 0.6 * xx / w, 0.2 + 0.6 * yy / h, 0.5 + 0.2 * np.sin(xx / 7.0)][:channels]
    arr = np.stack(base, axis=-1) + RNG.normal(0, 0.01, (h, w, channels))
    return np.clip(np.rint(arr * top), 0, top)


def masks_folder(folder, size=(30, 40)):
    """A maskfile folder with one person mask, drawn at ``size`` (smaller than the photos)."""
    folder.mkdir()
    mask = np.zeros(size, np.uint8)
    h, w = size
    mask[h // 4 : 3 * h // 4, w // 4 : w // 2] = 255
    Image.fromarray(mask).save(folder / "000_person.png")
    return folder


def run(cli, photo, out, masks, *extra):
    style = photo.parent / "style.png"
    Image.fromarray(np.full((8, 8, 3), (200, 30, 30), np.uint8)).save(style)
    code, _, err = cli(
        "run", photo, "--style", f"person={style}", "--segmenter", "maskfile",
        "--masks", masks, "--engine", "fake-fill", "--blend", "feather", "--size", "40",
        "--set", "blend.feather.radius=2", "-o", out, *extra,
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out.with_suffix(".json").read_text())


def outside_windows(report, size):
    keep = np.ones(size, bool)
    for w in report["windows"]:
        x0, y0, x1, y1 = w["box"]
        keep[y0:y1, x0:x1] = False
    return keep


def check(report, photo_pixels, out_pixels, size):
    assert out_pixels.shape[:2] == size == tuple(report["output_size"])
    assert report["windows"] and max(report["working_size"]) == 40
    keep = outside_windows(report, size)
    assert keep.any()
    assert np.array_equal(out_pixels[keep], photo_pixels[keep])  # bit for bit
    changed = (out_pixels != photo_pixels).any(-1)
    assert changed.any() and not changed[keep].any()


def test_orientation_6_jpeg_comes_back_upright_at_its_size_with_profile_and_exif(cli, tmp_path):
    photo = tmp_path / "cam.jpg"
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "tst camera"
    Image.fromarray(smooth(240, 320).astype(np.uint8)).save(
        photo, exif=exif.tobytes(), icc_profile=SRGB, quality=95
    )
    out = tmp_path / "out.png"
    report = run(cli, photo, out, masks_folder(tmp_path / "m", (40, 30)))
    written = Image.open(out)
    assert written.size == (240, 320)  # upright: 240 wide, 320 high
    assert written.info["icc_profile"] == SRGB
    assert written.getexif()[ExifTags.Base.Orientation] == 1
    assert written.getexif()[ExifTags.Base.Make] == "tst camera"
    check(report, read_photo(photo).pixels, np.asarray(written), (320, 240))
    assert report["photo_size"] == [320, 240] and report["output"]["icc_profile"]


def test_a_16_bit_png_stays_16_bit_and_its_own_outside_the_targets(cli, tmp_path):
    deep = smooth(240, 320, top=65535).astype(np.uint16)
    photo = tmp_path / "deep.png"
    encoded = cv2.imencode(".png", deep[:, :, ::-1])[1].tobytes()
    photo.write_bytes(png_with_metadata(encoded, SRGB, None))  # with an ICC profile
    out = tmp_path / "out.png"
    report = run(cli, photo, out, masks_folder(tmp_path / "m"))
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    assert written.dtype == np.uint16 and report["output"]["bits"] == 16
    assert read_photo(out).icc == SRGB
    check(report, deep, written, (240, 320))


def test_a_16_bit_grey_tiff_keeps_its_bits_its_grey_is_repeated_outside(cli, tmp_path):
    grey = smooth(240, 320, channels=1, top=65535).astype(np.uint16)[:, :, 0]
    photo = tmp_path / "grey.tif"
    Image.fromarray(grey).save(photo)
    out = tmp_path / "out.tif"
    report = run(cli, photo, out, masks_folder(tmp_path / "m"))
    written = read_photo(out)
    assert written.bits == 16 and written.channels == 3
    check(report, np.repeat(grey[:, :, None], 3, axis=2), written.pixels, (240, 320))


@pytest.mark.parametrize("mode", ["CMYK", "P"])
def test_cmyk_and_palette_photos_are_converted_once(cli, tmp_path, mode):
    rgb = Image.fromarray(smooth(240, 320).astype(np.uint8))
    source = rgb.convert("CMYK") if mode == "CMYK" else rgb.convert("P", colors=64)
    photo = tmp_path / ("p.tif" if mode == "CMYK" else "p.png")
    source.save(photo)
    out = tmp_path / "out.png"
    report = run(cli, photo, out, masks_folder(tmp_path / "m"))
    converted = np.asarray(Image.open(photo).convert("RGB"))
    check(report, converted, np.asarray(Image.open(out)), (240, 320))


def test_output_size_keeps_the_small_picture_and_jpeg_quality_is_used(cli, tmp_path):
    photo = tmp_path / "p.png"
    Image.fromarray(smooth(120, 160).astype(np.uint8)).save(photo)
    out = tmp_path / "out.jpg"
    report = run(
        cli, photo, out, masks_folder(tmp_path / "m"), "--output-size", "40", "--jpeg-quality", "80"
    )
    assert Image.open(out).size == (40, 30) and report["output_size"] == [30, 40]
    assert report["windows"] == [] and report["output"]["jpeg_quality"] == 80
    ref = tmp_path / "ref.jpg"
    Image.new("RGB", (40, 30)).save(ref, quality=80)
    assert Image.open(out).quantization == Image.open(ref).quantization


def test_a_photo_the_budget_cannot_hold_is_one_line_before_any_work(cli, tmp_path):
    photo = tmp_path / "big.png"
    Image.fromarray(smooth(1000, 1000).astype(np.uint8)).save(photo)
    masks = masks_folder(tmp_path / "m", (40, 40))
    out = tmp_path / "out.png"
    fail = ["--set", "engine.fake-fill.fail=true"]  # had the engine run, its error would show
    for budget, what in (("16MiB", "holding it at its own size"), ("24MiB", "window")):
        code, _, err = cli(
            "run", photo, "--style", f"person={photo}", "--segmenter", "maskfile",
            "--masks", masks, "--engine", "fake-fill", "--size", "40", "-o", out,
            "--max-memory", budget, *fail,
        )  # fmt: skip
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert what in err and "--max-memory" in err and "NaN" not in err
        assert not out.exists()
    code, _, err = cli("run", photo, "--style", f"all={photo}", "--max-memory", "lots")
    assert code == 2 and "run.max_memory" in err


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_the_recipe_is_written_beside_the_photos_profile_and_exif(cli, tmp_path, suffix):
    """The merge of pixels' photo writer and regions' recipe: one file carries both."""
    from tst_core import metadata, recipe

    photo = tmp_path / "cam.jpg"
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "tst camera"
    Image.fromarray(smooth(120, 160).astype(np.uint8)).save(
        photo, exif=exif.tobytes(), icc_profile=SRGB, quality=95
    )
    out = tmp_path / f"out{suffix}"
    run(cli, photo, out, masks_folder(tmp_path / "m"))
    written = Image.open(out)
    assert written.size == (160, 120)
    assert written.info["icc_profile"] == SRGB
    assert written.getexif()[ExifTags.Base.Make] == "tst camera"
    made = recipe.parse(metadata.read(out, recipe.KEY) or "", "out")
    assert made["targets"]


def test_a_16_bit_png_keeps_its_bits_and_carries_the_recipe(cli, tmp_path):
    from tst_core import metadata, recipe

    photo = tmp_path / "deep.png"
    cv2.imwrite(str(photo), smooth(120, 160, top=65535).astype(np.uint16)[:, :, ::-1])
    out = tmp_path / "out.png"
    run(cli, photo, out, masks_folder(tmp_path / "m"))
    assert read_photo(out).bits == 16
    assert recipe.parse(metadata.read(out, recipe.KEY) or "", "out")["targets"]


@pytest.mark.parametrize("option", ["@color=keep", "@mask=soft"])
def test_looks_at_the_photos_own_size_leave_the_outside_bit_for_bit(cli, tmp_path, option):
    """@color=keep and @mask=soft on the native path: the layers looked at the working size,
    brought up, the picture the photo's size and its own outside the windows."""
    photo = tmp_path / "p.png"
    Image.fromarray(smooth(120, 160).astype(np.uint8)).save(photo)
    style = tmp_path / "style.png"
    Image.fromarray(np.full((8, 8, 3), (200, 30, 30), np.uint8)).save(style)
    out = tmp_path / "out.png"
    code, _, err = cli(
        "run", photo, "--style", f"person={style}{option}", "--segmenter", "maskfile",
        "--masks", masks_folder(tmp_path / "m"), "--engine", "fake-fill", "--blend", "feather",
        "--size", "40", "--set", "blend.feather.radius=2", "-o", out,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out.with_suffix(".json").read_text())
    check(report, np.asarray(Image.open(photo)), np.asarray(Image.open(out)), (120, 160))
