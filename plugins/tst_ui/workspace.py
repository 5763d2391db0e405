"""What the server holds: uploads (size-limited, checked like any input), photos and their
segmentations, and the style gallery. Nothing here takes a path from the page: uploads get a
fresh folder and a cleaned name, and everything is looked up by id.

Uploads belong to a page's session (a cookie; requests without one share one anonymous
session): each session may keep at most its quota of upload bytes, sees only its own uploaded
photos and paintings (besides the ``--styles`` gallery), and its uploads are deleted from disk
when the session ends — idle for :data:`SESSION_IDLE` seconds with no job waiting or running —
or when the server stops.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch

from tst_core.boxes import Box
from tst_core.errors import InputError
from tst_core.files import read_image
from tst_core.overlay import instance_color
from tst_core.types import Instance, Segmentation, Tensor

from . import render

#: file types offered in the gallery (what Pillow reads; the readers check the content)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
#: seconds without a request after which a page's session ends (its uploads are deleted)
SESSION_IDLE = 3600.0
#: what a session id (the cookie's value) looks like
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

T = TypeVar("T")


def new_id() -> str:
    return secrets.token_urlsafe(8)


def safe_name(name: str) -> str:
    """A file name made of letters, digits, ``.``, ``-`` and ``_`` (``"upload"`` if none)."""
    base = Path(name.replace("\\", "/")).name
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[-100:]
    return clean or "upload"


class UploadTooLarge(InputError):
    """An upload over the size limit or the session's quota (HTTP 413)."""


def too_large(name: str, limit: int) -> UploadTooLarge:
    return UploadTooLarge(
        f"upload '{safe_name(name)}' is larger than the {limit / 1e6:g} MB limit "
        "(tst ui --max-upload-mb)"
    )


async def receive(
    chunks: AsyncIterator[bytes],
    folder: Path,
    name: str,
    limit: int,
    over: Callable[[], InputError] | None = None,
) -> Path:
    """Write an upload to ``folder/<new id>/<clean name>``, refusing more than ``limit`` bytes.

    :param over: the error past ``limit`` (default: :func:`too_large`).
    :raises UploadTooLarge: past the limit (nothing is left on disk).
    :raises InputError: for an empty upload.
    """
    target = folder / new_id() / safe_name(name)
    target.parent.mkdir(parents=True)
    size = 0
    try:
        with target.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise over() if over is not None else too_large(name, limit)
                out.write(chunk)
        if size == 0:
            raise InputError(f"upload '{safe_name(name)}' is empty")
    except BaseException:
        discard(target)
        raise
    return target


def discard(path: Path) -> None:
    """Remove an upload and its folder."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def checked_image(path: Path, what: str) -> Tensor:
    """Read an upload with :func:`tst_core.files.read_image` (decompression-bomb guard and all);
    a file that is refused is removed."""
    try:
        return read_image(path, what)
    except InputError as exc:  # the page names the file it sent, never the server's path
        discard(path)
        raise InputError(str(exc).replace(f"'{path}'", f"'{path.name}'")) from None
    except BaseException:
        discard(path)
        raise


class Recent(Generic[T]):
    """The ``limit`` most recently added values by id (older ones are forgotten)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str, value: T) -> T:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        return value

    def get(self, key: str, what: str) -> T:
        with self._lock:
            value = self._items.get(key)
        if value is None:
            raise InputError(f"unknown {what} (the server restarted or forgot it): open it again")
        return value

    def drop(self, keep: Callable[[T], bool]) -> None:
        """Forget every value for which ``keep`` is false."""
        with self._lock:
            for key in [k for k, v in self._items.items() if not keep(v)]:
                del self._items[key]


@dataclass
class Photo:
    """An uploaded photo: its file, size ``(H, W)`` and display copy ``(3, h, w)``.

    :param session: the session that uploaded it (the only one that sees it).
    """

    id: str
    path: Path
    size: tuple[int, int]
    display: Tensor = field(repr=False)
    session: str = ""


@dataclass
class UiSession:
    """A page's session: what it uploaded and when it was last seen."""

    id: str
    used: int = 0
    files: list[Path] = field(default_factory=list)
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    """Sessions by id, with a quota of upload bytes each; :meth:`sweep` ends idle ones."""

    def __init__(self, quota: int, idle: float = SESSION_IDLE) -> None:
        self.quota = quota
        self.idle = idle
        self._items: dict[str, UiSession] = {}
        self._lock = threading.Lock()

    def get(self, sid: str) -> UiSession:
        """The session ``sid`` (made on first use), marked as seen now."""
        with self._lock:
            session = self._items.setdefault(sid, UiSession(sid))
            session.seen = time.monotonic()
            return session

    def room(self, sid: str) -> int:
        """Upload bytes session ``sid`` may still add."""
        with self._lock:
            session = self._items.get(sid)
            return self.quota - (session.used if session else 0)

    def added(self, sid: str, path: Path) -> None:
        with self._lock:
            session = self._items.setdefault(sid, UiSession(sid))
            session.files.append(path)
            session.used += path.stat().st_size

    def removed(self, sid: str, path: Path, size: int) -> None:
        with self._lock:
            session = self._items.get(sid)
            if session is not None and path in session.files:
                session.files.remove(path)
                session.used -= size

    def sweep(self, busy: set[str], now: float | None = None) -> list[UiSession]:
        """End the sessions idle for :attr:`idle` seconds that no job in ``busy`` needs;
        their uploads are deleted. Returns them."""
        now = time.monotonic() if now is None else now
        with self._lock:
            ended = [
                s for s in self._items.values() if now - s.seen > self.idle and s.id not in busy
            ]
            for s in ended:
                del self._items[s.id]
        for s in ended:
            for path in s.files:
                discard(path)
        return ended

    def end_all(self) -> None:
        """The server stops: every session's uploads are deleted."""
        with self._lock:
            ended, self._items = list(self._items.values()), {}
        for s in ended:
            for path in s.files:
                discard(path)


#: the most changes a segmentation keeps to undo
MAX_UNDO = 200


@dataclass(frozen=True)
class Change:
    """One change to a segmentation that undo/redo step through: instance ``at`` went from
    ``before`` to ``after`` (``before`` ``None``: added; the instances), or a window of its mask
    ``patch = (y0, x0, before, after)`` changed (a brush stroke: only the window is kept)."""

    at: int
    before: Instance | None
    after: Instance | None
    patch: tuple[int, int, Tensor, Tensor] | None = None


@dataclass
class Segmented:
    """A photo's segmentation and the pictures drawn from it (cached by name).

    :param options: the segmenter's resolved options dataclass.
    """

    id: str
    photo: Photo
    segmenter: str
    options: Any
    segmentation: Segmentation = field(repr=False)
    seconds: float
    pictures: dict[str, bytes] = field(default_factory=dict, repr=False)
    #: how many times the page changed the instances (a region drawn or edited, a stroke, an
    #: undo or redo); 0: as the segmenter found them
    version: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: the changes that undo/redo step through (see :class:`Change`)
    _undo: list[Change] = field(default_factory=list, repr=False)
    _redo: list[Change] = field(default_factory=list, repr=False)
    #: instances whose mask tensor this object owns (cloned once, then painted in place)
    _owned: set[int] = field(default_factory=set, repr=False)

    def replace(self, instance: Instance, at: int | None) -> None:
        """Add ``instance`` (``at`` ``None``) or put it in place of instance ``at``; the
        pictures are drawn again. Instances are ranked by score, so a new one gets the lowest
        score there is (it comes last: every id stays) and an edited one keeps its score."""
        with self._lock:
            items = list(self.segmentation.instances)
            if at is None:
                lowest = min((i.score for i in items), default=1.0)
                change = Change(len(items), None, dataclasses.replace(instance, score=lowest))
            else:
                change = Change(at, items[at], dataclasses.replace(instance, score=items[at].score))
            self._apply(change, forward=True)
            self._undo.append(change)
            del self._undo[:-MAX_UNDO]
            self._redo.clear()

    def paint(self, at: int, y0: int, x0: int, cover: Tensor, add: bool) -> None:
        """Paint ``cover`` ``(h, w)`` into instance ``at``'s mask at ``(y0, x0)`` (``add``:
        the mask's maximum with it; else erase: its minimum with ``1 - cover``)."""
        with self._lock:
            if at not in self._owned:  # the segmenter's tensor is never changed in place
                inst = self.segmentation.instances[at]
                size = self.segmentation.size  # painted at the photo's size, where the brush is
                mask = inst.mask.clone() if inst.mask_size == size else inst.mask_at(size)
                self._set(at, dataclasses.replace(inst, mask=mask.contiguous()))
                self._owned.add(at)
            mask = self.segmentation.instances[at].mask
            h, w = cover.shape
            window = mask[y0 : y0 + h, x0 : x0 + w]
            before = window.clone()
            after = torch.maximum(before, cover) if add else torch.minimum(before, 1.0 - cover)
            after = (after * 255.0).round() / 255.0  # levels a mask file holds
            change = Change(at, None, None, (y0, x0, before, after))
            self._apply(change, forward=True)
            self._undo.append(change)
            del self._undo[:-MAX_UNDO]
            self._redo.clear()

    def undo(self) -> bool:
        """Take the last change back; ``False`` when there is none."""
        with self._lock:
            if not self._undo:
                return False
            change = self._undo.pop()
            self._apply(change, forward=False)
            self._redo.append(change)
            return True

    def redo(self) -> bool:
        """Make the last change taken back again; ``False`` when there is none."""
        with self._lock:
            if not self._redo:
                return False
            change = self._redo.pop()
            self._apply(change, forward=True)
            self._undo.append(change)
            return True

    def history(self) -> dict[str, int]:
        return {"undo": len(self._undo), "redo": len(self._redo)}

    def _apply(self, change: Change, *, forward: bool) -> None:
        if change.patch is not None:
            y0, x0, before, after = change.patch
            inst = self.segmentation.instances[change.at]
            h, w = before.shape
            inst.mask[y0 : y0 + h, x0 : x0 + w] = after if forward else before
            box = Box.around(inst.mask, 0.0)
            self._set(change.at, dataclasses.replace(inst, box=box if box.width else inst.box))
        else:
            items = list(self.segmentation.instances)
            new = change.after if forward else change.before
            if new is None:  # a region added, taken back: it was the last instance
                items.pop(change.at)
            elif change.at == len(items):
                items.append(new)
            else:
                items[change.at] = new
            self.segmentation = Segmentation(tuple(items), self.segmentation.size)
            self._owned.discard(change.at)
        self.version += 1
        self.pictures = {}

    def _set(self, at: int, instance: Instance) -> None:
        items = list(self.segmentation.instances)
        items[at] = instance
        self.segmentation = Segmentation(tuple(items), self.segmentation.size)

    def picture(self, name: str) -> bytes:
        """``overlay`` (JPEG), or the selection layer (PNG) ``0``, ``1``..., ``background``,
        ``all``; drawn at display size on first use."""
        if name not in self.pictures:
            self.pictures[name] = self._draw(name)
        return self.pictures[name]

    def _draw(self, name: str) -> bytes:
        size = (int(self.photo.display.shape[-2]), int(self.photo.display.shape[-1]))
        shown = render.display_segmentation(self.segmentation, size)
        if name == "overlay":
            return render.encode(render.outlined(self.photo.display, shown), "JPEG")
        if name == "all":
            return render.encode(render.selection_layer(torch.ones(size), render.REGION_COLOR))
        if name == "background":
            mask = 1.0 - shown.covered()
            return render.encode(render.selection_layer(mask, render.REGION_COLOR))
        if name.isdigit() and int(name) < len(shown):
            i = int(name)
            color = instance_color(i)
            return render.encode(render.selection_layer(shown.instances[i].mask, color))
        raise InputError(f"no picture '{name}' for this photo")


@dataclass(frozen=True)
class Style:
    """A painting of the gallery: from the ``--styles`` folder or uploaded (by ``session``)."""

    id: str
    path: Path
    name: str
    uploaded: bool = False
    session: str = ""

    def shown_to(self, session: str) -> bool:
        return not self.uploaded or self.session == session


class Gallery:
    """The ``--styles`` folder's images (read when first shown) and the uploaded styles."""

    def __init__(self, folder: Path | None) -> None:
        self.styles: dict[str, Style] = {}
        self._thumbs: dict[str, bytes] = {}
        self._lock = threading.Lock()
        files = sorted(folder.iterdir()) if folder is not None else []
        for k, path in enumerate(
            p for p in files if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        ):
            self.styles[f"s{k}"] = Style(f"s{k}", path.resolve(), path.name)

    def paths(self, session: str = "") -> dict[str, Path]:
        """The paintings ``session`` may use: the gallery's and its own uploads."""
        return {s.id: s.path for s in self.styles.values() if s.shown_to(session)}

    def shown(self, session: str = "") -> list[Style]:
        return [s for s in self.styles.values() if s.shown_to(session)]

    def forget(self, paths: list[Path]) -> None:
        """Drop the uploaded styles stored at ``paths`` (their session ended)."""
        gone = set(paths)
        with self._lock:
            for sid in [k for k, s in self.styles.items() if s.uploaded and s.path in gone]:
                del self.styles[sid]
                self._thumbs.pop(sid, None)

    def add(self, path: Path, session: str = "") -> Style:
        """An uploaded style, checked like the CLI checks a style image."""
        image = checked_image(path, "style image")
        style = Style(f"u{new_id()}", path, path.name, uploaded=True, session=session)
        with self._lock:
            self._thumbs[style.id] = render.encode(render.thumbnail(image), "JPEG")
            self.styles[style.id] = style
        return style

    def thumb(self, style_id: str, session: str = "") -> bytes:
        style = self.styles.get(style_id)
        if style is None or not style.shown_to(session):
            raise InputError(f"unknown style '{style_id}'")
        with self._lock:
            cached = self._thumbs.get(style_id)
        if cached is None:
            cached = render.encode(render.thumbnail(read_image(style.path, "style image")), "JPEG")
            with self._lock:
                self._thumbs[style_id] = cached
        return cached
