"""Tiny ONNX models with the output layout of an Ultralytics YOLO-seg ONNX export, for tests.

There is no real YOLO ONNX model offline, so tests build graphs with ``onnx.helper``:
predictions ``(1, 4 + C + M, N)`` with boxes in input pixels and prototypes ``(1, M, h, w)``
(NCHW), and optionally Ultralytics' ``names`` metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(path: Path, nodes, inputs, outputs, initializers, names=None) -> Path:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "yolo-like", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    if names is not None:
        helper.set_model_props(model, {"names": repr(dict(enumerate(names)))})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _value(name, shape):
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def constant_model(
    path: Path, preds: np.ndarray, protos: np.ndarray, side: int, names=None
) -> Path:
    """Outputs fixed arrays whatever the input ``(1, 3, side, side)`` is (a recorded answer)."""
    from onnx import helper, numpy_helper

    inits = [
        numpy_helper.from_array(preds.astype(np.float32), "preds_value"),
        numpy_helper.from_array(protos.astype(np.float32), "protos_value"),
    ]
    nodes = [
        helper.make_node("Identity", ["preds_value"], ["output0"]),
        helper.make_node("Identity", ["protos_value"], ["output1"]),
    ]
    return _save(
        path,
        nodes,
        [_value("images", (1, 3, side, side))],
        [_value("output0", preds.shape), _value("output1", protos.shape)],
        inits,
        names,
    )


def red_model(path: Path, preds: np.ndarray, side: int = 64, names=None) -> Path:
    """One prototype computed from the input: ``40 * (red - 0.5)`` average-pooled 4×4, so a
    mask coefficient of 1 gives a mask on the input's red pixels; predictions are fixed."""
    from onnx import helper, numpy_helper

    inits = [
        numpy_helper.from_array(preds.astype(np.float32), "preds_value"),
        numpy_helper.from_array(np.array([0], np.int64), "red_index"),
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        numpy_helper.from_array(np.array(40.0, np.float32), "gain"),
    ]
    nodes = [
        helper.make_node("Identity", ["preds_value"], ["output0"]),
        helper.make_node("Gather", ["images", "red_index"], ["red"], axis=1),
        helper.make_node("AveragePool", ["red"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Sub", ["pooled", "half"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["output1"]),
    ]
    return _save(
        path,
        nodes,
        [_value("images", (1, 3, side, side))],
        [_value("output0", preds.shape), _value("output1", (1, 1, side // 4, side // 4))],
        inits,
        names,
    )
