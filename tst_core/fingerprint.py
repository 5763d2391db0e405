"""What a run read, by content: SHA-256 of the photo, the style images and the plugins' files.

A run's report carries :func:`input_record`; :func:`fingerprint` of that record and the resolved
configuration names the run, so a batch can tell that an existing output already is what the
same command would write (and skip it) without running anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .reading import check_file, walk

_CHUNK = 1 << 20
# (resolved path, size, mtime_ns) -> hex digest: a worker hashes each style image and mask
# folder once, not once per photo.
_cache: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes (cached while its size and mtime stay the same)."""
    p = check_file(Path(path).resolve(), "input", sys.maxsize)  # not a FIFO or device
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _cache:
            return _cache[key]
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    with _lock:
        _cache[key] = digest
    return digest


def path_sha256(path: str | os.PathLike[str]) -> str | None:
    """SHA-256 of a file, or of a folder's visible files (names and contents, sorted);
    ``None`` when ``path`` does not exist (a name, not a file)."""
    p = Path(path)
    if p.is_file():
        return file_sha256(p)
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(q for q in walk(p, "folder") if q.is_file()):
        rel = f.relative_to(p)
        if any(part.startswith(".") for part in rel.parts):
            continue
        h.update(f"{rel.as_posix()}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()


def value_sha256(value: Any) -> str | None:
    """SHA-256 of a photo or style given as a path, a PIL image or a tensor."""
    if isinstance(value, (str, Path)):
        return path_sha256(value)
    if isinstance(value, Image.Image):
        data = value.mode.encode() + repr(value.size).encode() + value.tobytes()
        return hashlib.sha256(data).hexdigest()
    if isinstance(value, torch.Tensor):
        t = value.detach().float().cpu().contiguous()
        return hashlib.sha256(repr(tuple(t.shape)).encode() + t.numpy().tobytes()).hexdigest()
    return None


def plugin_files(options_by_key: Mapping[str, Any]) -> dict[str, dict[str, str | None]]:
    """``{"segmenter.maskfile.masks": {"path", "sha256"}}`` for every ``Path`` option set.

    :param options_by_key: ``{"segmenter.maskfile": options dataclass, ...}``.
    """
    out: dict[str, dict[str, str | None]] = {}
    for prefix, options in options_by_key.items():
        if not dataclasses.is_dataclass(options):
            continue
        for f in dataclasses.fields(options):
            value = getattr(options, f.name)
            if isinstance(value, Path):
                out[f"{prefix}.{f.name}"] = {"path": str(value), "sha256": path_sha256(value)}
    return out


def input_record(
    photo: Any, styles: Sequence[tuple[str, Any, float]], files: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``inputs`` table of a report.

    :param photo: the photo as given (path, PIL image or tensor).
    :param styles: ``(selector, style, strength)`` per ``--style``, in order.
    :param files: :func:`plugin_files` of the chosen plugins.
    """
    return {
        "photo": {"path": _name(photo), "sha256": value_sha256(photo)},
        "styles": [
            {
                "selector": selector,
                "style": _name(style),
                "strength": strength,
                "sha256": value_sha256(style),
            }
            for selector, style, strength in styles
        ],
        "files": dict(files),
    }


def fingerprint(config: Mapping[str, Any], inputs: Mapping[str, Any]) -> str:
    """One hex digest of a resolved configuration (as in a report) and an :func:`input_record`.

    Paths of the photo and the styles do not enter it, only their contents (a style that is
    not a file enters by its text), so a moved photo folder is still up to date.
    """

    def style_key(s: Mapping[str, Any]) -> list[Any]:
        return [s["selector"], s["strength"], s["sha256"] or s["style"]]

    data = {
        "config": config,
        "photo": inputs["photo"]["sha256"],
        "styles": [style_key(s) for s in inputs["styles"]],
        "files": {k: v["sha256"] for k, v in inputs["files"].items()},
    }
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def report_fingerprint(report: Mapping[str, Any]) -> str | None:
    """:func:`fingerprint` of a report read back from JSON; ``None`` for one without inputs."""
    try:
        return fingerprint(report["config"], report["inputs"])
    except (KeyError, TypeError):
        return None


def _name(value: Any) -> str:
    return str(value) if isinstance(value, (str, Path)) else type(value).__name__
