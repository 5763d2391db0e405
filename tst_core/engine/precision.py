"""Half precision: the autocast modes of the ``precision`` option and the check that a device
supports one. Gram matrices and losses always stay float32."""

from __future__ import annotations

import contextlib
import warnings

import torch
import torch.nn.functional as F

from ..errors import ConfigError

#: the autocast dtype of each half-precision mode
HALF_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """Autocast context for the network's forward pass (``fp32``: none)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=HALF_DTYPES[precision])


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a half-precision mode the device cannot autocast."""
    if precision == "fp32":
        return
    dtype = HALF_DTYPES[precision]
    x = torch.zeros(1, 1, 4, 4, device=device)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # autocast warns and turns itself off instead
            with autocast(device, precision):
                y = F.conv2d(x, torch.zeros(1, 1, 3, 3, device=device))
        ok = y.dtype == dtype
    except (RuntimeError, AssertionError):
        ok = False
    if not ok:
        raise ConfigError(f"precision {precision} is not supported on {device.type} here; use fp32")
