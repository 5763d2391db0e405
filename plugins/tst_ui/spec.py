"""What a job is: the page's request checked and turned into the API's arguments and into the
equivalent ``tst run`` / ``tst compare`` command line.

The page never sends a path: photos, segmentations and styles are ids of things the server
holds. The job runs on exactly the ``--style`` strings and configuration that the command line
shows, so a job repeats from a terminal.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tst_core.api import session
from tst_core.errors import InputError
from tst_core.plugins import Host
from tst_core.segmenter_flags import SEGMENTER_FLAGS
from tst_core.select import option_text
from tst_core.types import Segmentation
from tst_core.validate import TARGET_CHOICES, target_option

#: the selectors a target may use besides ``id:N``
REGIONS = ("all", "background")
#: strengths are sent as degrees: strength = 10 ** deg
MAX_DEG = 3.0


@dataclass(frozen=True)
class Settings:
    """What ``tst ui`` was started with; every job and segmentation uses it.

    :param config: the ``--config`` file or preset (the page's default preset).
    :param sets: the ``--set`` overrides, applied to every job.
    :param segmenter: the ``--segmenter`` (the page's default), or ``None`` for the config's.
    :param flags: ``--weights``/``--masks`` for that segmenter.
    :param device: the ``--device``.
    """

    config: str | None = None
    sets: tuple[str, ...] = ()
    segmenter: str | None = None
    flags: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    device: str | None = None

    def default_segmenter(self, host: Host) -> str:
        """``--segmenter``, else the configuration's."""
        return (
            self.segmenter
            or session(host=host, config=self.config, sets=self.sets).config.run.segmenter
        )

    def segmenter_session_kwargs(self, host: Host, name: str) -> dict[str, Any]:
        """The :func:`~tst_core.api.session` arguments that segment with ``name`` (the flags
        ``--weights``/``--masks`` belong to the default segmenter, as in ``tst run``)."""
        default = self.default_segmenter(host)
        return {
            "host": host,
            "config": self.config,
            "sets": self.sets,
            "segmenter": name,
            "segmenter_options": dict(self.flags) if name == default else {},
            "device": self.device,
        }


def resolved_segmenter_options(host: Host, settings: Settings, name: str) -> Any:
    """The options dataclass segmenter ``name`` runs with under ``settings``."""
    sess = session(**settings.segmenter_session_kwargs(host, name))
    return sess.config.options_for(host, "segmenter", name)


@dataclass(frozen=True)
class TargetSpec:
    """One target: a selector (``id:3``, ``background``, ``all``), a style file, a degree, and
    optionally a second style file mixed in with its share ``mix_weight`` in (0, 1)."""

    selector: str
    style: Path
    deg: float = 0.0
    mix: Path | None = None
    mix_weight: float = 0.0
    #: per-target options (``@color=keep``, ``@mask=soft``, ``@scale=1.5``), checked
    options: tuple[tuple[str, float | str], ...] = ()

    def style_arg(self, selector: str | None = None) -> str:
        """The ``--style`` string: ``id:3=/styles/starry.jpg@color=keep:deg=0.5``, or with a
        mix ``id:3=/styles/starry.jpg*0.7+/styles/scream.jpg*0.3``; ``selector`` instead of the
        page's own (the command line's ``person#1`` for ``id:3``)."""
        strength = f":deg={self.deg:g}" if self.deg else ""
        style = str(self.style)
        if self.mix is not None:
            style = f"{style}*{1 - self.mix_weight:g}+{self.mix}*{self.mix_weight:g}"
        extra = "".join(option_text(k, v) for k, v in self.options)
        return f"{selector or self.selector}={style}{extra}{strength}"


@dataclass(frozen=True)
class JobSpec:
    """A checked job: everything :func:`tst_core.api.run` or ``compare`` needs.

    :param segmentation: the instances the page showed (the job does not segment again).
    :param segmenter_options: the segmenter's options that differ from what ``config`` gives
        (they become ``--weights``/``--masks``/``--set`` on the command line).
    """

    kind: str
    photo: Path
    segmentation: Segmentation
    segmenter: str
    segmenter_options: Mapping[str, Any]
    targets: tuple[TargetSpec, ...]
    engine: str
    blend: str
    size: int
    config: str | None
    sets: tuple[str, ...]
    device: str | None
    blends: tuple[str, ...] = ()

    def styles(self) -> list[str]:
        return [t.style_arg() for t in self.targets]

    def session_kwargs(self, host: Host, extra_sets: Sequence[str] = ()) -> dict[str, Any]:
        """Arguments of :func:`tst_core.api.run` (``compare`` takes the same, less engine/blend)."""
        kw: dict[str, Any] = {
            "host": host,
            "config": self.config,
            "sets": [*self.sets, *extra_sets],
            "segmenter": self.segmenter,
            "segmenter_options": dict(self.segmenter_options),
            "size": self.size,
            "device": self.device,
        }
        if self.kind == "run":
            kw.update(engine=self.engine, blend=self.blend)
        return kw

    def output_name(self) -> str:
        suffix = "tst" if self.kind == "run" else "compare"
        return f"{self.photo.stem}_{suffix}.png"

    def command(self, kept: Callable[[Path], Path] = lambda path: path) -> str:
        """The equivalent command line (it writes into the current folder).

        :param kept: where the command line finds each input file (the photo and the style
            images): a copy that outlives the server for an upload.
        """
        words = ["tst", self.kind, str(kept(self.photo)), "--segmenter", self.segmenter]
        words += segmenter_flags(self.segmenter, self.segmenter_options)
        for t in self.targets:
            t = dataclasses.replace(
                t, style=kept(t.style), mix=None if t.mix is None else kept(t.mix)
            )
            words += ["--style", t.style_arg(cli_selector(t.selector, self.segmentation))]
        if self.kind == "run":
            words += ["--engine", self.engine, "--blend", self.blend]
        else:
            words += ["--engine", self.engine, "--blend", ",".join(self.blends)]
        words += ["--size", str(self.size)]
        if self.config is not None:
            words += ["--config", self.config]
        for item in self.sets:
            words += ["--set", item]
        if self.device is not None:
            words += ["--device", self.device]
        words += ["-o", self.output_name()]
        return " ".join(shlex.quote(w) for w in words)


def cli_selector(selector: str, seg: Segmentation) -> str:
    """The selector a person types for a page target: ``id:3`` → ``person#1`` (the second
    ``person`` by score, the same instance, since ids rank every instance by score); ``id:N``
    stays where the label cannot be written in a selector."""
    m = re.fullmatch(r"id:(\d+)", selector)
    if m is None or int(m[1]) >= len(seg):
        return selector
    index = int(m[1])
    label = seg.instances[index].label.lower()
    if not label.strip() or label != label.strip() or any(c in label for c in ",=:#@*+"):
        return selector
    rank = sum(inst.label.lower() == label for inst in seg.instances[:index])
    return f"{label}#{rank}"


def page_name(selector: str, seg: Segmentation) -> str:
    """What the page calls a target: the whole photo, the background, person 3."""
    if selector == "all":
        return "the whole photo"
    if selector == "background":
        return "the background"
    m = re.fullmatch(r"id:(\d+)", selector)
    if m is not None and int(m[1]) < len(seg):
        return f"{seg.instances[int(m[1])].label} {m[1]}"
    return selector


def segmenter_flags(name: str, options: Mapping[str, Any]) -> list[str]:
    """``--masks``/``--weights``/``--box``/``--point`` for those options, ``--set`` for others."""
    words: list[str] = []
    for key, value in options.items():
        flag = SEGMENTER_FLAGS.get(key)
        said = flag.words(value) if flag is not None else None
        words += (
            said if said is not None else ["--set", f"segmenter.{name}.{key}={toml_value(value)}"]
        )
    return words


def toml_value(value: Any) -> str:
    """A value as ``--set`` reads it back (TOML syntax)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def changed_options(resolved: Any, base: Any) -> dict[str, Any]:
    """Fields of the options dataclass ``resolved`` whose values differ from ``base``."""
    return {
        f.name: getattr(resolved, f.name)
        for f in dataclasses.fields(resolved)
        if getattr(resolved, f.name) != getattr(base, f.name)
    }


def parse_targets(
    items: Any, seg: Segmentation, style_paths: Mapping[str, Path]
) -> tuple[TargetSpec, ...]:
    """The page's ``[{"select": "id:3", "style": STYLE_ID, "deg": 0.5}, ...]`` → targets; a
    target may add ``"mix": {"style": STYLE_ID, "weight": 0.3}`` (that style's share).

    :raises InputError: with one sentence for an empty list, an unknown instance, a repeated
        target, a target without a style, a strength out of range or a bad mix.
    """
    if not isinstance(items, list) or not items:
        raise InputError(
            "nothing selected: click an instance (or choose background or whole photo) first"
        )
    out: list[TargetSpec] = []
    for item in items:
        if not isinstance(item, dict):
            raise InputError("a target must be an object with select, style and deg")
        selector = _selector(item.get("select"), seg)
        name = page_name(selector, seg)
        if any(t.selector == selector for t in out):
            raise InputError(f"{name} is selected twice")
        style = item.get("style")
        if not isinstance(style, str) or style not in style_paths:
            raise InputError(f"choose a style for {name} (click a painting)")
        deg = item.get("deg", 0.0)
        if not isinstance(deg, (int, float)) or not math.isfinite(deg) or abs(deg) > MAX_DEG:
            raise InputError(
                f"the strength of {name} must be a degree from -{MAX_DEG:g} to "
                f"{MAX_DEG:g} (strength 10^deg), got {deg!r}"
            )
        mix, weight = _mix(item.get("mix"), name, style_paths)
        options = _options(item.get("options"), name)
        for path in (style_paths[style], mix) if mix is not None else ():
            if "+" in str(path) or "*" in str(path):
                raise InputError(
                    f"'{path.name}' cannot be mixed: the styles of a mix may not have '+' or '*' "
                    "in their paths (rename the file)"
                )
        out.append(
            TargetSpec(selector, style_paths[style], round(float(deg), 3), mix, weight, options)
        )
    return tuple(out)


def _options(value: Any, selector: str) -> tuple[tuple[str, float | str], ...]:
    """A target's ``"options": {"color": "keep", "mask": "soft", "scale": 1.5}`` (or none),
    each checked as the ``@KEY=VALUE`` grammar checks it; the defaults are left out."""
    if value is None:
        return ()
    if not isinstance(value, dict) or len(value) > 8:
        raise InputError(f"the options of target {selector} must be an object of a few options")
    out = []
    for key, raw in value.items():
        checked = target_option(str(key), raw, f"of {selector}")
        if TARGET_CHOICES.get(str(key), ("",))[0] != checked:
            out.append((str(key), checked))
    return tuple(sorted(out))


def _mix(value: Any, name: str, style_paths: Mapping[str, Path]) -> tuple[Path | None, float]:
    """A target's ``"mix": {"style": STYLE_ID, "weight": W}`` (or none) → (style file, W);
    ``name`` is what the page calls the target."""
    if value is None:
        return None, 0.0
    style = value.get("style") if isinstance(value, dict) else None
    if not isinstance(style, str) or style not in style_paths:
        raise InputError(f"choose the second style of {name}'s mix (click a painting)")
    weight = value.get("weight")
    if (
        not isinstance(weight, (int, float))
        or isinstance(weight, bool)
        or not 0.01 <= weight <= 0.99
    ):
        raise InputError(
            f"the mix of {name} gives its second style a share from 0.01 to 0.99, got {weight!r}"
        )
    return style_paths[style], round(float(weight), 3)


def _selector(value: Any, seg: Segmentation) -> str:
    if value in REGIONS:
        return str(value)
    if isinstance(value, str) and re.fullmatch(r"id:\d+", value) and int(value[3:]) < len(seg):
        return value
    raise InputError(
        f"unknown target {value!r}: the photo has instances id:0 to id:{len(seg) - 1}"
        if len(seg)
        else f"unknown target {value!r}: the segmenter found no instances; use background or all"
    )
