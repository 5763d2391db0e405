"""``tst model show|convert`` (and the ``tst train`` entry, in :mod:`tst_fast.train_cli`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

EXAMPLES_MODEL = """examples:
  tst model show ../shared/models/fast-style-tf/udnie
  tst model convert ../shared/models/fast-style-tf/udnie -o udnie.safetensors \\
      --style-image ../shared/images/style/udnie_picabia.jpg
  tst model convert candy.pth -o candy.safetensors     # pytorch/examples' TransformerNet
  tst model show cin4.safetensors --json
"""


def configure_model(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES_MODEL
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="list a model's styles and metadata")
    show.add_argument(
        "model", help="a .safetensors model, a TF-layout folder or a TransformerNet .pth"
    )
    show.add_argument("--json", action="store_true", help="print everything as JSON")
    convert = sub.add_parser(
        "convert", help="write a TF-layout folder or a TransformerNet .pth as a tst model file"
    )
    convert.add_argument("model", help="a TF-layout folder, a TransformerNet .pth or a model file")
    convert.add_argument("-o", "--output", required=True, metavar="OUT.safetensors")
    convert.add_argument("--name", help="the style's name (default: the folder's or file's name)")
    convert.add_argument(
        "--style-image",
        metavar="IMAGE",
        help="the painting the network was trained on: recorded by name and SHA-256, so "
        "--style person=IMAGE finds this style",
    )


def run_model(args: argparse.Namespace) -> int:
    if args.model_command == "show":
        return _show(args)
    return _convert(args)


def _show(args: argparse.Namespace) -> int:
    from .formats import load_model

    model = load_model(args.model)
    info = describe(model)
    if args.json:
        print(json.dumps({"model": args.model, **info}, indent=2))
        return 0
    print(
        f"{args.model}: {info['architecture']}, {info['parameters']:,} parameters "
        f"({info['norm_parameters']:,} in γ/β), {len(info['styles'])} style(s)"
    )
    for i, s in enumerate(info["styles"]):
        image = f"  image {s['image']}  sha256 {s['sha256'][:12]}…" if s.get("sha256") else ""
        print(f"  {i:>2}  {s['name']}{image}")
    for key in ("source", "training"):
        if info[key]:
            print(f"{key}:")
            for line in _fields(info[key]):
                print(f"  {line}")
    return 0


def _fields(table: dict[str, Any]) -> list[str]:
    """One ``key: value`` line per entry; a long list (the training curve, the held-out
    photos) is summarised by its length, its first and its last entry (``--json`` has all)."""
    lines = []
    for key, value in table.items():
        if isinstance(value, list) and len(value) > 4:
            first, last = json.dumps(value[0]), json.dumps(value[-1])
            lines.append(f"{key}: {len(value)} entries, first {first}, last {last} (--json: all)")
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return lines


def describe(model: Any) -> dict[str, Any]:
    """A model's facts for ``tst model show`` (architecture, parameter counts, styles, metadata)."""
    norm = sum(p.numel() for n, p in model.net.named_parameters() if n.startswith("norms."))
    return {
        "architecture": model.net.arch,
        "parameters": sum(p.numel() for p in model.net.parameters()),
        "norm_parameters": norm,
        "styles": [s.to_dict() for s in model.styles],
        "source": model.source,
        "training": model.training,
    }


def _convert(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tst_core.errors import InputError
    from tst_core.outputs import check_outputs

    from .formats import file_sha256, load_model, save_model

    out = Path(args.output)
    if out.suffix.lower() != ".safetensors":
        raise InputError(f"the output '{out}' must end in .safetensors")
    check_outputs([out], [args.model, *([args.style_image] if args.style_image else [])])
    model = load_model(args.model)
    if (args.name or args.style_image) and len(model.styles) != 1:
        raise InputError("--name and --style-image are for a model with one style")
    if args.name or args.style_image:
        style = model.styles[0]
        if args.name:
            style = replace(style, name=args.name)
        if args.style_image:
            image = Path(args.style_image)
            if not image.is_file():
                raise InputError(f"style image '{image}' does not exist")
            style = replace(style, image=image.name, sha256=file_sha256(image))
        model.styles = (style,)
    save_model(model, out)
    print(f"wrote {out} ({model.net.arch}, styles: {model.names()})")
    return 0
