"""The optimisation loop: one readable function, one loss evaluation per iteration.

L-BFGS is stepped with ``max_iter=1`` and no line search, so each iteration is exactly one
forward and backward pass (as in the reference implementations); its curvature history carries
over between steps. Adam and SGD keep the image in [0, 1] after each step; L-BFGS is left
unclamped (clamping would corrupt its curvature pairs) and the caller clamps the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..errors import DivergedError
from ..types import Tensor

#: default step sizes, on pixels in [0, 1]
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02, "sgd": 1e-4}
#: L-BFGS curvature pairs kept: 20 costs 40 image-sized vectors (0.5 GB at 1024², not 2.5 GB)
LBFGS_HISTORY = 20

LossFn = Callable[[Tensor], dict[str, Tensor]]
#: image → (loss terms, detached; the gradient of their total): for a loss that computes its
#: own gradient (tile by tile, see :mod:`.tiles`)
GradFn = Callable[[Tensor], tuple[dict[str, Tensor], Tensor]]
StepFn = Callable[[int, dict[str, float], Tensor], None]


def make_optimizer(
    name: str, x: Tensor, lr: float | None, history: int = LBFGS_HISTORY
) -> torch.optim.Optimizer:
    """An optimiser over the single tensor ``x`` (``lbfgs`` keeping ``history`` curvature
    pairs, ``adam`` or ``sgd``)."""
    step = DEFAULT_LR[name] if lr is None else lr
    if name == "lbfgs":
        return torch.optim.LBFGS([x], lr=step, max_iter=1, history_size=history)
    if name == "adam":
        return torch.optim.Adam([x], lr=step)
    if name == "sgd":
        return torch.optim.SGD([x], lr=step, momentum=0.9)
    raise ValueError(f"unknown optimizer {name!r}")


def optimize(
    loss_fn: LossFn,
    start: Tensor,
    *,
    iterations: int,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    on_step: StepFn | None = None,
    where: str = "",
    engine: str = "gatys",
    gradient: GradFn | None = None,
    history: int = LBFGS_HISTORY,
) -> Tensor:
    """Minimise ``loss_fn`` over an image.

    :param loss_fn: image ``(1, 3, H, W)`` → loss terms including ``"total"``.
    :param gradient: when given, computes the terms and the gradient itself (``loss_fn`` is
        then not called).
    :param history: L-BFGS curvature pairs kept (each pair is two image-sized vectors).
    :param start: the initial image ``(1, 3, H, W)``.
    :param on_step: called after each iteration with (iteration from 1, the terms as floats,
        the current image, detached).
    :param where: words for the error message (``"at scale 2 of 2"``).
    :param engine: the engine's registry name, for the error message.
    :returns: the optimised image ``(1, 3, H, W)``, detached, not clamped.
    :raises DivergedError: when the loss or the image stops being finite (NaN/inf guard).
    """
    x = start.detach().clone().requires_grad_(True)
    opt = make_optimizer(optimizer, x, lr, history)
    # The losses are means, so a pixel's gradient shrinks with the pixel count. The optimiser
    # sees the loss times the pixel count instead: SGD's lr, Adam's epsilon and L-BFGS's
    # stopping tolerances then mean the same at every image size.
    scale = float(x[0, 0].numel())
    iteration = 0
    last: dict[str, float] = {}

    def closure() -> Tensor:
        nonlocal last
        opt.zero_grad(set_to_none=False)
        if gradient is not None:
            terms, grad = gradient(x)
        else:
            terms = loss_fn(x)
        total = terms["total"]
        if not torch.isfinite(total):
            raise _diverged(float(total.detach()), iteration, where, engine, optimizer)
        if gradient is not None:
            x.grad = grad * scale
        else:
            (total * scale).backward()
        last = {k: float(v.detach()) for k, v in terms.items()}
        return total

    for iteration in range(1, iterations + 1):
        if optimizer == "lbfgs":
            opt.step(closure)  # type: ignore[arg-type]
        else:
            closure()
            opt.step()
            with torch.no_grad():
                x.clamp_(0.0, 1.0)
        if on_step is not None:
            on_step(iteration, last, x.detach())
    if not bool(torch.isfinite(x).all()):
        raise _diverged(math.nan, iterations, where, engine, optimizer)
    return x.detach()


def _diverged(
    value: float, iteration: int, where: str, engine: str, optimizer: str
) -> DivergedError:
    what = "NaN" if math.isnan(value) else "infinite"
    place = f" {where}" if where else ""
    other = "" if optimizer == "lbfgs" else " or use the default optimizer lbfgs"
    summary = (
        f"the optimisation diverged: the loss became {what} at iteration {iteration}{place}, "
        "so no image was written"
    )
    return DivergedError(
        f"{summary}; lower the step size (--set engine.{engine}.lr=...){other}", summary
    )
