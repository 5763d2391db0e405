"""Training a conditional-instance-norm network on N style images (``tst train``).

The losses of Johnson et al. (2016) on the embedded VGG-19 (or torchvision's VGG-19/VGG-16 when
their checkpoints are present), written as relative errors like the ``gatys`` engine's so the
weights carry over between sizes:

* content: ``mean((F(out) − F(photo))²) / mean(F(photo)²)`` on ``content_layers``;
* style: ``Σ_l w_l · mean((G_l(out) − G_l(style_s))²) / mean(G_l(style_s)²)`` on
  ``style_layers`` (``w_l`` equal, summing to 1), where ``s`` is the style row each crop is
  rendered with;
* total: ``content_weight · content + 10^degree · style_weight · style + tv_weight · tv`` — the
  degree ε of the reference system, which multiplies the style term by ``10^ε``.

Each crop of a batch is rendered with a random one of the new styles (a one-hot γ/β row), as
Dumoulin et al. train one network on many styles. ``train="norm-only"`` trains only the new
styles' γ/β rows and freezes every convolution and every old style's row (their finding that a
new style needs only its normalisation parameters): their gradients are zeroed, so Adam leaves
them bit for bit as they were. Adam, with a cosine or constant learning rate, seeded.

A run writes the model file ``OUT``, and at every checkpoint ``OUT`` again plus
``<OUT stem>.train.safetensors`` (optimiser moments and random state, so ``resume`` continues
from the same step exactly), and optionally a copy per checkpoint and a preview sheet (a fixed
held-out photo in every style).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tst_core.device import resolve_device, torch_threads
from tst_core.engine.losses import gram_matrix
from tst_core.engine.vgg import build_network
from tst_core.errors import InputError, printable
from tst_core.files import image_writer, read_image
from tst_core.imageops import resize_long_side
from tst_core.outputs import Input, Output, check_outputs, write_outputs
from tst_core.reading import check_file, check_nesting
from tst_core.weights import error_reason

from .formats import Model, StyleInfo, file_sha256, load_model, save_model
from .network import TransformNet, one_hot
from .options import TrainMode, TrainOptions

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass(frozen=True)
class TrainStep:
    """One step's facts for the progress display."""

    step: int
    total: int
    losses: dict[str, float]
    images_per_s: float
    elapsed: float


@dataclass
class Checkpoint:
    """What ``resume`` needs besides the model: the step, optimiser moments, random state."""

    step: int
    optimizer: dict[str, Any]
    generator: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def state_path(output: Path) -> Path:
    """``cin4.safetensors`` → ``cin4.train.safetensors``."""
    return output.with_name(f"{output.stem}.train.safetensors")


def check(o: TrainOptions) -> None:
    """Refuse bad settings before any work (one :class:`InputError` sentence)."""
    if not o.styles:
        raise InputError("tst train needs at least one --style image")
    for s in o.styles:
        if not s.is_file():
            raise InputError(f"style image '{s}' does not exist")
    if not o.content.is_dir():
        raise InputError(f"content folder '{o.content}' does not exist")
    if o.output.suffix.lower() != ".safetensors":
        raise InputError(f"the output '{o.output}' must end in .safetensors")
    if not o.output.resolve().parent.is_dir():
        raise InputError(f"cannot write '{o.output}': its folder does not exist")
    _check_numbers(o)
    if o.mode == "norm-only" and o.init_from is None:
        raise InputError("--train norm-only needs --init-from MODEL (the frozen network)")
    if o.resume and not state_path(o.output).is_file():
        raise InputError(f"--resume: no training state '{state_path(o.output)}' to resume from")
    inputs = [Input(s, "--style") for s in o.styles] + [Input(o.content, "--content")]
    inputs += [Input(o.init_from, "--init-from")] if o.init_from is not None else []
    check_outputs(
        [Output(o.output, "-o"), Output(state_path(o.output), "the training state of -o")], inputs
    )


def _whole_numbers(o: TrainOptions) -> list[tuple[str, int | None, int, int]]:
    """``(flag, value, least, most)``: the whole-number settings and their ranges."""
    return [
        ("size", o.size, 16, 4096),
        ("style-size", o.style_size, 16, 4096),
        ("batch", o.batch, 1, 1024),
        ("steps", o.steps, 1, 10**9),
        ("holdout", o.holdout, 0, 10**6),
        ("seed", o.seed, 0, 2**63 - 1),
        ("threads", o.threads, 1, 1024),
        ("checkpoint-every", o.checkpoint_every, 0, 10**9),
        ("preview-every", o.preview_every, 0, 10**9),
    ]


def _check_numbers(o: TrainOptions) -> None:
    """Every number in range: the counts whole and bounded, the rate and the weights finite,
    the rate above 0 and the weights not negative, the degree within ±30 (10^ε stays finite)."""
    for flag, value, least, most in _whole_numbers(o):
        if value is not None and not least <= value <= most:
            raise InputError(f"--{flag} must be a whole number from {least} to {most}, got {value}")
    reals = [
        ("lr", o.lr, False),
        ("content-weight", o.content_weight, True),
        ("style-weight", o.style_weight, True),
        ("tv-weight", o.tv_weight, True),
    ]
    for flag, number, zero in reals:
        if not math.isfinite(number) or number < 0 or (number == 0 and not zero):
            what = "zero or more" if zero else "above 0"
            raise InputError(f"--{flag} must be a finite number {what}, got {number}")
    if not (math.isfinite(o.degree) and abs(o.degree) <= 30):
        raise InputError(f"--degree must be a finite number from -30 to 30, got {o.degree}")


def split_content(o: TrainOptions) -> tuple[list[Path], list[Path]]:
    """The content photos for training and the held-out ones (a seeded choice)."""
    files = sorted(p for p in o.content.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) <= o.holdout:
        raise InputError(
            f"content folder '{o.content}' has {len(files)} photos; --holdout {o.holdout} leaves "
            "none to train on"
        )
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(o.seed)).tolist()
    held = sorted(files[i] for i in order[: o.holdout])
    return [f for f in files if f not in held], held


def initial_model(o: TrainOptions) -> tuple[Model, int]:
    """The network to train and the row of its first new style.

    With ``init_from`` the network keeps its convolutions and its styles' rows; each new style's
    rows start as a copy of its first style's. Without, a new network (PyTorch's default conv
    initialisation, γ = 1, β = 0).
    """
    names = [s.stem for s in o.styles]
    if len(set(names)) != len(names):
        raise InputError(f"two style images have the same name: {names}")
    new = tuple(StyleInfo(s.stem, s.name, file_sha256(s)) for s in o.styles)
    if o.init_from is None:
        net = TransformNet(o.arch, len(new))
        for weight in net.conv_weights():
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        return Model(net, new, {}, {"format": "tst train", "init_from": None}), 0
    base = load_model(o.init_from)
    clash = {s.name for s in base.styles} & set(names)
    if clash:
        raise InputError(f"the model '{o.init_from}' already has the style(s) {sorted(clash)}")
    old = base.net.styles
    net = TransformNet(base.net.arch, old + len(new))
    state = base.net.state_dict()
    for key, value in net.state_dict().items():
        src = state[key]
        if key.startswith("norms."):
            src = torch.cat([src, src[:1].expand(len(new), -1)])
        value.copy_(src)
    source = {"format": "tst train", "init_from": str(o.init_from), "base": base.source}
    return Model(net, (*base.styles, *new), {}, source), old


class Losses(nn.Module):
    """The training objective (see the module docstring) for a fixed set of style images.

    :param styles: N images ``(3, h, w)`` in [0, 1].
    """

    def __init__(self, o: TrainOptions, styles: list[torch.Tensor], device: torch.device) -> None:
        super().__init__()
        self.o = o
        layers = (*o.content_layers, *o.style_layers)
        self.net = build_network(
            o.network,
            layers=layers,
            device=device,
            weights_option="",
            alternatives="or train with the embedded loss network (--network vgg19)",
        )
        self.layers = list(dict.fromkeys(layers))
        with torch.no_grad():
            feats = [self.net(s[None].to(device), o.style_layers) for s in styles]
        self.grams = {
            layer: torch.cat([gram_matrix(f[layer]) for f in feats]) for layer in o.style_layers
        }
        self.gram_norms = {layer: g.square().mean(dim=(1, 2)) for layer, g in self.grams.items()}

    def forward(
        self, out: torch.Tensor, photo: torch.Tensor, styles: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """:param out: ``(B, 3, s, s)`` rendered. :param photo: the crops. :param styles: ``(B,)``
        index of each crop's style among the new ones."""
        o = self.o
        f_out = self.net(out, self.layers)
        with torch.no_grad():
            f_in = self.net(photo, o.content_layers)
        content = sum(
            F.mse_loss(f_out[n], f_in[n]) / f_in[n].square().mean() for n in o.content_layers
        )
        style = sum(
            (
                ((gram_matrix(f_out[n]) - self.grams[n][styles]) ** 2).mean(dim=(1, 2))
                / self.gram_norms[n][styles]
            ).mean()
            for n in o.style_layers
        ) / len(o.style_layers)
        tv = (out[..., 1:, :] - out[..., :-1, :]).abs().mean() + (
            out[..., :, 1:] - out[..., :, :-1]
        ).abs().mean()
        total = (
            o.content_weight * content + 10.0**o.degree * o.style_weight * style + o.tv_weight * tv
        )
        return {"total": total, "content": content, "style": style, "tv": tv}


def _crops(
    photos: list[torch.Tensor], o: TrainOptions, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of random square crops ``(B, 3, size, size)`` (random flips) and style indices."""
    out = []
    for i in torch.randint(len(photos), (o.batch,), generator=gen).tolist():
        p = photos[i]
        y = int(torch.randint(p.shape[1] - o.size + 1, (1,), generator=gen))
        x = int(torch.randint(p.shape[2] - o.size + 1, (1,), generator=gen))
        crop = p[:, y : y + o.size, x : x + o.size]
        if bool(torch.rand((), generator=gen) < 0.5):
            crop = crop.flip(-1)
        out.append(crop)
    styles = torch.randint(len(o.styles), (o.batch,), generator=gen)
    return torch.stack(out), styles


def _short_side(image: torch.Tensor, size: int) -> torch.Tensor:
    h, w = image.shape[-2:]
    scale = size / min(h, w)
    new = (max(size, round(h * scale)), max(size, round(w * scale)))
    return F.interpolate(
        image[None], size=new, mode="bilinear", antialias=True, align_corners=False
    )[0]


def _lr(o: TrainOptions, step: int) -> float:
    if o.schedule == "constant":
        return o.lr
    return o.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / o.steps)))


def _trainable(model: Model, first_new: int, mode: TrainMode) -> list[nn.Parameter]:
    net = model.net
    if mode == "all":
        net.requires_grad_(True)
        return list(net.parameters())
    net.requires_grad_(False)
    keep = torch.zeros(net.styles, 1)
    keep[first_new:] = 1.0
    params = net.norm_parameters()
    for p in params:
        p.requires_grad_(True)
        p.register_hook(lambda g: g * keep.to(g.device))  # old styles' rows get no update
    return params


def train(o: TrainOptions, progress: Callable[[TrainStep], None] | None = None) -> Model:
    """Run the training of ``o`` (see the module docstring); returns the final model."""
    check(o)
    device = resolve_device(o.device)
    train_files, held = split_content(o)
    model, first_new = initial_model(o)
    with torch_threads(o.threads):
        model.net.to(device).train()
        params = _trainable(model, first_new, o.mode)
        opt = torch.optim.Adam(params, lr=o.lr)
        gen = torch.Generator().manual_seed(o.seed)
        ck = Checkpoint(0, {}, gen.get_state())
        if o.resume:  # before the photos and the loss network: a bad state is refused at once
            ck = _load_state(o, model, opt)
            gen.set_state(ck.generator)
        photos = [_short_side(read_image(p, "content photo"), o.size) for p in train_files]
        styles = [
            resize_long_side(read_image(s, "style image"), o.style_size or o.size) for s in o.styles
        ]
        losses = Losses(o, styles, device)
        preview = _short_side(read_image(held[0] if held else train_files[0]), o.size)
        t0 = time.perf_counter() - ck.seconds
        t_images, first = time.perf_counter(), ck.step
        for step in range(ck.step + 1, o.steps + 1):
            for group in opt.param_groups:
                group["lr"] = _lr(o, step - 1)
            batch, which = _crops(photos, o, gen)
            batch = batch.to(device)
            weights = F.one_hot(which + first_new, model.net.styles).float().to(device)
            terms = losses(model.net(batch, weights), batch, which.to(device))
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            opt.step()
            values = {k: float(v.detach()) for k, v in terms.items()}
            rate = o.batch * (step - first) / max(1e-9, time.perf_counter() - t_images)
            if step == o.steps or step % max(1, o.steps // 50) == 0:
                ck.history.append({"step": step, **{k: round(v, 6) for k, v in values.items()}})
            if progress:
                progress(TrainStep(step, o.steps, values, rate, time.perf_counter() - t0))
            last = step == o.steps
            if last or (o.checkpoint_every and step % o.checkpoint_every == 0):
                ck.step, ck.seconds = step, time.perf_counter() - t0
                ck.generator = gen.get_state()
                _save(o, model, opt, ck, held, len(train_files), rate)
            if o.preview_every and (last or step % o.preview_every == 0):
                _preview(o, model, preview, step, device)
    model.net.eval().requires_grad_(False)
    return model


def _save(
    o: TrainOptions, model: Model, opt: torch.optim.Optimizer, ck: Checkpoint,
    held: list[Path], n_train: int, rate: float,
) -> None:  # fmt: skip
    from safetensors.torch import save_file

    model.training = {
        **o.settings(),
        "step": ck.step,
        "seconds": round(ck.seconds, 1),
        "images_per_s": round(rate, 3),
        "train_photos": n_train,
        "held_out": [p.name for p in held],
        "history": ck.history,
    }
    save_model(model, o.output)
    tensors = {"generator": ck.generator}
    for i, state in opt.state_dict()["state"].items():
        for k, v in state.items():
            tensors[f"opt.{i}.{k}"] = (
                v.detach().cpu().reshape(-1) if k == "step" else v.detach().cpu()
            )
    meta = {"step": str(ck.step), "seconds": str(ck.seconds), "history": json.dumps(ck.history)}
    write_outputs({state_path(o.output): lambda tmp: save_file(tensors, str(tmp), metadata=meta)})
    if o.keep_checkpoints:
        save_model(model, o.output.with_name(f"{o.output.stem}.step{ck.step:06d}.safetensors"))


#: the largest training-state file read (optimiser moments: twice the trained parameters)
MAX_STATE_BYTES = 1 << 30
#: what a training state's optimiser entries are called: ``opt.<param>.<step|exp_avg|exp_avg_sq>``
_OPT_KEY = re.compile(r"^opt\.(0|[1-9][0-9]{0,5})\.(step|exp_avg|exp_avg_sq)$")


def _load_state(o: TrainOptions, model: Model, opt: torch.optim.Optimizer) -> Checkpoint:
    """The checkpoint of ``o``'s run to resume from, every value checked against this run before
    it is used (a state file is data: a wrong one is one sentence, never a crash later)."""
    saved = load_model(o.output)
    if [s.name for s in saved.styles] != [s.name for s in model.styles]:
        raise InputError(f"--resume: '{o.output}' has other styles ({saved.names()})")
    path = state_path(o.output)
    try:
        ck, state = _read_state(path, o, opt)
    except (KeyError, TypeError, ValueError, OverflowError, RecursionError, InputError) as exc:
        raise InputError(
            f"--resume: '{path}' is not a training state of this run ({printable(str(exc))[:200]})"
        ) from None
    if ck.step >= o.steps:
        raise InputError(
            f"--resume: the run in '{o.output}' already finished its {ck.step} steps; give a "
            f"larger --steps than {ck.step} to train on"
        )
    model.net.load_state_dict(saved.net.state_dict())
    opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
    return ck


def _read_state(
    path: Path, o: TrainOptions, opt: torch.optim.Optimizer
) -> tuple[Checkpoint, dict[int, dict[str, torch.Tensor]]]:
    from safetensors import safe_open

    check_file(path, "training state", MAX_STATE_BYTES)
    params = [p for group in opt.param_groups for p in group["params"]]
    generator = torch.Generator().get_state()
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
            for key, shape in shapes.items():
                want = _state_shape(key, params, generator)
                if shape != want:
                    raise ValueError(f"{printable(key)[:60]} is {shape}, expected {want}")
            tensors = {k: f.get_tensor(k) for k in shapes}
    except (ValueError, TypeError, KeyError):
        raise
    except Exception as exc:  # not a safetensors file, truncated
        raise ValueError(f"cannot read it: {error_reason(exc)}") from None
    if "generator" not in tensors or tensors["generator"].dtype != generator.dtype:
        raise ValueError("it has no random state")
    try:
        torch.Generator().set_state(tensors["generator"])
    except RuntimeError:
        raise ValueError("its random state is not one torch wrote") from None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key != "generator":
            _, i, name = key.split(".", 2)
            if not bool(torch.isfinite(value.float()).all()):
                raise ValueError(f"{key} holds values that are not finite")
            state.setdefault(int(i), {})[name] = value.reshape(()) if name == "step" else value
    if any(set(entry) != {"step", "exp_avg", "exp_avg_sq"} for entry in state.values()):
        raise ValueError("its optimiser entries are incomplete")
    step, seconds = int(meta["step"]), float(meta["seconds"])
    if len(meta["history"]) > 1 << 20:
        raise ValueError("its history is over 1 MiB")
    history = json.loads(meta["history"])
    check_nesting(history, "its history")
    if not 0 < step <= 10**9 or not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"step {step} and seconds {seconds} are out of range")
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ValueError("its history is not a list of objects")
    return Checkpoint(step, {}, tensors["generator"], history, seconds), state


def _state_shape(key: str, params: list[torch.Tensor], generator: torch.Tensor) -> tuple[int, ...]:
    """The shape ``key`` must have in a training state of this run's optimiser."""
    if key == "generator":
        return tuple(generator.shape)
    m = _OPT_KEY.match(key)
    if m is None or int(m[1]) >= len(params):
        raise ValueError(f"it holds an unknown tensor {printable(key)[:60]}")
    return (1,) if m[2] == "step" else tuple(params[int(m[1])].shape)


def _preview(
    o: TrainOptions, model: Model, photo: torch.Tensor, step: int, device: torch.device
) -> None:
    """A sheet: the fixed validation photo, then the photo in every style of the model."""
    with torch.no_grad():
        model.net.eval()
        row = [photo] + [
            model.net(photo[None].to(device), one_hot(s, model.net.styles).to(device))[0].cpu()
            for s in range(model.net.styles)
        ]
        model.net.train()
    sheet = torch.cat(row, dim=-1)
    path = o.output.with_name(f"{o.output.stem}.preview.step{step:06d}.png")
    write_outputs({path: image_writer(sheet, "PNG")})
