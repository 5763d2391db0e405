"""tst — targeted style transfer: different artistic styles for different objects of one photo.

The API in one breath::

    import tst_core
    result = tst_core.run("photo.jpg", ["person=starry_night.jpg"], segmenter="yolo")
    result.save("out.png")

Plugins implement the hooks in :mod:`tst_core.hookspecs` with :data:`hookimpl`.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("targeted-style-transfer")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

from .api import RunResult, SegmentResult, run, segment, session
from .errors import TstError
from .hookspecs import hookimpl, hookspec

__all__ = [
    "RunResult",
    "SegmentResult",
    "TstError",
    "__version__",
    "hookimpl",
    "hookspec",
    "run",
    "segment",
    "session",
]
