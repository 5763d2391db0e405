"""The selection grammar: which instances get which style.

A ``--style`` argument is ``[SELECTORS=]STYLE[:STRENGTH]``; without ``SELECTORS=`` it is the
whole frame (``all``):

* ``SELECTORS`` is one selector or several joined by ``,`` (their union):

  - ``person``      every instance labelled ``person`` (labels match case-insensitively);
  - ``person#0``    one instance by rank within its label: ``#0`` is the highest-scoring
    ``person``, ``#1`` the next, and so on;
  - ``id:3``        the instance with id 3, as printed by ``tst segment`` (ids rank all
    instances by score, highest first);
  - ``background``  every pixel not covered by any detected instance;
  - ``all``         the whole frame.

* ``STYLE`` is the style image's path, or (for the feed-forward engines) a trained model's
  file or folder, ``model#style``, a style name of the configured model, or a convex mix
  ``a.jpg*0.7+b.jpg*0.3`` (see :mod:`tst_core.styles`).
* ``STRENGTH`` multiplies that target's style weight (default 1); ``:deg=E`` gives it as a
  degree, strength ``10**E``.
* ``@KEY=VALUE`` after the style (repeatable, before or after ``:STRENGTH``) sets a per-target
  option (:class:`~tst_core.types.TargetOptions`): ``@scale=1.5`` sizes the painting at 1.5
  times the target's box, ``@supersample=2`` optimises the target twice as finely,
  ``@color=keep`` keeps the photo's colours there (only the luminance is stylised),
  ``@mask=soft`` lets the mask's grey level scale the style.

When targets overlap, **the later ``--style`` wins** on the overlap: each mask is multiplied by
``(1 - m)`` for every mask ``m`` given after it, so at each pixel the masks and the kept photo
sum to one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import validate
from .errors import SelectionError
from .styles import StyleMix, parse_style
from .types import ResolvedStyle, Segmentation, Target, TargetOptions, Targets, Tensor

_RANK = re.compile(r"^(?P<label>.+?)#(?P<rank>\d+)$")
_ID = re.compile(r"^id:(?P<id>\d+)$")


@dataclass(frozen=True)
class StyleRequest:
    """One parsed ``--style``: selectors, the style source and its strength.

    :param selector: the selector text (``"person#0,dog"``).
    :param style: a path, a PIL image or a ``(3, h, w)`` tensor in [0, 1]; a model file or
        folder, ``model#style`` or a style name; or a :class:`~tst_core.styles.StyleMix`.
    :param strength: style-weight multiplier, ``> 0``.
    :param options: the per-target engine options given with ``@KEY=VALUE``.
    """

    selector: str
    style: Any
    strength: float = 1.0
    options: TargetOptions = field(default_factory=TargetOptions)

    def text(self) -> str:
        """The request as a ``--style`` argument (the style must be a path or a mix)."""
        extra = "".join(option_text(k, v) for k, v in self.options.given().items())
        strength = "" if self.strength == 1.0 else f":{self.strength!r}"
        return f"{self.selector}={self.style}{extra}{strength}"

    @property
    def style_name(self) -> str:
        if isinstance(self.style, StyleMix):
            return str(self.style)
        return Path(self.style).name if isinstance(self.style, (str, Path)) else "style"

    @property
    def sources(self) -> tuple[Any, ...]:
        """Every source the style names (one, or each part of a mix)."""
        if isinstance(self.style, StyleMix):
            return tuple(s for s, _ in self.style.parts)
        return (self.style,)


def option_text(key: str, value: float | str) -> str:
    """``@scale=1.5``, ``@color=keep``: one per-target option as the grammar writes it."""
    return f"@{key}={value:g}" if isinstance(value, (int, float)) else f"@{key}={value}"


def target_options(given: Mapping[str, float | str]) -> TargetOptions:
    """:class:`TargetOptions` from checked ``@KEY=VALUE`` values (a word option at its default
    is left unset, so ``@color=style`` and no option mean the same)."""
    words = {k: v for k, v in given.items() if k in validate.TARGET_CHOICES}
    words = {k: v for k, v in words.items() if v != validate.TARGET_CHOICES[k][0]}
    numbers = {k: float(v) for k, v in given.items() if k in validate.TARGET_OPTIONS}
    return TargetOptions(
        scale=numbers.get("scale"),
        supersample=numbers.get("supersample"),
        color=str(words["color"]) if "color" in words else None,
        mask=str(words["mask"]) if "mask" in words else None,
    )


def parse_strength(text: str) -> float:
    """``"2"`` → 2.0; ``"deg=-1"`` → 0.1. Must be finite and above 0."""
    degree = text.startswith("deg=")
    try:
        number = float(text[4:] if degree else text)
    except ValueError:
        raise SelectionError(f"strength ':{text}' is not a number (write :2 or :deg=1)") from None
    if degree and math.isfinite(number):
        try:
            number = 10.0**number
        except OverflowError:
            raise SelectionError(
                f"strength ':{text}' is too large: 10**{text[4:]} is beyond any float "
                "(a useful degree lies between about -2 and 2)"
            ) from None
    return validate.strength(number, f"':{text}'")


#: What a ``:STRENGTH`` suffix looks like: a number (``nan``/``inf`` too, to refuse them by
#: name), or ``deg=`` and a number.
_STRENGTH = re.compile(r"(deg=)?[-+]?([0-9.eE+-]+|nan|inf|infinity)", re.IGNORECASE)
#: a trailing ``@KEY=VALUE`` (a file name such as ``art@2x.png`` has no ``=``)
_OPTION = re.compile(r"@(?P<key>[A-Za-z_]+)=(?P<value>[^@:=]*)$")


def split_style_suffixes(text: str) -> tuple[str, float | None, TargetOptions]:
    """``"starry.jpg@scale=1.5:2"`` → ``("starry.jpg", 2.0, TargetOptions(scale=1.5))``: the
    style, its ``:STRENGTH`` (``None`` when absent) and its ``@KEY=VALUE`` options, which may
    come in any order at the end."""
    strength: float | None = None
    options: dict[str, float | str] = {}
    while True:
        if (m := _OPTION.search(text)) and m.start() > 0:
            key = m["key"].lower()
            if key in options:
                raise SelectionError(f"target option @{key} is given twice in '{text}'")
            options[key] = validate.target_option(key, m["value"])
            text = text[: m.start()]
            continue
        head, colon, tail = text.rpartition(":")
        if (
            strength is None
            and colon
            and head
            and (tail.startswith("deg=") or _STRENGTH.fullmatch(tail))
        ):
            strength, text = parse_strength(tail), head
            continue
        return text, strength, target_options(options)


def parse_style_arg(text: str) -> StyleRequest:
    """Parse ``[SELECTORS=]STYLE[:STRENGTH]`` (see the module docstring); a bare ``STYLE`` (no
    ``=``, or the whole text is an existing file) is the whole frame, ``all=STYLE``."""
    if "=" not in text or Path(text).is_file():
        text = f"all={text}"
    selector, sep, rest = text.partition("=")
    if not sep or not selector.strip() or not rest.strip():
        raise SelectionError(
            f"--style expects SELECTOR=STYLE_IMAGE[:STRENGTH] (e.g. person=starry.jpg:2), got '{text}'"
        )
    style, strength, options = split_style_suffixes(rest)
    for part in selector.split(","):
        parse_selector(part)  # fail early on malformed selectors
    return StyleRequest(selector.strip(), parse_style(style), strength or 1.0, options)


#: what the API takes as styles: ``--style`` texts or requests, or ``{selector: style}``
StylesLike = Sequence[str | StyleRequest] | Mapping[str, Any]


def style_requests(styles: StylesLike) -> list[StyleRequest]:
    """Normalise and check styles: ``["person=a.jpg:2", ...]`` or
    ``{"person": "a.jpg" | (img, 2.0)}``; a bad selector or strength is a :class:`SelectionError`."""
    if isinstance(styles, Mapping):
        return [_request(selector, value) for selector, value in styles.items()]
    if isinstance(styles, (str, StyleRequest)):
        styles = [styles]
    out = []
    for s in styles:
        if isinstance(s, str):
            out.append(parse_style_arg(s))
        elif isinstance(s, StyleRequest):
            out.append(_request(s.selector, (s.style, s.strength), s.options))
        else:
            raise SelectionError(
                f"a style must be 'SELECTOR=STYLE' or a StyleRequest, not {type(s).__name__}"
            )
    return out


def _request(selector: object, value: Any, options: TargetOptions | None = None) -> StyleRequest:
    if not isinstance(selector, str):
        raise SelectionError(f"a selector must be a string, not {type(selector).__name__}")
    for part in selector.split(","):
        parse_selector(part)
    if isinstance(value, tuple):
        if len(value) != 2:
            raise SelectionError(
                f"the style of '{selector}' must be STYLE or (STYLE, STRENGTH), got {len(value)} items"
            )
        style, strength = value
    else:
        style, strength = value, None
    if isinstance(style, str):  # "starry.jpg@scale=1.5:2" as on the command line
        style, suffix_strength, suffix_options = split_style_suffixes(style)
        if strength is not None and suffix_strength is not None:
            raise SelectionError(f"the strength of '{selector}' is given twice")
        strength = suffix_strength if strength is None else strength
        options = options or suffix_options
        style = parse_style(style)
    elif isinstance(style, torch.Tensor):
        style = validate.image_tensor(style, "style image")
    strength = validate.strength(1.0 if strength is None else strength, f"of '{selector}'")
    return StyleRequest(selector.strip(), style, strength, options or TargetOptions())


@dataclass(frozen=True)
class Selector:
    """One parsed selector: ``kind`` is ``label``, ``rank``, ``id``, ``background`` or ``all``."""

    kind: str
    label: str = ""
    index: int = 0


def parse_selector(text: str) -> Selector:
    """Parse one selector (no commas)."""
    text = text.strip()
    if not text:
        raise SelectionError(
            "empty selector; write a label (person), person#0, id:3, background or all"
        )
    low = text.lower()
    if low in ("all", "background"):
        return Selector(low)
    if m := _ID.match(low):
        return Selector("id", index=int(m["id"]))
    if low.startswith("id:"):
        raise SelectionError(
            f"selector '{text}': an id is a whole number, as printed by `tst segment`"
        )
    if m := _RANK.match(low):
        return Selector("rank", m["label"].strip(), int(m["rank"]))
    if any(c in text for c in "#:="):
        raise SelectionError(
            f"cannot parse selector '{text}'; write person, person#0, id:3, background or all"
        )
    return Selector("label", low)


def needs_segmentation(requests: Sequence[StyleRequest]) -> bool:
    """Whether any request selects more than ``all`` (the whole frame needs no segmenter)."""
    return any(
        parse_selector(part).kind != "all" for r in requests for part in r.selector.split(",")
    )


def select(
    seg: Segmentation, selector: str, size: tuple[int, int] | None = None
) -> tuple[Tensor, tuple[int, ...]]:
    """The mask ``(h, w)`` in [0, 1] at ``size`` (default: the photo's) and the instance ids a
    selector (or comma list) matches.

    :raises SelectionError: when a selector matches nothing; the message lists the labels found.
    """
    size = seg.size if size is None else (int(size[0]), int(size[1]))
    mask = torch.zeros(size, dtype=torch.float32)
    ids: list[int] = []
    for part in selector.split(","):
        part_mask, part_ids = _select_one(seg, parse_selector(part), part.strip(), size)
        mask = torch.maximum(mask, part_mask)
        ids += [i for i in part_ids if i not in ids]
    return mask, tuple(ids)


def _select_one(
    seg: Segmentation, sel: Selector, text: str, size: tuple[int, int]
) -> tuple[Tensor, tuple[int, ...]]:
    if sel.kind == "all":
        return torch.ones(size), ()
    if sel.kind == "background":
        background = 1.0 - seg.covered(size)
        if float(background.max()) <= 0.0:
            raise SelectionError(
                f"selector '{text}' matches nothing: the instances cover the whole photo"
            )
        return background, ()
    if sel.kind == "id":
        if sel.index >= len(seg):
            raise SelectionError(
                f"selector '{text}' matches nothing: ids run from 0 to {len(seg) - 1}"
                if len(seg)
                else f"selector '{text}' matches nothing: the segmenter found no instances"
            )
        return seg.instances[sel.index].mask_at(size), (sel.index,)
    ids = [i for i, inst in enumerate(seg.instances) if inst.label.lower() == sel.label]
    if not ids:
        raise SelectionError(f"selector '{text}' matches nothing; {_found(seg)}")
    if sel.kind == "rank":
        if sel.index >= len(ids):
            raise SelectionError(
                f"selector '{text}' matches nothing: only {len(ids)} '{sel.label}' found "
                f"(#0 to #{len(ids) - 1}, highest score first)"
            )
        ids = [ids[sel.index]]
    mask = torch.zeros(size, dtype=torch.float32)
    for i in ids:
        mask = torch.maximum(mask, seg.instances[i].mask_at(size))
    return mask, tuple(ids)


def _found(seg: Segmentation) -> str:
    if not len(seg):
        return "the segmenter found no instances (selectors 'all' and 'background' still work)"
    counts: dict[str, int] = {}
    for inst in seg.instances:
        counts[inst.label] = counts.get(inst.label, 0) + 1
    return "labels found: " + ", ".join(f"{k} ({v})" if v > 1 else k for k, v in counts.items())


def resolve_overlaps(masks: Sequence[Tensor]) -> list[Tensor]:
    """Later masks win: ``m_k ← m_k · Π_{j>k} (1 − m_j)``. Each mask is ``(H, W)`` in [0, 1]."""
    out = list(masks)
    later = torch.ones_like(out[0]) if out else None
    for k in range(len(out) - 1, -1, -1):
        assert later is not None
        out[k] = out[k] * later
        later = later * (1.0 - masks[k])
    return out


def build_targets(
    seg: Segmentation,
    requests: Sequence[StyleRequest],
    load_style: Callable[[Any], Tensor | ResolvedStyle],
    size: tuple[int, int] | None = None,
) -> Targets:
    """Turn ``--style`` requests into :class:`Targets` with masks at ``size`` (default: the
    photo's), each instance mask resized once to it.

    :param load_style: turns a request's ``style`` into a ``(3, h, w)`` image in [0, 1], or a
        :class:`~tst_core.types.ResolvedStyle` (a feed-forward engine's model style).
    """
    if not requests:
        raise SelectionError("no --style given; add one, e.g. --style person=starry_night.jpg")
    size = seg.size if size is None else (int(size[0]), int(size[1]))
    selected = [select(seg, r.selector, size) for r in requests]
    masks = resolve_overlaps([m for m, _ in selected])
    items = []
    for req, (_, ids), mask in zip(requests, selected, masks, strict=True):
        if float(mask.max()) <= 0.0:
            raise SelectionError(
                f"selector '{req.selector}' is entirely covered by later --style selectors; "
                "reorder them (the later one wins on overlaps)"
            )
        loaded = load_style(req.style)
        if not isinstance(loaded, ResolvedStyle):
            loaded = ResolvedStyle(loaded, None, req.style_name)
        items.append(
            Target(
                req.selector,
                mask.contiguous(),
                loaded.image,
                req.strength,
                loaded.name,
                ids,
                model_style=loaded.model,
                options=req.options,
                style_source=loaded.source,
                mix=loaded.mix,
            )
        )
    return Targets(tuple(items), size)
