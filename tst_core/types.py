"""Typed values that flow between the stages (photo → segmentation → targets → stylised → result).

Conventions used everywhere in the pipeline:

* an **image** is a float32 tensor of shape ``(3, H, W)``, RGB, values in ``[0, 1]``, on the CPU;
* a **mask** is a float32 tensor of shape ``(H, W)`` with values in ``[0, 1]`` at the size of
  the image it goes with; soft masks are allowed. A segmenter's instance masks cover the whole
  photo at the segmenter's own working size (at most the photo's; see :class:`Instance`);
* a **box** is a :class:`~tst_core.boxes.Box` ``(x0, y0, x1, y1)`` in pixels of the photo,
  ``x1``/``y1`` exclusive (a tuple with conversions to slices and back from a mask).

Conversion to a model's own convention (BGR, 0..255, mean subtraction, HWC uint8) happens inside
the plugin that runs the model, never here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from .boxes import Box

Tensor = torch.Tensor


def check_image(image: Tensor, what: str = "image") -> None:
    """Raise ``ValueError`` unless ``image`` is a float32 ``(3, H, W)`` tensor."""
    if image.dtype != torch.float32 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(
            f"{what} must be a float32 (3, H, W) tensor, got {image.dtype} {tuple(image.shape)}"
        )


def check_mask(mask: Tensor, size: tuple[int, int], what: str = "mask") -> None:
    """Raise ``ValueError`` unless ``mask`` is a float32 ``(H, W)`` tensor of ``size`` in [0, 1]."""
    if mask.dtype != torch.float32 or tuple(mask.shape) != tuple(size):
        raise ValueError(
            f"{what} must be float32 {tuple(size)}, got {mask.dtype} {tuple(mask.shape)}"
        )
    if mask.numel() and (float(mask.min()) < 0.0 or float(mask.max()) > 1.0):
        raise ValueError(f"{what} values must lie in [0, 1]")


def resize_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize a mask ``(H, W)`` or a stack ``(K, H, W)`` to ``size`` (bilinear, antialiased)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    stack = mask.reshape(-1, 1, *mask.shape[-2:])
    out = F.interpolate(stack, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.reshape(*mask.shape[:-2], *size).clamp_(0.0, 1.0)


def mask_grid(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """``(h, w)`` of a mask that covers a photo of ``size`` ``(H, W)`` with a long side of at
    most ``long_side`` (never larger than the photo): where a segmenter keeps its masks."""
    from .imageops import long_side_size

    h, w = int(size[0]), int(size[1])
    return (h, w) if max(h, w) <= long_side else long_side_size((h, w), long_side)


def check_instance_mask(mask: Tensor, size: tuple[int, int], what: str = "mask") -> None:
    """Raise ``ValueError`` unless ``mask`` is a float32 ``(h, w)`` tensor in [0, 1] that covers
    a photo of ``size`` ``(H, W)`` at a resolution of at most the photo's: ``h <= H``,
    ``w <= W`` and the same aspect within a pixel."""
    h_photo, w_photo = int(size[0]), int(size[1])
    if mask.dtype != torch.float32 or mask.ndim != 2:
        raise ValueError(
            f"{what} must be a float32 (h, w) tensor, got {mask.dtype} {tuple(mask.shape)}"
        )
    h, w = int(mask.shape[0]), int(mask.shape[1])
    if not (0 < h <= h_photo and 0 < w <= w_photo) or abs(h * w_photo - w * h_photo) > max(
        h_photo, w_photo
    ):
        raise ValueError(
            f"{what} is {h}x{w} (rows x columns); it must cover the {h_photo}x{w_photo} photo "
            "at its size or smaller, with the same aspect"
        )
    if mask.numel() and (float(mask.min()) < 0.0 or float(mask.max()) > 1.0):
        raise ValueError(f"{what} values must lie in [0, 1]")


@dataclass(frozen=True)
class Instance:
    """One object found by a segmenter.

    :param label: class name, lower case (``"person"``); ``"region"`` when the segmenter has none.
    :param score: confidence in ``[0, 1]``.
    :param box: ``(x0, y0, x1, y1)`` in photo pixels (a plain 4-tuple becomes a :class:`Box`).
    :param mask: float32 ``(h, w)`` in ``[0, 1]`` covering the whole photo, at the segmenter's
        own working size or the photo's (never larger; the same aspect). A 24-megapixel photo's
        instances are held at the size the segmenter saw, and :meth:`mask_at` gives one at the
        size a stage needs (the pipeline refines them to the photo's edges, see
        :mod:`tst_core.upsample`).
    """

    label: str
    score: float
    box: Box
    mask: Tensor = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.box, Box):  # a plain 4-tuple from a plugin
            object.__setattr__(self, "box", Box(*self.box))

    @property
    def area(self) -> float:
        """Fraction of the photo covered by the mask, in ``[0, 1]``."""
        return float(self.mask.mean())

    @property
    def mask_size(self) -> tuple[int, int]:
        """``(h, w)`` of :attr:`mask`."""
        return (int(self.mask.shape[0]), int(self.mask.shape[1]))

    def mask_at(self, size: tuple[int, int]) -> Tensor:
        """The mask resized to ``size`` ``(h, w)`` (bilinear, antialiased when shrinking)."""
        return resize_mask(self.mask, size)


def make_instances(
    labels: Sequence[str],
    scores: Tensor | Sequence[float],
    boxes: Tensor | Sequence[Sequence[float]],
    masks: Tensor,
    threshold: float | None = 0.5,
) -> tuple[Instance, ...]:
    """Instances from a model's stacked outputs (a helper for segmenters).

    :param labels: N class names, lower case.
    :param scores: N scores in [0, 1].
    :param boxes: ``(N, 4)`` boxes ``x0, y0, x1, y1`` in photo pixels.
    :param masks: float32 ``(N, h, w)`` soft masks in [0, 1] covering the photo, at the
        segmenter's working size or the photo's (see :class:`Instance`).
    :param threshold: mask pixels above it become 1, the others 0; ``None`` keeps the soft
        values. An instance with no pixel above the threshold (0.5 when ``None``) is dropped:
        it has no region to stylise.
    """
    out = []
    for k, label in enumerate(labels):
        mask = masks[k].float()
        inside = mask > (0.5 if threshold is None else threshold)
        if not bool(inside.any()):
            continue
        mask = inside.float() if threshold is not None else mask.clamp(0.0, 1.0)
        box = Box(*(float(v) for v in boxes[k][:4]))
        score = min(1.0, max(0.0, float(scores[k])))
        out.append(Instance(label, score, box, mask.contiguous()))
    return tuple(out)


@dataclass(frozen=True)
class Segmentation:
    """Every instance a segmenter found in one photo, ranked by score (highest first).

    An instance's **id** is its index in :attr:`instances`; ``tst segment`` prints these ids and
    the ``id:N`` selector uses them. Ranking is stable, so equal scores keep the segmenter's order.

    :param instances: the instances; re-ordered by descending score on construction.
    :param size: ``(H, W)`` of the photo (its boxes are in these pixels; its masks cover it at
        this size or smaller).
    """

    instances: tuple[Instance, ...]
    size: tuple[int, int]

    def __post_init__(self) -> None:
        ranked = tuple(sorted(self.instances, key=lambda inst: -inst.score))
        for i, inst in enumerate(ranked):
            check_instance_mask(inst.mask, self.size, f"mask of instance {i} ({inst.label})")
        object.__setattr__(self, "instances", ranked)
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.instances)

    def labels(self) -> list[str]:
        """Distinct labels in rank order."""
        return list(dict.fromkeys(inst.label for inst in self.instances))

    @property
    def mask_size(self) -> tuple[int, int]:
        """The largest ``(h, w)`` of the instances' masks (the photo's size when none)."""
        if not self.instances:
            return self.size
        return max((inst.mask_size for inst in self.instances), key=lambda hw: hw[0] * hw[1])

    def rescaled(self, size: tuple[int, int]) -> Segmentation:
        """The same instances on the photo resized to ``size`` ``(H', W')`` (the same aspect):
        boxes scaled, masks reduced where they would be larger than the new photo."""
        size = (int(size[0]), int(size[1]))
        if size == self.size:
            return self
        sy, sx = size[0] / self.size[0], size[1] / self.size[1]
        instances = tuple(
            replace(
                inst,
                box=inst.box.scaled(sx, sy),
                mask=inst.mask_at(mask_grid(inst.mask_size, max(size)))
                if max(inst.mask_size) > max(size)
                else inst.mask,
            )
            for inst in self.instances
        )
        return Segmentation(instances, size)

    def covered(self, size: tuple[int, int] | None = None) -> Tensor:
        """Union of all instance masks at ``size`` (default: the photo's), float32 ``(h, w)``
        in [0, 1] (pixel-wise maximum)."""
        size = self.size if size is None else (int(size[0]), int(size[1]))
        union = torch.zeros(size, dtype=torch.float32)
        for inst in self.instances:
            union = torch.maximum(union, inst.mask_at(size))
        return union


StyleKind = Literal["image", "model", "name"]


@dataclass(frozen=True)
class StylePart:
    """One style source of a ``--style``, classified (see :mod:`tst_core.styles`).

    :param kind: ``"image"`` (``source`` is an image path, a PIL image or a ``(3, h, w)``
        tensor), ``"model"`` (``source`` is a trained model's file or folder) or ``"name"``
        (``source`` is the name of a style of the engine's configured model).
    :param source: what the user gave.
    :param weight: its share of a mix, in [0, 1]; the parts of one ``--style`` sum to 1.
    :param name: for ``"model"``: the style picked with ``#name``, or ``""``.
    """

    kind: StyleKind
    source: Any
    weight: float = 1.0
    name: str = ""


@dataclass(frozen=True)
class ModelStyle:
    """A target's style as a feed-forward engine resolved it: a convex mix of trained styles.

    :param parts: ``(model, style, weight)`` triples: ``model`` is the resolved path of a model
        file or folder, ``style`` one of its style names; the weights are in [0, 1] and sum to 1.
    """

    parts: tuple[tuple[str, str, float], ...]

    @property
    def name(self) -> str:
        """``"udnie"``, or ``"starry_night*0.7+the_scream*0.3"`` for a mix."""
        if len(self.parts) == 1:
            return self.parts[0][1]
        return "+".join(f"{style}*{weight:g}" for _, style, weight in self.parts)


#: the longest side a painting is kept at or resized to (a style source, a huge @scale)
MAX_PAINTING_SIDE = 4096


@dataclass(frozen=True)
class ResolvedStyle:
    """What the pipeline's style loader hands :func:`~tst_core.select.build_targets`.

    :param image: the style image ``(3, h, w)`` in [0, 1], or ``None`` when the style is a
        trained model's style with no image (a name, a model file).
    :param model: the feed-forward engine's resolution of the style, or ``None``.
    :param name: a short name for reports.
    :param source: the same painting larger than ``image`` (see :attr:`Target.style_source`),
        or ``None``.
    :param mix: the paintings of a mix of style images, for an engine that mixes paintings
        (``image`` and ``source`` are the first one's); empty for one painting.
    """

    image: Tensor | None
    model: ModelStyle | None
    name: str
    source: Tensor | None = None
    mix: tuple[Painting, ...] = ()


@dataclass(frozen=True)
class TargetOptions:
    """How an optimising engine treats one target, given after its style
    (``person#0=starry.jpg@scale=1.5@supersample=2``, see :mod:`tst_core.select`); ``None``
    leaves the engine's own option.

    :param scale: the painting's long side as a multiple of the target's box long side, so its
        strokes relate to the object as in a whole-frame stylisation of that object (``> 0``).
    :param supersample: optimise the target's region this many times finer than the working
        image, then downsample (``1``: at the working size; at most 8).
    :param style_size: the painting's long side in pixels of the working image, whatever the
        target's size (the run's ``--style-size``, for targets without ``scale``).
    :param color: ``"keep"``: the target keeps the photo's colours and only its luminance is
        stylised (Gatys et al. 2017, luminance-only transfer, for this target alone);
        ``"style"``: the painting's colours (the default).
    :param mask: ``"soft"``: the mask's grey level scales the style (a pixel at 0.5 gets half
        of it), the whole non-zero mask is stylised; ``"hard"``: the mask's 0.5 edge bounds the
        target (the default; the compositor softens the edge).
    """

    scale: float | None = None
    supersample: float | None = None
    style_size: int | None = None
    color: str | None = None
    mask: str | None = None

    @property
    def keeps_color(self) -> bool:
        return self.color == "keep"

    @property
    def soft(self) -> bool:
        return self.mask == "soft"

    def given(self) -> dict[str, float | int | str]:
        """The options set here, by name (for reports and ``--style`` texts)."""
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Painting:
    """One painting of a target whose style mixes several (``a.jpg*0.7+b.jpg*0.3`` with an
    engine that mixes paintings, :attr:`Engine.mixes_paintings`).

    :param image: the painting ``(3, h, w)`` in [0, 1] at the style size.
    :param weight: its share of the mix, in (0, 1]; the shares of a target sum to 1.
    :param source: the same painting larger (see :attr:`Target.style_source`), or ``None``.
    """

    image: Tensor = field(repr=False)
    weight: float = 1.0
    source: Tensor | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Target:
    """One region to stylise and the style it gets.

    :param selector: the selector as the user wrote it (``"person#0"``).
    :param mask: float32 ``(H, W)`` in [0, 1]; overlaps with later targets already removed.
    :param style: the style image, float32 ``(3, h, w)`` in [0, 1] (any size); ``None`` when
        the style is a trained network's style given by name or model (``model_style``).
    :param strength: multiplies this target's style weight (``> 0``).
    :param style_name: a short name for reports (file name of the style image).
    :param instance_ids: ids of the instances the selector matched (empty for ``all``/``background``).
    :param model_style: the style as a feed-forward engine resolved it (see
        :class:`StyleResolver`), or ``None`` for a plain style image.
    :param options: per-target engine settings (:class:`TargetOptions`).
    :param style_source: the same painting as ``style`` at a higher resolution (same aspect),
        or ``None``: an engine that paints the target larger than ``style`` (supersampling, a
        large ``scale``) resizes this one down instead of enlarging ``style``, whose finest
        strokes an enlargement would blur.
    :param mix: the paintings whose style statistics are mixed (weighted) for this target, when
        its style is a mix of style images (``style`` is then the first); empty otherwise.
    """

    selector: str
    mask: Tensor = field(repr=False)
    style: Tensor | None = field(repr=False)
    strength: float = 1.0
    style_name: str = "style"
    instance_ids: tuple[int, ...] = ()
    model_style: ModelStyle | None = None
    options: TargetOptions = field(default_factory=TargetOptions)
    style_source: Tensor | None = field(default=None, repr=False)
    mix: tuple[Painting, ...] = ()

    def paintings(self) -> tuple[Painting, ...]:
        """The target's paintings with their shares: the mix, or its one style image."""
        if self.mix:
            return self.mix
        assert self.style is not None
        return (Painting(self.style, 1.0, self.style_source),)


@dataclass(frozen=True)
class Targets:
    """The K targets of one run, all at the same resolution.

    Masks are disjoint in the sense that a later target wins on an overlap, so at every pixel
    ``sum_k mask_k + keep == 1``.

    :param items: the targets in the order the user gave them.
    :param size: ``(H, W)`` of the masks.
    """

    items: tuple[Target, ...]
    size: tuple[int, int]

    def __post_init__(self) -> None:
        for t in self.items:
            check_mask(t.mask, self.size, f"mask of target {t.selector!r}")
            if t.style is not None:
                check_image(t.style, f"style image of target {t.selector!r}")
                if t.style_source is not None:
                    check_image(t.style_source, f"style source of target {t.selector!r}")
                for p in t.mix:
                    check_image(p.image, f"a painting of the mix of target {t.selector!r}")
            elif t.model_style is None:
                raise ValueError(
                    f"target {t.selector!r} has neither a style image nor a model style"
                )

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Target]:
        return iter(self.items)

    def __getitem__(self, k: int) -> Target:
        return self.items[k]

    def masks(self) -> Tensor:
        """All masks stacked, float32 ``(K, H, W)``."""
        if not self.items:
            return torch.zeros((0, *self.size))
        return torch.stack([t.mask for t in self.items])

    def style_images(self) -> list[Tensor]:
        """The K style images ``(3, h, w)``; an engine that needs images calls this.

        :raises EngineError: when a target's style is a trained network's (no image).
        """
        from .errors import EngineError

        for t in self.items:
            if t.style is None:
                raise EngineError(
                    f"target '{t.selector}' has the model style '{t.style_name}', which has no "
                    "style image; this engine needs one (the fast and cin engines run model styles)"
                )
        return [t.style for t in self.items if t.style is not None]

    def keep(self) -> Tensor:
        """Where the photo stays as it is: ``1 - sum_k mask_k``, float32 ``(H, W)`` in [0, 1]."""
        return (1.0 - self.masks().sum(0)).clamp_(0.0, 1.0)

    def with_style_size(self, style_size: int) -> Targets:
        """The same targets with ``style_size`` for each one that has no ``scale`` of its own."""
        items = tuple(
            t
            if t.options.scale is not None
            else replace(t, options=replace(t.options, style_size=style_size))
            for t in self.items
        )
        return Targets(items, self.size)

    def resized(self, size: tuple[int, int]) -> Targets:
        """The same targets with masks resized to ``size`` (style images untouched)."""
        if tuple(size) == self.size:
            return self
        masks = resize_mask(self.masks(), size)
        items = tuple(replace(t, mask=masks[k].contiguous()) for k, t in enumerate(self.items))
        return Targets(items, (int(size[0]), int(size[1])))


@dataclass(frozen=True)
class Progress:
    """One step of long work, sent to a :data:`ProgressFn`.

    :param stage: what is running (``"stylize"``, ``"segment"``...).
    :param step: steps done so far, 1-based.
    :param total: steps planned (``0`` when unknown).
    :param losses: current loss values by name; ``best``, when given, is the lowest ``total``
        of the current scale (what a display shows: an optimiser's trial step can evaluate a
        point thousands of times worse, and each scale has its own losses).
    :param elapsed: seconds since the stage started.
    :param snapshot: the current image ``(3, H, W)`` in [0, 1] when a snapshot was asked for.
    :param note: where in the stage the work is, for people (``"scale 2/2"``); ``""``: nothing.
    """

    stage: str
    step: int
    total: int
    losses: Mapping[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    snapshot: Tensor | None = field(default=None, repr=False)
    note: str = ""


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class StylizeResult:
    """What a style engine returns.

    :param layers: float32 ``(K, 3, H, W)`` in [0, 1]: ``layers[k]`` is the rendering to use
        inside target ``k``. An engine that renders all targets in one image returns K views of
        that image (``expand``), one that renders each style separately returns K images.
    :param losses: per-iteration loss values by name (``"total"``, ``"content"``, ``"style/0"``...).
    :param info: engine facts for the report (device, dtype, iterations, seconds...).
    """

    layers: Tensor = field(repr=False)
    losses: list[dict[str, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def image(self) -> Tensor:
        """The first layer ``(3, H, W)``: the whole stylised image for single-image engines."""
        return self.layers[0]


@dataclass(frozen=True)
class Env:
    """What every plugin factory gets besides its options.

    :param device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``; resolve it with
        :func:`tst_core.device.resolve_device`.
    :param seed: random seed for reproducible runs, or ``None``.
    :param make: builds another plugin by kind and registry name with its configured options,
        ``make(kind, name, interactive=False)`` (a segmenter that refines another segmenter's
        boxes uses it).
    :param interactive: the plugin is built to be given prompts when it is called
        (:class:`PromptSegmenter`), so options that say what to segment (boxes, points) may be
        empty: the page and ``--refine`` build segmenters this way.
    """

    device: str = "auto"
    seed: int | None = None
    make: Callable[..., Any] | None = field(default=None, repr=False, compare=False)
    interactive: bool = False


@runtime_checkable
class Segmenter(Protocol):
    """Finds every instance in a photo."""

    def segment(self, photo: Tensor) -> Segmentation:
        """:param photo: image ``(3, H, W)`` in [0, 1]. :returns: all instances at ``(H, W)``."""
        ...


@dataclass(frozen=True)
class Prompt:
    """What a person points at to make one region: a box, points, a mask to start from.

    :param box: the region lies inside this box (photo pixels), or ``None``.
    :param points: ``(x, y, inside)`` in photo pixels: ``inside`` 1 marks a pixel of the
        object, 0 a pixel that is not.
    :param mask: float32 ``(H, W)`` in [0, 1] at the photo's size to start from (an instance's
        mask to refine, a mask painted by hand), or ``None``.
    :param label: the region's label.
    """

    box: Box | None = None
    points: tuple[tuple[float, float, int], ...] = ()
    mask: Tensor | None = field(default=None, repr=False)
    label: str = "region"

    def __post_init__(self) -> None:
        if self.box is not None and not isinstance(self.box, Box):
            object.__setattr__(self, "box", Box(*self.box))
        for p in self.points:
            if len(p) != 3 or p[2] not in (0, 1):
                raise ValueError(f"a prompt point is (x, y, 1 or 0), got {p!r}")


@runtime_checkable
class PromptSegmenter(Protocol):
    """A segmenter that cuts one region from a prompt (``grabcut``, ``sam``): the page's box
    and clicks, and ``--refine`` (each instance's box and mask)."""

    def segment_prompt(self, photo: Tensor, prompt: Prompt) -> Instance:
        """:param photo: ``(3, H, W)`` in [0, 1]. :returns: one instance, its mask at ``(H, W)``.

        :raises InputError: when the prompt cannot be cut (nothing found in the box...).
        """
        ...


@runtime_checkable
class Engine(Protocol):
    """Stylises the targets of a photo.

    An engine that mixes the statistics of several style images for one target (``gatys``)
    says so with a class attribute ``mixes_paintings = True``: the pipeline then hands it
    mixes of style images as :attr:`Target.mix`, and refuses them for engines without it.
    """

    def stylize(
        self, photo: Tensor, targets: Targets, progress: ProgressFn | None = None
    ) -> StylizeResult:
        """:param photo: image ``(3, H, W)``. :param targets: masks at ``(H, W)``."""
        ...


@runtime_checkable
class NativeEngine(Protocol):
    """An engine that stylises a window of the photo at its own (native) resolution.

    The pipeline calls ``stylize_native`` instead of resizing the window to the working size,
    calling ``stylize`` and upsampling the layers (which it does for an engine without it).
    """

    def stylize_native(
        self,
        photo: Tensor,
        targets: Targets,
        progress: ProgressFn | None = None,
        *,
        scale: float,
        budget: int,
    ) -> StylizeResult:
        """:param photo: one window ``(3, H, W)`` in [0, 1] at the photo's native resolution.
        :param targets: masks at ``(H, W)``, already refined to the photo's edges.
        :param scale: working pixels per native pixel (``0 < scale ≤ 1``): the size at which
            the engine's working-size path computes and sizes paintings relative to the frame.
        :param budget: bytes of memory the engine may use for its work; it plans within it and
            raises :class:`~tst_core.errors.EngineError` in one sentence, before starting, when
            the job cannot fit.
        :returns: ``layers`` ``(K, 3, H, W)`` at the window's native size, ``losses``, ``info``.
        """
        ...


@runtime_checkable
class StyleResolver(Protocol):
    """What an engine adds to run styles that are not images (trained feed-forward networks).

    The pipeline calls ``resolve_style`` once per ``--style`` before stylising. An engine
    without it takes style images only: the pipeline refuses model styles, style names and
    mixes for it with one error line.
    """

    def resolve_style(self, parts: Sequence[StylePart]) -> ModelStyle:
        """Map the parts of one ``--style`` (weights summing to 1) to the engine's styles.

        An ``"image"`` part is a style image that the engine's model may know (a trained model
        records the hash of each image it was trained on).

        :raises SelectionError: for a style the engine cannot run (unknown name, image the
            model was not trained on, a model file it cannot read...).
        """
        ...


@runtime_checkable
class Compositor(Protocol):
    """Blends stylised layers into the photo.

    A compositor may say how much memory one call holds, its result included, as a class
    attribute ``bytes_per_pixel = (per window pixel, per target pixel)``: the photo-size
    pipeline plans each window against the budget with it (without it, the host assumes
    :data:`tst_core.compose.COMPOSITOR_BYTES`, a Poisson solver's).
    """

    def composite(self, photo: Tensor, stylized: Tensor, targets: Targets) -> Tensor:
        """:param photo: ``(3, H, W)``. :param stylized: ``(K, 3, H, W)``. :returns: ``(3, H, W)``."""
        ...


@runtime_checkable
class Tracker(Protocol):
    """Follows objects across the frames of a clip (``tst video``; see
    :mod:`tst_core.clips.tracks`, which holds the per-clip ``TrackSession`` protocol)."""

    def start(self, size: tuple[int, int], fps: float) -> Any:
        """A new clip of frames of ``size`` ``(H, W)`` at ``fps`` frames per second: returns
        its ``TrackSession``, whose ``update`` is called once per frame."""
        ...
