"""Per-target looks that every engine gets: the photo's colours kept, a soft mask's grey level.

Two :class:`~tst_core.types.TargetOptions` act on what an engine returns, so they mean the
same for ``gatys``, ``fast``, ``cin`` and any third-party engine:

* ``@color=keep``: inside the target the result keeps the photo's chrominance (YIQ's I and
  Q) and takes only its luminance from the stylised layer (Gatys et al. 2017, section 5.1,
  for one target). ``gatys`` also optimises that target against its painting's luminance
  matched to the photo's (:func:`~tst_core.engine.color.matched_luminance`), so the painting's
  dark or light tones do not shift the target's brightness;
* ``@mask=soft``: the engine and the compositor see the mask's support (every pixel above
  :data:`SUPPORT`), and the stylised layer is faded towards the photo by the mask's grey level,
  ``photo + m · (layer − photo)``: a pixel at 0.5 gets half the change, as a LoRA mask's grey
  level scales its effect. Without it a mask's 0.5 edge bounds the target.

:func:`engine_targets` is what the engine and the compositor are given; :func:`apply` turns
the engine's layers into the layers the compositor blends.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .engine.color import with_colors_of
from .types import Targets, Tensor

#: a soft mask's pixels above this are stylised (one grey level of an 8-bit mask is 1/255)
SUPPORT = 0.5 / 255


def any_looks(targets: Targets) -> bool:
    """Whether a target keeps the photo's colours or has a soft mask."""
    return any(t.options.keeps_color or t.options.soft for t in targets)


def engine_targets(targets: Targets) -> Targets:
    """``targets`` with each soft mask replaced by its support (1 where it is above
    :data:`SUPPORT`, 0 elsewhere; later targets still win on overlaps)."""
    if not any(t.options.soft for t in targets):
        return targets
    later = torch.zeros(targets.size)
    items = list(targets.items)
    for k in range(len(items) - 1, -1, -1):
        t = items[k]
        if t.options.soft:
            support = (t.mask > SUPPORT).float() * (1.0 - later)
            items[k] = replace(t, mask=support.contiguous())
        later = torch.maximum(later, items[k].mask)
    return Targets(tuple(items), targets.size)


def apply(photo: Tensor, layers: Tensor, targets: Targets) -> Tensor:
    """The layers ``(K, 3, H, W)`` the compositor blends: the engine's ``layers`` with the
    photo's colours in each ``@color=keep`` layer and each ``@mask=soft`` layer faded towards
    ``photo`` ``(3, H, W)`` by its mask (``targets`` as the user gave them, at ``(H, W)``).
    Layers of targets without either are the engine's, untouched."""
    if not any_looks(targets):
        return layers
    out = []
    for k, t in enumerate(targets):
        layer = layers[k]
        if t.options.keeps_color:
            layer = with_colors_of(layer, photo)
        if t.options.soft:
            layer = (photo + t.mask[None] * (layer - photo)).clamp(0.0, 1.0)
        out.append(layer)
    return torch.stack(out)
