"""First-party compositors (``--blend``): hard, feather, mrf, poisson.

Every compositor returns the photo bit for bit where every mask is zero, and changes pixels only
within its reach of a hard region (mask > 0.5): ``feather`` up to ``radius`` pixels (``√2 ·
radius`` for the gaussian profile), ``mrf`` up to ``band``, ``poisson`` up to ``margin``.
"""

from __future__ import annotations

from tst_core import hookimpl
from tst_core.registry import Register

# each compositor's module is imported when it is first built (``tst plugins`` imports none)


@hookimpl
def tst_register_compositors(register: Register) -> None:
    register(
        "hard",
        "tst_blend.hard:HardCompositor",
        options="tst_blend.options:HardOptions",
        description="hard cut: pixels whose mask is above the threshold take the stylised pixel",
    )
    register(
        "feather",
        "tst_blend.feather:FeatherCompositor",
        options="tst_blend.options:FeatherOptions",
        description="soft edge: the stylised region fades out over a radius around its edge",
    )
    register(
        "mrf",
        "tst_blend.mrf:MrfCompositor",
        options="tst_blend.options:MrfOptions",
        description="graph cut in a band around each edge, where stylised and photo agree "
        "(Wells et al. 2017; needs PyMaxflow)",
    )
    register(
        "poisson",
        "tst_blend.poisson:PoissonCompositor",
        options="tst_blend.options:PoissonOptions",
        description="gradient-domain (Poisson) blending of each stylised region into the photo",
    )
