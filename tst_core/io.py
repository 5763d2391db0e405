"""Reading images and masks, and writing results atomically.

Every reader returns the pipeline's conventions (see :mod:`tst_core.types`): images float32
``(3, H, W)`` RGB in [0, 1], masks float32 ``(H, W)`` in [0, 1].
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError
from .types import Tensor

#: Refuse images with more pixels than this (decompression-bomb guard); ``$TST_MAX_PIXELS``.
DEFAULT_MAX_PIXELS = 80_000_000

WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


def max_pixels() -> int:
    """The pixel limit in force (``$TST_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`)."""
    try:
        return int(os.environ.get("TST_MAX_PIXELS", DEFAULT_MAX_PIXELS))
    except ValueError:
        return DEFAULT_MAX_PIXELS


@contextlib.contextmanager
def _open(path: str | os.PathLike[str], what: str) -> Iterator[Image.Image]:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} '{path}' does not exist")
    if path.is_dir():
        raise InputError(f"{what} '{path}' is a folder, not an image file")
    limit = max_pixels()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            old, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limit
            try:
                img = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = old
            with img:
                w, h = img.size
                if w * h > limit:
                    raise InputError(_too_large(path, what, w, h, limit))
                img.load()
                yield img
    except Image.DecompressionBombError:
        raise InputError(_too_large(path, what, None, None, limit)) from None
    except UnidentifiedImageError:
        raise InputError(f"cannot read {what} '{path}': not an image format Pillow knows") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read {what} '{path}': {exc}") from None


def _too_large(path: Path, what: str, w: int | None, h: int | None, limit: int) -> str:
    size = f" ({w}×{h}, {w * h / 1e6:.0f} MP)" if w and h else ""
    return (
        f"{what} '{path}' is too large{size}: tst refuses images over {limit / 1e6:.0f} MP "
        "as a decompression-bomb guard; downscale it or raise TST_MAX_PIXELS"
    )


def pil_to_tensor(img: Image.Image) -> Tensor:
    """Any PIL image → float32 ``(3, H, W)`` RGB in [0, 1].

    Handles grayscale, alpha (composited over white), palette, CMYK, 16-bit and float images.
    EXIF orientation is *not* applied here (see :func:`read_image`).
    """
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        scale = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        gray = torch.from_numpy(np.clip(arr / scale, 0.0, 1.0).astype(np.float32))
        return gray.unsqueeze(0).expand(3, -1, -1).contiguous()
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if arr.max(initial=0) > 1.0:
            arr = arr / (65535.0 if arr.max() > 255 else 255.0)
        return torch.from_numpy(np.clip(arr, 0, 1)).unsqueeze(0).expand(3, -1, -1).contiguous()
    if mode == "P":
        img = img.convert("RGBA")
    elif mode in ("1", "L", "CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def read_image(path: str | os.PathLike[str], what: str = "image") -> Tensor:
    """Read a JPEG/PNG/WebP/TIFF/... file as float32 ``(3, H, W)`` RGB in [0, 1].

    EXIF orientation is applied, so the tensor is upright as a viewer shows it. Images over
    :func:`max_pixels` pixels are refused with :class:`InputError`.
    """
    with _open(path, what) as img:
        return pil_to_tensor(ImageOps.exif_transpose(img) or img)


def read_mask(path: str | os.PathLike[str], what: str = "mask") -> Tensor:
    """Read a mask file as float32 ``(H, W)`` in [0, 1] (8- or 16-bit grayscale, or alpha)."""
    with _open(path, what) as img:
        img = ImageOps.exif_transpose(img) or img
        if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
            arr = np.asarray(img, dtype=np.float64)
            return torch.from_numpy(np.clip(arr / 65535.0, 0, 1).astype(np.float32))
        if img.mode in ("RGBA", "LA", "PA"):
            alpha = img.getchannel("A")
            if int(np.asarray(alpha).min()) < 255:  # transparent somewhere: the alpha is the mask
                img = alpha
        return torch.from_numpy(np.asarray(img.convert("L"), dtype=np.float32) / 255.0)


def read_label_image(path: str | os.PathLike[str], what: str = "label image") -> np.ndarray:
    """Read an indexed label PNG as an integer array ``(H, W)`` (0 = background)."""
    with _open(path, what) as img:
        if img.mode not in ("P", "L", "I", "I;16", "I;16L", "I;16B"):
            raise InputError(
                f"{what} '{path}' has mode {img.mode}; an indexed label image must be a palette "
                "or single-channel integer PNG (0 = background, 1..N = instances)"
            )
        return np.asarray(img, dtype=np.int64)


def to_uint8_hwc(image: Tensor) -> np.ndarray:
    """float ``(3, H, W)`` in [0, 1] → C-contiguous uint8 ``(H, W, 3)`` array on the CPU
    (clipped, then rounded), the layout of PIL, OpenCV and most model runtimes."""
    return (
        (image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).contiguous())
        .cpu()
        .numpy()
    )


def tensor_to_pil(image: Tensor) -> Image.Image:
    """float ``(3, H, W)`` in [0, 1] → 8-bit RGB PIL image (rounded, clipped)."""
    return Image.fromarray(to_uint8_hwc(image), "RGB")


def mask_to_pil(mask: Tensor) -> Image.Image:
    """float ``(H, W)`` in [0, 1] → 8-bit grayscale PIL image."""
    arr = mask.detach().float().clamp(0, 1).mul(255).round().byte().cpu().numpy()
    return Image.fromarray(arr, "L")


def resize_long_side(image: Tensor, long_side: int | None) -> Tensor:
    """Resize ``(C, H, W)`` so that ``max(H, W) == long_side`` (antialiased bilinear).

    ``None`` or a size equal to the current one returns the input unchanged.
    """
    h, w = image.shape[-2:]
    if not long_side or max(h, w) == long_side:
        return image
    scale = long_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    out = F.interpolate(
        image[None], size=size, mode="bilinear", align_corners=False, antialias=True
    )
    return out[0].clamp_(0.0, 1.0)


def image_format(path: str | os.PathLike[str]) -> str:
    """Pillow format name for an output path; unknown suffixes are an :class:`InputError`."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise InputError(
            f"cannot write '{path}': unknown image type '{suffix or '(none)'}'; "
            f"use one of {', '.join(sorted(WRITE_FORMATS))}"
        )
    return WRITE_FORMATS[suffix]


def check_outputs(
    outputs: Iterable[str | os.PathLike[str]], inputs: Iterable[str | os.PathLike[str]]
) -> None:
    """Refuse to write over an input file, or into a folder that does not exist."""
    ins = {Path(p).resolve() for p in inputs}
    for out in outputs:
        target = Path(out).resolve()
        if target in ins:
            raise InputError(
                f"refusing to overwrite the input file '{out}'; choose another output with -o"
            )
        if not target.parent.is_dir():
            raise InputError(f"cannot write '{out}': folder '{target.parent}' does not exist")


def atomic_write_many(writers: Mapping[Any, Callable[[Path], None]]) -> None:
    """Write several files so that either all appear or none does.

    Each ``writer(tmp_path)`` writes a temporary file beside its destination; only when every
    writer succeeded are they renamed into place. On failure the temporary files are removed.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for dest_name, writer in writers.items():
            dest = Path(dest_name)
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{dest.name}.", suffix=".part", dir=dest.parent
            )
            os.close(fd)
            staged.append((Path(tmp_name), dest))
            writer(Path(tmp_name))
        mode = _default_file_mode()
        for tmp, dest in staged:
            os.chmod(tmp, mode)  # mkstemp makes 0600 files; outputs get the usual umask mode
            os.replace(tmp, dest)
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


#: The index a mask folder carries (written by ``tst segment --export-masks``, read by ``maskfile``).
MASK_INDEX_FILE = "instances.json"


def check_new_folder(path: str | os.PathLike[str], what: str) -> Path:
    """Refuse a folder that exists with something in it, or whose parent does not exist."""
    out = Path(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{what} '{out}' already exists and is not empty; choose a new folder")
    if not out.resolve().parent.is_dir():
        raise InputError(f"cannot create '{out}': folder '{out.resolve().parent}' does not exist")
    return out


def atomic_write_folder(
    folder: str | os.PathLike[str], writers: Mapping[str, Callable[[Path], None]]
) -> None:
    """Write a new folder of files so that it appears whole or not at all.

    :param writers: ``{file name: writer(path)}``; written into a temporary sibling folder that is
        renamed to ``folder`` only when every writer succeeded.
    """
    out = check_new_folder(folder, "folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.resolve().parent))
    try:
        mode = _default_file_mode()
        for name, writer in writers.items():
            writer(tmp / name)
            os.chmod(tmp / name, mode)
        os.chmod(tmp, mode | 0o111)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def image_writer(image: Tensor | Image.Image, fmt: str) -> Callable[[Path], None]:
    """A writer for :func:`atomic_write_many` that saves ``image`` in Pillow format ``fmt``."""
    pil = image if isinstance(image, Image.Image) else tensor_to_pil(image)
    options: dict[str, Any] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    return lambda tmp: pil.save(tmp, format=fmt, **options)


def text_writer(text: str) -> Callable[[Path], None]:
    """A writer for :func:`atomic_write_many` that saves ``text`` as UTF-8."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return write


def json_writer(data: Any) -> Callable[[Path], None]:
    """A writer for :func:`atomic_write_many` that saves ``data`` as indented JSON."""
    return text_writer(json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_image(path: str | os.PathLike[str], image: Tensor | Image.Image) -> None:
    """Write one image atomically (format from the suffix)."""
    atomic_write_many({path: image_writer(image, image_format(path))})
