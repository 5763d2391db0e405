"""What the commands print: text made safe for a terminal, and the one-line error."""

from __future__ import annotations

import unicodedata


def printable(text: str) -> str:
    """``text`` with control and format characters (escape sequences, NUL, bidi overrides)
    written as ``\\xNN``/``\\uNNNN`` escapes, so a label or a file name cannot drive the
    terminal."""
    return "".join(
        c if c == " " or unicodedata.category(c)[0] != "C" else repr(c)[1:-1] for c in text
    )


def error_line(text: str) -> str:
    """``tst: error: TEXT`` on one line, printable."""
    return f"tst: error: {printable(' '.join(text.split()))}"
