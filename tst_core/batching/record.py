"""``OUTDIR/batch.jsonl``: one JSON line per photo, appended as each finishes.

A line is written with one ``write`` on a file opened for appending and flushed to disk, so a
killed batch keeps every line it finished (a torn last line is ignored when read back). The
file is a log: a rerun appends again, and the last line of a photo is its current state.

``OUTDIR/.batch.lock`` is held (``flock``) while a batch runs and names its owner: the batch's
process id and a random token that its workers carry; a worker writes a photo only while the
lock file still names its own batch (:func:`check_owner`), so a worker that outlived a killed
batch cannot write into a folder another batch now holds. Neither file is opened through a
symbolic link, and each must be a regular file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError
from ..reading import MAX_RECORD, open_bytes, read_text

RECORD_FILE = "batch.jsonl"
LOCK_FILE = ".batch.lock"

Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class PhotoResult:
    """How one photo of a batch ended.

    :param photo: the photo's path.
    :param status: ``done`` (written), ``skipped`` (nothing to do, ``reason`` says why) or
        ``failed`` (``reason`` is the error).
    :param reason: one line; empty for ``done``.
    :param seconds: wall time the worker spent on the photo.
    :param outputs: the files written (image and report).
    :param timings: the run's seconds per stage (``segment``, ``stylize``, ...), when it ran.
    :param worker: which worker ran it (``host:pid``).
    :param key: the fingerprint of the photo's configuration and inputs, when known.
    """

    photo: str
    status: Status
    reason: str = ""
    seconds: float = 0.0
    outputs: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    worker: str = ""
    key: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["outputs"] = list(self.outputs)
        return {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **data}


class Record:
    """The batch's record file, held under an exclusive lock while the batch runs.

    :param owner: the batch's token, written into the lock file (see the module docstring).
    :raises InputError: when another batch is writing into the same folder, when either file
        is a link or not a regular file, or cannot be written (a full disk).
    """

    def __init__(self, outdir: Path, owner: str = "") -> None:
        self.path = outdir / RECORD_FILE
        self._lock = _open_own(outdir / LOCK_FILE, os.O_RDWR | os.O_CREAT, "the batch lock")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise InputError(
                f"another tst batch is writing into '{outdir}'; wait for it or use another -o"
            ) from None
        try:
            os.ftruncate(self._lock, 0)
            os.write(self._lock, f"{os.getpid()} {owner}\n".encode())
            self._fd = _open_own(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "the record")
        except BaseException as exc:
            os.close(self._lock)
            if isinstance(exc, OSError):
                raise _write_error(outdir / LOCK_FILE, exc) from None
            raise

    def append(self, result: PhotoResult) -> None:
        line = json.dumps(result.to_json(), ensure_ascii=False) + "\n"
        try:
            os.write(self._fd, line.encode("utf-8"))
            os.fsync(self._fd)
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._lock)


def _write_error(path: Path, exc: OSError) -> InputError:
    return InputError(f"cannot write the batch's '{path}': {exc.strerror or exc}")


def _open_own(path: Path, flags: int, what: str) -> int:
    """Open a file of the batch's own (never through a link; a regular file only)."""
    nofollow = flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, nofollow, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(
                f"{what} '{path}' is a symbolic link; tst writes its own file there and never "
                "follows a link (remove it)"
            ) from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):
            raise InputError(f"{what} '{path}' is not a regular file; remove it") from None
        raise _write_error(path, exc) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"{what} '{path}' is not a regular file; remove it")
    return fd


def check_owner(outdir: Path, owner: str) -> None:
    """Refuse to write into ``outdir`` unless its lock file names the batch ``owner``.

    :raises InputError: the lock names another batch (this one was killed and a new one took
        the folder) or cannot be read.
    """
    try:
        text = read_text(outdir / LOCK_FILE, "the batch lock", 4096, follow_links=False)
    except InputError as exc:
        raise InputError(f"not writing into '{outdir}': {exc}") from None
    if text.split()[1:2] != [owner]:
        raise InputError(
            f"not writing into '{outdir}': the batch that started this worker no longer holds "
            "it (it was stopped or killed, and another batch may write there now)"
        )


def read_record(path: Path) -> Iterator[dict[str, Any]]:
    """The lines of a record file that parse (a line torn by a kill is skipped)."""
    if not os.path.lexists(path):
        return
    with open_bytes(path, "the batch record", MAX_RECORD, follow_links=False) as f:
        for raw in f:
            with contextlib.suppress(ValueError, RecursionError):
                data = json.loads(raw.decode("utf-8", errors="replace"))
                if isinstance(data, dict) and "photo" in data:
                    yield data


def last_skips(path: Path) -> dict[str, tuple[str, str]]:
    """``{photo: (key, reason)}`` for photos whose last line is a skip without outputs (a
    selector that matched nothing, not an up-to-date output), so that a rerun with the same
    fingerprint skips them again without running them."""
    out: dict[str, tuple[str, str]] = {}
    for line in read_record(path):
        photo = str(line["photo"])
        out.pop(photo, None)
        if line.get("status") == "skipped" and line.get("key") and not line.get("outputs"):
            out[photo] = (str(line["key"]), str(line.get("reason", "")))
    return out
