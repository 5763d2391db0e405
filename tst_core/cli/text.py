"""What the commands print: text made safe for a terminal, and the one-line error."""

from __future__ import annotations

from ..errors import printable

__all__ = ["error_line", "printable"]


def error_line(text: str) -> str:
    """``tst: error: TEXT`` on one line, printable."""
    return f"tst: error: {printable(' '.join(text.split()))}"
