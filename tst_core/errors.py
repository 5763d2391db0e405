"""One exception family for everything a user can get wrong.

The CLI turns any :class:`TstError` into one line on stderr and exit status 2.
Messages are full sentences that say what is wrong and what to do about it.
"""

from __future__ import annotations

import unicodedata


def printable(text: str) -> str:
    """``text`` with control and format characters (newlines, escape sequences, NUL, bidi
    overrides) written as ``\\xNN``/``\\uNNNN`` escapes: for names taken from a file (a pickle's
    global, a model's style name, a label) put into a message, which must stay one line and
    cannot drive the terminal it is printed on."""
    return "".join(
        c if c == " " or unicodedata.category(c)[0] != "C" else repr(c)[1:-1] for c in text
    )


class TstError(Exception):
    """Base class: a problem the user can fix (bad input, missing file, bad option)."""


class InputError(TstError):
    """An input file is missing, unreadable, too large or of the wrong size."""


class ConfigError(TstError):
    """A configuration file, preset or ``--set`` override is invalid."""


class SelectionError(TstError):
    """A ``--style`` selector is malformed or matches nothing."""


class PluginError(TstError):
    """A plugin is unknown, broken, blocked or registered twice."""


class DuplicatePluginError(PluginError):
    """Two plugins registered the same name for the same kind."""


class DependencyError(TstError):
    """An optional dependency of a plugin is not installed."""


class WeightsError(TstError):
    """A model checkpoint is missing or cannot be loaded."""


class EngineError(TstError):
    """The style engine cannot continue (for example the loss became NaN)."""


class DivergedError(EngineError):
    """The optimisation's loss or image stopped being finite.

    :param summary: what happened, without the advice (an engine that knows the cause, such
        as an enormous strength, replaces the advice with it).
    """

    def __init__(self, message: str, summary: str = "") -> None:
        super().__init__(message)
        self.summary = summary or message


def missing_dependency(
    plugin: str, module: str, extra: str | None = None, *, install: str | None = None
) -> DependencyError:
    """Build the standard error for an optional package that is not installed.

    :param install: the install command, for packages that are not on the package registries
        (default: ``pip install "targeted-style-transfer[EXTRA]"`` or ``pip install MODULE``).
    """
    how = install or (
        f'pip install "targeted-style-transfer[{extra}]"' if extra else f"pip install {module}"
    )
    return DependencyError(
        f"the {plugin} plugin needs the Python package '{module}', which is not installed; "
        f"install it with: {how}"
    )
