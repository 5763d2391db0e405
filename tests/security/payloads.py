"""Malicious checkpoints, written byte by byte, for the loaders' tests.

Each payload, loaded by an unrestricted unpickler, creates ``marker`` (the tests check that
first, so a payload that stopped working cannot make a test pass); a loader must refuse it and
leave no marker.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import torch


def _text(s: str) -> bytes:
    """BINUNICODE (protocol 2+)."""
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _short(s: str) -> bytes:
    """SHORT_BINUNICODE (protocol 4+)."""
    data = s.encode()
    return b"\x8c" + bytes([len(data)]) + data


def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


TUPLE1, TUPLE2, TUPLE3, REDUCE, STOP, NONE, TRUE = (
    b"\x85",
    b"\x86",
    b"\x87",
    b"R",
    b".",
    b"N",
    b"\x88",
)


def touch(marker: Path) -> str:
    return f"touch '{marker}'"


def eval_trick(marker: Path, module: str = "numpy.dtypes") -> bytes:
    """Protocol 4 resolves dotted names: ``module.__builtins__.get('eval')`` hands out eval."""
    code = f"__import__('os').system({touch(marker)!r})"
    return (
        b"\x80\x04"
        + _short(module)
        + _short("__builtins__.get")
        + b"\x93"  # STACK_GLOBAL
        + _short("eval")
        + TUPLE1
        + REDUCE
        + _short(code)
        + TUPLE1
        + REDUCE
        + STOP
    )


def os_system(marker: Path) -> bytes:
    return b"\x80\x02" + _global("os", "system") + _text(touch(marker)) + TUPLE1 + REDUCE + STOP


def builtins_getattr(marker: Path) -> bytes:
    """``getattr(__import__('os'), 'system')(...)``."""
    os_module = _global("builtins", "__import__") + _text("os") + TUPLE1 + REDUCE
    system = _global("builtins", "getattr") + os_module + _text("system") + TUPLE2 + REDUCE
    return b"\x80\x02" + system + _text(touch(marker)) + TUPLE1 + REDUCE + STOP


class System:
    """Pickles as ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def numpy_load(marker: Path, folder: Path) -> bytes:
    """``numpy.load(evil.npy, None, True)``: an object array whose pickle runs a command."""
    npy = folder / "evil.npy"
    np.save(npy, np.array([System(touch(marker))], dtype=object), allow_pickle=True)
    return (
        b"\x80\x02"
        + _global("numpy", "load")
        + _text(str(npy))
        + NONE
        + TRUE
        + TUPLE3
        + REDUCE
        + STOP
    )


def pkl_payloads(marker: Path, folder: Path) -> dict[str, tuple[bytes, str]]:
    """``{case: (pickle bytes, the global the refusal names)}``."""
    return {
        "eval via numpy.dtypes.__builtins__ (protocol 4)": (
            eval_trick(marker),
            "numpy.dtypes.__builtins__.get",
        ),
        "eval via a nested name of an allowed module": (
            eval_trick(marker, "collections"),
            "collections.__builtins__.get",
        ),
        "os.system": (os_system(marker), "os.system"),
        "builtins.getattr": (builtins_getattr(marker), "builtins.getattr"),
        "numpy.load": (numpy_load(marker, folder), "numpy.load"),
    }


def torch_payloads(marker: Path, folder: Path) -> dict[str, Path]:
    """``.pth`` files whose unpickling runs a command: torch.save's zip and legacy formats, and a
    plain pickle."""
    evil = {"state_dict": {"w": torch.ones(1)}, "hook": System(touch(marker))}
    zip_file, legacy, plain = folder / "zip.pth", folder / "legacy.pth", folder / "plain.pth"
    torch.save(evil, zip_file)
    torch.save(evil, legacy, _use_new_zipfile_serialization=False)
    plain.write_bytes(pickle.dumps(evil, protocol=4))
    return {"zip": zip_file, "legacy": legacy, "plain pickle": plain}


def is_live(data: bytes, marker: Path) -> bool:
    """Whether ``data`` really runs code: unpickle it unrestricted, check, clean up."""
    with contextlib.suppress(Exception):
        pickle.loads(data)
    live = marker.exists()
    marker.unlink(missing_ok=True)
    return live


def torch_is_live(path: Path, marker: Path) -> bool:
    """Whether ``torch.load(path, weights_only=False)`` runs the payload; cleans up."""
    with contextlib.suppress(Exception):
        torch.load(path, weights_only=False)
    live = marker.exists()
    marker.unlink(missing_ok=True)
    return live
