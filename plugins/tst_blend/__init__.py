"""First-party compositors (``--blend``)."""

from __future__ import annotations

from tst_core import hookimpl

from .hard import HardCompositor, HardOptions


@hookimpl
def tst_register_compositors(register):  # type: ignore[no-untyped-def]
    register(
        "hard",
        HardCompositor,
        options=HardOptions,
        description="hard cut: pixels whose mask is above the threshold take the stylised pixel",
    )
