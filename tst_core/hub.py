"""Fetching known checkpoints on first use into the ``$TORCH_HOME`` cache, verified and locked.

:func:`resolve` is what plugins call: an explicit path wins; else the record's file in
``torch.hub.get_dir()/checkpoints`` (where torchvision keeps its downloads, so a file torchvision
fetched is reused); else :func:`fetch` downloads it:

1. under a lock file beside it (``NAME.lock``), so a second process waits and then finds the
   file instead of downloading it again or writing over it;
2. to a temporary name (``NAME.part``), hashing while it streams, with a progress bar on a
   terminal;
3. bounded: the body may not exceed the record's size (or, for a record that knows only its
   size in MiB, that plus 1 %; for one that knows nothing, :data:`MAX_UNKNOWN`): a server that
   announces or sends more is cut off at the first byte too many; the whole transfer has a
   deadline of ``$TST_WEIGHTS_TIMEOUT`` plus the size at :data:`MIN_RATE`, so a server that
   drips a byte a second ends too, and a second process waits for the lock no longer than that;
4. checked: the byte count against ``Content-Length`` and the record's size, the SHA-256
   against the record's digest (or torchvision's hash prefix in the file name);
5. renamed to its final name only when every check passed. A failed or interrupted download
   leaves no file under the final name; a failed check deletes what was downloaded.

``TST_OFFLINE=1`` (``--offline`` on the command line) forbids any network access: a missing
file is one :class:`WeightsError` sentence naming the file, the URL and the command that fetches
it. ``TST_WEIGHTS_URL`` points every download at a mirror that serves the files under their
cache names (``$TST_WEIGHTS_URL/vgg19-dcbb9e9d.pth``; ``http(s)://`` or ``file://``).
Nothing is fetched at import time.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import http.client
import os
import stat
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WeightsError
from .records import WeightsRecord, record, records
from .weights import cache_dir, error_reason

OFFLINE_ENV = "TST_OFFLINE"
MIRROR_ENV = "TST_WEIGHTS_URL"
TIMEOUT_ENV = "TST_WEIGHTS_TIMEOUT"
#: seconds a connection may stay silent before a download is abandoned
DEFAULT_TIMEOUT = 60.0
CHUNK = 1 << 20
#: the slowest average transfer a download may have (bytes per second): its deadline
MIN_RATE = 100 * 1024
#: the most bytes taken from a server for a record that gives no size at all
MAX_UNKNOWN = 4 << 30


def offline() -> bool:
    """Whether ``TST_OFFLINE`` forbids network access (``1``, ``true``, ``yes``, ``on``)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def source_url(rec: WeightsRecord) -> str:
    """Where ``rec`` is fetched from: ``$TST_WEIGHTS_URL/<file name>`` or the record's URL."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return f"{mirror.rstrip('/')}/{rec.file_name}" if mirror else rec.url


def cached_path(rec: WeightsRecord) -> Path:
    """The record's file in the cache (present or not)."""
    return cache_dir() / rec.file_name


def fetch_command(rec: WeightsRecord) -> str:
    return f"tst weights fetch {rec.name}"


def resolve(
    rec: WeightsRecord,
    *,
    path: str | os.PathLike[str] | None = None,
    option: str = "--weights FILE",
    alternatives: str = "",
    progress: bool | None = None,
) -> Path:
    """The checkpoint file to load for ``rec``: ``path`` if given (it must exist), else the
    cached file, fetched first if it is missing (see the module docstring).

    :param option: how the user gives a path, for messages (``""``: they cannot).
    :param alternatives: another way out for messages, e.g. ``"or use --segmenter yolo"``.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise WeightsError(f"{rec.description or rec.name} checkpoint '{p}' does not exist")
        return p
    if rec.pending:
        raise WeightsError(f"{rec.name}: {rec.pending}")
    cached = cached_path(rec)
    if cached.is_file():
        size = cached.stat().st_size
        if rec.size is not None and size != rec.size:  # cheap; the hash is checked on fetch
            raise WeightsError(
                f"the cached {cached} has {size} bytes, not the {rec.size} of {rec.name}; "
                f"delete it and run `{fetch_command(rec)}`"
            )
        return cached
    if offline():
        ways = [f"or pass {option}" if option else "", alternatives]
        raise WeightsError(
            f"{rec.description or rec.name}: '{rec.file_name}' is not in {cached.parent} "
            f"($TORCH_HOME cache) and {OFFLINE_ENV}=1 (--offline) forbids fetching it from "
            f"{source_url(rec)}; run `{fetch_command(rec)}` on a machine with network access "
            "(then copy the file into that folder)" + "".join(f", {w}" for w in ways if w)
        )
    try:
        return fetch(rec, progress=progress)
    except WeightsError as exc:  # no network, say: name the other ways here too
        ways = [f"or pass {option}" if option else "", alternatives]
        if not any(ways):
            raise
        raise WeightsError(str(exc) + "".join(f", {w}" for w in ways if w)) from None


def fetch(rec: WeightsRecord, *, progress: bool | None = None) -> Path:
    """Download ``rec`` into the cache unless it is there; returns its path (a record whose
    digest is not recorded, :attr:`~tst_core.records.WeightsRecord.pending`, is refused).

    :param progress: show a progress bar on stderr; ``None``: when stderr is a terminal.
    :raises WeightsError: offline, unreachable, truncated, or a size or hash mismatch (one
        sentence; nothing is left under the final name).
    """
    if rec.pending:
        raise WeightsError(f"{rec.name}: {rec.pending}")
    final = cached_path(rec)
    if final.is_file():
        return final
    if offline():
        raise WeightsError(
            f"{OFFLINE_ENV}=1 (--offline) forbids fetching {rec.name} from {source_url(rec)}"
        )
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(
            f"cannot create the checkpoint cache {final.parent} ({error_reason(exc)}); "
            "set TORCH_HOME to a folder you can write to"
        ) from None
    with _locked(final, rec, _deadline(_size_limit(rec))):
        if final.is_file():  # another process fetched it while we waited
            return final
        part = final.with_name(final.name + ".part")
        try:
            _download(rec, source_url(rec), part, progress)
            os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)
    return final


@contextlib.contextmanager
def _locked(final: Path, rec: WeightsRecord, wait: float) -> Iterator[None]:
    """Hold ``FINAL.lock`` (an OS file lock: the kernel drops it when its process dies),
    waiting at most ``wait`` seconds for another fetcher (whose own deadline is that long).

    The lock file stays behind: deleting it while another process waits on it would let a
    third one take a second, different lock.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(final) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"tst: waiting for another process fetching {rec.name}", file=sys.stderr)
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise WeightsError(
                f"another process has been fetching {rec.name} into {final.parent} for over "
                f"{wait:.0f} s (it holds {final.name}.lock); try again when it is done"
            ) from None
    try:
        yield
    finally:
        lock.release()


def _timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        return float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise WeightsError(f"{TIMEOUT_ENV} must be a number of seconds, got '{text}'") from None


def _size_limit(rec: WeightsRecord) -> int | None:
    """The most bytes a download of ``rec`` may bring (``None``: the server's length decides,
    within :data:`MAX_UNKNOWN`)."""
    if rec.size is not None:
        return rec.size
    if rec.size_mib:
        return int(rec.size_mib * 2**20 * 1.01) + CHUNK
    return None


def _deadline(limit: int | None) -> float:
    """Seconds a whole transfer of up to ``limit`` bytes may take."""
    return _timeout() + (MAX_UNKNOWN if limit is None else limit) / MIN_RATE


def _check_local(url: str, where: str) -> None:
    """A ``file://`` mirror must name a regular file: a FIFO would block the open forever."""
    if not url.lower().startswith("file:"):
        return
    path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    try:
        regular = stat.S_ISREG(path.stat().st_mode)
    except OSError as exc:
        raise WeightsError(f"cannot fetch {where}: {error_reason(exc)}") from None
    if not regular:
        raise WeightsError(f"cannot fetch {where}: not a regular file (a FIFO, device or socket)")


def _download(rec: WeightsRecord, url: str, part: Path, progress: bool | None) -> None:
    """Stream ``url`` into ``part`` and check it against ``rec`` (raises on any failure)."""
    where = f"{rec.name} from {url}"
    _check_local(url, where)
    request = urllib.request.Request(url, headers={"User-Agent": "tst"})
    try:
        response = urllib.request.urlopen(request, timeout=_timeout())
    except urllib.error.HTTPError as exc:
        said = " ".join(str(exc.reason).split())
        raise WeightsError(f"cannot fetch {where}: HTTP {exc.code} {said}") from None
    except http.client.HTTPException as exc:  # not HTTP: a bad status line, a header flood
        text = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise WeightsError(
            f"cannot fetch {where}: the server's answer is not HTTP ({text})"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        text = error_reason(reason) if isinstance(reason, BaseException) else str(reason)
        raise WeightsError(
            f"cannot fetch {where}: {text}; "
            f"without network access set {MIRROR_ENV} to a mirror, or fetch it elsewhere with "
            f"`{fetch_command(rec)}` and copy it into {part.parent}"
        ) from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() and len(length) < 20 else rec.size
        limit = _size_limit(rec)
        if limit is not None and total is not None and total > limit:
            raise WeightsError(
                f"{where} announces {total} bytes, more than the {limit} of the known file; "
                "nothing was fetched (a wrong mirror or file?)"
            )
        limit = limit if limit is not None else min(total or MAX_UNKNOWN, MAX_UNKNOWN)
        print(
            f"tst: fetching {rec.name} ({_size_text(total, rec)}) from {url} into {part.parent}",
            file=sys.stderr,
        )
        got, digest = _stream(response, part, rec, where, limit, total, progress)
    _check(rec, where, got, total, digest)


def _stream(
    response: Any,
    part: Path,
    rec: WeightsRecord,
    where: str,
    limit: int,
    total: int | None,
    progress: bool | None,
) -> tuple[int, str]:
    """Copy the body into ``part``: at most ``limit`` bytes, within :func:`_deadline`.

    :returns: the byte count and the SHA-256 (hex).
    """
    digest, got = hashlib.sha256(), 0
    deadline = time.monotonic() + _deadline(limit)
    try:
        with part.open("wb") as out, _bar(rec, total, progress) as bar:
            read = getattr(response, "read1", response.read)  # what has arrived, up to CHUNK
            while chunk := read(min(CHUNK, limit + 1 - got)):
                got += len(chunk)
                if got > limit:
                    raise WeightsError(
                        f"{where} sends more than the {limit} bytes of the known file; it was "
                        "cut off and nothing was kept (a wrong mirror or file?)"
                    )
                if time.monotonic() > deadline:
                    raise WeightsError(
                        f"the download of {where} is too slow: {got} bytes in "
                        f"{_deadline(limit):.0f} s (at least {MIN_RATE // 1024} KiB/s is "
                        "needed); nothing was kept, try again or fetch it elsewhere with "
                        f"`{fetch_command(rec)}`"
                    )
                out.write(chunk)
                digest.update(chunk)
                bar(len(chunk))
    except (http.client.HTTPException, OSError) as exc:
        raise WeightsError(
            f"the download of {where} broke off after {got} bytes ({error_reason(exc)}); "
            "nothing was kept, run the command again"
        ) from None
    return got, digest.hexdigest()


def _check(rec: WeightsRecord, where: str, got: int, total: int | None, digest: str) -> None:
    if total is not None and got != total:
        raise WeightsError(
            f"the download of {where} is truncated: {got} of {total} bytes; nothing was kept, "
            "run the command again"
        )
    if rec.size is not None and got != rec.size:
        raise WeightsError(
            f"{where} has {got} bytes, not the {rec.size} of the known file; it was deleted "
            "(a wrong mirror or file?)"
        )
    if not rec.matches(digest):
        raise WeightsError(
            f"{where} has SHA-256 {digest[:16]}…, expected {rec.expected[:16]}…; it was deleted "
            "(a corrupted download or a wrong mirror)"
        )


def _size_text(total: int | None, rec: WeightsRecord) -> str:
    if total is not None:
        return f"{total / 2**20:.1f} MiB"
    return f"about {rec.size_mib:.0f} MiB" if rec.size_mib else "size unknown"


@contextlib.contextmanager
def _bar(rec: WeightsRecord, total: int | None, progress: bool | None) -> Iterator[Any]:
    """A callable that advances a tqdm bar by N bytes (a no-op without a bar)."""
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=rec.name, file=sys.stderr
    ) as bar:
        yield bar.update


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- the API of `tst weights` ----------------------------------------------------------------


@dataclass(frozen=True)
class WeightsStatus:
    """One row of ``tst weights list``: a record, its cache path and whether it is there."""

    record: WeightsRecord
    path: Path
    present: bool
    url: str

    def row(self) -> dict[str, Any]:
        r = self.record
        return {
            "name": r.name,
            "plugin": r.plugin,
            "architecture": r.architecture,
            "size_mib": r.size_mib,
            "sha256": r.sha256 or r.hash_prefix or "not recorded",
            "revision": r.revision or None,
            "pending": r.pending or None,
            "licence": r.licence,
            "description": r.description,
            "url": self.url,
            "path": str(self.path),
            "present": self.present,
        }


def weights_status() -> list[WeightsStatus]:
    """Every known record with its cache path and presence; nothing is fetched."""
    return [
        WeightsStatus(r, cached_path(r), cached_path(r).is_file(), source_url(r))
        for r in records().values()
    ]


def select_records(patterns: Sequence[str]) -> list[WeightsRecord]:
    """Records by name or shell pattern (``sam-*``); a pattern that matches none is an error."""
    if not patterns:
        raise WeightsError(
            "name the weights to fetch (see `tst weights list`), e.g. vgg19-imagenet"
        )
    out: list[WeightsRecord] = []
    for pattern in patterns:
        found = [r for n, r in records().items() if fnmatch.fnmatchcase(n, pattern)]
        if not found:
            record(pattern)  # raises, listing the known names
        out += [r for r in found if r not in out]
    return out


def fetch_weights(
    patterns: Sequence[str], *, progress: bool | None = None
) -> list[tuple[WeightsRecord, Path, str]]:
    """Fetch the named records ahead of time (for a machine that will be offline).

    A file already in the cache is hashed and checked instead (a mismatch is an error that
    says to delete it). :returns: ``(record, path, "fetched" | "verified")`` per record.
    """
    out = []
    for rec in select_records(patterns):
        path = cached_path(rec)
        if path.is_file():
            digest = file_sha256(path)
            if not rec.matches(digest):
                raise WeightsError(
                    f"the cached {path} has SHA-256 {digest[:16]}…, expected "
                    f"{rec.expected[:16]}…; delete it and fetch it again"
                )
            out.append((rec, path, "verified"))
        else:
            out.append((rec, fetch(rec, progress=progress), "fetched"))
    return out
