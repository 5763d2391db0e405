"""``OUTDIR/batch.jsonl``: one JSON line per photo, appended as each finishes.

A line is written with one ``write`` on a file opened for appending and flushed to disk, so a
killed batch keeps every line it finished (a torn last line is ignored when read back). The
file is a log: a rerun appends again, and the last line of a photo is its current state.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError

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

    :raises InputError: when another batch is writing into the same folder.
    """

    def __init__(self, outdir: Path) -> None:
        self.path = outdir / RECORD_FILE
        self._lock = open(outdir / LOCK_FILE, "a")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise InputError(
                f"another tst batch is writing into '{outdir}'; wait for it or use another -o"
            ) from None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def append(self, result: PhotoResult) -> None:
        line = json.dumps(result.to_json(), ensure_ascii=False) + "\n"
        os.write(self._fd, line.encode("utf-8"))
        os.fsync(self._fd)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._lock.close()


def read_record(path: Path) -> Iterator[dict[str, Any]]:
    """The lines of a record file that parse (a line torn by a kill is skipped)."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            with contextlib.suppress(ValueError):
                data = json.loads(line)
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
