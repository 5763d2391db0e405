"""``tst train``: the command line of :func:`tst_fast.train.train`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES_TRAIN = """examples:
  # the README's CPU recipe: 4 new styles' γ/β on udnie's Johnson net (6 min on 2 cores)
  tst train --init-from ../shared/models/fast-style-tf/udnie --train norm-only \\
      --style ../shared/images/style/starry_night.jpg --style ../shared/images/style/the_scream.jpg \\
      --style ../shared/images/style/great_wave.jpg \\
      --style ../shared/images/style/kandinsky_composition_vii.jpg \\
      --content ../shared/images/content --holdout 8 --size 160 --style-size 256 --batch 4 \\
      --steps 300 --lr 0.02 -o cin4.safetensors
  # a whole network from scratch (a GPU job)
  tst train --style a.jpg --style b.jpg --content photos/ --steps 40000 --batch 16 -o ab.safetensors
  tst train ... --resume        # continue from the last checkpoint of -o's run
"""


def configure_train(p: argparse.ArgumentParser) -> None:
    from .options import TrainOptions

    d = TrainOptions((), Path(), Path())
    p.epilog = EXAMPLES_TRAIN
    p.add_argument(
        "--style",
        dest="styles",
        action="append",
        required=True,
        type=Path,
        metavar="IMAGE",
        help="a style image (repeatable); its file name is the style's name",
    )
    p.add_argument(
        "--content", required=True, type=Path, metavar="DIR", help="folder of content photos"
    )
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT.safetensors")
    p.add_argument(
        "--init-from",
        type=Path,
        metavar="MODEL",
        help="start from a trained network (a .safetensors, TF-layout folder or .pth)",
    )
    p.add_argument(
        "--train",
        choices=["all", "norm-only"],
        help="what to train (default: norm-only with --init-from, else all)",
    )
    p.add_argument("--size", type=int, default=d.size, help=f"crop side in px ({d.size})")
    p.add_argument("--style-size", type=int, help="long side of the style images (default --size)")
    p.add_argument("--batch", type=int, default=d.batch, help=f"crops per step ({d.batch})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimiser steps ({d.steps})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate ({d.lr})")
    p.add_argument(
        "--schedule",
        choices=["cosine", "constant"],
        default=d.schedule,
        help="learning-rate schedule (cosine: down to 0.1 × lr)",
    )
    p.add_argument("--content-layers", type=_names, default=d.content_layers, metavar="A,B")
    p.add_argument("--style-layers", type=_names, default=d.style_layers, metavar="A,B,...")
    p.add_argument("--content-weight", type=float, default=d.content_weight)
    p.add_argument("--style-weight", type=float, default=d.style_weight)
    p.add_argument(
        "--degree", type=float, default=d.degree, help=f"ε: the style term weighs 10^ε ({d.degree})"
    )
    p.add_argument("--tv-weight", type=float, default=d.tv_weight)
    p.add_argument(
        "--network",
        default=d.network,
        choices=["vgg19", "torchvision-vgg19", "torchvision-vgg16", "torchvision-vgg11"],
        help="loss network (torchvision-* from the torch cache; see tst weights)",
    )
    p.add_argument(
        "--holdout",
        type=int,
        default=d.holdout,
        help=f"photos kept out for evaluation ({d.holdout}; recorded in the model)",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto (a GPU when there is one), cpu, cuda")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        metavar="N",
        help="write the model and the training state every N steps (and at the end)",
    )
    p.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="also keep OUT.stepNNNNNN.safetensors at each checkpoint",
    )
    p.add_argument(
        "--preview-every",
        type=int,
        default=0,
        metavar="N",
        help="write OUT.preview.stepNNNNNN.png every N steps: a held-out photo in every style",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT's last checkpoint")
    p.add_argument("--progress", choices=["auto", "bar", "lines", "off"], default="auto")  # fmt: skip


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def run_train(args: argparse.Namespace) -> int:
    from .options import TrainOptions
    from .train import TrainStep, train

    o = TrainOptions(
        styles=tuple(args.styles), content=args.content, output=args.output,
        size=args.size, style_size=args.style_size, batch=args.batch, steps=args.steps,
        lr=args.lr, schedule=args.schedule, content_layers=args.content_layers,
        style_layers=args.style_layers, content_weight=args.content_weight,
        style_weight=args.style_weight, degree=args.degree, tv_weight=args.tv_weight,
        network=args.network, init_from=args.init_from, train=args.train, holdout=args.holdout,
        seed=args.seed, device=args.device, threads=args.threads,
        checkpoint_every=args.checkpoint_every, keep_checkpoints=args.keep_checkpoints,
        preview_every=args.preview_every, resume=args.resume,
    )  # fmt: skip
    mode = args.progress
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "off"
    bar = None

    def show(s: TrainStep) -> None:
        nonlocal bar
        text = (
            f"content {s.losses['content']:.4g} style {s.losses['style']:.4g} "
            f"total {s.losses['total']:.4g} {s.images_per_s:.2f} img/s"
        )
        if mode == "lines" and (
            s.step == 1 or s.step % max(1, s.total // 20) == 0 or s.step == s.total
        ):
            print(f"train: {s.step}/{s.total} {s.elapsed:.0f}s {text}", file=sys.stderr, flush=True)
        elif mode == "bar":
            if bar is None:
                from tqdm.auto import tqdm

                bar = tqdm(
                    total=s.total, initial=s.step - 1, desc="train", file=sys.stderr, unit="step"
                )
            bar.update(1)
            bar.set_postfix_str(text, refresh=False)

    try:
        model = train(o, show if mode != "off" else None)
    finally:
        if bar is not None:
            bar.close()
    t = model.training
    print(
        f"wrote {o.output} (styles: {model.names()}; step {t['step']}, {t['seconds']:.0f} s, "
        f"{t['images_per_s']:.2f} img/s)"
    )
    return 0
