#!/usr/bin/env python3
"""Regenerates the seed corpora fuzz/corpus/model/*.onnx (tiny valid ONNX models, < 4 KB
each) and fuzz/corpus/npy/*.npy (tiny .npy files of every dtype ptq reads).
Needs numpy and onnx. run.sh also adds SHARED/models/mnist-8.onnx at run time."""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_DIR = os.path.join(HERE, "corpus", "model")
NPY_DIR = os.path.join(HERE, "corpus", "npy")
rng = np.random.default_rng(0)


def vi(name, dims, dt=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dt, dims)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def model(name, nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="ptq-fuzz-seed")
    m.ir_version = 8
    data = m.SerializeToString()
    assert len(data) < 4096, (name, len(data))
    with open(os.path.join(MODEL_DIR, name + ".onnx"), "wb") as f:
        f.write(data)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def main():
    os.makedirs(MODEL_DIR, exist_ok=True)
    os.makedirs(NPY_DIR, exist_ok=True)
    N = helper.make_node

    model("relu", [N("Relu", ["x"], ["y"])], [vi("x", [1, 4])], [vi("y", [1, 4])])
    # a QDQ graph the int8 engine lowers: Q -> DQ -> Conv(+Relu) -> Q -> DQ -> MaxPool ->
    # Q -> DQ -> Add -> Q -> DQ -> Transpose -> Q -> DQ
    rq = np.random.default_rng(1)  # its own stream: the other seeds stay byte-identical
    s_, z8 = np.float32(0.05), np.int8(-3)
    qp = lambda name: [init(name + "_s", s_), init(name + "_z", z8)]  # noqa: E731
    q = lambda x, y, p: N("QuantizeLinear", [x, p + "_s", p + "_z"], [y])  # noqa: E731
    dq = lambda x, y, p: N("DequantizeLinear", [x, p + "_s", p + "_z"], [y])  # noqa: E731
    model("qdq_conv_pool_add",
          [q("x", "xq", "a"), dq("xq", "xd", "a"),
           N("DequantizeLinear", ["wq", "ws"], ["wd"], axis=0),
           N("DequantizeLinear", ["bq", "bs"], ["bd"]),
           N("Conv", ["xd", "wd", "bd"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
           N("Relu", ["c"], ["r"]), q("r", "rq", "b"), dq("rq", "rd", "b"),
           N("MaxPool", ["rd"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
           q("m", "mq", "b"), dq("mq", "md", "b"), dq("mq", "md2", "b"),
           N("Add", ["md", "md2"], ["s"]), q("s", "sq", "c"), dq("sq", "sd", "c"),
           N("Transpose", ["sd"], ["t"], perm=[0, 2, 3, 1]), q("t", "tq", "c"),
           dq("tq", "y", "c")],
          [vi("x", [1, 2, 4, 4])], [vi("y", [1, 2, 2, 3])],
          qp("a") + qp("b") + qp("c") +
          [init("wq", rq.integers(-127, 128, (3, 2, 3, 3)).astype(np.int8)),
           init("ws", np.full(3, 0.02, np.float32)),
           init("bq", rq.integers(-100, 100, 3).astype(np.int32)),
           init("bs", np.float32(0.001))])
    model("conv_relu_pool",
          [N("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
             strides=[1, 1]),
           N("Relu", ["c"], ["r"]),
           N("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
          [vi("x", [1, 2, 8, 8])], [vi("y", [1, 4, 4, 4])],
          [init("w", f32(4, 2, 3, 3)), init("b", f32(4))])
    model("depthwise_clip",
          [N("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], group=3, auto_pad="SAME_UPPER"),
           N("Clip", ["c", "lo", "hi"], ["y"])],
          [vi("x", ["N", 3, 6, 6])], [vi("y", ["N", 3, 6, 6])],
          [init("w", f32(3, 1, 3, 3)), init("lo", np.float32(0)), init("hi", np.float32(6))])
    model("gemm_softmax",
          [N("Gemm", ["x", "w", "b"], ["g"], transB=1, alpha=1.0, beta=1.0),
           N("Softmax", ["g"], ["y"], axis=-1)],
          [vi("x", [2, 8])], [vi("y", [2, 5])], [init("w", f32(5, 8)), init("b", f32(5))])
    model("reshape_matmul_add",
          [N("Reshape", ["x", "shape"], ["r"]), N("MatMul", ["r", "w"], ["m"]),
           N("Add", ["m", "b"], ["y"])],
          [vi("x", [1, 2, 3, 4])], [vi("y", [1, 6])],
          [init("shape", np.array([1, 24], np.int64)), init("w", f32(24, 6)),
           init("b", f32(6))])
    model("constant_concat_transpose",
          [N("Constant", [], ["k"], value=init("kv", f32(1, 2, 3))),
           N("Concat", ["x", "k"], ["c"], axis=1),
           N("Transpose", ["c"], ["y"], perm=[0, 2, 1])],
          [vi("x", [1, 2, 3])], [vi("y", [1, 3, 4])])
    model("bn_avgpool_flatten",
          [N("BatchNormalization", ["x", "s", "bb", "m", "v"], ["n"], epsilon=1e-5),
           N("GlobalAveragePool", ["n"], ["p"]), N("Flatten", ["p"], ["y"], axis=1)],
          [vi("x", [1, 2, 4, 4])], [vi("y", [1, 2])],
          [init("s", f32(2)), init("bb", f32(2)), init("m", f32(2)),
           init("v", np.abs(f32(2)) + 0.1)])
    model("shape_gather_unsqueeze",
          [N("Shape", ["x"], ["s"]), N("Gather", ["s", "i"], ["g"], axis=0),
           N("Unsqueeze", ["g", "ax"], ["y"])],
          [vi("x", [2, 3, 5])], [vi("y", [1], TensorProto.INT64)],
          [init("i", np.array(1, np.int64)), init("ax", np.array([0], np.int64))])
    model("resize_sigmoid_mul",
          [N("Resize", ["x", "", "sc"], ["r"], mode="nearest"),
           N("Sigmoid", ["r"], ["s"]), N("Mul", ["r", "s"], ["y"])],
          [vi("x", [1, 1, 2, 2])], [vi("y", [1, 1, 4, 4])],
          [init("sc", np.array([1, 1, 2, 2], np.float32))])
    model("opset8_relu", [N("Relu", ["x"], ["y"])], [vi("x", [3])], [vi("y", [3])], opset=8)

    npys = {
        "f4_2x3": rng.standard_normal((2, 3)).astype(np.float32),
        "f8_4": rng.standard_normal(4),
        "f2_2x2": rng.standard_normal((2, 2)).astype(np.float16),
        "u1_1x1x4x4": rng.integers(0, 256, (1, 1, 4, 4), dtype=np.uint8),
        "i1_5": rng.integers(-128, 128, 5, dtype=np.int8),
        "i4_3": np.array([1, -2, 3], np.int32),
        "i8_scalar": np.array(7, np.int64),
        "b1_2x2": np.array([[True, False], [False, True]]),
        "f4_empty_0x3": np.zeros((0, 3), np.float32),
    }
    for name, arr in npys.items():
        np.save(os.path.join(NPY_DIR, name + ".npy"), arr)
    # a version 2.0 header
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    with open(os.path.join(NPY_DIR, "f4_v2.npy"), "wb") as f:
        np.lib.format.write_array(f, arr, version=(2, 0))


if __name__ == "__main__":
    main()
