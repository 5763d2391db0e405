"""Options of the first-party compositors (config tables ``[blend.hard]``, ``[blend.feather]``,
``[blend.mrf]``, ``[blend.poisson]``), apart from their modules: reading them imports no torch,
numpy or scipy (``tst config show``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class HardOptions:
    """:param threshold: a pixel takes the stylised value where its mask is above this."""

    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold}")


#: the largest radius, in pixels of the image composited (a working-size radius of 512 is
#: about 4096 native pixels for a 6000-pixel photo worked at 768)
MAX_RADIUS = 4096.0


@dataclass(frozen=True)
class FeatherOptions:
    """:param radius: half-width of the fade in pixels of the working image (0: hard cut); a
        compositor at the photo's own size gets it scaled (see :mod:`tst_core.native`).
    :param profile: ``distance`` (a smooth ramp over the signed distance to the edge) or
        ``gaussian`` (a blurred region indicator).
    :param soft_masks: blur the masks as given, keeping their own soft edges, instead of their
        0.5 threshold (``gaussian`` only); soft mask values far from the edge then also blend.
    """

    radius: float = field(default=8.0, metadata={"pixels": True})
    profile: Literal["distance", "gaussian"] = "distance"
    soft_masks: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.radius <= MAX_RADIUS:
            raise ValueError(f"radius must be in [0, {MAX_RADIUS:g}] pixels, got {self.radius}")
        if self.profile not in ("distance", "gaussian"):
            raise ValueError(f"profile must be 'distance' or 'gaussian', got {self.profile!r}")
        if self.soft_masks and self.profile != "gaussian":
            raise ValueError(
                "soft_masks needs profile = 'gaussian' (the distance ramp is "
                "measured from the 0.5 edge)"
            )


#: the widest band, in pixels of the image composited
MAX_BAND = 4096


@dataclass(frozen=True)
class MrfOptions:
    """:param band: half-width in pixels of the working image of the band around each edge
        where the cut may run (0: the hard cut); scaled at the photo's own size (see
        :mod:`tst_core.native`).
    :param unary_weight: weight of the unary cost (a pixel ``band`` pixels inside a region
        pays this much to take another label).
    :param pairwise_weight: weight of the seam cost between 4-neighbours.
    :param seam_cost: ``squared`` (the paper's ``|I_a − I_b|²``) or ``euclidean`` (``|I_a − I_b|``).
    :param whole_frame: cut over the whole frame, not only the band (the "naive" use).
    :param max_cycles: most alpha-expansion sweeps over all labels where targets touch.
    """

    band: int = field(default=8, metadata={"pixels": True})
    unary_weight: float = 0.1
    pairwise_weight: float = 1.0
    seam_cost: Literal["squared", "euclidean"] = "squared"
    whole_frame: bool = False
    max_cycles: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.band <= MAX_BAND:
            raise ValueError(f"band must be in [0, {MAX_BAND}] pixels, got {self.band}")
        if self.whole_frame and self.band < 1:
            raise ValueError("whole_frame needs band >= 1 (the unary's distance scale)")
        if self.unary_weight < 0 or self.pairwise_weight < 0:
            raise ValueError("unary_weight and pairwise_weight must be >= 0")
        if self.seam_cost not in ("squared", "euclidean"):
            raise ValueError(f"seam_cost must be 'squared' or 'euclidean', got {self.seam_cost!r}")
        if self.max_cycles < 1:
            raise ValueError(f"max_cycles must be >= 1, got {self.max_cycles}")


#: the largest margin, in pixels of the image composited (a native-size margin is the working
#: one times native / working)
MAX_MARGIN = 4096


@dataclass(frozen=True)
class PoissonOptions:
    """:param margin: pixels by which each target's region is grown before solving, so the
        boundary condition is met a little outside the object.
    :param gradients: ``stylized`` (the layer's own gradients) or ``mixed`` (per channel the
        stronger of the layer's and the photo's).
    """

    margin: int = field(default=4, metadata={"pixels": True})
    gradients: Literal["stylized", "mixed"] = "stylized"

    def __post_init__(self) -> None:
        if not 0 <= self.margin <= MAX_MARGIN:
            raise ValueError(f"margin must be in [0, {MAX_MARGIN}] pixels, got {self.margin}")
        if self.gradients not in ("stylized", "mixed"):
            raise ValueError(f"gradients must be 'stylized' or 'mixed', got {self.gradients!r}")
