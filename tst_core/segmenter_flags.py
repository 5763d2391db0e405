"""The segmenter flags: command-line flags that set one option of the chosen segmenter.

``--masks``, ``--weights``, ``--box`` and ``--point`` are defined here once: the command line
adds them (:func:`tst_core.cli.args.add_config_args`), a batch manifest takes the same keys
(``"masks": ...``) and makes the path ones absolute, and ``tst ui`` writes them back into the
command lines it shows (:meth:`SegmenterFlag.words`). A new flag is one more entry in
:data:`SEGMENTER_FLAGS`. Only the standard library is imported here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any


def floats(text: str) -> list[float]:
    """``"1,2.5"`` → ``[1.0, 2.5]`` (an argparse ``type``)."""
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got '{text}'"
        ) from None


@dataclass(frozen=True)
class SegmenterFlag:
    """A command-line flag that sets one option of the chosen segmenter.

    :param key: the segmenter option (``weights``); also the ``args`` attribute.
    :param flag: the flag (``--weights``).
    :param repeat: each use adds a list of numbers (``--box 1,2,3,4``) to a list.
    :param path: the value is a file or folder (made absolute where a job runs elsewhere).
    """

    key: str
    flag: str
    metavar: str
    help: str
    repeat: bool = False
    path: bool = False

    def add_to(self, group: Any) -> None:
        if self.repeat:
            group.add_argument(
                self.flag,
                dest=self.key,
                action="append",
                type=floats,
                metavar=self.metavar,
                help=self.help,
            )
        else:
            group.add_argument(self.flag, dest=self.key, metavar=self.metavar, help=self.help)

    def words(self, value: Any) -> list[str] | None:
        """The flag for the option value ``value`` as a command line takes it back, or
        ``None`` where the flag cannot say it (no value, an empty list)."""
        if self.repeat:
            if not value:
                return None
            return [w for item in value for w in (self.flag, ",".join(f"{v:g}" for v in item))]
        return None if value is None else [self.flag, str(value)]


SEGMENTER_FLAGS: dict[str, SegmenterFlag] = {
    f.key: f
    for f in (
        SegmenterFlag(
            "masks",
            "--masks",
            "PATH",
            "maskfile: a folder of PNG masks or one label PNG",
            path=True,
        ),
        SegmenterFlag(
            "weights", "--weights", "FILE", "checkpoint or model file for the segmenter", path=True
        ),
        SegmenterFlag(
            "boxes",
            "--box",
            "X0,Y0,X1,Y1",
            "a box prompt in photo pixels (sam, grabcut; repeatable)",
            repeat=True,
        ),
        SegmenterFlag(
            "points",
            "--point",
            "X,Y[,FG]",
            "a point prompt in photo pixels, FG 1 (default) or 0 for background "
            "(sam, grabcut; repeatable)",
            repeat=True,
        ),
    )
}


#: the segmenter options that are paths (a batch makes them absolute for its workers)
PATH_KEYS = tuple(k for k, f in SEGMENTER_FLAGS.items() if f.path)
