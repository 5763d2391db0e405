"""The ``gatys`` engine (K masked styles in one optimisation) and the ``gatys-full`` baseline.

``gatys`` optimises one image in which every target's region matches its own style image's
masked Gram matrices while the whole frame keeps the photo's content (Gatys et al. 2016 with
the localized loss of Wells, Wood & Xiao 2017 and Gatys et al. 2017). ``gatys-full`` stylises
the whole frame once per target with the plain loss and leaves the cutting to the compositor,
the naive approach, kept to compare quality and speed on the same job.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from ..device import resolve_device
from ..errors import ConfigError, DivergedError, EngineError
from ..types import Env, ProgressFn, StylizeResult, Targets, Tensor, check_image
from .objective import HALF_DTYPES
from .options import GatysOptions
from .render import Renderer, Tracker, torch_threads
from .vgg import build_network


class _Base:
    """Shared set-up: options, device, network, seed."""

    name = "gatys"

    def __init__(self, options: GatysOptions | None = None, env: Env | None = None) -> None:
        self.options = options or GatysOptions()
        env = env or Env()
        self.device = resolve_device(env.device)
        self.seed = env.seed if env.seed is not None else random.SystemRandom().randrange(2**31)
        _check_precision(self.options.precision, self.device)
        o = self.options
        self.net = build_network(
            o.network,
            layers=(*o.content_layers, *o.style_layers),
            pooling=o.pooling,
            padding=o.padding,
            weights=o.weights,
            device=self.device,
            weights_option=f"--set engine.{self.name}.weights=FILE",
            alternatives=f"or use the embedded network (engine.{self.name}.network=vgg19)",
        )
        self.renderer = Renderer(self.net, o, self.device, self.name)

    def _runs(self, k: int) -> int:
        """How many optimisations one call runs for ``k`` targets."""
        return 1

    def stylize(
        self,
        photo: Tensor,
        targets: Targets,
        progress: ProgressFn | None = None,
        *,
        style_masks: Sequence[Tensor | None] | None = None,
    ) -> StylizeResult:
        """Stylise the targets of ``photo``.

        :param photo: ``(3, H, W)`` in [0, 1].
        :param targets: K targets with masks at ``(H, W)``.
        :param progress: called once per iteration (see :class:`~tst_core.types.Progress`).
        :param style_masks: optional, one per target: a ``(h, w)`` mask of its style image, so
            that only that part of the painting is the style (Python API only).
        :returns: ``layers`` ``(K, 3, H, W)`` in [0, 1], per-iteration losses, report facts.
        """
        masks = _check_inputs(photo, targets, style_masks)
        o = self.options
        total = self._runs(len(targets)) * sum(o.iterations_per_scale)
        tracker = Tracker(progress, total, o.snapshot_every)
        t0 = time.perf_counter()
        with torch_threads(o.threads):
            try:
                layers, facts = self._render(photo, masks, targets, tracker, style_masks)
            except DivergedError as exc:
                cause = divergence_cause(photo, targets, o)
                if cause is None:
                    raise
                raise DivergedError(f"{exc.summary}: {cause}", exc.summary) from None
        seconds = time.perf_counter() - t0
        info = {
            "engine": self.name,
            "network": o.network,
            "pooling": o.pooling,
            "padding": o.padding,
            "optimizer": o.optimizer,
            "device": str(self.device),
            "precision": o.precision,
            "threads": torch.get_num_threads() if o.threads is None else o.threads,
            "seed": self.seed,
            "iterations": tracker.step,
            "scales": list(o.scales),
            "seconds": round(seconds, 3),
            "seconds_per_iteration": round(seconds / max(1, tracker.step), 4),
            **facts,
        }
        return StylizeResult(layers, tracker.losses, info)

    def _render(
        self,
        photo: Tensor,
        masks: Tensor,
        targets: Targets,
        tracker: Tracker,
        style_masks: Sequence[Tensor | None] | None,
    ) -> tuple[Tensor, dict[str, Any]]:
        raise NotImplementedError


class GatysEngine(_Base):
    """All targets in one optimisation; ``layers`` are K views of the one stylised image."""

    name = "gatys"

    def _render(
        self,
        photo: Tensor,
        masks: Tensor,
        targets: Targets,
        tracker: Tracker,
        style_masks: Sequence[Tensor | None] | None,
    ) -> tuple[Tensor, dict[str, Any]]:
        if float(masks.amax()) <= 0.0:
            raise EngineError(
                f"nothing to stylise: every target's mask is empty at the working size "
                f"{photo.shape[-1]}×{photo.shape[-2]}; choose other instances or a larger --size"
            )
        image, facts = self.renderer.render(
            photo,
            masks,
            targets.style_images(),
            [t.strength for t in targets],
            tracker,
            torch.Generator().manual_seed(self.seed),
            style_masks,
        )
        facts["empty_targets"] = [k for k in range(len(targets)) if float(masks[k].amax()) <= 0]
        return image.expand(len(targets), -1, -1, -1), facts


class GatysFullEngine(_Base):
    """Baseline: one unmasked whole-frame stylisation per target; the compositor cuts.

    Layer k of the result is the whole frame in target k's style; the masks are not used here.
    """

    name = "gatys-full"

    def _runs(self, k: int) -> int:
        return k

    def _render(
        self,
        photo: Tensor,
        masks: Tensor,
        targets: Targets,
        tracker: Tracker,
        style_masks: Sequence[Tensor | None] | None,
    ) -> tuple[Tensor, dict[str, Any]]:
        layers, sizes, skipped = [], [], set()
        for k, target in enumerate(targets):
            tracker.relabel = {"style/0": f"style/{k}"}
            image, facts = self.renderer.render(
                photo,
                None,
                [targets.style_images()[k]],
                [target.strength],
                tracker,
                torch.Generator().manual_seed(self.seed + k),
                None if style_masks is None else [style_masks[k]],
            )
            layers.append(image)
            sizes = facts["sizes"]
            skipped.update(facts["skipped_scales"])  # each style image may skip other scales
        facts = {
            "sizes": sizes,
            "skipped_scales": sorted(skipped),
            "roi": None,
            "runs": len(targets),
        }
        return torch.stack(layers), facts


def _check_inputs(
    photo: Tensor, targets: Targets, style_masks: Sequence[Tensor | None] | None
) -> Tensor:
    """Validate the inputs; return the target masks ``(K, H, W)``."""
    check_image(photo, "photo")
    if len(targets) == 0:
        raise EngineError("nothing to stylise: no targets were given (add a --style)")
    images = targets.style_images()  # a model style (no image) is one error line
    if tuple(targets.size) != tuple(photo.shape[-2:]):
        raise EngineError(
            f"targets are {targets.size} but the photo is {tuple(photo.shape[-2:])}; "
            "resize the targets to the photo"
        )
    if style_masks is not None:
        if len(style_masks) != len(targets):
            raise EngineError(f"got {len(style_masks)} style masks for {len(targets)} targets")
        for k, (m, style) in enumerate(zip(style_masks, images, strict=True)):
            if m is not None and tuple(m.shape) != tuple(style.shape[-2:]):
                raise EngineError(
                    f"style mask {k} is {tuple(m.shape)} but its style image is "
                    f"{tuple(style.shape[-2:])}"
                )
    return targets.masks()


#: A weight above this times a relative-error loss is where float32 losses stop being finite
#: (a strength of 1e30 still ran, 1e36 did not); below it a divergence is the step size's.
LARGE_WEIGHT = 1e6


def divergence_cause(photo: Tensor, targets: Targets, options: GatysOptions) -> str | None:
    """What made an optimisation diverge, when it is not the step size: non-finite inputs
    (``(3, H, W)`` photo, the targets' masks and styles) or an enormous weight."""
    if not bool(torch.isfinite(photo).all()):
        return "the photo holds NaN or infinite values"
    for t in targets:
        for name, value in (("style image", t.style), ("mask", t.mask)):
            if value is not None and not bool(torch.isfinite(value).all()):
                return f"the {name} of '{t.selector}' holds NaN or infinite values"
    for name in ("style_weight", "content_weight", "tv_weight"):
        value = getattr(options, name)
        if value > LARGE_WEIGHT:
            return f"{name} {value:g} is beyond what float32 losses hold; lower it"
    target = max(targets, key=lambda t: t.strength)
    weight = options.style_weight * target.strength
    if weight > LARGE_WEIGHT:
        return (
            f"the style of '{target.selector}' weighs {weight:.3g} (strength {target.strength:g} "
            f"times style_weight {options.style_weight:g}), beyond what float32 losses hold; "
            f"use a strength of at most {LARGE_WEIGHT / options.style_weight:g}"
        )
    return None


def _check_precision(precision: str, device: torch.device) -> None:
    """Refuse a half-precision mode the device cannot autocast."""
    if precision == "fp32":
        return
    dtype = HALF_DTYPES[precision]
    x = torch.zeros(1, 1, 4, 4, device=device)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # autocast warns and turns itself off instead
            with torch.autocast(device_type=device.type, dtype=dtype):
                y = torch.nn.functional.conv2d(x, torch.zeros(1, 1, 3, 3, device=device))
        ok = y.dtype == dtype
    except (RuntimeError, AssertionError):
        ok = False
    if not ok:
        raise ConfigError(f"precision {precision} is not supported on {device.type} here; use fp32")
