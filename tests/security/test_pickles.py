"""The Detectron2 ``.pkl`` reader against pickles that use only allowed names (issue 23 class
4): an object-typed dtype over raw bytes (which crashed the process with SIGSEGV), void and
structured dtypes, arrays declaring more than the file holds, half-built arrays, deep nesting,
huge memo indexes and declared lengths, files that are not regular or too large. Each is one
:class:`WeightsError` line; a Hypothesis fuzz mutates a real model-zoo pickle byte by byte."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tst_core.errors import WeightsError

from ..conftest import ROOT
from .test_checkpoints import model_zoo

read_checkpoint = pytest.importorskip("tst_detectron2.checkpoint").read_checkpoint


def g(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def t(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def b(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data  # BINBYTES


def i(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


NONE, FALSE, TRUE, REDUCE, BUILD = b"N", b"\x89", b"\x88", b"R", b"b"
MA = "numpy.core.multiarray"


def dtype(spec: str, state: bytes | None = None) -> bytes:
    made = g("numpy", "dtype") + t(spec) + FALSE + TRUE + b"\x87" + REDUCE
    return made + (state + BUILD if state is not None else b"")


def plain_state(order: str = "<") -> bytes:
    return tup(i(3), t(order), NONE, NONE, NONE, i(-1), i(-1), i(0))


def array(dt: bytes, shape: tuple[int, ...], data: bytes) -> bytes:
    made = g(MA, "_reconstruct") + g("numpy", "ndarray") + tup(i(0)) + b(b"b") + b"\x87" + REDUCE
    return made + tup(i(1), tup(*map(i, shape)), dt, FALSE, b(data)) + BUILD


def checkpoint(value: bytes) -> bytes:
    """``{"model": {"w": value}}`` in protocol 3."""
    return b"\x80\x03}" + t("model") + b"}" + t("w") + value + b"ss."


# dtype("V8") whose BUILD gives it a field "a" of objects at offset 0, and flags without
# NPY_ITEM_HASOBJECT: numpy then took the 8 raw bytes for a pointer
OBJECT_FIELD = dtype(
    "V8",
    b"("
    + i(3)
    + t("|")
    + NONE
    + tup(t("a"))
    + b"}"
    + t("a")
    + tup(dtype("O8"), i(0))
    + b"s"
    + i(8)
    + i(1)
    + i(0)
    + b"t",
)

#: name -> (pickle, a phrase of the refusal)
HOSTILE = {
    "an object field over raw bytes (SIGSEGV before)": (
        checkpoint(array(OBJECT_FIELD, (1,), b"A" * 8)),
        "dtype 'V8'",
    ),
    "an object dtype": (checkpoint(array(dtype("O8", plain_state("|")), (1,), b"A" * 8)), "'O8'"),
    "a void dtype": (checkpoint(array(dtype("V8", plain_state("|")), (1,), b"A" * 8)), "'V8'"),
    "a string dtype": (checkpoint(array(dtype("S8", plain_state("|")), (1,), b"A" * 8)), "'S8'"),
    "a sub-array dtype state": (
        checkpoint(
            array(
                dtype("f4", tup(i(3), t("<"), tup(dtype("f4"), tup(i(4))), NONE, NONE, i(16))),
                (1,),
                b"A" * 16,
            )
        ),
        "fields or sub-arrays",
    ),
    "an 8 GiB array over 8 bytes": (
        checkpoint(array(dtype("f8", plain_state()), (1 << 30,), b"A" * 8)),
        "needs 8589934592 bytes but has 8",
    ),
    "a negative shape": (checkpoint(array(dtype("f8", plain_state()), (-1,), b"")), "shape"),
    "an object scalar": (
        checkpoint(g(MA, "scalar") + dtype("O8", plain_state("|")) + b(b"A" * 8) + b"\x86R"),
        "'O8'",
    ),
    "_reconstruct of another type": (
        checkpoint(g(MA, "_reconstruct") + g("numpy", "dtype") + tup(i(0)) + b(b"b") + b"\x87R"),
        "from numpy.ndarray with shape (0,) only",
    ),
    "_reconstruct with a large shape": (
        checkpoint(
            g(MA, "_reconstruct") + g("numpy", "ndarray") + tup(i(1 << 30)) + b(b"b") + b"\x87R"
        ),
        "shape (0,) only",
    ),
    "an array without its data": (
        checkpoint(g(MA, "_reconstruct") + g("numpy", "ndarray") + tup(i(0)) + b(b"b") + b"\x87R"),
        "without its data",
    ),
    "a bare dtype": (checkpoint(dtype("f4", plain_state())), "bare dtype"),
    "deep nesting": (b"\x80\x03" + b"]" * 5000 + b"a" * 4999 + b".", "nested over"),
    "a declared 8 GiB byte string": (b"\x80\x04\x8e" + struct.pack("<Q", 8 << 30) + b"x.", ""),
    "_frombuffer of objects": (
        checkpoint(
            g("numpy.core.numeric", "_frombuffer")
            + tup(b(b"A" * 8), dtype("O8", plain_state("|")), tup(i(1)), t("C"))
            + REDUCE
        ),
        "'O8'",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_pickle_of_allowed_names_is_one_line(tmp_path, name):
    data, phrase = HOSTILE[name]
    path = tmp_path / "model_final.pkl"
    path.write_bytes(data)
    with pytest.raises(WeightsError) as err:
        read_checkpoint(path)
    msg = str(err.value)
    assert "\n" not in msg and phrase in msg, msg


def test_the_object_field_pickle_no_longer_crashes_the_process(tmp_path):
    """In a child process, since before the fix it ended the interpreter with SIGSEGV."""
    path = tmp_path / "model_final.pkl"
    path.write_bytes(HOSTILE["an object field over raw bytes (SIGSEGV before)"][0])
    code = (
        "import sys; from tst_detectron2.checkpoint import read_checkpoint\n"
        "from tst_core.errors import WeightsError\n"
        "from pathlib import Path\n"
        "try:\n    print(repr(read_checkpoint(Path(sys.argv[1]))))\n"
        "except WeightsError as e:\n    print('refused:', e)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-500:])
    assert proc.stdout.startswith("refused:"), proc.stdout


def test_a_huge_memo_index_allocates_nothing(tmp_path):
    """``LONG_BINPUT 2**31-1``: C's unpickler sizes its memo list by the index (16 GiB of
    pointers, zeroed); the pure-Python one keeps a dict."""
    path = tmp_path / "m.pkl"
    path.write_bytes(b"\x80\x03}r\xff\xff\xff\x7f.")
    assert read_checkpoint(path)["model"] == {}


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "too large"])
def test_files_that_are_not_checkpoints_are_refused_before_reading(tmp_path, monkeypatch, kind):
    import tst_detectron2.checkpoint as ckpt

    path = tmp_path / "model_final.pkl"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(model_zoo(4))
        monkeypatch.setattr(ckpt, "MAX_BYTES", 100)
    with pytest.raises(WeightsError) as err:
        read_checkpoint(path)
    assert "\n" not in str(err.value)


def test_big_endian_and_fortran_arrays_still_load(tmp_path):
    value = {"a": np.arange(6, dtype=">f4").reshape(2, 3), "b": np.asfortranarray(np.eye(3))}
    for protocol in (2, 4, 5):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps({"model": value, "__author__": "x"}, protocol=protocol))
        got = read_checkpoint(path)["model"]
        assert np.array_equal(got["a"], value["a"]) and got["a"].dtype == np.dtype(">f4")
        assert np.array_equal(got["b"], value["b"])


VALID = model_zoo(2), model_zoo(4), model_zoo(5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
    st.integers(0, 10**6),
)
def test_mutated_model_zoo_pickles_load_or_are_one_weights_error(
    tmp_path_factory, base, flips, cut
):
    data = bytearray(base)
    for pos, value in flips:
        data[pos % len(data)] = value
    data = data[: max(1, cut % (len(data) + 1))]
    path = tmp_path_factory.mktemp("fuzz") / "m.pkl"
    path.write_bytes(bytes(data))
    try:
        out = read_checkpoint(path)
    except WeightsError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(out, dict) and "model" in out
