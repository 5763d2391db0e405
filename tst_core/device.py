"""Device choice and CPU threads, shared by every plugin that runs a model.

Naming and checking a device costs no torch (``tst config show`` checks ``[run] device``);
torch is imported by the functions that ask it about devices and threads."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
#: the CPU threads the numerics of a run use, set by ``tst batch`` for its workers
NUMERIC_THREADS_ENV = "TST_THREADS"


def numeric_threads() -> int | None:
    """The CPU threads a style engine computes with when its options leave it open:
    ``$TST_THREADS`` when set, else ``None`` (torch's own setting).

    The thread count changes the order of float sums, and the optimisation amplifies that
    into visibly different pictures: ``tst batch`` sets it in every worker to the count a
    single process would use, so that ``--jobs 2`` paints the pixels of ``--jobs 1`` and of
    ``tst run``.

    :raises ConfigError: when ``$TST_THREADS`` is not a whole number of at least 1.
    """
    raw = os.environ.get(NUMERIC_THREADS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(
            f"{NUMERIC_THREADS_ENV} must be a whole number of at least 1, got {raw!r}"
        )
    return int(raw)


def check_device_name(name: str) -> None:
    """Raise :class:`ConfigError` unless ``name`` is auto, cpu, cuda, cuda:N or mps."""
    base, _, index = name.partition(":")
    if base not in DEVICE_CHOICES or (index and (base != "cuda" or not index.isdigit())):
        raise ConfigError(f"unknown device '{name}'; choose one of: auto, cpu, cuda, cuda:N, mps")


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then MPS, then CPU; an explicit device must be available.

    :param name: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    """
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    check_device_name(name)
    base = name.split(":", 1)[0]
    if base == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device 'cuda' was asked for but no CUDA GPU is available; use --device cpu"
        )
    if base == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' was asked for but MPS is not available; use --device cpu")
    return torch.device(name)


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Use ``count`` CPU threads inside the block (``None``: leave torch's setting)."""
    if count is None:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)
