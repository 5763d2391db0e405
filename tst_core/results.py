"""What the API returns, and how it is saved: :class:`SegmentResult` and :class:`RunResult`.

Saving goes through :mod:`tst_core.outputs`: everything a result writes appears together or
not at all, and never over a file the run read. ``*_outputs`` name the destinations a save
will write, so they can be checked before any work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .config import Config
from .files import MASK_INDEX_FILE, image_format, image_writer, json_writer, mask_to_pil
from .outputs import Input, Output, write_outputs
from .photo import Photo, embed_file, photo_writer
from .types import Segmentation, StylizeResult, Targets, Tensor


def instance_rows(segmentation: Segmentation) -> list[dict[str, Any]]:
    """One dict per instance: id (its rank by score), label, score, area (fraction), box."""
    return [
        {
            "id": i,
            "label": inst.label,
            "score": round(inst.score, 4),
            "area": round(inst.area, 5),
            "box": [round(v, 1) for v in inst.box],
        }
        for i, inst in enumerate(segmentation.instances)
    ]


@dataclass
class SegmentResult:
    """What :func:`segment` returns: the photo ``(3, H, W)`` and its segmentation."""

    photo: Tensor
    segmentation: Segmentation
    segmenter: str
    seconds: float
    inputs: tuple[Input, ...] = ()

    def rows(self) -> list[dict[str, Any]]:
        """One dict per instance: id, label, score, area (fraction), box."""
        return instance_rows(self.segmentation)

    def export_masks(self, folder: str | Path) -> Path:
        """Write one PNG per instance (``NNN_label.png``) and ``instances.json`` into a new folder.

        The ``maskfile`` segmenter reads the folder back unchanged. The folder must not exist or
        be empty (missing parents are created); it appears whole or not at all.
        """
        self.save(masks=folder)
        return Path(folder)

    def save(
        self, *, overlay: str | Path | None = None, masks: str | Path | None = None
    ) -> tuple[Path, ...]:
        """Write the overlay picture and/or the mask folder, all or none; never over an input.

        :param overlay: the photo with every instance's mask and id drawn on it.
        :param masks: a new folder as :meth:`export_masks` writes it; an ``overlay`` inside it
            is written with the masks (``maskfile`` reads only the files ``instances.json`` lists).
        """
        contents: dict[Output, Any] = {}
        if masks is not None:
            contents[Output(Path(masks), "--export-masks", folder=True)] = self._mask_writers()
        if overlay is not None:
            from .overlay import overlay as draw

            fmt = image_format(overlay)
            contents[Output(Path(overlay), "--overlay")] = image_writer(
                draw(self.photo, self.segmentation), fmt
            )
        return write_outputs(contents, self.inputs)

    def _mask_writers(self) -> dict[str, Any]:
        writers = {}
        index = []
        for row, inst in zip(self.rows(), self.segmentation.instances, strict=True):
            name = mask_file_name(row["id"], inst.label)
            writers[name] = image_writer(mask_to_pil(inst.mask), "PNG")
            index.append({"file": name, **row})
        writers[MASK_INDEX_FILE] = json_writer({"instances": index})
        return writers


def mask_file_name(instance_id: int, label: str) -> str:
    """``NNN_label.png`` for an exported mask, safe as a file name on every system: anything
    but letters, digits, spaces, ``-`` and ``.`` becomes ``-`` (no ``/``, no control
    characters), and the label part is cut to 48 characters (the label itself is kept in
    ``instances.json``)."""
    safe = "".join(c if c.isalnum() or c in " -." else "-" for c in label)[:48].strip(" .")
    return f"{instance_id:03d}_{safe or 'region'}.png"


def segment_outputs(
    *, overlay: str | Path | None = None, masks: str | Path | None = None
) -> tuple[Output, ...]:
    """The destinations :meth:`SegmentResult.save` writes, for :func:`check_outputs`."""
    out = []
    if masks is not None:
        out.append(Output(Path(masks), "--export-masks", folder=True))
    if overlay is not None:
        image_format(overlay)
        out.append(Output(Path(overlay), "--overlay"))
    return tuple(out)


@dataclass
class RunResult:
    """What :func:`run` returns.

    :param pixels: the picture written, ``(H, W, 3)`` uint8 or uint16 at the output size (the
        photo's own, or ``run.output_size``): the photo's decoded values wherever the
        compositor left the photo, bit for bit.
    :param original: the photo at the output size, with its metadata (ICC profile, EXIF, bit
        depth), which :meth:`save` carries into the file.
    :param photo: the photo at the working size, ``(3, h, w)``.
    :param stylized: the engine's result (layers ``(K, 3, h, w)`` at the working size and
        losses; an engine that stylised each native window returns no layers here).
    :param segmentation: the instances (boxes in the photo's pixels).
    :param targets: the targets at the working size.
    :param report: everything needed to understand or repeat the run (JSON-ready).
    :param recipe: what the picture carries in its metadata to be made again
        (:mod:`tst_core.recipe`); ``None``: nothing.
    :param composite: the float picture when it was composited in one piece at the output
        size (the working image was the photo); :attr:`image` reads :attr:`pixels` otherwise.
    """

    pixels: np.ndarray = field(repr=False)
    original: Photo
    photo: Tensor = field(repr=False)
    stylized: StylizeResult
    segmentation: Segmentation
    targets: Targets
    config: Config
    report: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[Input, ...] = ()
    recipe: dict[str, Any] | None = field(default=None, repr=False)
    composite: Tensor | None = field(default=None, repr=False)

    @property
    def image(self) -> Tensor:
        """The final picture, float32 ``(3, H, W)`` in [0, 1] at the output size."""
        if self.composite is not None:
            return self.composite
        return Photo(self.pixels, bits=self.original.bits).tensor()

    def to_pil(self) -> Image.Image:
        """The picture as an 8-bit RGB PIL image."""
        if self.pixels.dtype == np.uint8:
            return Image.fromarray(self.pixels, "RGB")
        from .files import tensor_to_pil

        return tensor_to_pil(self.image)

    def save(
        self, path: str | Path, *, report: bool = True, quality: int | None = None
    ) -> tuple[Path, ...]:
        """Write the picture with the photo's ICC profile and EXIF (16 bits kept for PNG and its recipe in its metadata (PNG, JPEG, WebP), and
        TIFF; JPEG and WebP at ``quality``, default ``run.jpeg_quality``) and its recipe in its metadata (PNG, JPEG, WebP), and
        (``report=True``) ``<stem>.json`` beside it: both or neither.

        Never overwrites an input file (see :mod:`tst_core.outputs`). Returns the paths written.
        """
        from . import recipe

        image, *rest = run_outputs(path, report=report)
        fmt = image_format(path)
        quality = self.config.run.jpeg_quality if quality is None else quality
        text = {recipe.KEY: recipe.to_text(self.recipe)} if self.recipe else {}
        # the photo's pixels with its ICC profile and EXIF, the recipe in the same file
        write_image = photo_writer(self.pixels, self.original, fmt, quality=quality, text=text)
        if not rest:
            return write_outputs({image: write_image}, self.inputs)
        digest: list[str] = []

        def write_and_hash(tmp: Path) -> None:
            write_image(tmp)
            digest.append(file_sha256(tmp))

        def write_report(tmp: Path) -> None:
            if not digest:  # write_outputs writes in order: the image first
                raise RuntimeError("the report was written before its image")
            json_writer({**self.report, IMAGE_HASH: digest[0]})(tmp)

        return write_outputs({image: write_and_hash, rest[0]: write_report}, self.inputs)


#: the report's key for the SHA-256 of the image written with it: the two are renamed one after
#: the other, and a SIGKILL between the renames can pair an image with another run's report;
#: a reader tells by comparing (:func:`image_matches_report`)
IMAGE_HASH = "image_sha256"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def image_matches_report(image: Path, report: dict[str, Any]) -> bool:
    """Whether ``report`` (read back from JSON) was written with ``image``: its
    :data:`IMAGE_HASH` is the image file's SHA-256 (reports older than that key never match)."""
    expected = report.get(IMAGE_HASH)
    try:
        return isinstance(expected, str) and file_sha256(image) == expected
    except OSError:
        return False


def with_text(
    writer: Callable[[Path], None], fmt: str, text: Mapping[str, str]
) -> Callable[[Path], None]:
    """``writer``, then ``text`` stored in the file it wrote (:func:`tst_core.photo.embed_file`:
    PNG ``iTXt``, JPEG XMP; other formats as they are)."""
    if not text:
        return writer

    def write(tmp: Path) -> None:
        writer(tmp)
        embed_file(tmp, fmt, text)

    return write


def run_outputs(path: str | Path, *, report: bool = True) -> tuple[Output, ...]:
    """The destinations :meth:`RunResult.save` writes: the image, and its report beside it."""
    path = Path(path)
    image_format(path)
    image = Output(path, "-o")
    return (image, Output(path.with_suffix(".json"), "the report of -o")) if report else (image,)


def estimated_bytes(size: int, images: int = 1, bits: int = 8) -> int:
    """A generous size on disk of ``images`` RGB pictures of long side ``size`` plus a report."""
    return images * 3 * (bits // 8) * size * size + (1 << 16)
