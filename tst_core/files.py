"""Reading images and masks, and writing results atomically.

Every reader returns the pipeline's conventions (see :mod:`tst_core.types`): images float32
``(3, H, W)`` RGB in [0, 1], masks float32 ``(H, W)`` in [0, 1].
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from . import validate
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


def check_regular_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` if it names a regular file (through links); a FIFO or a device, which would
    block a reader or never end, is refused like a missing file, with an :class:`InputError`."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"{what} '{path}' does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} '{path}': {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{what} '{path}' is a folder, not an image file")
    if not stat.S_ISREG(mode):
        raise InputError(f"{what} '{path}' is not a regular file (a FIFO, device or socket)")
    return path


@contextlib.contextmanager
def _open(path: str | os.PathLike[str], what: str, load: bool = True) -> Iterator[Image.Image]:
    path = check_regular_file(path, what)
    limit = max_pixels()
    try:
        with warnings.catch_warnings():
            # Pillow warns about bombs (refused below with our own limit) and about corrupt
            # EXIF or metadata, which would add lines to the one-line messages
            warnings.simplefilter("ignore")
            old, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limit
            try:
                img = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = old
            with img:
                w, h = img.size
                if w * h > limit:
                    raise InputError(_too_large(path, what, w, h, limit))
                if load:
                    img.load()
                yield img
    except Image.DecompressionBombError:
        raise InputError(_too_large(path, what, None, None, limit)) from None
    except UnidentifiedImageError:
        raise InputError(
            f"cannot read {what} '{path}': not an image format tst reads "
            "(JPEG, PNG, WebP, TIFF, BMP, GIF...)"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read {what} '{path}': {exc}") from None


def _too_large(path: Path, what: str, w: int | None, h: int | None, limit: int) -> str:
    size = f" ({w}×{h}, {w * h / 1e6:.0f} MP)" if w and h else ""
    return (
        f"{what} '{path}' is too large{size}: tst refuses images over {limit / 1e6:.0f} MP "
        "as a decompression-bomb guard; downscale it or raise TST_MAX_PIXELS"
    )


def image_size(path: str | os.PathLike[str], what: str = "image") -> tuple[int, int]:
    """``(width, height)`` of an image file from its header, with the checks of
    :func:`read_image` (a regular file, a known format, the pixel limit)."""
    with _open(path, what, load=False) as img:
        return img.size


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


#: what the API takes as a photo (or a style image)
PhotoLike = str | Path | Image.Image | Tensor


def load_photo(photo: PhotoLike, what: str = "photo") -> Tensor:
    """A path, PIL image or ``(3, H, W)`` tensor in [0, 1] → float32 ``(3, H, W)`` tensor."""
    if isinstance(photo, (str, Path)):
        return read_image(photo, what)
    if isinstance(photo, Image.Image):
        return pil_to_tensor(photo)
    if isinstance(photo, torch.Tensor):
        return validate.image_tensor(photo, what)
    raise InputError(
        f"{what} must be a path, a PIL image or a (3, H, W) tensor, not {type(photo).__name__}"
    )


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


def image_format(path: str | os.PathLike[str]) -> str:
    """Pillow format name for an output path; unknown suffixes are an :class:`InputError`."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise InputError(
            f"cannot write '{path}': unknown image type '{suffix or '(none)'}'; "
            f"use one of {', '.join(sorted(WRITE_FORMATS))}"
        )
    return WRITE_FORMATS[suffix]


#: The index a mask folder carries (written by ``tst segment --export-masks``, read by ``maskfile``).
MASK_INDEX_FILE = "instances.json"


def image_writer(image: Tensor | Image.Image, fmt: str) -> Callable[[Path], None]:
    """A writer for :func:`tst_core.outputs.write_outputs` that saves ``image`` in Pillow format ``fmt``."""
    pil = image if isinstance(image, Image.Image) else tensor_to_pil(image)
    options: dict[str, Any] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    return lambda tmp: pil.save(tmp, format=fmt, **options)


def text_writer(text: str) -> Callable[[Path], None]:
    """A writer for :func:`tst_core.outputs.write_outputs` that saves ``text`` as UTF-8."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return write


def json_writer(data: Any) -> Callable[[Path], None]:
    """A writer for :func:`tst_core.outputs.write_outputs` that saves ``data`` as indented,
    strict JSON: NaN and infinities become ``null`` (bare ``NaN`` is not JSON)."""
    return text_writer(json.dumps(plain_json(data), indent=2, allow_nan=False) + "\n")


def plain_json(obj: Any) -> Any:
    """``obj`` with paths, tensors, NumPy scalars, tuples and sets made JSON values, and every
    non-finite float replaced by ``None``."""
    if isinstance(obj, dict):
        return {str(k) if isinstance(k, Path) else k: plain_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [plain_json(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic) or (isinstance(obj, torch.Tensor) and obj.numel() == 1):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_image(path: str | os.PathLike[str], image: Tensor | Image.Image) -> None:
    """Write one image atomically (format from the suffix)."""
    from .outputs import write_outputs

    write_outputs({path: image_writer(image, image_format(path))})
