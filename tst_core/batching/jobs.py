"""The photos of a batch: files, folders (recursively) and globs, or a JSON-lines manifest.

Each photo becomes a :class:`Job` with its output path under the output folder, mirroring the
input tree: ``photos/day1/a.jpg`` given as the folder ``photos`` is written to
``OUT/day1/a.png``; a file given by itself goes to ``OUT/a.png``; a glob mirrors the tree below
its first wildcard.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, SelectionError
from ..files import image_format
from ..outputs import inside
from ..reading import MAX_MANIFEST, check_nesting, read_text, walk
from ..segmenter_flags import PATH_KEYS, SEGMENTER_FLAGS
from ..select import parse_style_arg

#: Suffixes a folder or a glob contributes (other files there are not photos).
PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".jpe"}
)

#: What a manifest line may set besides ``photo``, ``styles`` and ``output``.
MANIFEST_OVERRIDES = frozenset(
    {"config", "sets", "segmenter", "engine", "blend", "size", "style_size", "seed", "device"}
)
#: Manifest keys that go to the segmenter's options (as ``--masks`` ... do).
MANIFEST_SEGMENTER_KEYS = frozenset(SEGMENTER_FLAGS)

_PLACEHOLDER = re.compile(r"\{(stem|name|rel|parent)\}")


@dataclass(frozen=True)
class Job:
    """One photo of a batch.

    :param index: position in the batch (0-based), for ordering and logs.
    :param photo: the photo file (absolute).
    :param output: the output image (absolute); its report is ``output.with_suffix(".json")``.
    :param styles: the ``--style`` texts for this photo (style paths made absolute).
    :param overrides: :func:`tst_core.api.session` arguments that differ from the batch's own
        (a manifest line's options, or per-photo masks from a ``{stem}`` pattern).
    :param skip_key: the fingerprint with which this photo was last skipped for a selector
        that matched nothing (from ``batch.jsonl``); the same fingerprint skips it again.
    :param skip_reason: that skip's reason.
    """

    index: int
    photo: Path
    output: Path
    styles: tuple[str, ...]
    overrides: Mapping[str, Any] = field(default_factory=dict)
    skip_key: str | None = None
    skip_reason: str = ""

    @property
    def report(self) -> Path:
        return self.output.with_suffix(".json")


def find_photos(
    inputs: Sequence[str | Path], exclude: Path | None = None
) -> list[tuple[Path, Path]]:
    """``(photo, path relative to its input root)`` for files, folders and globs, in order.

    Folders are walked recursively for :data:`PHOTO_SUFFIXES`, skipping hidden entries and
    ``exclude`` (the output folder). A photo named twice is kept once.

    :raises InputError: an input that does not exist, or a glob that matches no photo.
    """
    found: dict[Path, Path] = {}
    ex = absolute(exclude) if exclude is not None else None
    for item in inputs:
        text = str(item)
        if glob.has_magic(text):
            pairs = _from_glob(text, ex)
            if not pairs:
                raise InputError(f"'{text}' matches no photo ({_suffix_list()})")
        else:
            path = Path(text)
            if path.is_dir():
                pairs = _from_folder(path, ex)
            elif path.exists():
                pairs = [(absolute(path), Path(path.name))]
            else:
                raise InputError(f"input '{text}' does not exist")
        for photo, rel in pairs:
            found.setdefault(photo, rel)
    return list(found.items())


def absolute(path: str | Path) -> Path:
    """``path`` made absolute and normalised, but not through its symbolic links (a linked
    photo mirrors the name it has in the input tree)."""
    return Path(os.path.abspath(Path(path).expanduser()))


def _from_folder(folder: Path, exclude: Path | None) -> list[tuple[Path, Path]]:
    root = absolute(folder)
    out = []
    for p in sorted(walk(root, "input folder")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not _is_photo(p):
            continue
        if exclude is not None and p.is_relative_to(exclude):
            continue
        out.append((p, rel))
    return out


def _from_glob(pattern: str, exclude: Path | None) -> list[tuple[Path, Path]]:
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = absolute(Path(*parts[:fixed])) if fixed else Path.cwd()
    out = []
    try:
        names = sorted(glob.glob(pattern, recursive=True))
    except RecursionError:  # '**' over a tree nested deeper than Python's recursion
        raise InputError(f"'{pattern}' reaches folders nested too deeply to walk") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot search '{pattern}': {exc}") from None
    for name in names:
        p = absolute(name)
        if not _is_photo(p) or (exclude is not None and p.is_relative_to(exclude)):
            continue
        out.append((p, p.relative_to(root) if p.is_relative_to(root) else Path(p.name)))
    return out


def _is_photo(p: Path) -> bool:
    return p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()


def _suffix_list() -> str:
    return ", ".join(sorted(PHOTO_SUFFIXES))


def fill_placeholders(text: str, photo: Path, rel: Path) -> str:
    """Replace ``{stem}``, ``{name}``, ``{rel}`` (relative path without suffix) and
    ``{parent}`` (its folder) in ``text``; other braces stay as they are."""
    values = {
        "stem": photo.stem,
        "name": photo.name,
        "rel": rel.with_suffix("").as_posix(),
        "parent": rel.parent.as_posix(),
    }
    return _PLACEHOLDER.sub(lambda m: values[m[1]], text)


def has_placeholders(text: str) -> bool:
    return bool(_PLACEHOLDER.search(text))


def absolute_style(text: str, base: Path) -> str:
    """A ``--style`` text whose style image, if it is a relative path to an existing file or
    folder under ``base``, is made absolute (Ray workers do not share the driver's folder)."""
    req = parse_style_arg(text)
    if not isinstance(req.style, (str, Path)):
        return text
    style = Path(req.style)
    if style.is_absolute() or not (base / style).exists():
        return text
    return dataclasses.replace(req, style=absolute(base / style)).text()


def make_jobs(
    photos: Iterable[tuple[Path, Path]],
    outdir: Path,
    styles: Sequence[str],
    segmenter_options: Mapping[str, Any],
    suffix: str,
) -> list[Job]:
    """Jobs for ``find_photos`` results: ``{stem}``-style placeholders in the styles and the
    segmenter's path options are filled per photo."""
    jobs = []
    for i, (photo, rel) in enumerate(photos):
        job_styles = tuple(
            absolute_style(fill_placeholders(s, photo, rel), Path.cwd()) for s in styles
        )
        per_photo = {
            k: _absolute(fill_placeholders(str(v), photo, rel))
            for k, v in segmenter_options.items()
            if isinstance(v, (str, Path)) and has_placeholders(str(v))
        }
        overrides = {"segmenter_options": per_photo} if per_photo else {}
        output = inside(outdir, rel.with_suffix(suffix), what=f"the output of photo '{photo}'")
        jobs.append(Job(i, photo, absolute(output), job_styles, overrides))
    return jobs


def _absolute(text: str) -> str:
    return str(absolute(text))


def read_manifest(
    path: Path, outdir: Path, suffix: str, default_styles: Sequence[str] = ()
) -> list[Job]:
    """Jobs from a JSON-lines manifest, one object per line (blank lines are ignored)::

        {"photo": "day1/a.jpg", "styles": ["person=starry.jpg"], "masks": "masks/a",
         "size": 384, "sets": ["engine.gatys.iterations=50"], "output": "a_starry.png"}

    Relative paths are relative to the manifest's folder. ``output`` is relative to the output
    folder and must stay inside it, through links too (:func:`tst_core.outputs.inside`): a
    manifest is data and never chooses where tst writes.
    ``styles`` (a list, or one ``style`` text) replaces ``default_styles`` (the command's
    ``--style``); the other keys override the command's options for that photo.

    :raises InputError: a line that is not a JSON object, or has an unknown key or bad style.
    """
    base = absolute(path).parent
    jobs: list[Job] = []
    lines = read_text(path, "manifest", MAX_MANIFEST).splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"manifest '{path}' line {lineno}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where} is not JSON: {exc.msg}") from None
        except RecursionError:  # json's decoder recurses once per level
            raise InputError(f"{where} nests arrays or objects too deeply") from None
        check_nesting(entry, where)
        jobs.append(_manifest_job(len(jobs), entry, where, base, outdir, suffix, default_styles))
    if not jobs:
        raise InputError(f"manifest '{path}' has no jobs (one JSON object per line)")
    return jobs


def _manifest_job(
    index: int,
    entry: Any,
    where: str,
    base: Path,
    outdir: Path,
    suffix: str,
    default_styles: Sequence[str],
) -> Job:
    if not isinstance(entry, dict) or not isinstance(entry.get("photo"), str):
        raise InputError(f'{where}: expected an object with a "photo" path')
    for key, text in _texts(entry):
        if "\0" in text:
            raise InputError(f'{where}: "{key}" holds a NUL byte; no path or option has one')
    known = {"photo", "styles", "style", "output"} | MANIFEST_OVERRIDES | MANIFEST_SEGMENTER_KEYS
    unknown = sorted(set(entry) - known)
    if unknown:
        raise InputError(
            f"{where}: unknown key '{unknown[0]}'; known keys: {', '.join(sorted(known))}"
        )
    if entry["photo"].strip() in ("", ".", ".."):
        raise InputError(f'{where}: "photo" is not a file name')
    photo = absolute(base / entry["photo"])
    styles = entry.get("styles", [entry["style"]] if "style" in entry else [])
    if not isinstance(styles, list) or not all(isinstance(s, str) for s in styles):
        raise InputError(f'{where}: "styles" must be a list of SELECTOR=STYLE texts')
    try:
        styles = [absolute_style(s, base) for s in styles] or list(default_styles)
    except SelectionError as exc:
        raise InputError(f"{where}: {exc}") from None
    if not styles:
        raise InputError(f'{where}: no "styles", and the command gives no --style')
    overrides: dict[str, Any] = {k: entry[k] for k in MANIFEST_OVERRIDES if k in entry}
    if "config" in overrides and (base / str(overrides["config"])).is_file():
        overrides["config"] = str(absolute(base / str(overrides["config"])))
    seg = {k: entry[k] for k in MANIFEST_SEGMENTER_KEYS if k in entry}
    for k in PATH_KEYS:
        if isinstance(seg.get(k), str):
            seg[k] = str(absolute(base / seg[k]))
    if seg:
        overrides["segmenter_options"] = seg
    if "output" in entry:
        if not isinstance(entry["output"], str):
            raise InputError(f'{where}: "output" must be a file name under -o')
        output = inside(outdir, entry["output"], what=f'{where}: "output"')
    else:
        rel = _relative(photo, base)
        if rel.name in ("", ".", ".."):
            raise InputError(f"{where}: \"photo\" '{entry['photo']}' is not a file name")
        output = inside(outdir, rel.with_suffix(suffix), what=f"{where}: the output of '{photo}'")
    return Job(index, photo, absolute(output), tuple(styles), overrides)


def _texts(entry: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """``(key, text)`` for every string of a manifest line (nesting already bounded)."""
    stack: list[tuple[str, Any]] = list(entry.items())
    while stack:
        key, value = stack.pop()
        if isinstance(value, str):
            yield key, value
        elif isinstance(value, dict):
            stack += [(key, k) for k in value] + [(key, v) for v in value.values()]
        elif isinstance(value, list):
            stack += [(key, v) for v in value]


def _relative(photo: Path, base: Path) -> Path:
    return photo.relative_to(base) if photo.is_relative_to(base) else Path(photo.name)


def check_jobs(jobs: Sequence[Job]) -> None:
    """Refuse two photos with one output (image or report), and an output that is an input.

    :raises InputError: naming the first clash.
    """
    photos = {j.photo for j in jobs}
    seen: dict[Path, Job] = {}
    for job in jobs:
        image_format(job.output)
        for path in (job.output, job.report):
            if path in photos:
                raise InputError(
                    f"the output '{path}' of photo '{job.photo}' is an input photo; "
                    "choose another output folder or --suffix"
                )
            if path in seen:
                raise InputError(
                    f"photos '{seen[path].photo}' and '{job.photo}' would both write "
                    f"'{path}'; give their common folder instead, or use a manifest with outputs"
                )
            seen[path] = job
