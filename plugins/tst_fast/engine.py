"""The feed-forward engines: ``fast`` (one pass per distinct style) and ``cin`` (one pass).

Both run trained transform networks (:mod:`tst_fast.network`) over the region of interest of
their targets — the box of the masks plus ``roi_margin`` — so a small person does not pay for
the frame; outside it a layer is the photo. Styles come from :meth:`resolve_style`
(the host's :class:`~tst_core.types.StyleResolver` contract): a model file or folder, a style
name of the configured ``model``, a style image the model was trained on (known by its file's
SHA-256) or a convex mix of one network's styles (the mix of their γ/β rows, as Dumoulin et
al.'s style interpolation).

**Strength** at run time interpolates toward the photo: a target of strength ``s ≤ 1`` gets
``(1 - s) · photo + s · stylised``; a trained network has no stronger setting (train with a
larger ``--degree`` for that), so ``s > 1`` is an error.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage as ndi

from tst_core.device import resolve_device, torch_threads
from tst_core.engine.layer_masks import roi_box
from tst_core.engine.precision import autocast, check_precision
from tst_core.errors import EngineError, SelectionError
from tst_core.types import (
    Env,
    ModelStyle,
    Progress,
    ProgressFn,
    StylePart,
    StylizeResult,
    Targets,
    Tensor,
    check_image,
    resize_mask,
)

from . import native
from .formats import Model, file_sha256, load_model
from .options import FeedForwardOptions


class _FeedForward:
    name = "fast"

    def __init__(self, options: FeedForwardOptions | None = None, env: Env | None = None) -> None:
        self.options = options or FeedForwardOptions()
        self.device = resolve_device((env or Env()).device)
        check_precision(self.options.precision, self.device)
        self._models: dict[str, Model] = {}

    def model(self, path: str | Path) -> Model:
        """The model at ``path``, loaded once (onto the engine's device) and kept."""
        key = str(Path(path).resolve())
        if key not in self._models:
            model = load_model(key)
            model.net.requires_grad_(False).eval().to(self.device)
            if self._channels_last:
                model.net.to(memory_format=torch.channels_last)
            self._models[key] = model
        return self._models[key]

    def resolve_style(self, parts: Sequence[StylePart]) -> ModelStyle:
        """Each part → ``(model path, style name, weight)``; one network's styles per mix."""
        triples: dict[tuple[str, str], float] = {}
        for part in parts:
            key = self._resolve_part(part)
            triples[key] = triples.get(key, 0.0) + part.weight
        models = {m for m, _ in triples}
        if len(models) > 1:
            raise SelectionError(
                "a style mix blends the γ/β rows of one network's styles, but these come from "
                f"{len(models)} networks ({', '.join(sorted(Path(m).name for m in models))})"
            )
        return ModelStyle(tuple((m, s, w) for (m, s), w in triples.items()))

    def _resolve_part(self, part: StylePart) -> tuple[str, str]:
        if part.kind == "model":
            model = self.model(part.source)
            if part.name:
                model.index(part.name)
                return _key(part.source), part.name
            if len(model.styles) != 1:
                raise SelectionError(
                    f"model '{part.source}' has {len(model.styles)} styles ({model.names()}); "
                    f"pick one with {part.source}#NAME"
                )
            return _key(part.source), model.styles[0].name
        configured = self._configured(part)
        model = self.model(configured)
        if part.kind == "name":
            if part.source not in {s.name for s in model.styles}:
                raise SelectionError(
                    f"style '{part.source}' is neither a file nor a style of the model "
                    f"'{configured}' (its styles: {model.names()})"
                )
            return _key(configured), str(part.source)
        if not isinstance(part.source, (str, Path)) or not Path(part.source).is_file():
            raise SelectionError(
                f"engine '{self.name}' knows style images by their file's hash; give the style "
                "image's path or the style's name"
            )
        digest = file_sha256(part.source)
        for s in model.styles:
            if s.sha256 == digest:
                return _key(configured), s.name
        raise SelectionError(
            f"model '{configured}' was not trained on style image '{part.source}' (its styles: "
            f"{model.names()}); name one of those, train one with `tst train`, or use --engine gatys"
        )

    def _configured(self, part: StylePart) -> Path:
        if self.options.model is None:
            raise SelectionError(
                f"style '{part.source}' needs a trained model for engine '{self.name}': name a "
                f"model file or folder as the style (udnie/, m.safetensors#name), or set "
                f"engine.{self.name}.model=FILE to one trained on it"
            )
        return self.options.model

    def stylize(
        self, photo: Tensor, targets: Targets, progress: ProgressFn | None = None
    ) -> StylizeResult:
        """Stylise each target's region with its trained style.

        :param photo: ``(3, H, W)`` in [0, 1]. :param targets: K targets at ``(H, W)``, each
            with a ``model_style`` (from :meth:`resolve_style`).
        :returns: ``layers`` ``(K, 3, H, W)`` in [0, 1]: the photo outside each pass's ROI.
        """
        styles = _check(photo, targets, self.name)
        t0 = time.perf_counter()
        with torch_threads(self.options.threads), torch.inference_mode():
            stylised, facts = self._render(photo, targets, styles, progress, t0)
        strengths = torch.tensor([t.strength for t in targets]).view(-1, 1, 1, 1)
        layers = torch.lerp(photo.expand_as(stylised), stylised, strengths)
        seconds = time.perf_counter() - t0
        info = {
            "engine": self.name,
            "device": str(self.device),
            "threads": torch.get_num_threads()
            if self.options.threads is None
            else self.options.threads,
            "seconds": round(seconds, 3),
            "precision": self.options.precision,
            "models": sorted({m for s in styles for m, _, _ in s.parts}),
            **facts,
        }
        return StylizeResult(layers.contiguous(), [], info)

    def _render(
        self,
        photo: Tensor,
        targets: Targets,
        styles: list[ModelStyle],
        progress: ProgressFn | None,
        t0: float,
    ) -> tuple[Tensor, dict[str, Any]]:
        raise NotImplementedError

    def stylize_native(
        self,
        photo: Tensor,
        targets: Targets,
        progress: ProgressFn | None = None,
        *,
        scale: float,
        budget: int,
    ) -> StylizeResult:
        """Stylise each target of a window of the photo at its native resolution.

        The network runs at the working scale and its rendering is brought to native size
        (``render = "working"``, the default), or on the native pixels (``"native"``); see
        :mod:`tst_fast.native`. Either way each pass is planned within ``budget`` and tiled
        exactly (whole-region instance-norm statistics) where it does not fit whole.

        :param photo: ``(3, H, W)`` in [0, 1]: one window at the photo's native resolution.
        :param targets: K targets with masks at ``(H, W)``, each with a ``model_style``.
        :param scale: working pixels per native pixel (``run.size / photo long side``), in
            (0, 1]; ``roi_margin`` is in working pixels.
        :param budget: bytes the engine may use (the layers it returns included).
        :returns: ``layers`` ``(K, 3, H, W)`` in [0, 1] at native size: the photo outside
            each pass's box.
        :raises EngineError: before anything runs, when a pass cannot fit ``budget``.
        """
        styles = _check(photo, targets, self.name)
        t0 = time.perf_counter()
        layers = photo.expand(len(targets), -1, -1, -1).clone()  # a normal tensor, not an
        # inference one, so that callers may change it in place
        with torch_threads(self.options.threads), torch.inference_mode():
            passes = self._passes(
                photo, targets, styles, native.margin(self.options.roi_margin, scale)
            )
            facts = native.render(
                photo, layers, passes, mode=self.options.render, upsample=self.options.upsample,
                scale=scale, budget=budget,
                device=self.device, progress=progress, engine=self.name,
            )  # fmt: skip
            for k, t in enumerate(targets):
                if t.strength < 1.0:
                    layers[k].lerp_(photo, 1.0 - t.strength)
        info = {
            "engine": self.name,
            "device": str(self.device),
            "seconds": round(time.perf_counter() - t0, 3),
            "models": sorted({m for s in styles for m, _, _ in s.parts}),
            **facts,
        }
        return StylizeResult(layers, [], info)

    def _passes(
        self, photo: Tensor, targets: Targets, styles: list[ModelStyle], margin: int
    ) -> list[native.NativePass]:
        raise NotImplementedError

    def _weights(self, style: ModelStyle) -> tuple[Model, Tensor]:
        """The style's model and its mix over that model's rows, ``(S,)`` summing to 1."""
        model = self.model(style.parts[0][0])
        w = torch.zeros(model.net.styles)
        for _, name, weight in style.parts:
            w[model.index(name)] += weight
        return model, w

    @property
    def _channels_last(self) -> bool:
        """Half precision on a CPU runs fastest in the channels-last layout (oneDNN)."""
        return self.options.precision != "fp32" and self.device.type == "cpu"

    def _run(self, model: Model, crop: Tensor, weights: Tensor) -> Tensor:
        """One forward pass: ``crop`` ``(3, h, w)``, ``weights`` ``(S,)`` or ``(S, h, w)``."""
        image = crop[None].to(self.device)
        if self._channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.options.precision):
            out = model.net(image, weights[None].to(self.device))
        return out[0].float().cpu().contiguous()


class FastEngine(_FeedForward):
    """One forward pass per distinct style, over the ROI of the targets that share it."""

    name = "fast"

    def _render(
        self,
        photo: Tensor,
        targets: Targets,
        styles: list[ModelStyle],
        progress: ProgressFn | None,
        t0: float,
    ) -> tuple[Tensor, dict[str, Any]]:
        masks = targets.masks()
        groups: dict[ModelStyle, list[int]] = {}
        for k, style in enumerate(styles):
            groups.setdefault(style, []).append(k)
        layers = photo.expand(len(targets), -1, -1, -1).clone()
        rois = []
        for i, (style, ks) in enumerate(groups.items()):
            box = roi_box(masks[ks], self.options.roi_margin)
            if box is None:
                continue  # every mask of the group is empty at this size
            y0, y1, x0, x1 = box.rows_cols()
            model, weights = self._weights(style)
            out = self._run(model, photo[:, y0:y1, x0:x1], weights)
            for k in ks:
                layers[k, :, y0:y1, x0:x1] = out
            rois.append([x0, y0, x1, y1])
            if progress:
                progress(Progress("stylize", i + 1, len(groups), {}, time.perf_counter() - t0))
        return layers, {"passes": len(rois), "rois": rois}

    def _passes(
        self, photo: Tensor, targets: Targets, styles: list[ModelStyle], margin: int
    ) -> list[native.NativePass]:
        masks = targets.masks()
        groups: dict[ModelStyle, list[int]] = {}
        for k, style in enumerate(styles):
            groups.setdefault(style, []).append(k)
        passes = []
        for style, ks in groups.items():
            box = roi_box(masks[ks], margin)
            if box is None:
                continue
            model, weights = self._weights(style)
            passes.append(
                native.NativePass(tuple(ks), box.rows_cols(), model, native.constant(weights))
            )
        return passes


class CinEngine(_FeedForward):
    """All targets in one forward pass of one conditional-instance-norm network.

    γ and β become maps: each pixel's style weights are its targets' mask values, and a pixel
    that no target covers takes its nearest target's style (not the network's "identity"
    γ = 1, β = 0, which is no trained style: there the compositor shows the photo anyway, and
    a feathered edge then fades into the target's own style). The maps are area-averaged to
    each layer's resolution, so every pixel's γ/β is a convex mix of the targets' styles.
    """

    name = "cin"

    def _render(
        self,
        photo: Tensor,
        targets: Targets,
        styles: list[ModelStyle],
        progress: ProgressFn | None,
        t0: float,
    ) -> tuple[Tensor, dict[str, Any]]:
        _one_network(styles)
        masks = targets.masks()
        layers = photo.expand(len(targets), -1, -1, -1).clone()
        box = roi_box(masks, self.options.roi_margin)
        if box is None:
            return layers, {"passes": 0, "rois": []}
        y0, y1, x0, x1 = box.rows_cols()
        mixes = [self._weights(s) for s in styles]
        model = mixes[0][0]
        per_target = torch.stack([w for _, w in mixes])  # (K, S)
        spatial = target_weights(masks[:, y0:y1, x0:x1])  # (K, h, w)
        weights = torch.einsum("khw,ks->shw", spatial, per_target)
        out = self._run(model, photo[:, y0:y1, x0:x1], weights)
        layers[:, :, y0:y1, x0:x1] = out
        if progress:
            progress(Progress("stylize", 1, 1, {}, time.perf_counter() - t0))
        return layers, {"passes": 1, "rois": [[x0, y0, x1, y1]]}

    def _passes(
        self, photo: Tensor, targets: Targets, styles: list[ModelStyle], margin: int
    ) -> list[native.NativePass]:
        _one_network(styles)
        masks = targets.masks()
        box = roi_box(masks, margin)
        if box is None:
            return []
        y0, y1, x0, x1 = box.rows_cols()
        mixes = [self._weights(s) for s in styles]
        per_target = torch.stack([w for _, w in mixes])  # (K, S)
        crop = masks[:, y0:y1, x0:x1]

        def weights(size: tuple[int, int]) -> Tensor:
            spatial = target_weights(resize_mask(crop, size))  # (K, h, w)
            return torch.einsum("khw,ks->shw", spatial, per_target)

        job = native.NativePass(
            tuple(range(len(targets))), (y0, y1, x0, x1), mixes[0][0], weights, len(per_target[0])
        )
        return [job]


def _one_network(styles: list[ModelStyle]) -> None:
    models = {s.parts[0][0] for s in styles}
    if len(models) > 1:
        raise EngineError(
            f"engine 'cin' runs every target in one pass of one network, but the styles come "
            f"from {len(models)} ({', '.join(sorted(Path(m).name for m in models))}); use "
            "--engine fast, which runs one pass per style"
        )


def target_weights(masks: Tensor) -> Tensor:
    """Per-pixel target weights ``(K, h, w)`` summing to 1: the masks where they cover the
    pixel, the nearest target (by its mask's support) for the rest.

    :param masks: ``(K, h, w)`` in [0, 1] with overlaps resolved (they sum to at most 1).
    """
    if masks.shape[0] == 1:  # the one target's style everywhere
        return torch.ones_like(masks)
    covered = masks.sum(0).clamp(max=1.0)
    labels = masks.argmax(0).numpy()
    support = masks.amax(0).numpy() > 0
    if support.any() and not support.all():
        iy, ix = ndi.distance_transform_edt(~support, return_distances=False, return_indices=True)
        labels = labels[iy, ix]
    nearest = torch.from_numpy(np.eye(masks.shape[0], dtype=np.float32)[labels]).permute(2, 0, 1)
    return masks + (1.0 - covered) * nearest


def _key(path: str | Path) -> str:
    return str(Path(path).resolve())


def _check(photo: Tensor, targets: Targets, engine: str) -> list[ModelStyle]:
    check_image(photo, "photo")
    if len(targets) == 0:
        raise EngineError("nothing to stylise: no targets were given (add a --style)")
    if tuple(targets.size) != tuple(photo.shape[-2:]):
        raise EngineError(f"targets are {targets.size} but the photo is {tuple(photo.shape[-2:])}")
    styles = []
    for t in targets:
        if t.model_style is None:
            raise EngineError(
                f"target '{t.selector}' has no trained style; engine '{engine}' runs model "
                "styles resolved by the pipeline (tst_core.run or Pipeline)"
            )
        if not 0.0 < t.strength <= 1.0:
            raise EngineError(
                f"target '{t.selector}' has strength {t.strength:g}; engine '{engine}' renders a "
                "trained style at full strength at most (a strength below 1 fades it toward the "
                "photo); train with a larger --degree for a stronger style"
            )
        styles.append(t.model_style)
    return styles
