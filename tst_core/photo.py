"""The photo at its own size: decoded once, bit for bit, and written back with its metadata.

:func:`read_photo` decodes a file into a :class:`Photo`: the pixels as the file holds them
(uint8, or uint16 for 16-bit files), upright (the EXIF orientation applied once), with the ICC
profile and the EXIF block to carry into the output. :func:`write_photo` writes an array of the
same kind with that metadata, atomically, keeping 16 bits where the format allows (PNG, TIFF).

Conversions happen once, at reading: CMYK (through its ICC profile to sRGB when it has one),
palette, bilevel, YCbCr/LAB/HSV become RGB; an alpha channel is composited over white (a
photograph has none; tst writes no alpha); grey stays grey (one channel). Pillow decodes
16-bit grey but not 16-bit RGB (it returns 8 bits), so 16-bit RGB PNG and TIFF files are
decoded and encoded with OpenCV, the metadata chunks written by this module.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, JpegImagePlugin

from . import metadata
from .boxes import Box
from .errors import InputError
from .files import _open, check_regular_file, image_format
from .imageops import resize_long_side
from .types import Tensor

#: JPEG and WebP quality when the user gives none (Pillow's scale, 1..100).
DEFAULT_QUALITY = 95

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
PIXEL_X, PIXEL_Y = 0xA002, 0xA003

#: IFD0 tags that describe a file's own layout, not the picture: never carried into an output
#: (a TIFF writer would take an old ImageWidth for its own and write a broken file).
LAYOUT_TAGS = frozenset(
    {
        0x00FE,  # NewSubfileType
        0x0100,  # ImageWidth
        0x0101,  # ImageLength
        0x0102,  # BitsPerSample
        0x0103,  # Compression
        0x0106,  # PhotometricInterpretation
        0x0111,  # StripOffsets
        0x0115,  # SamplesPerPixel
        0x0116,  # RowsPerStrip
        0x0117,  # StripByteCounts
        0x011C,  # PlanarConfiguration
        0x013D,  # Predictor
        0x0142,  # TileWidth
        0x0143,  # TileLength
        0x0144,  # TileOffsets
        0x0145,  # TileByteCounts
        0x014A,  # SubIFDs
        0x0152,  # ExtraSamples
        0x0153,  # SampleFormat
        0x0201,  # JPEGInterchangeFormat (a thumbnail's)
        0x0202,  # JPEGInterchangeFormatLength
        0x8773,  # InterColorProfile: the ICC profile travels on its own
    }
)

#: numpy steps that make stored pixels upright, per EXIF orientation (1 = as stored).
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: a.transpose(1, 0, 2)[::-1],
}


@dataclass(frozen=True)
class PhotoInfo:
    """What a photo file's header says, without decoding its pixels.

    :param size: ``(H, W)`` upright (after the EXIF orientation).
    :param stored: ``(H, W)`` as stored in the file.
    :param orientation: the EXIF orientation, 1..8 (1 when absent or invalid).
    :param format: Pillow's format name (``"JPEG"``, ``"PNG"``, ``"TIFF"``...).
    :param mode: Pillow's mode of the file (``"RGB"``, ``"CMYK"``, ``"I;16"``...).
    :param bits: 8 or 16, the bits per sample the pixels are decoded to.
    :param channels: 3 (RGB) or 1 (grey), after the conversions at reading.
    :param icc: whether the file embeds an ICC profile.
    """

    size: tuple[int, int]
    stored: tuple[int, int]
    orientation: int
    format: str
    mode: str
    bits: int
    channels: int
    icc: bool

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6


@dataclass(frozen=True)
class Photo:
    """A photo decoded at its own size, bit for bit.

    :param pixels: ``(H, W, C)`` uint8 or uint16, C = 3 (RGB) or 1 (grey), upright; read-only
        (outputs copy it and change only what they paint).
    :param icc: the embedded ICC profile, or ``None`` (sRGB is then assumed, as viewers do).
    :param exif: the EXIF block to write into outputs (``Exif\\0\\0`` + TIFF structure) with
        the orientation reset to 1, the thumbnail and the file-layout tags dropped; ``None``
        when the file had none.
    :param format: Pillow's format name of the file it came from (``""`` for an array).
    :param bits: 8 or 16 (the dtype of :attr:`pixels`).
    :param subsampling: the JPEG chroma subsampling of the file (0 = 4:4:4, 1 = 4:2:2,
        2 = 4:2:0), ``None`` for other formats.
    :param dpi: the resolution the file states, or ``None``.
    :param path: where it was read from, or ``None``.
    """

    pixels: np.ndarray = field(repr=False)
    icc: bytes | None = field(default=None, repr=False)
    exif: bytes | None = field(default=None, repr=False)
    format: str = ""
    bits: int = 8
    subsampling: int | None = None
    dpi: tuple[float, float] | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        px = self.pixels
        if px.ndim != 3 or px.shape[2] not in (1, 3) or px.dtype not in (np.uint8, np.uint16):
            raise ValueError(
                f"photo pixels must be (H, W, 1|3) uint8 or uint16, got {px.dtype} {px.shape}"
            )
        if self.bits != 8 * px.dtype.itemsize:
            raise ValueError(f"bits is {self.bits} but the pixels are {px.dtype}")
        if px.flags.writeable:
            px = px.view()
            px.flags.writeable = False
            object.__setattr__(self, "pixels", px)

    @classmethod
    def from_tensor(cls, image: Tensor) -> Photo:
        """An 8-bit photo without metadata from ``(3, H, W)`` float in [0, 1]."""
        return cls(to_pixels(image, 8))

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return (int(self.pixels.shape[0]), int(self.pixels.shape[1]))

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def maximum(self) -> int:
        """The largest sample value: 255 or 65535."""
        return (1 << self.bits) - 1

    def tensor(self, box: Box | None = None, size: int | None = None) -> Tensor:
        """A window as float32 ``(3, h, w)`` in [0, 1] (grey repeated in three channels).

        :param box: the window in photo pixels (integer bounds; the whole photo when ``None``).
        :param size: resize (antialiased bilinear) so the long side is ``size``; ``None`` keeps
            the native pixels.
        """
        if box is None:
            ys, xs = slice(0, self.size[0]), slice(0, self.size[1])
        else:
            ys, xs = box.slices()
        arr = self.pixels[ys, xs]
        out = torch.empty((3, arr.shape[0], arr.shape[1]), dtype=torch.float32)
        top = float(self.maximum)
        step = max(1, (1 << 22) // max(1, arr.shape[1]))  # convert in bounded strips of rows
        for y in range(0, arr.shape[0], step):
            strip = torch.from_numpy(arr[y : y + step].astype(np.float32))
            out[:, y : y + step] = strip.permute(2, 0, 1).div_(top)  # as files.pil_to_tensor
        return resize_long_side(out, size)

    def resized(self, long_side: int) -> Photo:
        """The photo with its long side at most ``long_side`` (antialiased, never enlarged),
        at its own bit depth, with its metadata: the "native" photo of an ``--output-size``."""
        if max(self.size) <= long_side:
            return self
        small = self.tensor(size=long_side)
        pixels = to_pixels(small if self.channels == 3 else small[:1], self.bits)
        return replace(self, pixels=pixels)

    def output_pixels(self) -> np.ndarray:
        """A writable copy of the pixels as RGB ``(H, W, 3)`` (grey repeated), which an output
        paints into; everything left unpainted equals the photo's own values."""
        if self.channels == 3:
            return self.pixels.copy()
        return np.repeat(self.pixels, 3, axis=2)


def to_pixels(image: Tensor, bits: int) -> np.ndarray:
    """float ``(C, H, W)`` in [0, 1] → ``(H, W, C)`` uint8 (``bits=8``) or uint16 (16),
    clipped and rounded to the nearest level."""
    top = 255.0 if bits == 8 else 65535.0
    dtype = torch.uint8 if bits == 8 else torch.int32
    arr = image.detach().float().clamp(0, 1).mul(top).round_().to(dtype).permute(1, 2, 0)
    out = arr.contiguous().cpu().numpy()
    return out if bits == 8 else out.astype(np.uint16)


# --- reading ------------------------------------------------------------------------------


def probe_photo(path: str | os.PathLike[str], what: str = "photo") -> PhotoInfo:
    """The header of a photo file (see :class:`PhotoInfo`); the pixels are not decoded.

    Refuses what :func:`read_photo` refuses (not a regular file, not an image, over
    :func:`tst_core.files.max_pixels`) with the same :class:`InputError`.
    """
    with _open(path, what, load=False) as img:
        return _info(Path(path), img)


def _info(path: Path, img: Image.Image) -> PhotoInfo:
    w, h = img.size
    orientation = _orientation(img)
    size = (w, h) if orientation in (5, 6, 7, 8) else (h, w)
    bits, channels = _depth(path, img)
    return PhotoInfo(
        size=(int(size[0]), int(size[1])),
        stored=(int(h), int(w)),
        orientation=orientation,
        format=str(img.format or ""),
        mode=img.mode,
        bits=bits,
        channels=channels,
        icc=bool(img.info.get("icc_profile")),
    )


def _orientation(img: Image.Image) -> int:
    try:
        value = int(img.getexif().get(ORIENTATION, 1))
    except (TypeError, ValueError, SyntaxError, OSError):
        return 1
    return value if value in _UPRIGHT else 1


def _depth(path: Path, img: Image.Image) -> tuple[int, int]:
    """``(bits, channels)`` of the decoded pixels."""
    if _wide_colour(path, img):
        return 16, 3
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        return 16, 1
    if img.mode in ("1", "L", "LA", "La"):
        return 8, 1
    return 8, 3


def _wide_colour(path: Path, img: Image.Image) -> bool:
    """Whether the file holds 16-bit colour, which Pillow would decode to 8 bits."""
    if img.format == "PNG":
        with open(path, "rb") as f:
            head = f.read(26)
        return len(head) == 26 and head[24] == 16 and head[25] in (2, 6)
    if img.format == "TIFF":
        tags = getattr(img, "tag_v2", {})
        bits = tags.get(258, (8,))
        samples = int(tags.get(277, 1))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return samples >= 3 and int(bits[0]) == 16
    return False


def read_photo(path: str | os.PathLike[str], what: str = "photo") -> Photo:
    """Decode a photo file at its own size (see :class:`Photo` and the module's notes).

    :raises InputError: for a missing, unreadable, truncated or too large file (one sentence).
    """
    path = check_regular_file(path, what)
    with _open(path, what, load=False) as img:
        info = _info(path, img)
        icc = img.info.get("icc_profile") or None
        exif = _exif_bytes(img)
        dpi = _dpi(img)
        subsampling = _subsampling(img)
        if _wide_colour(path, img):
            pixels = _decode_wide(path, what)
        else:
            try:
                img.load()
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise InputError(f"cannot read {what} '{path}': {exc}") from None
            pixels, icc = _pillow_pixels(img, icc)
    pixels = np.ascontiguousarray(_UPRIGHT[info.orientation](pixels))
    return Photo(
        pixels,
        icc=icc,
        exif=exif,
        format=info.format,
        bits=8 * pixels.dtype.itemsize,
        subsampling=subsampling,
        dpi=dpi,
        path=path,
    )


def load_native(photo: Any, what: str = "photo") -> Photo:
    """A path (:func:`read_photo`), a PIL image (converted as a file's pixels are; its ICC
    profile kept, no orientation applied) or a float ``(3, H, W)`` tensor in [0, 1] (an 8-bit
    photo without metadata) → :class:`Photo`."""
    from . import validate

    if isinstance(photo, (str, os.PathLike)):
        return read_photo(photo, what)
    if isinstance(photo, Image.Image):
        icc = photo.info.get("icc_profile") or None
        pixels, icc = _pillow_pixels(photo, icc)
        return Photo(np.ascontiguousarray(pixels), icc=icc, bits=8 * pixels.dtype.itemsize)
    if isinstance(photo, torch.Tensor):
        return Photo.from_tensor(validate.image_tensor(photo, what))
    raise InputError(
        f"{what} must be a path, a PIL image or a (3, H, W) tensor, not {type(photo).__name__}"
    )


def decoded_bytes(info: PhotoInfo) -> int:
    """Memory the photo needs at its own size before any stage works on it: its decoded array,
    the output's copy and one float32 RGB copy (what the segmenter is given)."""
    h, w = info.size
    sample = info.bits // 8
    return h * w * (info.channels * sample + 3 * sample + 3 * 4)


def _decode_wide(path: Path, what: str) -> np.ndarray:
    """16-bit RGB(A) PNG or TIFF → ``(H, W, 3)`` uint16 as stored (OpenCV ignores the
    orientation with ``IMREAD_UNCHANGED``; it is applied by the caller)."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        raise InputError(f"cannot read {what} '{path}': its 16-bit colour data does not decode")
    rgb = arr[:, :, 2::-1]
    if arr.shape[2] == 4:
        return _over_white(rgb, arr[:, :, 3:4], 65535)
    return np.ascontiguousarray(rgb)


def _over_white(colour: np.ndarray, alpha: np.ndarray, top: int) -> np.ndarray:
    """``colour`` ``(H, W, C)`` composited over white with ``alpha`` ``(H, W, 1)``, same dtype."""
    a = alpha.astype(np.float64) / top
    out = colour.astype(np.float64) * a + top * (1.0 - a)
    return np.clip(np.rint(out), 0, top).astype(colour.dtype)


def _pillow_pixels(img: Image.Image, icc: bytes | None) -> tuple[np.ndarray, bytes | None]:
    """Pillow's decoded image → ``(H, W, C)`` uint8/uint16 and the ICC profile that goes with
    the converted pixels."""
    mode = img.mode
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)[:, :, None], icc
    if mode == "I":
        arr = np.asarray(img, dtype=np.int64)
        return np.clip(arr, 0, 65535).astype(np.uint16)[:, :, None], icc
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = float(arr.max(initial=0.0))
        scale = 65535.0 if top <= 1.0 else (65535.0 / 255.0 if top <= 255 else 1.0)
        return np.clip(np.rint(arr * scale), 0, 65535).astype(np.uint16)[:, :, None], icc
    if mode == "CMYK":
        return _from_cmyk(img, icc)
    if mode == "1":
        img = img.convert("L")
    if mode in ("P", "PA"):
        img = img.convert("RGBA")
    if img.mode in ("LA", "La"):
        la = np.asarray(img.convert("LA"))
        return _over_white(la[:, :, :1], la[:, :, 1:], 255), icc
    if img.mode in ("RGBA", "RGBa"):
        rgba = np.asarray(img.convert("RGBA"))
        return _over_white(rgba[:, :, :3], rgba[:, :, 3:], 255), icc
    if img.mode == "L":
        return np.asarray(img)[:, :, None], icc
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img), icc


def _from_cmyk(img: Image.Image, icc: bytes | None) -> tuple[np.ndarray, bytes | None]:
    """CMYK → RGB: through the file's CMYK profile to sRGB (whose profile then goes with the
    pixels) when it has one and Pillow has LittleCMS, else Pillow's plain formula (no profile)."""
    if icc:
        try:
            from PIL import ImageCms

            srgb = ImageCms.createProfile("sRGB")
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(img, source, srgb, outputMode="RGB")
            if rgb is not None:
                return np.asarray(rgb), ImageCms.ImageCmsProfile(srgb).tobytes()
        except (ImportError, OSError, ValueError, ImageCms.PyCMSError):
            pass
    return np.asarray(img.convert("RGB")), None


def _subsampling(img: Image.Image) -> int | None:
    if img.format != "JPEG":
        return None
    try:
        value = JpegImagePlugin.get_sampling(img)
    except (AttributeError, TypeError):
        return None
    return value if value in (0, 1, 2) else None


def _dpi(img: Image.Image) -> tuple[float, float] | None:
    dpi = img.info.get("dpi")
    if not isinstance(dpi, (tuple, list)) or len(dpi) != 2:
        return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _exif_bytes(img: Image.Image) -> bytes | None:
    """The file's EXIF for outputs: orientation 1, no thumbnail (IFD1 is never written back),
    no file-layout tags; ``None`` when there is none or it cannot be parsed."""
    try:
        exif = img.getexif()
        if not len(exif):
            return None
        exif.get_ifd(EXIF_IFD)  # load the sub-IFD so tobytes writes it back
        for tag in LAYOUT_TAGS & set(exif):
            del exif[tag]
        exif[ORIENTATION] = 1
        return exif.tobytes()
    except (TypeError, ValueError, SyntaxError, OSError, KeyError, struct.error):
        return None


def exif_for(exif: bytes | None, size: tuple[int, int]) -> bytes | None:
    """``exif`` with the pixel dimensions it states set to ``size`` ``(H, W)`` (an output
    resized or turned upright no longer has the camera's)."""
    if not exif:
        return None
    parsed = Image.Exif()
    try:
        parsed.load(exif)
        sub = parsed.get_ifd(EXIF_IFD)
        if PIXEL_X in sub or PIXEL_Y in sub:
            sub[PIXEL_X] = int(size[1])
            sub[PIXEL_Y] = int(size[0])
        return parsed.tobytes()
    except (TypeError, ValueError, SyntaxError, OSError, KeyError, struct.error):
        return exif


# --- writing ------------------------------------------------------------------------------


def photo_writer(
    pixels: np.ndarray,
    photo: Photo,
    fmt: str,
    *,
    quality: int = DEFAULT_QUALITY,
    text: Mapping[str, str] | None = None,
) -> Callable[[Path], None]:
    """A writer for :func:`tst_core.outputs.write_outputs` (see :func:`write_photo`).

    :param text: ``key: text`` pairs stored in the file's metadata (PNG ``iTXt``, JPEG and
        WebP XMP; see :mod:`tst_core.metadata`); TIFF files get none.
    """
    if not 1 <= quality <= 100:
        raise InputError(f"the JPEG/WebP quality must be 1..100, got {quality}")
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
        raise ValueError(f"pixels must be (H, W, 1|3), got {pixels.shape}")
    exif = exif_for(photo.exif, (int(pixels.shape[0]), int(pixels.shape[1])))
    wide = pixels.dtype == np.uint16 and fmt in ("PNG", "TIFF")
    if pixels.dtype == np.uint16 and not wide:
        pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    icc = photo.icc

    texts = dict(text or {})

    def write(tmp: Path) -> None:
        if wide and pixels.shape[2] == 3:
            _write_wide(tmp, pixels, fmt, icc, exif)
            embed_file(tmp, fmt, texts)
            return
        img = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
        options: dict[str, Any] = {}
        if icc:
            options["icc_profile"] = icc
        if exif:
            options["exif"] = exif
        if photo.dpi:
            options["dpi"] = photo.dpi
        if fmt in ("JPEG", "WEBP"):
            options["quality"] = quality
        if fmt == "JPEG":
            options["subsampling"] = photo.subsampling if photo.subsampling is not None else 0
        if fmt == "WEBP" and texts:
            key, value = next(iter(texts.items()))
            options["xmp"] = metadata.webp_xmp(key, value)
        img.save(tmp, format=fmt, **options)
        if fmt != "WEBP":
            embed_file(tmp, fmt, texts)

    return write


def embed_file(tmp: Path, fmt: str, texts: Mapping[str, str]) -> None:
    """Store ``texts`` in the image file ``tmp`` (PNG, JPEG; other formats are left as they are)."""
    if not texts or fmt not in ("PNG", "JPEG"):
        return
    data = tmp.read_bytes()
    for key, value in texts.items():
        data = metadata.embed(data, fmt, key, value)
    tmp.write_bytes(data)


def _write_wide(
    tmp: Path, pixels: np.ndarray, fmt: str, icc: bytes | None, exif: bytes | None
) -> None:
    """16-bit RGB through OpenCV; the PNG's ``iCCP`` and ``eXIf`` chunks written here, the
    TIFF's profile with tifffile (which cannot write an EXIF block: a 16-bit RGB TIFF keeps the
    profile only)."""
    import cv2

    bgr = np.ascontiguousarray(pixels[:, :, ::-1])
    if fmt == "TIFF":
        import tifffile

        tifffile.imwrite(
            tmp, pixels, photometric="rgb", compression="zlib", iccprofile=icc, metadata=None
        )
        return
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise OSError("OpenCV could not encode the 16-bit PNG")
    tmp.write_bytes(png_with_metadata(buf.tobytes(), icc, exif))


def png_with_metadata(png: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """``png`` with an ``iCCP`` chunk (the profile, deflated) and an ``eXIf`` chunk inserted
    after its ``IHDR`` (both must come before the image data)."""
    head = 8 + 8 + 13 + 4  # signature, IHDR's length and type, its data, its CRC
    if png[12:16] != b"IHDR":
        raise ValueError("not a PNG stream")
    chunks = b""
    if icc:
        chunks += _chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc))
    if exif:
        chunks += _chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif)
    return png[:head] + chunks + png[head:]


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_photo(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    photo: Photo,
    *,
    quality: int = DEFAULT_QUALITY,
    text: Mapping[str, str] | None = None,
) -> None:
    """Write ``pixels`` ``(H, W, C)`` (uint8 or uint16) with ``photo``'s ICC profile and EXIF,
    atomically (a temporary renamed into place; never over an input, see
    :mod:`tst_core.outputs`). The format comes from the suffix; 16 bits are kept for PNG and
    TIFF, rounded to 8 for JPEG and WebP, which are written at ``quality`` (JPEG with the
    photo's own chroma subsampling, 4:4:4 for a photo that was not a JPEG)."""
    from .outputs import write_outputs

    writer = photo_writer(pixels, photo, image_format(path), quality=quality, text=text)
    write_outputs({Path(path): writer})
