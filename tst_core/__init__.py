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

from typing import TYPE_CHECKING, Any

from .errors import TstError
from .hookspecs import hookimpl, hookspec

if TYPE_CHECKING:
    from .api import RunResult, SegmentResult, run, segment, session
    from .batching import batch
    from .clips.api import video

_API = ("RunResult", "SegmentResult", "run", "segment", "session")


def __getattr__(name: str) -> Any:
    # The API imports torch (2-3 s); loading it on first use keeps `tst --help` and plugin
    # modules that only need `hookimpl` fast.
    if name in _API:
        from . import api

        return getattr(api, name)
    if name == "batch":
        from .batching import batch

        return batch
    if name == "video":
        from .clips.api import video

        return video
    raise AttributeError(f"module 'tst_core' has no attribute {name!r}")


__all__ = [
    "RunResult",
    "SegmentResult",
    "TstError",
    "__version__",
    "batch",
    "hookimpl",
    "hookspec",
    "run",
    "segment",
    "session",
    "video",
]
