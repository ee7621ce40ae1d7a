"""ptq's quantizer core and calibrators against onnxruntime and numpy.

Runs the helper tests/quant_fakequant (built beside the ptq binary) on .npy files:
  - (scale, zero point) from ranges vs onnxruntime.quantization.quant_utils.compute_scale_zp;
  - codes and fake quantization vs onnxruntime QuantizeLinear -> DequantizeLinear, bit for bit,
    per tensor and per axis, on random data with exact half-way points and extremes;
  - calibrators: minmax / EMA exactly, percentile vs numpy.percentile within one bin, KL vs
    onnxruntime's get_entropy_threshold (compat mode) and vs a port of MXNet's algorithm
    (default mode) on the same histogram within one bin, 10 batches == 1 batch, 1 == 2 threads.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from onnxruntime.quantization.calibrate import HistogramCollector
from onnxruntime.quantization.quant_utils import compute_scale_zp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_common import parse_args  # noqa: E402

FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg)


def tool_path(ptq):
    return os.path.join(os.path.dirname(ptq), "tests", "quant_fakequant")


def run(tool, *args):
    r = subprocess.run([tool] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s %s: rc %d %s" % (tool, args[0], r.returncode, r.stderr))


def spec(**kw):
    return ",".join("%s=%s" % (k, v) for k, v in kw.items())


def qrange(bits, signed, narrow):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return lo + (1 if narrow else 0), hi


def test_params(tool, tmp, rng):
    for bits, signed, sym, narrow in [(8, 0, 0, 0), (8, 1, 0, 0), (8, 1, 1, 1), (8, 0, 1, 0),
                                      (16, 1, 1, 1), (16, 0, 0, 0), (4, 1, 0, 0), (2, 0, 0, 0)]:
        n = 200
        lo = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 4, n)).astype(np.float32)
        hi = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 4, n)).astype(np.float32)
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        lo[:3] = [0, -1, 0]
        hi[:3] = [0, 2, 1e-39]
        np.save(os.path.join(tmp, "lo.npy"), lo)
        np.save(os.path.join(tmp, "hi.npy"), hi)
        run(tool, "params", spec(bits=bits, signed=signed, sym=sym, narrow=narrow),
            os.path.join(tmp, "lo.npy"), os.path.join(tmp, "hi.npy"),
            os.path.join(tmp, "s.npy"), os.path.join(tmp, "z.npy"))
        s, z = np.load(os.path.join(tmp, "s.npy")), np.load(os.path.join(tmp, "z.npy"))
        qmin, qmax = qrange(bits, signed, narrow)
        for i in range(n):
            zr, sr = compute_scale_zp(np.array(lo[i]), np.array(hi[i]), np.array(qmin, np.int32),
                                      np.array(qmax, np.int32), symmetric=bool(sym))
            want_z = int(zr)
            if sym and not signed and float(sr) == 1.0 and max(-lo[i], hi[i], 0) * 2 < 1.2e-38 * 255:
                want_z = (qmin + qmax + 1) // 2  # documented deviation: middle code kept
            ok = np.float32(sr).tobytes() == s[i].tobytes() and want_z == int(z[i])
            check(ok, "params bits=%d signed=%d sym=%d [%r, %r]: ptq (%r, %d) ort (%r, %d)" % (
                bits, signed, sym, lo[i], hi[i], s[i], z[i], sr, want_z))


ONNX_T = {(8, 0): TensorProto.UINT8, (8, 1): TensorProto.INT8,
          (16, 0): TensorProto.UINT16, (16, 1): TensorProto.INT16}
NP_T = {(8, 0): np.uint8, (8, 1): np.int8, (16, 0): np.uint16, (16, 1): np.int16}


def ort_qdq(x, scale, zp, bits, signed, axis):
    per_axis = scale.size > 1
    sshape = [scale.size] if per_axis else []
    attrs = {"axis": axis} if per_axis else {}
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **attrs),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **attrs)]
    zt = helper.make_tensor("z", ONNX_T[(bits, signed)], sshape,
                            zp.astype(NP_T[(bits, signed)]).reshape(sshape).tolist())
    st = helper.make_tensor("s", TensorProto.FLOAT, sshape, scale.reshape(sshape).tolist())
    g = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info("q", ONNX_T[(bits, signed)], x.shape),
                           helper.make_tensor_value_info("y", TensorProto.FLOAT, x.shape)],
                          [st, zt])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


def test_fakequant(tool, tmp, rng):
    for bits, signed in [(8, 0), (8, 1), (16, 0), (16, 1)]:
        for axis in [-99, 0, 1]:
            shape = (3, 4, 5, 7)
            c = shape[axis] if axis != -99 else 1
            scale = (rng.uniform(0.5, 2.0, c) * 10.0 ** rng.integers(-3, 1, c)).astype(np.float32)
            qmin, qmax = qrange(bits, signed, False)
            zp = rng.integers(qmin, qmax + 1, c).astype(np.int32)
            bshape = [1] * 4
            if axis != -99:
                bshape[axis] = c
            sb, zb = scale.reshape(bshape), zp.reshape(bshape).astype(np.float32)
            k = rng.integers(-(qmax - qmin) - 10, (qmax - qmin) + 10, shape).astype(np.float32)
            x = ((k + 0.5) * sb).astype(np.float32)  # half-way points (up to float rounding)
            mode = rng.integers(0, 4, shape)
            x = np.where(mode == 1, rng.standard_normal(shape).astype(np.float32) * sb * 50, x)
            x = np.where(mode == 2, (k * sb).astype(np.float32), x)
            flat = x.reshape(-1)
            flat[:6] = [3.0e38, -3.0e38, 0.0, -0.0, 1e-30, -1e-30]
            x = x.astype(np.float32)
            del zb
            for name, arr in [("x", x), ("s", scale), ("z", zp)]:
                np.save(os.path.join(tmp, name + ".npy"), arr)
            run(tool, "fq", spec(bits=bits, signed=signed, axis=axis), *[os.path.join(tmp, f) for f in
                ["x.npy", "s.npy", "z.npy", "q.npy", "y.npy"]])
            q, y = np.load(os.path.join(tmp, "q.npy")), np.load(os.path.join(tmp, "y.npy"))
            oq, oy = ort_qdq(x, scale, zp, bits, signed, axis)
            check(np.array_equal(q, oq.astype(np.int32)),
                  "codes bits=%d signed=%d axis=%d: %d differ" % (bits, signed, axis,
                                                                 int((q != oq).sum())))
            check(y.tobytes() == oy.astype(np.float32).tobytes(),
                  "fake quant bits=%d signed=%d axis=%d: %d differ" % (
                      bits, signed, axis, int((y.view(np.uint32) != oy.view(np.uint32)).sum())))


def calib(tool, tmp, x, batches, **kw):
    np.save(os.path.join(tmp, "cx.npy"), x)
    run(tool, "calib", spec(**kw), os.path.join(tmp, "cx.npy"), batches,
        *[os.path.join(tmp, f) for f in ["r.npy", "h.npy", "i.npy"]])
    return (np.load(os.path.join(tmp, "r.npy")), np.load(os.path.join(tmp, "h.npy")),
            np.load(os.path.join(tmp, "i.npy")))


def edges_of(hist, info):
    k0, e = int(info[0]), int(info[1])
    return ((np.arange(hist.size + 1) + k0) * 2.0 ** e).astype(np.float32)


def mxnet_kl(hist, info, nq):
    """Port of MXNet's _get_optimal_threshold on ptq's histogram (ptq's default KL mode):
    symmetric windows [z-i, z+i) for signed histograms, [0, i) for non-negative ones, whose
    zero bin takes bin 1's count (TensorRT / pytorch-quantization: bins[0] = bins[1])."""
    nb, k0 = hist.size, int(info[0])
    if k0 >= 0:
        hist = hist.copy()
        hist[0] = hist[1]
    edges = edges_of(hist, info).astype(np.float64)
    if k0 < 0:
        z = nb // 2
        wins = [(z - i, z + i) for i in range(nq // 2, nb // 2 + 1)]
    else:
        wins = [(0, i) for i in range(nq, nb + 1)]
    best, best_kl = None, np.inf

    def smooth(v):
        zeros = (v == 0).sum()
        if zeros == v.size:
            return None
        eps1 = 1e-4 * zeros / (v.size - zeros)
        v = np.where(v == 0, 1e-4, v - eps1)
        return None if (v <= 0).any() else v

    for s, e in wins:
        sliced = hist[s:e].astype(np.float64)
        p = sliced.copy()
        p[0] += hist[:s].sum()
        p[-1] += hist[e:].sum()
        m = sliced.size // nq
        q = np.zeros(p.size)
        for j in range(nq):
            a, b = j * m, (sliced.size if j == nq - 1 else (j + 1) * m)
            norm = (p[a:b] != 0).sum()
            if norm:
                q[a:b] = sliced[a:b].sum() / norm
        q[p == 0] = 0
        ps, qs = smooth(p), smooth(q)
        if ps is None or qs is None:
            continue
        ps, qs = ps / ps.sum(), qs / qs.sum()
        kl = float((ps * np.log(ps / qs)).sum())
        if kl < best_kl:
            best_kl, best = kl, (edges[s], edges[e])
    return best


def test_calib(tool, tmp, rng):
    n = 20000
    data = {
        "gauss": rng.standard_normal((n, 8)).astype(np.float32),
        "relu": np.maximum(rng.standard_normal((n, 8)) * 2, 0).astype(np.float32),
        "skew": (rng.standard_exponential((n, 8)) * 3 - 1).astype(np.float32),
    }
    data["gauss"][5, 3] = 40.0
    data["skew"][:n // 10] *= 0.25  # growing range over the batches
    for name, x in data.items():
        flat = x.reshape(-1).astype(np.float64)
        r, _, _ = calib(tool, tmp, x, 10, method="minmax", axis=-99)
        check(r[0, 0] == x.min() and r[0, 1] == x.max(), "%s minmax %r" % (name, r))
        r, _, _ = calib(tool, tmp, x, 10, method="minmax", axis=1)
        check(np.array_equal(r[:, 0], x.min(0)) and np.array_equal(r[:, 1], x.max(0)),
              "%s per-channel minmax" % name)
        r, _, _ = calib(tool, tmp, x, 10, method="ema", mom=0.8, axis=-99)
        emn = emx = None
        for b in np.split(x, 10):
            bmn, bmx = float(b.min()), float(b.max())
            emn = bmn if emn is None else 0.8 * emn + (1 - 0.8) * bmn
            emx = bmx if emx is None else 0.8 * emx + (1 - 0.8) * bmx
        check(r[0, 0] == np.float32(emn) and r[0, 1] == np.float32(emx), "%s ema" % name)
        for pct in [99.0, 99.99]:
            r, h, info = calib(tool, tmp, x, 10, method="percentile", pct=pct, axis=-99)
            w = 2.0 ** info[1]
            cut = (100 - pct) / 2
            lo, hi = np.percentile(flat, cut), np.percentile(flat, 100 - cut)
            check(abs(r[0, 0] - max(lo, x.min())) <= w and abs(r[0, 1] - hi) <= w,
                  "%s percentile %g: ptq %r numpy (%g, %g) bin %g" % (name, pct, r[0], lo, hi, w))
            r, h, info = calib(tool, tmp, x, 10, method="percentile", pct=pct, pct_sym=1, axis=-99)
            t = np.percentile(np.abs(flat), pct)
            check(abs(r[0, 1] - t) <= w and r[0, 0] == -r[0, 1],
                  "%s |x| percentile %g: ptq %r numpy %g" % (name, pct, r[0], t))
        for compat in [0, 1]:
            r1, h1, i1 = calib(tool, tmp, x, 1, method="kl", compat=compat, axis=-99, threads=1)
            r10, h10, i10 = calib(tool, tmp, x, 10, method="kl", compat=compat, axis=-99, threads=2)
            check(np.array_equal(h1, h10) and np.array_equal(i1, i10) and np.array_equal(r1, r10),
                  "%s kl compat=%d: 10 batches / 2 threads differ from 1 batch / 1 thread" % (name, compat))
            w = 2.0 ** i1[1]
            if compat:
                hist, info = h1, i1
                if int(info[0]) == 0:  # re-binned to the signed layout as ptq does
                    nb = hist.size
                    hs = np.zeros(nb, np.int64)
                    np.add.at(hs, np.arange(nb) // 2 + nb // 2, hist)
                    hist, info = hs, np.array([-nb // 2, info[1] + 1, 1, info[3], info[4]])
                    w *= 2
                coll = HistogramCollector("entropy", False, hist.size, 128, 99.99, "same")
                want = coll.get_entropy_threshold(
                    (hist, edges_of(hist, info), np.float32(info[3]), np.float32(info[4])), 128)
                want = (float(want[0]), float(want[1]))
            else:
                lo, hi = mxnet_kl(h1, i1, 128)
                want = (max(lo, float(i1[3])), min(hi, float(i1[4])))
            check(abs(r1[0, 0] - want[0]) <= w and abs(r1[0, 1] - want[1]) <= w,
                  "%s kl compat=%d: ptq %r reference %r bin %g" % (name, compat, r1[0], want, w))


def main():
    args = parse_args(__doc__)
    tool = tool_path(args.ptq)
    if not os.access(tool, os.X_OK):
        sys.exit("error: helper not built: %s" % tool)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        test_params(tool, tmp, rng)
        test_fakequant(tool, tmp, rng)
        test_calib(tool, tmp, rng)
    if FAILS:
        print("%d failures" % len(FAILS))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
