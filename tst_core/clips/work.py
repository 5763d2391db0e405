"""The work folder of one ``tst video`` output: what a killed run resumes from.

Beside the output ``OUT`` lives the hidden folder ``.OUT.tst-video/`` while the run works:

* ``state.json``: the two keys below; a run whose keys differ starts over (the tracks are
  kept when only the tracks key matches: a new style on the same clip needs no new tracking);
* ``tracks.json`` + ``tracks.npz``: the first pass (:class:`~.tracklog.TrackLog`);
* ``segment-NNNNN.mp4`` (or ``frames/`` for a frame-folder output): each finished segment,
  renamed into place when complete, with ``segment-NNNNN.npz``: its last output frame and
  masks, the temporal state the next segment starts from.

The **tracks key** names what the tracks depend on (the clip's bytes, the span, the working
size, the segmenter's and tracker's configuration); the **run key** everything the output
depends on. Each is a SHA-256 over their JSON. The folder is locked while a run uses it, and
removed when the output is complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

STATE = "state.json"


def digest(data: Mapping[str, Any]) -> str:
    """SHA-256 of ``data`` as canonical JSON (paths and other objects as text)."""
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def work_path(output: Path) -> Path:
    """``.OUT.tst-video`` beside ``output``."""
    return output.parent / f".{output.name}.tst-video"


class WorkFolder:
    """The work folder of ``output`` (module docstring); use as a context manager (locks)."""

    def __init__(self, output: Path) -> None:
        self.path = work_path(output)
        self.created = False
        self._lock: Any = None

    def __enter__(self) -> WorkFolder:
        self.created = not self.path.exists()
        try:
            self.path.mkdir(exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"cannot create the work folder '{self.path}': {exc.strerror or exc}"
            ) from None
        self._lock = open(self.path / ".lock", "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise InputError(
                f"another tst video is writing '{self.path.name[1:-10]}' (its work folder "
                f"'{self.path}' is locked); wait for it or choose another -o"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # --- keys --------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        try:
            data = json.loads((self.path / STATE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def begin(self, tracks_key: str, run_key: str) -> None:
        """Keep what was made under the same keys; clear the rest."""
        state = self.state()
        if state.get("tracks") != tracks_key:
            self._clear(keep_tracks=False)
        elif state.get("run") != run_key:
            self._clear(keep_tracks=True)
        self._write_json(STATE, {"tracks": tracks_key, "run": run_key})

    def _clear(self, *, keep_tracks: bool) -> None:
        for p in self.path.iterdir():
            if p.name == ".lock" or (keep_tracks and p.name.startswith("tracks.")):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()

    def _write_json(self, name: str, data: Any) -> None:
        tmp = self.path / f".{name}.part"
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path / name)

    # --- segments ----------------------------------------------------------------------------

    def segment(self, index: int) -> Path:
        """Where segment ``index``'s video goes once complete."""
        return self.path / f"segment-{index:05d}.mp4"

    def partial(self, name: str) -> Path:
        """A temporary beside ``name`` (renamed into place by the caller)."""
        return self.path / f".{name}.part"

    def frames(self) -> Path:
        """The folder of finished frames of a frame-folder output."""
        folder = self.path / "frames"
        folder.mkdir(exist_ok=True)
        return folder

    def finished(self, index: int) -> bool:
        """Whether segment ``index`` and its end state are complete."""
        return (self.path / f"segment-{index:05d}.done").exists()

    def finish(self, index: int, state: Mapping[str, np.ndarray]) -> None:
        """Record segment ``index`` as complete with its end ``state`` (arrays)."""
        name = f"segment-{index:05d}.npz"
        tmp = self.partial(name)
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **state)  # type: ignore[arg-type]
        os.replace(tmp, self.path / name)
        (self.path / f"segment-{index:05d}.done").touch()

    def end_state(self, index: int) -> dict[str, np.ndarray] | None:
        """The end state saved with segment ``index``, or ``None``."""
        try:
            with np.load(self.path / f"segment-{index:05d}.npz") as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        """Delete the folder (the output is complete)."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.path)


@contextlib.contextmanager
def removing_on_error(work: WorkFolder) -> Iterator[None]:
    """Remove a work folder this run created when a :class:`~tst_core.errors.TstError` or
    another error stops the run before it finished a segment (an interrupt keeps it)."""
    try:
        yield
    except Exception:
        if work.created and not any(work.path.glob("segment-*.done")):
            work.remove()
        raise
