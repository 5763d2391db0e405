"""Reading a file with a bound: a regular file, of at most so many bytes, checked before a byte
is read.

Every file tst reads whole (manifests, configs, JSON indexes and reports, the batch record,
model metadata, pickles) goes through :func:`read_bytes` or :func:`read_text`: the file is
opened without blocking (a FIFO would otherwise hang the open), its kind and size are taken
from the open descriptor (no window between a check and the read), anything but a regular
file is refused, and a file over the caller's limit is refused before it is read; the read
itself stops one byte past the limit, for a file that grows meanwhile. A file handed to a
library that opens it itself (a checkpoint for ``torch.load``, a model for a runtime) is checked
first with :func:`check_file`. Every refusal is one :class:`InputError` sentence that names the
file and what it was for.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import InputError

#: limits for the files tst reads whole (bytes)
MAX_CONFIG = 1 << 20  # a TOML preset or config file
MAX_JSON = 16 << 20  # an index (instances.json), a run's report, a model's manifest.json
MAX_MANIFEST = 256 << 20  # a batch manifest: about a million lines
MAX_RECORD = 1 << 30  # a batch record (batch.jsonl), appended to by every run


def _mb(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n} bytes"


def _open_error(path: Path, what: str, exc: OSError) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{what} '{path}' does not exist")
    if isinstance(exc, IsADirectoryError):
        return InputError(f"{what} '{path}' is a folder, not a file")
    return InputError(f"cannot read {what} '{path}': {exc.strerror or exc}")


def _check_mode(path: Path, what: str, st: os.stat_result, limit: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what} '{path}' is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} '{path}' is not a regular file (a FIFO, device or socket)")
    if st.st_size > limit:
        raise InputError(
            f"{what} '{path}' is too large: {_mb(st.st_size)}, tst reads at most {_mb(limit)}"
        )


def check_file(path: str | os.PathLike[str], what: str, limit: int) -> Path:
    """``path`` if it is a regular file (through links) of at most ``limit`` bytes.

    For files a library opens itself; a file read here goes through :func:`read_bytes`.
    """
    p = Path(path)
    try:
        st = p.stat()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        if isinstance(exc, ValueError):
            raise InputError(f"{what} {str(p)!r} is not a valid file name") from None
        raise _open_error(p, what, exc) from None
    _check_mode(p, what, st, limit)
    return p


def _open_fd(path: Path, what: str, limit: int, follow_links: bool) -> int:
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except ValueError:
        raise InputError(f"{what} {str(path)!r} is not a valid file name") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:
            raise InputError(
                f"{what} '{path}' is a symbolic link; tst does not follow it"
            ) from None
        raise _open_error(path, what, exc) from None
    try:
        _check_mode(path, what, os.fstat(fd), limit)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def open_bytes(
    path: str | os.PathLike[str], what: str, limit: int, *, follow_links: bool = True
) -> Iterator[BinaryIO]:
    """The regular file ``path`` (at most ``limit`` bytes when opened) open for reading, for a
    reader that streams it (line by line)."""
    fd = _open_fd(Path(path), what, limit, follow_links)
    with os.fdopen(fd, "rb") as f:
        try:
            yield f
        except OSError as exc:
            raise InputError(f"cannot read {what} '{path}': {exc.strerror or exc}") from None


def read_bytes(
    path: str | os.PathLike[str], what: str, limit: int, *, follow_links: bool = True
) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them (see the module).

    :param follow_links: ``False`` for a file tst owns (its lock, its record): a link there
        is refused.
    """
    p = Path(path)
    fd = _open_fd(p, what, limit, follow_links)
    try:
        chunks, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as exc:
        raise InputError(f"cannot read {what} '{p}': {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if got > limit:
        raise InputError(f"{what} '{p}' is too large: it grew past {_mb(limit)} while read")
    return b"".join(chunks)


def read_text(
    path: str | os.PathLike[str], what: str, limit: int, *, follow_links: bool = True
) -> str:
    """The UTF-8 text of ``path`` (see :func:`read_bytes`); a file that is not UTF-8, or that
    holds a NUL byte (no text file tst reads has one), is refused naming the byte's offset."""
    data = read_bytes(path, what, limit, follow_links=follow_links)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} '{path}' is not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x})"
        ) from None
    if "\0" in text:
        raise InputError(f"{what} '{path}' holds a NUL byte (at byte {data.index(0)}): not text")
    return text


#: the deepest nesting of lists and tables tst accepts in a JSON or TOML file it reads (its
#: own files nest 3 deep); deeper values would exhaust Python's recursion in later steps
#: (copying, merging, printing) long after the parse succeeded
MAX_NESTING = 32


def check_nesting(value: object, what: str, limit: int = MAX_NESTING) -> None:
    """Refuse ``value`` (parsed JSON or TOML) if its lists and tables nest deeper than
    ``limit``; walked without recursion.

    :raises InputError: naming ``what``.
    """
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            continue
        if depth >= limit:
            raise InputError(f"{what} nests lists or tables over {limit} deep")
        stack.extend((c, depth + 1) for c in children)


#: the deepest folder tst walks into (a photo tree, a mask folder), and the most entries a walk
#: lists: deeper trees exhausted Python's recursion, larger ones memory
MAX_WALK_DEPTH = 64
MAX_WALK_ENTRIES = 1_000_000


def walk(folder: str | os.PathLike[str], what: str) -> list[Path]:
    """Every entry under ``folder`` (files and folders, not ``folder`` itself), as
    ``Path.rglob("*")`` lists them — links to folders are listed, not entered — but walked
    without recursion and within :data:`MAX_WALK_DEPTH` levels and :data:`MAX_WALK_ENTRIES`
    entries.

    :raises InputError: a tree deeper or larger than that, or a folder that cannot be listed.
    """
    root = Path(folder)
    out: list[Path] = []
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            with os.scandir(here) as entries:
                found = [(Path(e.path), e.is_dir(follow_symlinks=False)) for e in entries]
        except OSError as exc:
            raise InputError(f"cannot list {what} '{here}': {exc.strerror or exc}") from None
        out += [p for p, _ in found]
        if len(out) > MAX_WALK_ENTRIES:
            raise InputError(f"{what} '{root}' holds over {MAX_WALK_ENTRIES} files and folders")
        for path, is_dir in found:
            if is_dir:
                if depth + 1 >= MAX_WALK_DEPTH:
                    raise InputError(
                        f"{what} '{root}' nests folders over {MAX_WALK_DEPTH} levels deep"
                    )
                stack.append((path, depth + 1))
    return out
