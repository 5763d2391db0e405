"""One frame's optimisation, shared by both engines: region of interest, colour preservation,
coarse-to-fine scales, initialisation, and progress reporting.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import EngineError
from ..types import Progress, ProgressFn, Tensor, resize_mask
from .color import luminance, matched_luminance, with_colors_of
from .layer_masks import Window, roi_box
from .objective import Objective, style_grams
from .optimize import optimize
from .options import GatysOptions
from .vgg import FeatureNet, receptive_field


@dataclass
class Tracker:
    """Counts iterations across scales and runs, keeps the losses and calls ``progress``.

    :param relabel: renames loss keys (the baseline engine numbers its runs' style terms).
    """

    progress: ProgressFn | None
    total: int
    snapshot_every: int = 0
    start: float = field(default_factory=time.perf_counter)
    step: int = 0
    losses: list[dict[str, float]] = field(default_factory=list)
    relabel: dict[str, str] = field(default_factory=dict)

    def __call__(self, terms: dict[str, float], snapshot: Callable[[], Tensor]) -> None:
        self.step += 1
        terms = {self.relabel.get(k, k): v for k, v in terms.items()}
        self.losses.append(terms)
        if self.progress is None:
            return
        wanted = self.snapshot_every and self.step % self.snapshot_every == 0
        elapsed = time.perf_counter() - self.start
        image = snapshot() if wanted else None
        self.progress(Progress("stylize", self.step, self.total, terms, elapsed, image))


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Use ``count`` CPU threads inside the block (``None``: leave torch's setting)."""
    if count is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(h, w)`` times ``scale``, rounded, at least one pixel."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def resize_image(image: Tensor, size: tuple[int, int]) -> Tensor:
    """``(3, h, w)`` → ``(3, *size)``, bilinear, antialiased when shrinking."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(
        image[None], size=size, mode="bilinear", align_corners=False, antialias=True
    )[0]


def cover(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize ``image`` (3, h, w) to cover ``size`` keeping its aspect, then centre-crop."""
    h, w = image.shape[-2:]
    scale = max(size[0] / h, size[1] / w)
    big = resize_image(image, (max(size[0], round(h * scale)), max(size[1], round(w * scale))))
    top, left = (big.shape[-2] - size[0]) // 2, (big.shape[-1] - size[1]) // 2
    return big[:, top : top + size[0], left : left + size[1]]


class Renderer:
    """Stylises one frame: the photo with K masked targets (or unmasked styles).

    :param net: the feature network, on ``device``.
    :param options: the engine's options.
    :param name: the engine's registry name (for messages).
    """

    def __init__(
        self, net: FeatureNet, options: GatysOptions, device: torch.device, name: str
    ) -> None:
        self.net = net
        self.options = options
        self.device = device
        self.name = name
        deepest = max(
            (
                receptive_field(n, net.arch)
                for n in (*options.style_layers, *options.content_layers)
            ),
            key=lambda s: s.stride,
        )
        self.min_side = deepest.stride

    def render(
        self,
        photo: Tensor,
        masks: Tensor | None,
        styles: Sequence[Tensor],
        strengths: Sequence[float],
        tracker: Tracker,
        generator: torch.Generator,
        style_masks: Sequence[Tensor | None] | None = None,
    ) -> tuple[Tensor, dict[str, Any]]:
        """Optimise the photo.

        :param photo: ``(3, H, W)`` in [0, 1] (CPU).
        :param masks: ``(K, H, W)`` in [0, 1]; ``None``: each style on the whole frame.
        :param styles: K style images ``(3, h, w)`` in [0, 1].
        :param style_masks: K optional masks of the style images ``(h, w)``.
        :returns: the stylised frame ``(3, H, W)`` in [0, 1] on the CPU, and facts for the report.
        """
        o = self.options
        full = (0, photo.shape[-2], 0, photo.shape[-1])
        box = (roi_box(masks, o.roi_margin) if o.roi and masks is not None else None) or full
        crop = _crop(photo, box).to(self.device)
        crop_masks = None if masks is None else _crop(masks, box).to(self.device)
        content, style_imgs = crop, [s.to(self.device) for s in styles]
        if o.preserve_color:
            content = luminance(crop)
            style_imgs = [
                matched_luminance(s, crop, None if crop_masks is None else crop_masks[k])
                for k, s in enumerate(style_imgs)
            ]
        s_masks = list(style_masks or [None] * len(styles))
        s_masks = [None if m is None else m.to(self.device) for m in s_masks]

        region = (box[1] - box[0], box[3] - box[2])
        plan, skipped = self._plan(region, style_imgs, "region" if box != full else "frame")
        tracker.total -= sum(iterations for _, iterations in skipped)
        x: Tensor | None = None
        for i, (scale, iterations) in enumerate(plan):
            size = scaled_size(region, scale)
            content_s = resize_image(content, size)
            masks_s = None if crop_masks is None else resize_mask(crop_masks, size)
            styles_s, smasks_s = self._scaled_styles(style_imgs, s_masks, scale)
            grams = self._grams(styles_s, smasks_s)
            objective = Objective(self.net, content_s, masks_s, grams, strengths, o)
            start = (
                self._init(content_s, masks_s, styles_s, generator)
                if x is None
                else resize_image(x, size)
            )

            def on_step(_: int, terms: dict[str, float], current: Tensor) -> None:
                tracker(terms, lambda: self._finish(current[0], crop, photo, box, o))

            x = optimize(
                objective,
                start[None],
                iterations=iterations,
                optimizer=o.optimizer,
                lr=o.lr,
                on_step=on_step,
                where=f"at scale {i + 1} of {len(plan)}" if len(plan) > 1 else "",
                engine=self.name,
            )[0]
        assert x is not None
        info = {
            "sizes": [list(scaled_size(region, scale)) for scale, _ in plan],
            "skipped_scales": [scale for scale, _ in skipped],
            "roi": None if box == full else [box[2], box[0], box[3], box[1]],
        }
        return self._finish(x, crop, photo, box, o), info

    def _plan(
        self, region: tuple[int, int], styles: list[Tensor], what: str
    ) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
        """The scales to run and those skipped: a coarse scale that would make the region or a
        style image smaller than the deepest layer's stride is left out (and reported); the
        final scale must fit."""
        plan, skipped = [], []
        steps = list(zip(self.options.scales, self.options.iterations_per_scale, strict=True))
        for scale, iterations in steps:
            sizes = [scaled_size(region, scale)]
            sizes += [scaled_size((s.shape[-2], s.shape[-1]), scale) for s in styles]
            if min(min(size) for size in sizes) >= self.min_side:
                plan.append((scale, iterations))
            elif scale == steps[-1][0]:
                self._check_size(sizes[0], f"the {what}")
                self._check_size(min(sizes[1:], key=min), "a style image")
            else:
                skipped.append((scale, iterations))
        return plan, skipped

    def _check_size(self, size: tuple[int, int], what: str) -> None:
        if min(size) < self.min_side:
            raise EngineError(
                f"{what} is {size[1]}×{size[0]} px, smaller than the {self.min_side} px the "
                "deepest network layer needs; use a larger --size (or --style-size)"
            )

    def _scaled_styles(
        self, styles: list[Tensor], masks: list[Tensor | None], scale: float
    ) -> tuple[list[Tensor], list[Tensor | None]]:
        if scale == 1.0:
            return styles, masks
        out, out_masks = [], []
        for style, mask in zip(styles, masks, strict=True):
            size = scaled_size((style.shape[-2], style.shape[-1]), scale)
            out.append(resize_image(style, size))
            out_masks.append(None if mask is None else resize_mask(mask, size))
        return out, out_masks

    def _grams(self, styles: list[Tensor], masks: list[Tensor | None]) -> list[dict[str, Tensor]]:
        """Each target's style Gram matrices (one forward pass per target and scale)."""
        o = self.options
        return [
            style_grams(self.net, style, o.style_layers, mask=mask, precision=o.precision)
            for style, mask in zip(styles, masks, strict=True)
        ]

    def _init(
        self,
        content: Tensor,
        masks: Tensor | None,
        styles: list[Tensor],
        generator: torch.Generator,
    ) -> Tensor:
        """The start image: the photo outside the targets, ``init`` inside them."""
        init = self.options.init
        if init == "content":
            return content.clone()
        size = (content.shape[-2], content.shape[-1])
        if masks is None:
            masks = torch.full((len(styles), *size), 1.0 / len(styles), device=content.device)
        if init == "noise":
            fill = torch.rand(content.shape, generator=generator).to(content.device)
            inside = masks.sum(0).clamp(0.0, 1.0)
            return content * (1.0 - inside) + fill * inside
        start = content * (1.0 - masks.sum(0).clamp(0.0, 1.0))
        for k, style in enumerate(styles):
            start = start + masks[k] * cover(style, size)
        return start

    @staticmethod
    def _finish(x: Tensor, crop: Tensor, photo: Tensor, box: Window, o: GatysOptions) -> Tensor:
        """The optimised crop (any scale) → the full frame ``(3, H, W)`` in [0, 1] on the CPU."""
        x = resize_image(x.detach().float(), (crop.shape[-2], crop.shape[-1]))
        if o.preserve_color:
            x = with_colors_of(x, crop)
        out = photo.clone()
        out[:, box[0] : box[1], box[2] : box[3]] = x.clamp(0.0, 1.0).cpu()
        return out


def _crop(image: Tensor, box: Window) -> Tensor:
    return image[..., box[0] : box[1], box[2] : box[3]].contiguous()
