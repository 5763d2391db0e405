"""The recipe a picture carries: everything needed to make it again, in its own metadata.

Every image a run writes holds its recipe (PNG: an ``iTXt`` chunk; JPEG and WebP: XMP, see
:mod:`tst_core.metadata`): the tst, torch and plugin versions, the resolved configuration, the
``--style`` requests with the style files named by path and SHA-256, each target's mask as the
selector chose it (losslessly: a 1-bit or 8-bit PNG when its values allow, else deflated
float32), the seed the engine drew, the device and thread count, and the SHA-256 of every file
the run read (photo, paintings, weights, mask files). A SHA-256 over the whole recipe tells an
edited recipe from the one tst wrote (it is a check against changes, not a signature).

``tst run --recipe OUT.png`` (:func:`rerun`) runs it again: the photo and paintings are read
from their recorded paths and must still have their recorded contents; the masks come from the
recipe, not from a segmenter, so a mask edited by hand in ``tst ui`` is rerun as it was; the
seed and thread count are the recorded ones, so on the same machine and device the picture is
the same bit for bit. A recipe names no output: where the rerun writes is the caller's choice.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import __version__
from .boxes import Box
from .errors import InputError
from .fingerprint import path_sha256
from .select import StyleRequest, option_text, select
from .styles import StyleMix
from .types import Instance, Segmentation, Tensor

#: the recipe format's version; a recipe with a larger one was written by a newer tst
RECIPE_VERSION = 1
#: the metadata key (PNG iTXt keyword, XMP property ``tst:recipe``)
KEY = "tst:recipe"
#: the largest recipe read or written (its JSON, uncompressed)
MAX_RECIPE_BYTES = 64 << 20


class RecipeError(InputError):
    """A recipe that cannot be rerun: missing, newer, changed, or naming a missing file."""


# --- writing ---------------------------------------------------------------------------


def build(
    *,
    photo: Any,
    requests: Sequence[StyleRequest],
    segmentation: Segmentation,
    config: Mapping[str, Any],
    inputs: Mapping[str, Any],
    engine_info: Mapping[str, Any],
    versions: Mapping[str, str],
    plugin_files: Mapping[str, Mapping[str, Any]] = MappingProxyType({}),
) -> dict[str, Any]:
    """The recipe of one run (JSON-ready), its ``sha256`` included.

    :param photo: the photo as the run was given it (only a path can be rerun).
    :param requests: the parsed ``--style`` requests.
    :param segmentation: the instances the selectors chose from.
    :param config: the resolved configuration (:meth:`~tst_core.config.Config.to_dict`).
    :param inputs: what the run read, by content (:meth:`~tst_core.sessions.Session.inputs`),
        kept for the record (the segmenter's files are not needed to rerun).
    :param engine_info: the engine's report facts (``seed``, ``device``, ``threads``).
    :param versions: tst's, torch's and the plugins' versions.
    :param plugin_files: the engine's and compositor's files (``{"engine.gatys.weights":
        {"path", "sha256"}}``), which a rerun needs as they were.
    """
    targets = []
    for r in requests:
        entry: dict[str, Any] = {"selector": r.selector, "style": style_text(r)}
        if r.selector.strip().lower() != "all":
            entry["mask"] = encode_mask(select(segmentation, r.selector)[0])
        targets.append(entry)
    recipe: dict[str, Any] = {
        "format": "tst-recipe",
        "version": RECIPE_VERSION,
        "versions": dict(versions),
        "photo": str(Path(photo).resolve()) if isinstance(photo, (str, Path)) else None,
        "size": list(segmentation.size),
        "targets": targets,
        "config": dict(config),
        "seed": engine_info.get("seed"),
        "device": engine_info.get("device"),
        "threads": engine_info.get("threads", torch.get_num_threads()),
        "files": _files(photo, requests, plugin_files),
        "inputs": dict(inputs),
    }
    recipe["sha256"] = digest(recipe)
    return recipe


def _files(
    photo: Any, requests: Sequence[StyleRequest], plugin_files: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``{"role", "path", "sha256"}`` of every file a rerun reads: the photo, each painting,
    the engine's and the compositor's files."""
    found: list[tuple[str, Any]] = [("photo", photo)]
    found += [("style", s) for r in requests for s in r.sources]
    out = []
    for role, value in found:
        if isinstance(value, (str, Path)):
            path = Path(value).resolve()
            out.append({"role": role, "path": str(path), "sha256": path_sha256(path)})
    for role, entry in plugin_files.items():
        path = Path(str(entry["path"])).resolve()
        out.append({"role": role, "path": str(path), "sha256": entry.get("sha256")})
    return out


def style_text(request: StyleRequest) -> str:
    """The style of ``request`` as a ``--style`` value, its files by absolute path; a style
    that is not a file (a PIL image, a tensor) becomes ``<image>``, which cannot be rerun."""

    def source(value: Any) -> str:
        return str(Path(value).resolve()) if isinstance(value, (str, Path)) else "<image>"

    style = request.style
    if isinstance(style, StyleMix):
        text = "+".join(f"{source(s)}*{w:g}" for s, w in style.parts)
    else:
        text = source(style)
    text += "".join(option_text(k, v) for k, v in request.options.given().items())
    return text + ("" if request.strength == 1.0 else f":{request.strength!r}")


def digest(recipe: Mapping[str, Any]) -> str:
    """SHA-256 of the recipe without its ``sha256`` field (sorted keys, compact JSON)."""
    body = {k: v for k, v in recipe.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def to_text(recipe: Mapping[str, Any]) -> str:
    """The recipe as compact JSON (what the metadata holds)."""
    return json.dumps(recipe, sort_keys=True, separators=(",", ":"), allow_nan=False)


def encode_mask(mask: Tensor) -> dict[str, Any]:
    """A mask ``(H, W)`` in [0, 1], losslessly: ``png1`` (values 0 and 1), ``png8`` (each a
    multiple of 1/255, as every mask read from a PNG) or ``f32`` (deflated float32)."""
    m = mask.detach().float().cpu().contiguous()
    arr = m.numpy()
    out: dict[str, Any] = {"size": [int(arr.shape[0]), int(arr.shape[1])]}
    levels = np.round(arr * 255.0)
    if np.array_equal(levels.astype(np.float32) / np.float32(255.0), arr):
        binary = bool(np.isin(levels, (0.0, 255.0)).all())
        img = Image.fromarray(levels.astype(np.uint8), "L")
        if binary:
            img = img.convert("1")
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=False, compress_level=9)
        out["encoding"], data = ("png1" if binary else "png8"), buf.getvalue()
    else:
        out["encoding"], data = "f32", zlib.compress(arr.astype("<f4").tobytes(), 9)
    out["data"] = base64.b64encode(data).decode("ascii")
    return out


def decode_mask(entry: Mapping[str, Any]) -> Tensor:
    """The mask ``(H, W)`` float32 of :func:`encode_mask`'s entry."""
    try:
        h, w = (int(v) for v in entry["size"])
        data = base64.b64decode(entry["data"], validate=True)
        kind = entry["encoding"]
    except (KeyError, TypeError, ValueError):
        raise RecipeError("a mask in the recipe is malformed") from None
    if not (0 < h <= 1 << 16 and 0 < w <= 1 << 16):
        raise RecipeError(f"a mask in the recipe has an impossible size {w}×{h}")
    if kind == "f32":
        raw = _inflate(data, 4 * h * w)
        if len(raw) != 4 * h * w:
            raise RecipeError("a float mask in the recipe has the wrong length")
        arr = np.frombuffer(raw, dtype="<f4").reshape(h, w).astype(np.float32)
    elif kind in ("png1", "png8"):
        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.size != (w, h):
                    raise RecipeError("a mask in the recipe does not have its recorded size")
                levels = np.asarray(img.convert("L"), dtype=np.float32)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            raise RecipeError("a mask in the recipe is not a readable PNG") from None
        arr = levels / np.float32(255.0)
    else:
        raise RecipeError(f"a mask in the recipe has an unknown encoding {kind!r}")
    if not np.isfinite(arr).all() or arr.min(initial=0) < 0 or arr.max(initial=0) > 1:
        raise RecipeError("a mask in the recipe has values outside [0, 1]")
    return torch.from_numpy(np.ascontiguousarray(arr))


def _inflate(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error:
        raise RecipeError("a mask in the recipe is not valid deflate data") from None
    return out


# --- reading and checking ----------------------------------------------------------------


def parse(text: str | bytes, where: str) -> dict[str, Any]:
    """A recipe's JSON text → the recipe, checked: its format, its version against this tst's,
    and its hash (a changed recipe is refused)."""
    if len(text) > MAX_RECIPE_BYTES:
        raise RecipeError(f"the recipe in '{where}' is larger than {MAX_RECIPE_BYTES >> 20} MiB")
    try:
        recipe = json.loads(text)
    except (ValueError, RecursionError):
        raise RecipeError(f"the recipe in '{where}' is not valid JSON") from None
    if not isinstance(recipe, dict) or recipe.get("format") != "tst-recipe":
        raise RecipeError(f"'{where}' holds no tst recipe")
    version = recipe.get("version")
    made_by = str(recipe.get("versions", {}).get("tst", "?"))
    if not isinstance(version, int) or version > RECIPE_VERSION or newer(made_by, __version__):
        raise RecipeError(
            f"the recipe in '{where}' was written by tst {made_by}, newer than this tst "
            f"{__version__}; update tst to rerun it"
        )
    if recipe.get("sha256") != digest(recipe):
        raise RecipeError(
            f"the recipe in '{where}' has been changed since tst wrote it (its SHA-256 does "
            "not match); rerun from an unedited picture"
        )
    return recipe


def newer(version: str, than: str) -> bool:
    """Whether release ``version`` (``1.2.0``) is newer than ``than`` (numeric parts only)."""

    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", v.split("+")[0])[:3])

    return parts(version) > parts(than)


def check_inputs(recipe: Mapping[str, Any], where: str) -> None:
    """Every file the recipe's run read must exist with its recorded contents."""
    photo = recipe.get("photo")
    if not isinstance(photo, str):
        raise RecipeError(
            f"the recipe in '{where}' has no photo file (the run was given an image object); "
            "it cannot be rerun"
        )
    for entry in recipe.get("files", []):
        path, sha, role = entry.get("path"), entry.get("sha256"), entry.get("role", "file")
        if not isinstance(path, str):
            raise RecipeError(f"the recipe in '{where}' names a file without a path")
        if not os.path.lexists(path):
            raise RecipeError(
                f"the recipe in '{where}' names the {role} '{path}', which does not exist"
            )
        if sha is not None and path_sha256(path) != sha:
            raise RecipeError(
                f"the {role} '{path}' has changed since the recipe in '{where}' was written "
                "(its SHA-256 differs)"
            )
    for target in recipe.get("targets", []):
        if "<image>" in str(target.get("style", "")):
            raise RecipeError(
                f"the recipe in '{where}' has a style that was an image object, not a file; "
                "it cannot be rerun"
            )


def segmentation(recipe: Mapping[str, Any]) -> tuple[Segmentation, list[str]]:
    """The targets' masks as a segmentation and the ``--style`` requests that pick them
    (``id:N``; ``all`` stays ``all``), in the recipe's order."""
    h, w = (int(v) for v in recipe["size"])
    instances: list[Instance] = []
    styles: list[str] = []
    for entry in recipe["targets"]:
        style = str(entry["style"])
        if "mask" not in entry:
            styles.append(f"all={style}")
            continue
        mask = decode_mask(entry["mask"])
        if tuple(mask.shape) != (h, w):
            raise RecipeError("a mask in the recipe does not have the photo's size")
        # descending scores keep the recipe's order as the ids
        score = 1.0 - len(instances) / (len(recipe["targets"]) + 1)
        label = _label(str(entry.get("selector", "region")))
        box = Box.around(mask) if bool((mask > 0).any()) else Box(0, 0, 1, 1)
        instances.append(Instance(label, score, box, mask))
        styles.append(f"id:{len(instances) - 1}={style}")
    return Segmentation(tuple(instances), (h, w)), styles


def _label(selector: str) -> str:
    first = selector.split(",")[0].strip().lower()
    label = first.split("#")[0]
    return "region" if not label or label.startswith("id:") else label
