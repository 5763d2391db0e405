"""Writing outputs all or none, never over an input.

A command names its outputs (``-o out.png`` and its report ``out.json``; a contact sheet and
its tables; an overlay and a folder of masks) and its inputs (the photo, style images, masks,
config files, checkpoints). :func:`check_outputs` checks every destination before any work:
no output may be an input or lie inside an input folder (after ``..`` and symbolic links are
resolved), no file destination may be a folder, each folder must exist (a new folder's parents
are created when it is written) and accept a file, and the disk must have room for the
estimated size. :func:`write_outputs` then, holding an advisory lock on each destination
folder, writes every file to a temporary beside its destination and only then renames them
into place; if a rename fails, what this call already renamed is restored; SIGINT and SIGTERM
wait until the renames are done. A replaced file keeps its permissions.

A path that comes from data — a batch manifest's ``output``, a recipe's, a UI job's — never
chooses where tst writes by itself: :func:`inside` accepts it only when it is relative, has no
``..`` and, after every symbolic link on the way is resolved, still lies inside the folder the
user named (``-o``); :func:`make_folders_inside` creates its missing folders one by one under
the same rule, just before the write.

Temporaries are named ``.NAME.tst-PID-TOKEN.part``. A process killed with SIGKILL cannot
remove its own; the next :func:`write_outputs` into that folder does (they are only ever
created under the folder's lock, so one found there whose process is gone is an orphan).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import secrets
import shutil
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no advisory locks
    fcntl = None  # type: ignore[assignment]

#: ``writer(tmp_path)`` writes one file at ``tmp_path``.
Writer = Callable[[Path], None]
#: A file's writer, or ``{file name: writer}`` for a new folder.
Contents = Writer | Mapping[str, Writer]

#: How long a writer waits for another process's lock on a destination folder.
LOCK_TIMEOUT = 120.0
#: What a temporary's name looks like (``.out.png.tst-1234-k3j2h1.part``).
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tst-(?P<pid>\d+)-[0-9a-f]+\.(?P<kind>part|bak)$")
#: How many bytes a temporary's name adds to its destination's, at most (the largest Linux
#: process id is 2**22).
TEMPORARY_EXTRA = len(f"..tst-{2**22}-{0:08x}.part")


@dataclass(frozen=True)
class Output:
    """A destination: a file, or a new folder of files (``folder=True``).

    :param flag: how the user named it, for messages (``-o``, ``--overlay``, ``the report of -o``).
    """

    path: Path
    flag: str = "-o"
    folder: bool = False


@dataclass(frozen=True)
class Input:
    """A file or folder a command reads.

    :param what: how the user named it, for messages (``photo``, ``segmenter.maskfile.masks``).
    """

    path: Path
    what: str = "input"


def as_output(item: Output | str | os.PathLike[str]) -> Output:
    return item if isinstance(item, Output) else Output(Path(item))


def as_input(item: Input | str | os.PathLike[str]) -> Input:
    return item if isinstance(item, Input) else Input(Path(item))


# --- paths that come from data --------------------------------------------------------------


def inside(
    root: str | os.PathLike[str], path: str | os.PathLike[str], *, what: str = "output"
) -> Path:
    """``root / path`` for a ``path`` taken from data, refused unless it stays inside ``root``.

    Refused, with one :class:`InputError` sentence naming ``what``: an absolute path, a ``..``
    part, a NUL byte, an empty name, and a path that leads out of ``root`` (or onto ``root``
    itself) through a symbolic link on the way — an existing folder or the file itself.
    Missing parts are fine (see :func:`make_folders_inside`).

    :param root: the folder the user chose (``-o``); it need not exist yet.
    :param what: how the data named it, for messages (``manifest line 3's "output"``).
    :returns: the path under ``root`` made absolute (not through links: the names stay).
    """
    text = os.fspath(path)
    if not isinstance(text, str):
        text = os.fsdecode(text)
    if "\0" in text:
        raise InputError(f"{what} {text!r} contains a NUL byte")
    rel = Path(text)
    if text.strip() == "" or rel.name in ("", ".", ".."):
        raise InputError(f"{what} {text!r} is not a file name")
    if rel.is_absolute() or rel.anchor:
        raise InputError(
            f"{what} '{text}' is an absolute path; it must be relative to '{root}', where tst "
            "writes"
        )
    if ".." in rel.parts:
        raise InputError(
            f"{what} '{text}' has a '..' part; it must stay inside '{root}', where tst writes"
        )
    base = Path(os.path.abspath(root))
    dest = base / rel
    real_base = _resolved(base)
    for prefix in (*reversed(rel.parents[:-1]), rel):
        real = _resolved(base / prefix)
        if not real.is_relative_to(real_base) or (prefix == rel and real == real_base):
            raise InputError(
                f"{what} '{text}' leads out of '{root}' through the link '{base / prefix}' "
                f"(to '{real}'); tst writes only inside '{root}'"
            )
    return dest


def make_folders_inside(root: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (absolute, under ``root``) and its missing parents one at a time, each
    checked to lie inside ``root`` after links just before it is made (see :func:`inside`).

    :raises InputError: a part that leads out of ``root``, or one that cannot be created.
    """
    base = Path(os.path.abspath(root))
    target = Path(os.path.abspath(folder))
    if target == base:
        base.mkdir(parents=True, exist_ok=True)
        return target
    if not target.is_relative_to(base):
        raise InputError(f"'{folder}' is not inside '{root}', where tst writes")
    base.mkdir(parents=True, exist_ok=True)
    rel = target.relative_to(base)
    for prefix in (*reversed(rel.parents[:-1]), rel):
        inside(base, prefix, what=f"folder '{base / prefix}'")
        try:
            (base / prefix).mkdir(exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"cannot create the folder '{base / prefix}': {exc.strerror or exc}"
            ) from None
        if not (base / prefix).is_dir():
            raise InputError(f"'{base / prefix}' is not a folder")
    inside(base, rel, what=f"folder '{target}'")
    return target


# --- checks before any work ----------------------------------------------------------------


def check_outputs(
    outputs: Iterable[Output | str | os.PathLike[str]],
    inputs: Iterable[Input | str | os.PathLike[str]] = (),
    *,
    need_bytes: int = 0,
) -> None:
    """Refuse, with one :class:`InputError` sentence, any destination that cannot be written.

    :param need_bytes: the estimated size of all outputs; each destination's disk must have it.
    """
    outs = [as_output(o) for o in outputs]
    ins = [as_input(i) for i in inputs]
    new_folders = {_resolved(o.path) for o in outs if o.folder}
    seen: dict[Path, Output] = {}
    for out in outs:
        _check_not_input(out, ins)
        target = _resolved(out.path)
        if target in seen:
            raise InputError(
                f"{out.flag} '{out.path}' and {seen[target].flag} '{seen[target].path}' "
                "are the same file; choose another name"
            )
        seen[target] = out
        if not out.folder and _resolved(out.path.parent) in new_folders:
            continue  # written into that new folder, which is checked itself
        folder = _check_new_folder(out) if out.folder else _check_file(out)
        _check_writable(folder, out)
        _check_space(folder, need_bytes, out)


def _resolved(path: Path) -> Path:
    """``path`` with ``..`` and every symbolic link resolved (the last part too)."""
    return Path(os.path.realpath(path))


def check_not_inputs(
    outputs: Iterable[Output | str | os.PathLike[str]],
    inputs: Iterable[Input | str | os.PathLike[str]],
) -> None:
    """The first check of :func:`check_outputs` alone: no output is an input or lies in an input
    folder. For outputs whose folders are made later (a batch's mirrored tree)."""
    ins = [as_input(i) for i in inputs]
    for out in outputs:
        _check_not_input(as_output(out), ins)


def _check_not_input(out: Output, inputs: Sequence[Input]) -> None:
    target = _resolved(out.path)
    # the path's own name unresolved too: replacing a link is refused when it names an input
    places = {target, _resolved(out.path.parent) / out.path.name}
    for inp in inputs:
        source = _resolved(inp.path)
        if source in places or _same_file(out.path, inp.path):
            raise InputError(
                f"refusing to overwrite the input file '{inp.path}' ({inp.what}) with "
                f"{out.flag} '{out.path}'; choose another {out.flag.split()[-1]}"
            )
        if source.is_dir() and any(p.is_relative_to(source) for p in places):
            raise InputError(
                f"refusing to write {out.flag} '{out.path}' into '{inp.path}', a folder this run "
                f"reads ({inp.what}); choose another folder"
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_file(out: Output) -> Path:
    """The folder a file destination goes into, after checking the destination itself."""
    path = out.path
    if path.name in ("", ".", ".."):
        raise InputError(f"{out.flag} '{path}' is not a file name")
    _check_name_length(out)
    if path.is_dir():
        raise InputError(
            f"{out.flag} '{path}' is a folder; give a file name (e.g. {path / 'out.png'})"
        )
    if path.exists() and not path.is_file():
        raise InputError(
            f"{out.flag} '{path}' exists and is not a regular file (a FIFO, device or socket)"
        )
    folder = _resolved(path.parent)
    if not folder.is_dir():
        raise InputError(f"cannot write {out.flag} '{path}': folder '{folder}' does not exist")
    return folder


def _check_new_folder(out: Output) -> Path:
    """The nearest existing folder above a new-folder destination, after checking it."""
    path = out.path
    _check_name_length(out)
    if path.exists() and not path.is_dir():
        raise InputError(f"{out.flag} '{path}' already exists and is not a folder")
    if path.exists() and any(path.iterdir()):
        raise InputError(
            f"{out.flag} '{path}' already exists and is not empty; choose a new folder"
        )
    above = _resolved(path).parent
    while not above.exists():
        above = above.parent
    if not above.is_dir():
        raise InputError(f"cannot create {out.flag} '{path}': '{above}' is not a folder")
    return above


def _check_name_length(out: Output) -> None:
    """A name the file system takes may still be too long for its temporary beside it: that
    would fail after the work, when the temporary is created."""
    try:
        limit = os.pathconf(_resolved(out.path.parent), "PC_NAME_MAX")
    except (OSError, ValueError):  # no such folder (refused next), or no limit reported
        limit = 255
    size = len(os.fsencode(out.path.name))
    if size + TEMPORARY_EXTRA > limit:
        raise InputError(
            f"{out.flag} '{out.path}': the file name is too long ({size} bytes; at most "
            f"{limit - TEMPORARY_EXTRA} here, as tst writes a temporary beside it first)"
        )


def _check_writable(folder: Path, out: Output) -> None:
    """Create and remove a file in ``folder``: the real test (permissions, read-only mounts)."""
    try:
        _probe(folder)
    except OSError as exc:
        raise InputError(
            f"cannot write {out.flag} '{out.path}': folder '{folder}' is not writable "
            f"({exc.strerror or exc})"
        ) from None


def _probe(folder: Path) -> None:
    probe = _temporary_path(folder / ".probe")
    os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    with contextlib.suppress(FileNotFoundError):  # another thread of ours reaped it
        os.unlink(probe)


def _check_space(folder: Path, need_bytes: int, out: Output) -> None:
    if need_bytes <= 0:
        return
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise InputError(
            f"not enough disk space for {out.flag} '{out.path}': about {_mb(need_bytes)} needed, "
            f"{_mb(free)} free in '{folder}'"
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


# --- writing ---------------------------------------------------------------------------------


def write_outputs(
    outputs: Mapping[Any, Contents],
    inputs: Iterable[Input | str | os.PathLike[str]] = (),
) -> tuple[Path, ...]:
    """Write every output, all or none (see the module docstring); returns their paths.

    :param outputs: ``{destination: writer}`` for a file, ``{destination: {name: writer}}`` for
        a new folder; a destination is an :class:`Output` or a path. A file whose folder is one
        of the new folders is written into it.
    :raises InputError: for a destination :func:`check_outputs` refuses, and for a write that
        fails (a full disk, a read-only folder); nothing is then left behind.
    """
    plan = {
        dataclasses.replace(as_output(k), folder=isinstance(v, Mapping)): v
        for k, v in outputs.items()
    }
    check_outputs(plan, inputs)
    into = {o: dict(c) for o, c in plan.items() if isinstance(c, Mapping)}
    by_path = {_resolved(o.path): o for o in into}
    files: dict[Output, Writer] = {}
    for out, contents in plan.items():
        if isinstance(contents, Mapping):
            continue
        home = by_path.get(_resolved(out.path.parent))
        if home is not None:
            into[home][out.path.name] = contents
        else:
            files[out] = contents
    folders = sorted({_resolved(o.path).parent for o in [*files, *into]})
    with contextlib.ExitStack() as stack:
        for folder in folders:
            stack.enter_context(_folder_lock(folder))
            _reap(folder)
        staging = _Staging()
        try:
            for out, writer in files.items():
                staging.file(out, writer)
            for out, writers in into.items():
                staging.folder(out, writers)
            with _signals_deferred():
                staging.commit()
        except BaseException:
            with _signals_deferred():
                staging.discard()
            raise
    return tuple(o.path for o in plan)


def _temporary_path(dest: Path, kind: str = "part") -> Path:
    return dest.parent / f".{dest.name}.tst-{os.getpid()}-{secrets.token_hex(4)}.{kind}"


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class _Staging:
    """Temporaries written beside their destinations, renamed in :meth:`commit`."""

    def __init__(self) -> None:
        self.staged: list[tuple[Path, Output]] = []
        self.backups: list[Path] = []
        self.made: list[Path] = []  # missing parents of new folders, created here
        self.done: list[tuple[Output, Path | None, bool]] = []

    def file(self, out: Output, writer: Writer) -> None:
        tmp = _temporary_path(_resolved(out.path.parent) / out.path.name)
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        self.staged.append((tmp, out))
        _write(out, writer, tmp)
        mode = _default_file_mode()
        if out.path.is_file():
            mode = stat.S_IMODE(out.path.stat().st_mode)  # a replaced output keeps its mode
        os.chmod(tmp, mode)

    def folder(self, out: Output, writers: Mapping[str, Writer]) -> None:
        parent = _resolved(out.path).parent
        missing = [p for p in (parent, *parent.parents) if not p.exists()]
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.made += missing
        except OSError as exc:
            raise InputError(f"cannot create {out.flag} '{out.path}': {exc.strerror}") from None
        tmp = _temporary_path(parent / out.path.name)
        tmp.mkdir(mode=0o700)
        self.staged.append((tmp, out))
        mode = _default_file_mode()
        for name, writer in writers.items():
            _write(out, writer, tmp / name)
            os.chmod(tmp / name, mode)
        os.chmod(tmp, mode | 0o111)

    def commit(self) -> None:
        """Rename every temporary into place; on a failure, undo the renames already done."""
        try:
            for tmp, out in self.staged:
                dest = _resolved(out.path.parent) / out.path.name
                backup = self._backup(dest, out)
                existed = out.folder and dest.is_dir()
                try:
                    if out.folder:
                        os.rename(tmp, dest)  # over an empty folder, never a full one
                    else:
                        os.replace(tmp, dest)
                except OSError as exc:
                    raise InputError(
                        f"cannot write {out.flag} '{out.path}': {exc.strerror or exc}"
                    ) from None
                self.done.append((out, backup, existed))
        except BaseException:
            self._rollback()
            raise
        for backup in self.backups:
            with contextlib.suppress(OSError):
                backup.unlink()

    def _backup(self, dest: Path, out: Output) -> Path | None:
        """A hard link to the file ``dest`` replaces, to restore it if a later rename fails."""
        if out.folder or not os.path.lexists(dest):
            return None
        backup = _temporary_path(dest, "bak")
        try:
            os.link(dest, backup, follow_symlinks=False)
        except OSError:
            return None  # no hard links here: that file cannot be restored
        self.backups.append(backup)
        return backup

    def _rollback(self) -> None:
        for out, backup, existed in reversed(self.done):
            dest = _resolved(out.path.parent) / out.path.name
            with contextlib.suppress(OSError):
                if out.folder:
                    shutil.rmtree(dest)
                    if existed:
                        dest.mkdir()
                elif backup is not None:
                    os.replace(backup, dest)
                else:
                    dest.unlink()
        self.done.clear()

    def discard(self) -> None:
        """Remove every temporary and backup left (after a failure)."""
        for tmp, _ in self.staged:
            _remove(tmp)
        for backup in self.backups:
            _remove(backup)
        for folder in self.made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()


def _write(out: Output, writer: Writer, tmp: Path) -> None:
    try:
        writer(tmp)
    except OSError as exc:  # a full disk, a folder made read-only since the checks
        raise InputError(f"cannot write {out.flag} '{out.path}': {exc.strerror or exc}") from None


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _reap(folder: Path) -> None:
    """Remove the temporaries that killed processes left in ``folder`` (under its lock)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        m = TEMPORARY.match(name)
        if m is None or _alive(int(m["pid"])):
            continue
        path = folder / name
        dest = folder / m["name"]
        if m["kind"] == "bak" and not os.path.lexists(dest):
            with contextlib.suppress(OSError):
                os.replace(path, dest)  # killed between moving the old file aside and renaming
            continue
        _remove(path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process holds the lock: nothing of its own is staged here yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


@contextlib.contextmanager
def _folder_lock(folder: Path, timeout: float | None = None) -> Iterator[None]:
    """An exclusive advisory lock (``flock``) on ``folder`` while outputs are renamed into it.

    A second writer into the same folder waits for it (at most :data:`LOCK_TIMEOUT` seconds),
    so two runs writing the same ``-o`` leave one run's image and report, not a mix.
    """
    wait = LOCK_TIMEOUT if timeout is None else timeout
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield  # cannot open the folder for locking; the checks already saw it exists
        return
    try:
        deadline = time.monotonic() + wait
        while fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InputError(
                        f"another process has been writing into '{folder}' for over {wait:.0f} s "
                        "(it holds the folder's lock); try again when it is done"
                    ) from None
                time.sleep(0.05)
            except OSError as exc:
                if exc.errno in (errno.ENOLCK, errno.EBADF, errno.EINVAL, errno.EOPNOTSUPP):
                    break  # a file system without flock (some network mounts): write unlocked
                raise
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block is done, then deliver them.

    Python runs signal handlers in the main thread only, so elsewhere nothing is deferred.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    saved = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if handler is None:  # installed outside Python: leave it
            continue
        saved[sig] = handler
        signal.signal(sig, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)
