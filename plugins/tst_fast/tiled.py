"""Exact tiled passes of a transform network, with whole-region instance-norm statistics.

A Johnson network normalises after most convolutions with the statistics of the whole image
(instance norm). Run tile by tile, each tile would normalise with its own mean and variance and
the tiles would meet in seams. Here the statistics are gathered over the whole region first and
the tiles then run with them, so the tiled pass equals the untiled one up to float rounding.

The network is run in three parts (:data:`HEAD`, :data:`BODY`, :data:`TAIL`):

* **head** (``conv1``–``conv3``, full to quarter resolution): the mean and variance of each of
  its norms come from a pass of the tiles up to that convolution (the one before already
  normalised with its totals); the last pass writes ``conv3``'s output into a quarter-resolution
  *store* and that store is normalised in place once its totals are known;
* **body** (the ten residual convolutions at quarter resolution): convolution by convolution
  over the store in full-width stripes, each writing its output and its totals, the next
  reading it normalised (a block's second convolution writes over its input, one stripe
  behind the one it reads);
* **tail** (``up1``, ``up2``, ``out``, quarter to full resolution): as the head, a pass up to
  each norm, the last writing the output before its norm, normalised in place.

Each tile is computed on its *core* grown by a halo of at least the receptive field of the
layers it runs (:func:`halo`), clipped to the region: inside the region the convolutions' own
padding then never reaches the core, and at the region's border the padding is the untiled
pass's own. Cores start on multiples of 4 pixels, so every layer's grid (strides 1, 2, 4) is
cut at the same places as the untiled pass's, and the region is first padded to a multiple of
4 as :meth:`TransformNet.forward` pads it (reflection; a spatial style map by replication).
Totals are sums per channel over the cores, accumulated in float64 as per-tile means and
centred sums of squares (Chan et al.'s pairwise combination), which partition the layer's map.

Cost: about 1.3× an untiled pass (the head and tail are re-run for their statistics) plus the
halos. Memory (:func:`plan`): the store (two maps of 128 channels at quarter resolution, 64
bytes per pixel of the region), the output, and one tile's or stripe's activations; the tile
side and stripe height are the largest that fit the budget.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tst_core.errors import EngineError
from tst_core.types import Tensor

from .network import LAYERS, CondInstanceNorm, LayerSpec, TransformNet

HEAD: tuple[LayerSpec, ...] = LAYERS[:3]
BODY: tuple[LayerSpec, ...] = LAYERS[3:13]
TAIL: tuple[LayerSpec, ...] = LAYERS[13:]
assert [s.stride for s in HEAD] == [1, 2, 2] and all(s.up for s in TAIL[:2])
assert all(s.name.startswith("res") for s in BODY)

#: bytes per pixel of a head or tail tile's activations (grown tile), one style (measured
#: on the CPU with a margin: conv1's and up2's 32 channels at full resolution dominate)
TILE_BYTES = 750
#: extra bytes per tile pixel and style of a spatial style map (γ/β maps at full resolution)
TILE_STYLE_BYTES = 300
#: bytes per pixel of an untiled pass (torch holds more at once than a tile)
WHOLE_BYTES = 900
#: bytes per region pixel of the quarter-resolution store: 2 maps × 128 channels / 16 × 4 bytes
STORE_BYTES = 2 * 128 // 16 * 4
#: bytes per quarter-resolution cell of a body stripe (its input, output and the output
#: held back one stripe, 128 channels each, with a margin)
STRIPE_BYTES = 2048
#: the smallest head/tail tile side worth running (below it the halos cost more than the core)
MIN_TILE = 64
#: the fewest rows of a body stripe (at least a body convolution's halo)
MIN_ROWS = 4

Stats = dict[str, tuple[Tensor, Tensor]]


def halo(layers: tuple[LayerSpec, ...]) -> int:
    """Pixels (of the full resolution) around a core that ``layers`` can read from, rounded
    up to a multiple of 4: each convolution reaches ``kernel - 1`` of its input's pixels,
    which are ``2^k`` full-resolution pixels apart (a conservative bound: TensorFlow's
    ``SAME`` padding and the transposed convolutions reach one way further than the other)."""
    jump, reach = 1, 0
    for spec in LAYERS[: LAYERS.index(layers[0])]:
        jump = jump * 2 if spec.stride == 2 else jump // 2 if spec.up else jump
    for spec in layers:
        reach += (spec.kernel - 1) * jump
        jump = jump * 2 if spec.stride == 2 else jump // 2 if spec.up else jump
    return -(-reach // 4) * 4


@dataclass(frozen=True)
class TilePlan:
    """How a region is run: untiled, or in tiles of ``tile`` pixels.

    :param size: the region ``(H, W)``.
    :param tile: side of a head/tail tile core in pixels (a multiple of 4); 0: untiled.
    :param cells: rows of a body stripe in quarter-resolution cells; 0: untiled.
    :param peak: the estimated peak bytes of the pass (store, output, one tile).
    :param store: bytes of the quarter-resolution store (0 untiled).
    :param tiles: head/tail tiles (1 untiled).
    :param body_tiles: body stripes (1 untiled).
    """

    size: tuple[int, int]
    tile: int
    cells: int
    peak: int
    store: int
    tiles: int
    body_tiles: int = 1

    @property
    def steps(self) -> int:
        """Tile evaluations of the pass: three passes each over the head's and the tail's
        tiles, one per body convolution over its stripes."""
        if self.tile == 0:
            return 1
        return 6 * self.tiles + len(BODY) * self.body_tiles

    def facts(self) -> dict[str, object]:
        """For the engine's report."""
        return {
            "tile": self.tile,
            "tiles": self.tiles,
            "store_mib": round(self.store / 2**20, 1),
            "peak_estimate_mib": round(self.peak / 2**20, 1),
        }


def _padded(size: tuple[int, int]) -> tuple[int, int]:
    return -(-size[0] // 4) * 4, -(-size[1] // 4) * 4


def plan(
    size: tuple[int, int],
    budget: int,
    styles: int = 0,
    what: str = "this region",
    used: int = 0,
) -> TilePlan:
    """The pass of a region of ``size`` within ``budget`` bytes.

    :param styles: S of a spatial style map (``cin``), 0 for one mix over the region.
    :param what: how an error names the job.
    :param used: bytes the caller holds besides (only for the error's figures).
    :raises EngineError: when not even :data:`MIN_TILE` tiles fit, before anything runs.
    """
    hp, wp = _padded(size)
    pixels = hp * wp
    per_px = TILE_BYTES + styles * TILE_STYLE_BYTES
    output = 3 * pixels * 4 + styles * pixels * 4  # the output and a padded style map
    whole = pixels * (WHOLE_BYTES + styles * TILE_STYLE_BYTES) + output
    if whole <= budget:
        return TilePlan(size, 0, 0, whole, 0, 1)
    store = pixels * STORE_BYTES
    room = budget - store - output
    reach = max(halo(HEAD), halo(TAIL))
    side = math.isqrt(max(room, 0) // per_px) - 2 * reach
    side = min(side // 4 * 4, max(hp, wp))
    row = (wp // 4) * STRIPE_BYTES
    cells = min(max(room, 0) // row - 2 * halo(BODY[:1]) // 4, hp // 4)
    if side < MIN_TILE or cells < MIN_ROWS:
        need = (
            used + store + output + max((MIN_TILE + 2 * reach) ** 2 * per_px, (MIN_ROWS + 4) * row)
        )
        raise EngineError(
            f"{what} needs at least {_mib(need)} ({_mib(store)} of quarter-resolution maps "
            f"for a tiled pass, {_mib(used + output)} of output), but the memory budget is "
            f"{_mib(budget + used)}: raise --max-memory or stylise at a smaller size"
        )
    tiles = len(_starts(hp, side)) * len(_starts(wp, side))
    body_tiles = len(_starts(hp // 4, cells))
    peak = store + output + max((side + 2 * reach) ** 2 * per_px, (cells + 4) * row)
    return TilePlan(size, side, cells, peak, store, tiles, body_tiles)


def _mib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{math.ceil(n / 2**20)} MiB"


def _starts(n: int, step: int) -> list[int]:
    return list(range(0, n, step))


def run(
    net: TransformNet,
    image: Tensor,
    weights: Tensor,
    tile_plan: TilePlan,
    step: Callable[[], None] | None = None,
) -> Tensor:
    """The network over ``image``, untiled or in tiles as ``tile_plan`` says.

    :param image: ``(3, H, W)`` RGB in [0, 1], on the network's device.
    :param weights: ``(S,)`` or ``(S, H, W)``: the style mix, as :meth:`TransformNet.forward`.
    :param step: called after each tile (for progress).
    :returns: ``(3, H, W)`` in [0, 1], equal to ``net(image[None], weights[None])[0]`` up to
        float rounding.
    """
    if tile_plan.tile == 0:
        out = net(image[None], weights[None])[0]
        if step:
            step()
        return out
    return _Tiled(net, image, weights, tile_plan, step).run()


class _Tiled:
    """One tiled pass (see the module's docstring): the region, its store and the totals."""

    def __init__(
        self,
        net: TransformNet,
        image: Tensor,
        weights: Tensor,
        tile_plan: TilePlan,
        step: Callable[[], None] | None,
    ) -> None:
        self.net, self.image, self.plan, self.step = net, image, tile_plan, step
        self.h, self.w = int(image.shape[-2]), int(image.shape[-1])
        self.hp, self.wp = _padded((self.h, self.w))
        self.stats: Stats = {}
        self.maps: dict[int, Tensor] = {}
        self.mix: Tensor | None = None
        if weights.ndim == 1:
            self.mix = weights[None]
        else:
            self._pool_maps(weights)

    # --- style weights at each layer's resolution -------------------------------------------

    def _pool_maps(self, weights: Tensor) -> None:
        """The spatial style map at strides 1 (padded by replication), 2 and 4."""
        full = _crop(weights, 0, self.hp, 0, self.wp, "replicate")
        self.maps = {1: full, 2: F.avg_pool2d(full[None], 2)[0], 4: F.avg_pool2d(full[None], 4)[0]}

    def _weights(self, stride: int, rows: slice, cols: slice) -> Tensor:
        """``(1, S)`` or the map ``(1, S, h, w)`` of grid ``stride`` over ``rows`` × ``cols``."""
        if self.mix is not None:
            return self.mix
        return self.maps[stride][None, :, rows, cols]

    # --- one layer ---------------------------------------------------------------------------

    def _normalise(self, spec: LayerSpec, x: Tensor, w: Tensor) -> Tensor:
        """Instance norm of ``x`` ``(1, C, h, w)`` with the region's totals, in place."""
        norm = self.net.norms[spec.name]
        assert isinstance(norm, CondInstanceNorm)
        mean, var = self.stats[spec.name]
        inv = torch.rsqrt(var + norm.eps)
        if w.ndim == 2:
            scale = (w @ norm.gamma)[0] * inv
            shift = (w @ norm.beta)[0] - mean * scale
            return x.mul_(scale[:, None, None]).add_(shift[:, None, None])
        x = x.sub_(mean[:, None, None]).mul_(inv[:, None, None])
        gamma = torch.einsum("nshw,sc->nchw", w, norm.gamma)
        beta = torch.einsum("nshw,sc->nchw", w, norm.beta)
        return x.mul_(gamma).add_(beta)

    def _finish(self, spec: LayerSpec, x: Tensor, w: Tensor) -> Tensor:
        """After ``spec``'s convolution, in place: its norm (if it has one), then ReLU."""
        if spec.name in self.net.norms:
            x = self._normalise(spec, x, w)
        return torch.relu_(x) if spec.relu else x

    # --- passes ------------------------------------------------------------------------------

    def run(self) -> Tensor:
        store = self._head()
        store = self._body(store)
        return self._tail(store)

    def _tiles(
        self, reach: int, side: int, scale: int
    ) -> Iterator[tuple[slice, slice, slice, slice]]:
        """Cores and grown tiles over the padded region in units of ``scale`` pixels:
        ``(rows, cols)`` of the grown tile and the core's ``(rows, cols)`` inside it."""
        hn, wn = self.hp // scale, self.wp // scale
        for y0 in _starts(hn, side):
            for x0 in _starts(wn, side):
                y1, x1 = min(hn, y0 + side), min(wn, x0 + side)
                gy0, gx0 = max(0, y0 - reach), max(0, x0 - reach)
                gy1, gx1 = min(hn, y1 + reach), min(wn, x1 + reach)
                yield (
                    slice(gy0, gy1),
                    slice(gx0, gx1),
                    slice(y0 - gy0, y1 - gy0),
                    slice(x0 - gx0, x1 - gx0),
                )

    def _accumulate(self, name: str, parts: list[tuple[int, Tensor, Tensor]]) -> None:
        """Region totals of layer ``name`` from per-tile ``(count, mean, centred sum of
        squares)`` in float64, combined pairwise (Chan, Golub & LeVeque)."""
        n, mean, m2 = 0, None, None
        for k, mu, s in parts:
            if mean is None or m2 is None:
                n, mean, m2 = k, mu, s
                continue
            delta = mu - mean
            total = n + k
            mean = mean + delta * (k / total)
            m2 = m2 + s + delta * delta * (n * k / total)
            n = total
        assert mean is not None and m2 is not None
        self.stats[name] = (mean.float(), (m2 / n).float())

    @staticmethod
    def _moments(x: Tensor) -> tuple[int, Tensor, Tensor]:
        """``(count, mean, centred sum of squares)`` per channel of ``x`` ``(1, C, h, w)``."""
        var, mean = torch.var_mean(x[0], dim=(1, 2), correction=0)
        n = int(x.shape[-2]) * int(x.shape[-1])
        return n, mean.double(), var.double() * n

    def _tick(self) -> None:
        if self.step:
            self.step()

    def _head(self) -> Tensor:
        """The head's output in the store, normalised: ``(1, 128, Hp/4, Wp/4)``."""
        reach, side = halo(HEAD), self.plan.tile
        store = self.image.new_empty((1, HEAD[-1].cout, self.hp // 4, self.wp // 4))
        for depth, last in enumerate(HEAD):
            parts = []
            for rows, cols, cr, cc in self._tiles(reach, side, 1):
                x = _crop(self.image, rows.start, rows.stop, cols.start, cols.stop, "reflect")
                x = x[None] * 255.0
                stride = 1
                for spec in HEAD[: depth + 1]:
                    x = self.net.convs[spec.name](x)
                    stride *= spec.stride
                    if spec is not last:
                        x = self._finish(spec, x, self._weights(stride, *_at(rows, cols, stride)))
                core = x[:, :, _div(cr, stride), _div(cc, stride)]
                parts.append(self._moments(core))
                if last is HEAD[-1]:
                    store[:, :, _div(_shift(cr, rows), 4), _div(_shift(cc, cols), 4)] = core
                self._tick()
            self._accumulate(last.name, parts)
        self._pointwise(store, lambda x, w: self._finish(HEAD[-1], x, w))
        return store

    def _body(self, store: Tensor) -> Tensor:
        """The residual blocks over the store, convolution by convolution: ``conv a`` from
        the store into a second map, ``conv b`` from that map into itself."""
        other = torch.empty_like(store)
        for first, second in zip(BODY[::2], BODY[1::2], strict=True):
            self._conv_over(first, store, other)
            self._pointwise(other, functools.partial(self._finish, first))
            self._conv_over(second, other, other)
            self._pointwise_add(second, other, store)
        return store

    def _conv_over(self, spec: LayerSpec, src: Tensor, dst: Tensor) -> None:
        """``dst`` = ``spec``'s convolution of ``src`` (quarter resolution), and its totals.

        In full-width stripes of :attr:`TilePlan.cells` rows, top to bottom. When ``dst`` is
        ``src``, a stripe's result is written only after the next stripe has read the rows
        it needs above it (which needs stripes at least as tall as the halo).
        """
        reach = halo((spec,)) // 4
        rows_per = self.plan.cells
        assert rows_per >= reach
        n = int(src.shape[-2])
        parts = []
        pending: tuple[slice, Tensor] | None = None
        for y0 in range(0, n, rows_per):
            y1 = min(n, y0 + rows_per)
            g0, g1 = max(0, y0 - reach), min(n, y1 + reach)
            core = self.net.convs[spec.name](src[:, :, g0:g1])[:, :, y0 - g0 : y1 - g0]
            parts.append(self._moments(core))
            if pending is not None:
                dst[:, :, pending[0]] = pending[1]
            pending = (slice(y0, y1), core)
            self._tick()
        if pending is not None:
            dst[:, :, pending[0]] = pending[1]
        self._accumulate(spec.name, parts)

    def _stripes(self, n: int) -> Iterator[slice]:
        step = max(1, self.plan.cells)
        for y0 in range(0, n, step):
            yield slice(y0, min(n, y0 + step))

    def _pointwise(self, x: Tensor, fn: Callable[[Tensor, Tensor], Tensor]) -> None:
        """``x[rows] = fn(x[rows], weights)`` stripe by stripe, in place (quarter resolution)."""
        full = slice(0, x.shape[-1])
        for rows in self._stripes(x.shape[-2]):
            x[:, :, rows] = fn(x[:, :, rows], self._weights(4, rows, full))

    def _pointwise_add(self, spec: LayerSpec, src: Tensor, dst: Tensor) -> None:
        """``dst += norm(src)`` (the residual block's end), stripe by stripe."""
        full = slice(0, src.shape[-1])
        for rows in self._stripes(src.shape[-2]):
            dst[:, :, rows] += self._finish(spec, src[:, :, rows], self._weights(4, rows, full))

    def _tail(self, store: Tensor) -> Tensor:
        """From the store to the output ``(3, H, W)`` in [0, 1]."""
        reach, side = halo(TAIL) // 4, self.plan.tile // 4
        out = self.image.new_empty((3, self.hp, self.wp))
        for depth, last in enumerate(TAIL):
            parts = []
            has_norm = last.name in self.net.norms
            if not has_norm and last is not TAIL[-1]:
                continue
            for rows, cols, cr, cc in self._tiles(reach, side, 4):
                x = store[:, :, rows, cols]
                stride = 4
                for spec in TAIL[: depth + 1]:
                    x = self.net.convs[spec.name](x)
                    stride //= 2 if spec.up else 1
                    if spec is not last:
                        w = self._weights(stride, *_at(rows, cols, stride, 4))
                        x = self._finish(spec, x, w)
                grow = 4 // stride
                core = x[:, :, _mul(cr, grow), _mul(cc, grow)]
                if has_norm:
                    parts.append(self._moments(core))
                if last is TAIL[-1]:
                    out[:, _mul(_shift(cr, rows), 4), _mul(_shift(cc, cols), 4)] = core[0]
                self._tick()
            if has_norm:
                self._accumulate(last.name, parts)
        out = out[:, : self.h, : self.w]
        last = TAIL[-1]
        for rows in self._stripes(self.h):
            x = out[None, :, rows]
            if last.name in self.net.norms:
                w = self._weights(1, rows, slice(0, self.w))
                x = self._normalise(last, x, w)
            if self.net.arch == "johnson-tf":
                x = torch.tanh_(x).mul_(150.0).add_(127.5)
            out[:, rows] = x[0].div_(255.0).clamp_(0.0, 1.0)
        return out.contiguous()


def _div(s: slice, k: int) -> slice:
    return slice(s.start // k, s.stop // k)


def _mul(s: slice, k: int) -> slice:
    return slice(s.start * k, s.stop * k)


def _shift(core: slice, tile: slice) -> slice:
    """A core given inside its tile, in the region's coordinates."""
    return slice(core.start + tile.start, core.stop + tile.start)


def _at(rows: slice, cols: slice, stride: int, unit: int = 1) -> tuple[slice, slice]:
    """A tile given in units of ``unit`` pixels, on the grid of ``stride`` pixels."""
    return (
        slice(rows.start * unit // stride, rows.stop * unit // stride),
        slice(cols.start * unit // stride, cols.stop * unit // stride),
    )


def _crop(x: Tensor, y0: int, y1: int, x0: int, x1: int, mode: str) -> Tensor:
    """``x[..., y0:y1, x0:x1]`` of ``x`` ``(C, H, W)`` padded on the bottom and right as
    ``F.pad(mode=mode)`` pads it (``"reflect"`` or ``"replicate"``): a copy."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if y1 <= h and x1 <= w:
        return x[..., y0:y1, x0:x1]
    ry = _index(y0, y1, h, mode, x.device)
    rx = _index(x0, x1, w, mode, x.device)
    return x.index_select(-2, ry).index_select(-1, rx)


def _index(start: int, stop: int, n: int, mode: str, device: torch.device) -> Tensor:
    idx = torch.arange(start, stop, device=device)
    if mode == "reflect":
        return torch.where(idx < n, idx, 2 * (n - 1) - idx)
    return idx.clamp(max=n - 1)
