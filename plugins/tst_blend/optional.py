"""The optional libraries of the compositors, imported when a compositor is built."""

from __future__ import annotations

import importlib
from typing import Any

from tst_core.errors import missing_dependency


def load_optional(module: str, who: str, package: str) -> Any:
    """``module`` imported; a :class:`~tst_core.errors.DependencyError` naming ``who`` (the
    compositor), the ``package`` to install and the ``blend`` extra when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing_dependency(who, package, "blend") from None
