"""Fuzzing the input surfaces that have no fuzz of their own elsewhere (see README.md here):
batch manifests, CLI arguments, model files of each format ``tst_fast`` reads and ``.pth``
checkpoints. Each example either works or is the project's own one-line error
(:class:`~tst_core.errors.TstError`; exit 2 from the CLI) — never another exception, never exit
1 — and nothing is written outside the output folder. Bounded: the whole module runs in well
under a minute."""

from __future__ import annotations

import io
import json
import os
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from tst_core.errors import TstError

from .test_paths import snapshot

FAST = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# --- manifests ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """``photos/a.png``, ``masks/a/person.png``, ``style.png``, ``out/`` with a link out of it,
    and ``elsewhere/`` beside it, which nothing may be written into."""
    root = tmp_path_factory.mktemp("manifest-fuzz")
    (root / "photos").mkdir()
    Image.new("RGB", (40, 32), (10, 120, 200)).save(root / "photos" / "a.png")
    (root / "masks" / "a").mkdir(parents=True)
    mask = np.zeros((32, 40), np.uint8)
    mask[4:20, 4:20] = 255
    Image.fromarray(mask).save(root / "masks" / "a" / "person.png")
    Image.new("RGB", (24, 24), (200, 30, 30)).save(root / "style.png")
    (root / "out").mkdir()
    (root / "elsewhere").mkdir()
    (root / "out" / "esc").symlink_to(root / "elsewhere")
    return root


PATHS = st.one_of(
    st.sampled_from(
        [
            "photos/a.png",
            "a.png",
            "../out/x.png",
            "/etc/passwd",
            "esc/x.png",
            "x/../../y.png",
            "",
            ".",
            "photos",
            "masks/a",
            "style.png",
            "x.json",
            "x.png\u0000",
            "/dev/zero",
            "\x1b[2J.png",
            "sub/deep/x.png",
        ]
    ),
    st.text(alphabet=string.ascii_letters + "./\\_-\u00e9\u202e", max_size=20),
)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), PATHS),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(PATHS, inner, max_size=3)),
    max_leaves=6,
)
MANIFEST_KEYS = [
    "photo",
    "styles",
    "style",
    "output",
    "masks",
    "weights",
    "size",
    "style_size",
    "seed",
    "sets",
    "segmenter",
    "engine",
    "blend",
    "config",
    "boxes",
    "points",
    "device",
    "nope",
]
LINES = st.lists(
    st.one_of(
        st.dictionaries(
            st.sampled_from(MANIFEST_KEYS),
            st.one_of(PATHS, JSON_VALUES),
            max_size=5,
        ).map(lambda d: {"photo": "photos/a.png", **d}),
        JSON_VALUES,
    ),
    min_size=1,
    max_size=3,
)


@FAST
@given(LINES, st.sampled_from(["\n", "\r\n", "\n\n"]))
def test_any_manifest_is_checked_into_jobs_inside_o_or_one_tst_error(host, tree, lines, sep):
    import tst_core

    manifest = tree / "jobs.jsonl"
    manifest.write_text(sep.join(json.dumps(line) for line in lines) + sep)
    before = snapshot(tree / "elsewhere")
    try:
        run = tst_core.batch(
            manifest=manifest,
            styles=[f"person={tree / 'style.png'}"],
            output=tree / "out",
            executor="inline",
            host=host,
            engine="fake-fill",
            segmenter="maskfile",
            segmenter_options={"masks": str(tree / "masks" / "a")},
        )
    except TstError as exc:
        assert "\n" not in str(exc)
        return
    finally:
        assert snapshot(tree / "elsewhere") == before
    real_out = Path(os.path.realpath(tree / "out"))
    for job in run.jobs:
        for path in (job.output, job.report):
            real = Path(os.path.realpath(path))
            assert real.is_relative_to(real_out) and real != real_out, (lines, path)


# --- CLI arguments ---------------------------------------------------------------------------


#: values for any flag; random text has no digits, so no example asks for a genuine 9999 px run
FLAG_VALUES = st.one_of(
    st.sampled_from(["0", "-1", "nan", "inf", "1e999", str(2**70), "", "x", "a=b", "all=", "@"]),
    st.sampled_from(["1,2", "1,2,3,4", "1,1,0", "engine.gatys.iterations=1", "/dev/zero"]),
    st.text(alphabet=string.ascii_letters + string.punctuation + " \t\r\n\x1b", max_size=12),
)
FLAGS = st.sampled_from(
    [
        "--size",
        "--style-size",
        "--seed",
        "--style",
        "--set",
        "--config",
        "--engine",
        "--blend",
        "--segmenter",
        "--masks",
        "--weights",
        "--box",
        "--point",
        "--device",
        "--progress",
        "--jobs",
        "--threads",
        "--suffix",
        "--manifest",
        "--max-memory",
        "--band",
        "--overlay",
        "--export-masks",
        "-o",
    ]
)


@FAST
@given(
    st.sampled_from(
        ["run", "segment", "compare", "batch", "config", "weights", "model", "plugins"]
    ),
    st.lists(st.tuples(FLAGS, FLAG_VALUES), max_size=4),
)
@example("batch", [("-o", "^l\r")])  # makes its own folder in the current one (was flaky)
@example("run", [("-o", "x.png")])
def test_any_command_line_is_exit_0_or_2_with_one_line(cli, files, monkeypatch, command, pairs):
    """The photo, styles and fake engine of ``files``, then random flags and values; a
    command that would run writes only into ``files/out`` (the current folder is ``files``:
    nothing may appear there either)."""
    monkeypatch.chdir(files)
    argv = [command]
    if command in ("run", "segment", "compare", "batch"):
        argv += [files / "photo.png", "--engine", "fake-fill", "--size", "32"]
        argv += ["--segmenter", "maskfile", "--masks", files / "masks"]
    if command in ("run", "compare", "batch"):
        argv += ["--style", f"all={files / 'style.jpg'}"]
    if command == "batch":
        argv += ["-o", files / "out", "--executor", "inline"]
    for flag, value in pairs:
        argv += [flag, value.replace("\0", "")]
    if command in ("run", "compare") and "-o" not in argv:
        argv += ["-o", files / "out" / "o.png"]
    before = {p for p in files.iterdir() if p.name != "out"}
    code, _, err = cli(*argv)
    assert code in (0, 2), (argv, code, err)
    if code == 2 and err.strip():
        assert len(err.strip().splitlines()) == 1 and "internal error" not in err, (argv, err)
    new = {p for p in files.iterdir() if p.name != "out"} - before
    assert all(p.name in ("o.png", "o.json") or _named_by_o(p, argv) for p in new), (argv, new)


def _named_by_o(path: Path, argv: list) -> bool:
    """Whether ``path`` (in the current folder) is what the command line's last ``-o`` names: the
    file or folder itself, or a sibling of the same stem (a run's report beside its picture)."""
    outs = [str(argv[i + 1]) for i, a in enumerate(argv[:-1]) if a == "-o"]
    if not outs or not Path(outs[-1]).parts or Path(outs[-1]).is_absolute():
        return False
    first = Path(Path(outs[-1]).parts[0])
    return path.name == first.name or path.stem == first.stem


# --- model files (tst_fast: safetensors, TF layout, TransformerNet .pth) ---------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tst_fast.formats import Model, StyleInfo, save_model
    from tst_fast.network import TransformNet

    from ..plugins.fast_reference import write_tf_folder

    root = tmp_path_factory.mktemp("models")
    save_model(
        Model(TransformNet("johnson-tf", 2), (StyleInfo("a"), StyleInfo("b"))),
        root / "m.safetensors",
    )
    tf = write_tf_folder(root / "tf")
    return {
        "safetensors": (root / "m.safetensors").read_bytes(),
        "manifest": json.loads((tf / "manifest.json").read_text()),
        "tf": tf,
    }


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int, head: bool) -> bytes:
    out = bytearray(data)
    span = min(len(out), 4096) if head else len(out)  # the header, where the counts are
    for pos, value in flips:
        out[pos % span] = value
    return bytes(out[: max(1, cut % (len(out) + 1))]) if cut % 3 == 0 else bytes(out)


@FAST
@given(
    st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 10**7),
    st.booleans(),
)
def test_mutated_safetensors_models_load_or_are_one_weights_error(
    models, tmp_path_factory, flips, cut, head
):
    from tst_fast.formats import load_model

    path = tmp_path_factory.mktemp("st") / "m.safetensors"
    path.write_bytes(_mutate(models["safetensors"], flips, cut, head))
    try:
        model = load_model(path)
    except TstError as exc:
        assert "\n" not in str(exc)
        return
    assert model.net.styles == len(model.styles) <= 4096


TF_ENTRIES = st.one_of(
    st.none(),
    st.integers(),
    st.fixed_dictionaries(
        {},
        optional={
            "filename": st.one_of(
                PATHS, st.integers(), st.none(), st.sampled_from(["Variable", "Variable_1"])
            ),
            "shape": st.one_of(
                st.lists(
                    st.one_of(st.integers(-5, 2**40), st.floats(), st.text(max_size=2)), max_size=5
                ),
                st.sampled_from([[9, 9, 3, 32], [32], [1 << 30], []]),
                st.text(max_size=3),
            ),
        },
    ),
)


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["Variable", "Variable_1", "Variable_2", "Variable_47", "x"]),
        TF_ENTRIES,
        max_size=3,
    )
)
def test_tf_manifests_with_any_entries_load_or_are_one_weights_error(
    models, tmp_path_factory, changes
):
    import shutil

    from tst_fast.formats import read_tf_folder

    folder = tmp_path_factory.mktemp("tf") / "net"
    shutil.copytree(models["tf"], folder)
    manifest = {**models["manifest"], **changes}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    try:
        read_tf_folder(folder)
    except TstError as exc:
        assert "\n" not in str(exc)


def _pth(legacy: bool) -> bytes:
    """A pytorch/examples TransformerNet state dict (zip or legacy pickle) at half width: the
    reader checks every tensor's shape against the architecture before it builds the net."""
    from tst_fast.network import TransformNet

    state = TransformNet("johnson-pt", 1).state_dict()
    buf = io.BytesIO()
    torch.save(state, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


PTH = {"zip": _pth(False), "legacy": _pth(True)}


@FAST
@given(
    st.sampled_from(sorted(PTH)),
    st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), min_size=1, max_size=6),
    st.integers(0, 10**7),
    st.booleans(),
)
def test_mutated_pth_checkpoints_load_or_are_one_weights_error(
    tmp_path_factory, kind, flips, cut, head
):
    """Through ``load_checkpoint`` (every ``.pth`` tst reads) and the TransformerNet reader."""
    from tst_fast.formats import load_model

    from tst_core.weights import load_checkpoint

    path = tmp_path_factory.mktemp("pth") / "c.pth"
    path.write_bytes(_mutate(PTH[kind], flips, cut, head))
    for read in (load_checkpoint, load_model):
        try:
            read(path)
        except TstError as exc:
            assert "\n" not in str(exc)


# --- YOLO models (ONNX in-process; TFLite in a child process) ---------------------------------


def _yolo_onnx(tmp_path_factory) -> bytes:
    from ..plugins.yolo_onnx import red_model

    preds = np.zeros((1, 7, 16), np.float32)
    preds[0, :7, 0] = (32, 32, 40, 40, 0.9, 0.0, 1.0)
    path = red_model(tmp_path_factory.mktemp("yolo") / "m.onnx", preds, names=["a", "b"])
    return path.read_bytes()


METADATA = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "{0: 'person', 1: 'x'}",
            "{0: '\\x1b[2J', 1: 'b'}",
            "['a', 'b']",
            "[" * 200 + "]" * 200,
            "{'a': 1}",
            "[640]",
            "[10**9]",
            "[1000000000, 1]",
            "(64, 64)",
            "-1",
            "64",
            "1e999",
        ]
    ),
)


@FAST
@given(
    st.lists(st.tuples(st.integers(0, 10**5), st.integers(0, 255)), max_size=6),
    st.integers(0, 10**5),
    st.booleans(),
    st.dictionaries(st.sampled_from(["names", "imgsz", "stride", "task"]), METADATA, max_size=3),
)
def test_mutated_onnx_yolo_models_segment_or_are_one_tst_error(
    tmp_path_factory, flips, cut, head, metadata
):
    """Mutated bytes and any metadata: the model loads and segments a photo, or one TstError."""
    pytest.importorskip("onnxruntime")
    import onnx
    from tst_yolo.segmenter import YoloOptions, YoloSegmenter

    data = YOLO_ONNX.setdefault("m", _yolo_onnx(tmp_path_factory))
    if metadata:
        model = onnx.load_from_string(data)
        del model.metadata_props[:]
        onnx.helper.set_model_props(model, metadata)
        data = model.SerializeToString()
    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    path.write_bytes(_mutate(data, flips, cut, head) if flips else data)
    try:
        seg = YoloSegmenter(YoloOptions(weights=path, threads=1)).segment(torch.rand(3, 48, 64))
    except TstError as exc:
        assert "\n" not in str(exc)
        event("error: " + str(exc).split(":")[0][:40])
        return
    event("segmented")
    assert seg.size == (48, 64)


YOLO_ONNX: dict[str, bytes] = {}

#: each mutated TFLite model is loaded and run in this child: LiteRT is native code, and a
#: crash must be seen as a crash (a signal), not end the test run
_TFLITE_CHILD = """
import sys, torch
from pathlib import Path
from tst_core.errors import TstError
from tst_yolo.segmenter import YoloOptions, YoloSegmenter
for name in sys.argv[1:]:
    try:
        seg = YoloSegmenter(YoloOptions(weights=Path(name), threads=1)).segment(
            torch.rand(3, 48, 64)
        )
        print("ok", len(seg.instances), flush=True)
    except TstError as exc:
        assert "\\n" not in str(exc)
        print("error", flush=True)
"""


@pytest.mark.needs_shared
def test_mutated_tflite_yolo_models_segment_or_are_one_tst_error(shared, tmp_path):
    """24 mutations of the real model (its first 4 KiB, where the flatbuffer's tables are, and
    anywhere) and cuts, each loaded and run once in one child process."""
    import random
    import subprocess
    import sys

    from ..conftest import ROOT

    data = shared("models", "yolov8n-seg", "yolov8n-seg_int8.tflite").read_bytes()
    rng = random.Random(23)
    paths = []
    for i in range(24):
        out = bytearray(data)
        span = 4096 if i % 2 else len(out)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(span)] = rng.randrange(256)
        if i % 6 == 5:
            out = out[: rng.randrange(len(out))]
        paths.append(tmp_path / f"m{i}.tflite")
        paths[-1].write_bytes(bytes(out))
    done = subprocess.run(
        [sys.executable, "-c", _TFLITE_CHILD, *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout.split("\n")) - 1 == len(paths), done.stdout
