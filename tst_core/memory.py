"""Memory budgets: how many bytes a run's work may use, and sizes written as text (``4GiB``).

An engine plans its work (tile sizes, optimiser state) against a budget before it starts, and
says in one sentence when the job cannot fit, instead of leaving it to the out-of-memory killer.
The budget is ``--max-memory`` (``[run] max_memory``) when given, otherwise
:func:`default_budget`: a share of what the device has free now, on the CPU at most
:data:`CPU_DEFAULT_CAP`.
"""

from __future__ import annotations

import math
import os
import re
import weakref
from typing import TYPE_CHECKING, Any

# torch is imported by the functions that measure memory: parse_size (``[run] max_memory``,
# which tst config show checks) needs none
if TYPE_CHECKING:
    import torch

#: the share of the free memory a run's work may take by default: the rest is for the process
#: itself (the interpreter, torch, the photo and its layers) and for the machine's other work
DEFAULT_SHARE = 0.5
#: the most a run's work may take by default on the CPU (and MPS), whatever is free: with it the
#: whole process of a ``gatys`` run on a 24 MP photo peaks near 3.3 GiB (``benchmarks/native.py``);
#: the work holds the budget besides the process's own ~0.5 GiB (interpreter, torch, network,
#: the photo's arrays). More memory buys fewer tiles, not a better picture: ``--max-memory``
#: raises it
CPU_DEFAULT_CAP = 3 * 2**30
#: what :func:`free_memory` assumes where the system does not say
UNKNOWN_FREE = 4 * 2**30
#: the smallest budget :func:`parse_size` accepts (below it not even a small tile fits)
MIN_BUDGET = 16 * 2**20

_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kib": 2**10,
    "kb": 10**3,
    "m": 2**20,
    "mib": 2**20,
    "mb": 10**6,
    "g": 2**30,
    "gib": 2**30,
    "gb": 10**9,
    "t": 2**40,
    "tib": 2**40,
    "tb": 10**12,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:e(\d+))?\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Bytes from a size: ``4GiB``, ``4G`` and ``4g`` (binary, as ``docker --memory``),
    ``4GB`` (decimal), ``512MiB``, ``1.5GiB``, ``2e9`` or a plain number of bytes.

    :raises ValueError: for anything else or a size under :data:`MIN_BUDGET` (16 MiB), in one
        sentence that shows the accepted forms.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _SIZE.match(str(text))
        unit = match.group(3).lower() if match else ""
        if match is None or unit not in _UNITS:
            raise ValueError(
                f"a memory size must be a number with an optional unit, such as 4GiB, 4G, "
                f"512MB or 2e9 (bytes), got {text!r}"
            )
        value = float(match.group(1)) * 10 ** int(match.group(2) or 0) * _UNITS[unit]
    if not math.isfinite(value) or value < MIN_BUDGET:
        raise ValueError(f"a memory budget must be at least 16MiB, got {text!r}")
    return int(value)


def format_size(size: float) -> str:
    """``1.5 GiB``, ``300 MiB``: a byte count for messages and reports."""
    if size >= 2**30:
        return f"{size / 2**30:.1f} GiB"
    return f"{size / 2**20:.0f} MiB"


def free_memory(device: torch.device | str = "cpu") -> int:
    """Bytes free now on ``device``: the GPU's free memory for CUDA, the system's available
    memory (``MemAvailable``, or the cgroup's limit minus its use when that is lower) for the
    CPU and MPS; :data:`UNKNOWN_FREE` where neither can be read."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    known = [v for v in (_meminfo_available(), _cgroup_free()) if v is not None]
    return min(known) if known else UNKNOWN_FREE


def default_budget(device: torch.device | str = "cpu", share: float = DEFAULT_SHARE) -> int:
    """The default budget of a run's work on ``device``: ``share`` of :func:`free_memory`,
    on the CPU and MPS at most :data:`CPU_DEFAULT_CAP` (at least :data:`MIN_BUDGET`)."""
    budget = int(free_memory(device) * share)
    if str(device).split(":")[0] != "cuda":
        budget = min(budget, CPU_DEFAULT_CAP)
    return max(MIN_BUDGET, budget)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # other POSIX systems: free pages
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_free() -> int | None:
    """A cgroup v2 memory limit minus its current use, or ``None`` without a limit."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as f:
            used = int(f.read().strip())
        return max(0, int(limit) - used)
    except (OSError, ValueError):
        return None


class TensorMemory:
    """Measures the tensor memory torch allocates inside a ``with`` block: the peak of the bytes
    held by the storages created there and not yet freed (tensors made before the block, such
    as the inputs and the network's weights, do not count).

    A diagnostic for tests and benchmarks (it sees every operator call, so it slows them): it
    counts what the budget of :func:`default_budget` is about, the activations, optimiser state
    and tiles, independently of the allocator's caching and of the process's other memory.

    >>> with TensorMemory() as used:
    ...     work()
    >>> used.peak          # bytes
    """

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self._sizes: dict[int, int] = {}
        self._mode: Any = None

    def __enter__(self) -> TensorMemory:
        from torch.utils._python_dispatch import TorchDispatchMode

        tracker = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                tracker._saw(out, (args, kwargs))
                return out

        self._mode = _Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._mode.__exit__(*exc)

    def _saw(self, out: Any, inputs: Any) -> None:
        import torch

        # an output that shares an input's storage (in place, a view) allocated nothing
        given = {_pointer(t) for t in torch.utils._pytree.tree_leaves(inputs)}
        for t in torch.utils._pytree.tree_leaves(out):
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
            if size == 0 or key in self._sizes or key in given:
                continue
            self._sizes[key] = size
            self.live += size
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._freed, key)

    def _freed(self, key: int) -> None:
        self.live -= self._sizes.pop(key, 0)


def _pointer(x: Any) -> int | None:
    import torch

    if isinstance(x, torch.Tensor) and x.device.type != "meta":
        return int(x.untyped_storage().data_ptr())
    return None
