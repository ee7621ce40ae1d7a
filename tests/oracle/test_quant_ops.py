#!/usr/bin/env python3
"""Quantization-op oracle: `ptq run` on one-node models against onnxruntime and numpy.

Every case builds a one-node model (plus Casts around 16-bit integer graph inputs and outputs,
which ptq's .npy I/O lacks) with onnx.helper in a temporary folder, feeds seeded random
inputs (every input a graph input, or with const=True every input but the first an
initializer, which ptq folds at load when all are constant) and compares each output with:
  ort    onnxruntime (CPU, one thread, no graph optimisation), where it implements the case;
  numpy  an independent numpy transcription of the ONNX formulas (numpy_* below).
Agreement must be exact (bit for bit) for every output, integer and float: both references
and ptq compute the same float32 expressions (x / scale, then round half to even;
float32(x - zp) * scale; float32(acc) * (x_scale * w_scale / y_scale)).

Covered: QuantizeLinear / DequantizeLinear per tensor, per axis (axis 0, 1, -1) and blocked
(opset 21), int8 / uint8 / int16 / uint16 (/ int32 for DequantizeLinear), float16 x and scale
(opset 19), output_dtype (opset 21), missing zero points, half-way values (x / scale exactly
k + 0.5, both signs), saturation at both ends, zero points at both ends of the range, NaN / inf;
DynamicQuantizeLinear (mixed, all positive, all negative, all zero); MatMulInteger and
QLinearMatMul (2-D, batched with broadcasting, 1-D operands, per-column b, per-row a);
ConvInteger and QLinearConv (1-D and 2-D, strides, pads, dilations, groups, depthwise,
auto_pad, per-channel weights, bias, non-zero zero points). Cases with ort=False check
extensions or cases onnxruntime does not implement against numpy only.

Usage (ctest passes --ptq and --shared):
  python3 tests/oracle/test_quant_ops.py --ptq build/ptq --shared ../shared [--only qconv]
"""
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_common as oc  # noqa: E402

NP2ONNX = {np.dtype(k): v for k, v in {
    np.float32: onnx.TensorProto.FLOAT, np.float16: onnx.TensorProto.FLOAT16,
    np.int8: onnx.TensorProto.INT8, np.uint8: onnx.TensorProto.UINT8,
    np.int16: onnx.TensorProto.INT16, np.uint16: onnx.TensorProto.UINT16,
    np.int32: onnx.TensorProto.INT32, np.int64: onnx.TensorProto.INT64}.items()}


def qinfo(dt):
    i = np.iinfo(dt)
    return int(i.min), int(i.max)


# ----------------------------------------------------------------- numpy references ---

def np_requant(v, zp, dt):
    """saturate(rint(v) + zp) for float32 v; NaN -> the type's lowest value."""
    lo, hi = qinfo(dt)
    r = np.rint(v.astype(np.float32)).astype(np.float64)
    r = np.where(np.isnan(r), lo, r + np.asarray(zp, np.float64))
    return np.clip(r, lo, hi).astype(dt)


def bcast_param(p, x, axis, block):
    """Scale / zero point expanded to x's shape (per tensor, per axis or blocked)."""
    p = np.asarray(p)
    if p.size == 1 and block == 0:
        return p.reshape(())
    axis = axis % x.ndim
    if block == 0:
        shape = [1] * x.ndim
        shape[axis] = -1
        return p.reshape(shape)
    return np.repeat(p, block, axis=axis).take(range(x.shape[axis]), axis=axis)


def numpy_quantize(x, s, zp, out_dt, axis=1, block=0):
    s32 = bcast_param(s, x, axis, block).astype(np.float32)
    xf = x.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (xf / s32).astype(np.float32)
    z = bcast_param(zp, x, axis, block).astype(np.int64) if zp is not None else 0
    return np_requant(v, z, out_dt)


def numpy_dequantize(x, s, zp, axis=1, block=0):
    s_b = bcast_param(s, x, axis, block)
    z = bcast_param(zp, x, axis, block).astype(np.int64) if zp is not None else 0
    d = (x.astype(np.int64) - z).astype(np.float32)
    y = d * s_b.astype(np.float32)
    return y.astype(s.dtype)


def numpy_dynq(x):
    mn = min(np.float32(0), x.min()) if x.size else np.float32(0)
    mx = max(np.float32(0), x.max()) if x.size else np.float32(0)
    scale = (np.float32(1) if mx == mn
             else np.float32((np.float32(mx) - np.float32(mn)) / np.float32(255)))
    izp = np.float32(np.float32(0) - np.float32(mn) / scale)
    zp = np.uint8(np.rint(np.clip(izp, 0, 255)))
    y = np_requant((x / scale).astype(np.float32), int(zp), np.uint8)
    return [y, np.array(scale, np.float32), np.array(zp, np.uint8)]


def numpy_matmul_int(a, b, azp, bzp):
    A = a.astype(np.int64) - (0 if azp is None else np.asarray(azp, np.int64).reshape(
        (-1, 1) if np.asarray(azp).size > 1 else ()))
    B = b.astype(np.int64) - (0 if bzp is None else np.asarray(bzp, np.int64).reshape(
        (-1,) if np.asarray(bzp).size > 1 else ()))
    return np.matmul(A, B).astype(np.int32)


def numpy_conv_int(x, w, xzp, wzp, strides, pads, dil, group):
    """Direct convolution of (x - xzp) and (w - wzp[m]); padding holds x_zp (contributes 0)."""
    nd = x.ndim - 2
    X = x.astype(np.int64) - (0 if xzp is None else int(np.asarray(xzp).reshape(-1)[0]))
    wz = 0 if wzp is None else np.asarray(wzp, np.int64).reshape((-1,) + (1,) * (nd + 1))
    W = w.astype(np.int64) - wz
    X = np.pad(X, [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)])
    N, C = X.shape[:2]
    M, cg = W.shape[:2]
    ks = W.shape[2:]
    outs = [(X.shape[2 + i] - (dil[i] * (ks[i] - 1) + 1)) // strides[i] + 1 for i in range(nd)]
    Y = np.zeros([N, M] + outs, np.int64)
    mg = M // group
    for m in range(M):
        g = m // mg
        xg = X[:, g * cg:(g + 1) * cg]
        for kidx in np.ndindex(*ks):
            sl = tuple(slice(kidx[i] * dil[i], kidx[i] * dil[i] + strides[i] * (outs[i] - 1) + 1,
                             strides[i]) for i in range(nd))
            patch = xg[(slice(None), slice(None)) + sl]
            Y[:, m] += np.einsum("nc...,c->n...", patch, W[(m, slice(None)) + kidx])
    return Y.astype(np.int32)


def numpy_qlinear(acc, xs, ws, ys, yzp, ws_axis_shape):
    mult = (np.float32(xs) * np.asarray(ws, np.float32).reshape(ws_axis_shape)
            / np.float32(ys)).astype(np.float32)
    v = (acc.astype(np.float32) * mult).astype(np.float32)
    return np_requant(v, int(np.asarray(yzp).reshape(-1)[0]), np.asarray(yzp).dtype)


# ---------------------------------------------------------------------- case model ---

class Case:
    def __init__(self, name, op, inputs, outs, attrs=None, opset=13, ort=True, ref=None,
                 const=False):
        self.name, self.op, self.inputs, self.outs = name, op, inputs, outs
        self.attrs, self.opset, self.ort, self.ref, self.const = attrs or {}, opset, ort, ref, const


# ptq's .npy reader and writer have no 16-bit integer types: such graph inputs are fed as int32
# and Cast to the 16-bit type inside the model, such outputs are Cast to int32 (both exact).
WIDEN = (np.dtype(np.int16), np.dtype(np.uint16))


def build(c, path):
    """inputs: list of (name, array or None for an omitted optional input)."""
    names, vis, inits, feeds, pre, post = [], [], [], {}, [], []
    for i, (n, a) in enumerate(c.inputs):
        if a is None:
            names.append("")
            continue
        names.append(n)
        if c.const and i > 0:
            inits.append(numpy_helper.from_array(a, n))
        elif a.dtype in WIDEN:
            vis.append(helper.make_tensor_value_info(n + "_i32", onnx.TensorProto.INT32,
                                                     list(a.shape)))
            feeds[n + "_i32"] = a.astype(np.int32)
            pre.append(helper.make_node("Cast", [n + "_i32"], [n], to=NP2ONNX[a.dtype]))
        else:
            vis.append(helper.make_tensor_value_info(n, NP2ONNX[a.dtype], list(a.shape)))
            feeds[n] = a
    outs, onames = [], []
    for n, t in c.outs:
        if np.dtype(t) in WIDEN:
            onames.append(n + "_16")
            post.append(helper.make_node("Cast", [n + "_16"], [n], to=onnx.TensorProto.INT32))
            t = np.int32
        else:
            onames.append(n)
        outs.append(helper.make_tensor_value_info(n, NP2ONNX[np.dtype(t)], None))
    node = helper.make_node(c.op, names, onames, **c.attrs)
    g = helper.make_graph(pre + [node] + post, c.name, vis, outs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", c.opset)])
    m.ir_version = 8 if c.opset < 19 else 9 if c.opset < 21 else 10
    onnx.save(m, path)
    return feeds


def run_case(args, c, tmp):
    path = os.path.join(tmp, "model.onnx")
    feeds = build(c, path)
    argv = ["run", path, "--threads", args.threads, "--out", os.path.join(tmp, "out"), "--engine", "sim"]
    for n, a in feeds.items():
        fn = os.path.join(tmp, "%s.npy" % n)
        np.save(fn, a)
        argv += ["--input", "%s=%s" % (n, fn)]
    r = oc.run_ptq(args, argv, timeout=60)
    if r.rc != 0:
        return "ptq failed: %s" % r.brief(), "-"
    got = [np.load(os.path.join(tmp, "out", oc.sanitize(n) + ".npy")) for n, _ in c.outs]
    refs = []
    if c.ort:
        sess = oc.ort_session(path)
        refs.append(("ort", sess.run([n for n, _ in c.outs], feeds)))
    if c.ref is not None:
        refs.append(("numpy", c.ref()))
    problems = []
    for rname, ref in refs:
        for (oname, _), g, e in zip(c.outs, got, ref):
            e = np.asarray(e)
            if e.dtype in WIDEN:
                e = e.astype(np.int32)
            if g.dtype != e.dtype or g.shape != e.shape:
                problems.append("%s %s: %s%s, expected %s%s" % (rname, oname, g.dtype,
                                list(g.shape), e.dtype, list(e.shape)))
            elif not np.array_equal(g, e, equal_nan=e.dtype.kind == "f"):
                bad = np.argwhere(~((g == e) | (np.isnan(g) & np.isnan(e))
                                    if e.dtype.kind == "f" else g == e))
                i = tuple(bad[0])
                problems.append("%s %s: %d/%d differ, e.g. at %s got %r expected %r" % (
                    rname, oname, len(bad), e.size, i, g[i].item(), e[i].item()))
    return ("; ".join(problems) or None), "+".join(n for n, _ in refs)


# -------------------------------------------------------------------------- cases ---

def rand_q(rng, dt, shape):
    lo, hi = qinfo(dt)
    return rng.integers(lo, hi + 1, size=shape, endpoint=False).astype(dt)


def q_cases(rng):
    cs = []
    types = [(np.int8, 13), (np.uint8, 13), (np.int16, 21), (np.uint16, 21)]
    for dt, opset in types:
        lo, hi = qinfo(dt)
        tn = np.dtype(dt).name
        s = np.float32(0.25)  # power of two: x / s is exact, half-way cases are exact
        k = np.arange(-40, 40, dtype=np.float32)
        half = np.concatenate([(k + 0.5) * s, -(k + 0.5) * s])
        for zp_v, tag in [((lo + hi + 1) // 2, "mid"), (lo, "zplo"), (hi, "zphi")]:
            zp = np.array(zp_v, dt)
            ends = np.array([(lo - zp_v) * s - 0.125, (lo - zp_v - 1) * s, (hi - zp_v) * s + 0.125,
                             (hi - zp_v + 1) * s, 1e30, -1e30, np.inf, -np.inf, 0.0, -0.0],
                            np.float32)
            x = np.concatenate([half, ends, rng.uniform(-300, 300, 50).astype(np.float32)])
            x = x.reshape(1, -1)
            cs.append(Case("q_%s_tensor_%s" % (tn, tag), "QuantizeLinear",
                           [("x", x), ("s", np.array(s)), ("z", zp)], [("y", dt)], opset=opset,
                           ref=lambda x=x, s=s, zp=zp, dt=dt: [numpy_quantize(x, s, zp, dt)]))
        # per axis, random scales (non power of two) and zero points incl. both ends
        x = rng.uniform(-3, 3, (2, 4, 3, 5)).astype(np.float32)
        for axis in (1, 0, -1):
            n = x.shape[axis]
            sc = rng.uniform(0.005, 0.05, n).astype(np.float32)
            zp = rand_q(rng, dt, n)
            zp[0], zp[-1] = lo, hi
            cs.append(Case("q_%s_axis%d" % (tn, axis), "QuantizeLinear",
                           [("x", x), ("s", sc), ("z", zp)], [("y", dt)],
                           attrs=dict(axis=axis), opset=opset,
                           ref=lambda x=x, sc=sc, zp=zp, dt=dt, axis=axis:
                           [numpy_quantize(x, sc, zp, dt, axis)]))
    x = rng.uniform(-2, 2, (3, 7)).astype(np.float32)
    x[0, :3] = [np.nan, 0.375, -0.375]
    cs.append(Case("q_uint8_nozp", "QuantizeLinear", [("x", x), ("s", np.array(0.25, np.float32))],
                   [("y", np.uint8)], opset=10,
                   ref=lambda x=x: [numpy_quantize(x, np.float32(0.25), None, np.uint8)]))
    cs.append(Case("q_int8_1elem_scale_const", "QuantizeLinear",
                   [("x", x), ("s", np.array([0.0625], np.float32)), ("z", np.array([3], np.int8))],
                   [("y", np.int8)], opset=13, const=True,
                   ref=lambda x=x: [numpy_quantize(x, np.float32(0.0625), np.int8(3), np.int8)]))
    for od, dt in [(onnx.TensorProto.INT8, np.int8), (onnx.TensorProto.UINT16, np.uint16)]:
        cs.append(Case("q_output_dtype_%s" % np.dtype(dt).name, "QuantizeLinear",
                       [("x", x), ("s", np.array(0.01, np.float32))], [("y", dt)],
                       attrs=dict(output_dtype=od), opset=21,
                       ref=lambda x=x, dt=dt: [numpy_quantize(x, np.float32(0.01), None, dt)]))
    xh = rng.uniform(-4, 4, (2, 3, 4)).astype(np.float16)
    sh = np.array([0.03, 0.02, 0.05], np.float16)
    zh = np.array([-5, 0, 7], np.int8)
    cs.append(Case("q_f16_axis1", "QuantizeLinear", [("x", xh), ("s", sh), ("z", zh)],
                   [("y", np.int8)], opset=19,
                   ref=lambda: [numpy_quantize(xh.astype(np.float32), sh.astype(np.float32), zh,
                                               np.int8)]))
    xb = rng.uniform(-2, 2, (3, 7)).astype(np.float32)
    sb = rng.uniform(0.01, 0.03, (3, 3)).astype(np.float32)
    zb = rand_q(rng, np.uint8, (3, 3))
    cs.append(Case("q_uint8_block3", "QuantizeLinear", [("x", xb), ("s", sb), ("z", zb)],
                   [("y", np.uint8)], attrs=dict(axis=1, block_size=3), opset=21, ort=False,
                   ref=lambda: [numpy_quantize(xb, sb, zb, np.uint8, 1, 3)]))
    return cs


def dq_cases(rng):
    cs = []
    for dt, opset in [(np.int8, 13), (np.uint8, 13), (np.int16, 21), (np.uint16, 21),
                      (np.int32, 13)]:
        lo, hi = qinfo(dt)
        tn = np.dtype(dt).name
        x = rand_q(rng, dt, (2, 5, 3))
        x.flat[:2] = [lo, hi]
        zp = np.array(0 if dt == np.int32 else hi, dt)
        s = np.float32(0.0173)
        cs.append(Case("dq_%s_tensor" % tn, "DequantizeLinear", [("x", x), ("s", np.array(s)),
                       ("z", zp)], [("y", np.float32)], opset=opset,
                       ref=lambda x=x, s=s, zp=zp: [numpy_dequantize(x, np.array(s), zp)]))
        for axis in (1, -1):
            n = x.shape[axis]
            sc = rng.uniform(0.001, 0.1, n).astype(np.float32)
            zpa = rand_q(rng, dt, n) if dt != np.int32 else np.zeros(n, dt)
            if dt != np.int32:
                zpa[0], zpa[-1] = lo, hi
            cs.append(Case("dq_%s_axis%d" % (tn, axis), "DequantizeLinear",
                           [("x", x), ("s", sc), ("z", zpa)], [("y", np.float32)],
                           attrs=dict(axis=axis), opset=opset,
                           ref=lambda x=x, sc=sc, zpa=zpa, axis=axis:
                           [numpy_dequantize(x, sc, zpa, axis)]))
    x = rand_q(rng, np.uint8, (4, 6))
    cs.append(Case("dq_uint8_nozp", "DequantizeLinear",
                   [("x", x), ("s", np.array(0.5, np.float32))], [("y", np.float32)], opset=10,
                   ref=lambda x=x: [numpy_dequantize(x, np.array(0.5, np.float32), None)]))
    xi = rand_q(rng, np.int32, (9,))
    zi = np.array(-1234567, np.int32)
    cs.append(Case("dq_int32_zp", "DequantizeLinear", [("x", xi),
                   ("s", np.array(1e-4, np.float32)), ("z", zi)], [("y", np.float32)], opset=13,
                   ort=False, ref=lambda: [numpy_dequantize(xi, np.array(1e-4, np.float32), zi)]))
    xq = rand_q(rng, np.int8, (2, 3, 4))
    sh = np.array([0.03, 0.02, 0.05], np.float16)
    zq = np.array([-5, 0, 7], np.int8)
    cs.append(Case("dq_f16_axis1", "DequantizeLinear", [("x", xq), ("s", sh), ("z", zq)],
                   [("y", np.float16)], opset=19,
                   ref=lambda: [numpy_dequantize(xq, sh.astype(np.float32), zq, 1)
                                .astype(np.float16)]))
    xb = rand_q(rng, np.int8, (5, 4))
    sb = rng.uniform(0.01, 0.03, (3, 4)).astype(np.float32)
    zb = rand_q(rng, np.int8, (3, 4))
    cs.append(Case("dq_int8_block2_axis0", "DequantizeLinear", [("x", xb), ("s", sb), ("z", zb)],
                   [("y", np.float32)], attrs=dict(axis=0, block_size=2), opset=21, ort=False,
                   ref=lambda: [numpy_dequantize(xb, sb, zb, 0, 2)]))
    return cs


def dynq_cases(rng):
    cs = []
    data = {
        "mixed": rng.uniform(-3, 5, (4, 7)).astype(np.float32),
        "positive": rng.uniform(0.5, 9, (3, 5)).astype(np.float32),
        "negative": rng.uniform(-7, -0.1, (11,)).astype(np.float32),
        "zeros": np.zeros((2, 3), np.float32),
        "halfway": np.array([-1.0, 0.0, 254.0 / 255.0 * 2], np.float32),
    }
    for tag, x in data.items():
        cs.append(Case("dynq_%s" % tag, "DynamicQuantizeLinear", [("x", x)],
                       [("y", np.uint8), ("y_scale", np.float32), ("y_zp", np.uint8)], opset=11,
                       ref=lambda x=x: numpy_dynq(x)))
    return cs


def mm_cases(rng):
    cs = []
    combos = [(np.uint8, np.uint8), (np.int8, np.int8), (np.uint8, np.int8)]
    shapes = [("2d", (5, 7), (7, 3)), ("3d_bcast", (2, 4, 6), (6, 5)),
              ("4d", (2, 1, 3, 4), (3, 4, 2)), ("1d_a", (6,), (6, 4)), ("1d_b", (3, 6), (6,))]
    for at, bt in combos:
        for tag, sa, sb in shapes:
            a, b = rand_q(rng, at, sa), rand_q(rng, bt, sb)
            azp, bzp = rand_q(rng, at, ()), rand_q(rng, bt, ())
            nm = "%s_%s_%s" % (np.dtype(at).name, np.dtype(bt).name, tag)
            cs.append(Case("mmi_" + nm, "MatMulInteger", [("a", a), ("b", b), ("az", azp),
                           ("bz", bzp)], [("y", np.int32)], opset=10,
                           ref=lambda a=a, b=b, azp=azp, bzp=bzp: [numpy_matmul_int(a, b, azp,
                                                                                    bzp)]))
            if at != bt:
                continue
            as_, bs = np.float32(rng.uniform(0.01, 0.05)), np.float32(rng.uniform(0.01, 0.05))
            ys = np.float32(rng.uniform(0.5, 2.0))
            yzp = rand_q(rng, at, ())
            cs.append(Case("qlmm_" + nm, "QLinearMatMul",
                           [("a", a), ("as", np.array(as_)), ("az", azp), ("b", b),
                            ("bs", np.array(bs)), ("bz", bzp), ("ys", np.array(ys)),
                            ("yz", yzp)], [("y", at)], opset=10,
                           ref=lambda a=a, b=b, azp=azp, bzp=bzp, as_=as_, bs=bs, ys=ys, yzp=yzp:
                           [numpy_qlinear(numpy_matmul_int(a, b, azp, bzp), as_, bs, ys, yzp,
                                          ())]))
    # per-column b zero point / scale, no a zero point
    a, b = rand_q(rng, np.uint8, (4, 9)), rand_q(rng, np.uint8, (9, 6))
    bzp = rand_q(rng, np.uint8, (6,))
    cs.append(Case("mmi_uint8_percol_noazp", "MatMulInteger", [("a", a), ("b", b), ("az", None),
                   ("bz", bzp)], [("y", np.int32)], opset=10,
                   ref=lambda: [numpy_matmul_int(a, b, None, bzp)]))
    azr = rand_q(rng, np.uint8, (4,))
    cs.append(Case("mmi_uint8_perrow_a", "MatMulInteger", [("a", a), ("b", b), ("az", azr),
                   ("bz", bzp)], [("y", np.int32)], opset=10, ort=False,
                   ref=lambda: [numpy_matmul_int(a, b, azr, bzp)]))
    a8, b8 = rand_q(rng, np.int8, (3, 2, 8)), rand_q(rng, np.int8, (8, 5))
    bsc = rng.uniform(0.01, 0.05, 5).astype(np.float32)
    bzc = np.zeros(5, np.int8)
    cs.append(Case("qlmm_int8_percol_const", "QLinearMatMul",
                   [("a", a8), ("as", np.array(0.02, np.float32)), ("az", np.array(3, np.int8)),
                    ("b", b8), ("bs", bsc), ("bz", bzc), ("ys", np.array(0.7, np.float32)),
                    ("yz", np.array(-4, np.int8))], [("y", np.int8)], opset=10, const=True,
                   ref=lambda: [numpy_qlinear(numpy_matmul_int(a8, b8, np.int8(3), bzc), 0.02,
                                              bsc, 0.7, np.array(-4, np.int8), (1, -1))]))
    return cs


def conv_cases(rng):
    cs = []
    geoms = [
        ("basic", (1, 3, 6, 6), (4, 3, 3, 3), dict()),
        ("pads_strides", (2, 4, 9, 7), (6, 4, 3, 2), dict(pads=[1, 0, 2, 1], strides=[2, 3])),
        ("group2_dil", (1, 4, 8, 8), (6, 2, 3, 3), dict(group=2, dilations=[2, 1],
                                                        pads=[1, 1, 1, 1])),
        ("depthwise", (1, 5, 7, 7), (5, 1, 3, 3), dict(group=5, pads=[1, 1, 1, 1],
                                                       strides=[2, 2])),
        ("same_upper", (1, 3, 7, 6), (2, 3, 4, 3), dict(auto_pad="SAME_UPPER", strides=[2, 2])),
        ("conv1d", (2, 3, 11), (4, 3, 3), dict(pads=[2, 1], strides=[2])),
        ("pointwise", (1, 8, 5, 5), (7, 8, 1, 1), dict()),
    ]

    def attrs_of(at, x, w):
        nd = x.ndim - 2
        ks = w.shape[2:]
        st = at.get("strides", [1] * nd)
        dl = at.get("dilations", [1] * nd)
        if at.get("auto_pad") == "SAME_UPPER":
            pads = [0] * (2 * nd)
            for i in range(nd):
                o = -(-x.shape[2 + i] // st[i])
                tot = max(0, (o - 1) * st[i] + dl[i] * (ks[i] - 1) + 1 - x.shape[2 + i])
                pads[i], pads[i + nd] = tot // 2, tot - tot // 2
        else:
            pads = at.get("pads", [0] * (2 * nd))
        return st, pads, dl, at.get("group", 1)

    for xt, wt in [(np.uint8, np.uint8), (np.uint8, np.int8), (np.int8, np.int8)]:
        for tag, xs, wsh, at in geoms:
            x, w = rand_q(rng, xt, xs), rand_q(rng, wt, wsh)
            xzp = rand_q(rng, xt, ())
            wzp = np.array(0 if wt == np.int8 else 7, wt)
            st, pads, dl, grp = attrs_of(at, x, w)
            nm = "%s_%s_%s" % (np.dtype(xt).name, np.dtype(wt).name, tag)
            acc = numpy_conv_int(x, w, xzp, wzp, st, pads, dl, grp)
            if xt == np.uint8:  # onnxruntime's ConvInteger is uint8 x only
                cs.append(Case("convi_" + nm, "ConvInteger", [("x", x), ("w", w), ("xz", xzp),
                               ("wz", wzp)], [("y", np.int32)], attrs=at, opset=10,
                               ref=lambda acc=acc: [acc]))
            M = w.shape[0]
            xs_, ys = np.float32(rng.uniform(0.01, 0.05)), np.float32(rng.uniform(0.05, 0.3))
            wsc = rng.uniform(0.005, 0.05, M).astype(np.float32)
            yzp = rand_q(rng, xt, ())
            bias = rng.integers(-5000, 5000, M).astype(np.int32)
            wz_q = np.zeros(M, wt) + wzp
            nd = x.ndim - 2
            cs.append(Case("qconv_" + nm, "QLinearConv",
                           [("x", x), ("xs", np.array(xs_)), ("xz", xzp), ("w", w), ("ws", wsc),
                            ("wz", wz_q), ("ys", np.array(ys)), ("yz", yzp), ("b", bias)],
                           [("y", xt)], attrs=at, opset=10,
                           ref=lambda acc=acc, bias=bias, xs_=xs_, wsc=wsc, ys=ys, yzp=yzp, nd=nd:
                           [numpy_qlinear(acc + bias.reshape((-1,) + (1,) * nd), xs_, wsc, ys, yzp,
                                          (-1,) + (1,) * nd)]))
    # per-channel weight zero points (onnxruntime requires them uniform): numpy only
    x, w = rand_q(rng, np.uint8, (1, 4, 6, 6)), rand_q(rng, np.uint8, (3, 4, 3, 3))
    wz = rand_q(rng, np.uint8, (3,))
    cs.append(Case("convi_uint8_perchan_wzp", "ConvInteger", [("x", x), ("w", w),
                   ("xz", np.array(9, np.uint8)), ("wz", wz)], [("y", np.int32)],
                   attrs=dict(pads=[1, 1, 1, 1]), opset=10, ort=False,
                   ref=lambda: [numpy_conv_int(x, w, np.uint8(9), wz, [1, 1], [1, 1, 1, 1],
                                               [1, 1], 1)]))
    cs.append(Case("convi_uint8_nozp_const", "ConvInteger", [("x", x), ("w", w)],
                   [("y", np.int32)], opset=10, const=True,
                   ref=lambda: [numpy_conv_int(x, w, None, None, [1, 1], [0] * 4, [1, 1], 1)]))
    return cs


def cases(rng):
    return q_cases(rng) + dq_cases(rng) + dynq_cases(rng) + mm_cases(rng) + conv_cases(rng)


def main():
    args = oc.parse_args(__doc__.splitlines()[0])
    print("test_quant_ops: seed %d, ptq %s" % (args.seed, args.ptq))
    rng = np.random.default_rng(args.seed)
    tmp_root = tempfile.mkdtemp(prefix="ptq_quant_")
    rows, details, failed = [], [], 0
    try:
        for c in cases(rng):
            if not oc.selected(args, c.name):
                continue
            tmp = os.path.join(tmp_root, c.name)
            os.makedirs(tmp)
            try:
                problem, refs = run_case(args, c, tmp)
            except Exception as e:  # noqa: BLE001 - a broken case is a failure, not a crash
                problem, refs = "%s: %s" % (type(e).__name__, e), "-"
            rows.append([c.name, c.op, "opset %d" % c.opset, refs, "FAIL" if problem else "exact"])
            if problem:
                details.append("%s: %s" % (c.name, problem))
                failed += 1
    finally:
        if args.keep:
            print("kept %s" % tmp_root)
        else:
            shutil.rmtree(tmp_root, ignore_errors=True)
    oc.print_table(["case", "op", "opset", "refs", "result"], rows)
    if details:
        print("\nfailures:")
        for d in details:
            print("  " + d)
    print("\n%d case(s), %d failed (seed %d; bit-exact comparison)" % (len(rows), failed,
                                                                       args.seed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
