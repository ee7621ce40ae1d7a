#!/usr/bin/env python3
"""Oracle test: `ptq quantize --a-bits N` (N = 2..16) exports QDQ models that onnxruntime runs
and whose numerics equal ptq's N-bit simulation.

Mechanism under test (docs/quantization.md, "Activation bit widths"): N < 8 keeps int8/uint8
QuantizeLinear/DequantizeLinear behind Clip(x, (qmin-zp)*s, (qmax-zp)*s); 8 < N < 16 the same in
int16/uint16; N = 16 plain int16 Q/DQ. Containers wider than 8 bits raise the opset to 21.

1. Clip -> QuantizeLinear -> DequantizeLinear, onnxruntime vs ptq's N-bit fake quantization
   (tests/quant_fakequant fq), bit for bit, for N in 2..7, 9, 12, 15 with the (scale, zero
   point) and Clip bounds ptq exported for the first two tensors of the models below plus random
   ones (signed and unsigned, asymmetric and symmetric): inputs are every float32 within 1024
   ulps (64 above 8 bits, where 800 of the codes are taken) of each Clip bound, of each code
   centre k*s and of each rounding boundary (k +- 1/2)*s, plus 0, -0, +-inf, +-FLT_MAX and
   random values over 10 decades. Together with monotonicity of QuantizeLinear this covers
   every input (the proof is in docs/quantization.md); NaN is excluded (below).
2. fashion-cnn (models/, Fashion-MNIST t10k: calibration pool 1000..1999, 100 drawn with seed
   7; accuracy on 0..999, numerics on 0..199) with --a-bits 2, 4, 6, 8, 12, 16 and mnist-8
   (shared, opset 8 upgraded) with --a-bits 4, 16:
   - onnx.checker (full_check) passes; opset 13 up to 8 bits, 21 above; zero points of the
     activation Q/DQ are int8 (<= 8 bits) or int16; a Clip before every activation
     QuantizeLinear exactly when N is not 8 or 16, with the bounds of the encodings JSON;
   - onnxruntime (no graph optimisation: the QDQ float simulation) runs the model with every
     activation DequantizeLinear output and its float input exposed; per tensor, ptq's N-bit
     fake quantization of onnxruntime's float input equals onnxruntime's Q/DQ output bit for
     bit; each takes at most 2^N distinct values, all on its N-bit grid (q = v/s + zp integral
     in [qmin, qmax]);
   - `ptq run` of the same model: top-1 agrees with onnxruntime on >= 99 % of the samples, and
     in every activation >= 99 % of the elements are within one step of onnxruntime's
     (identical up to 8 bits): the float Conv/Gemm between Q/DQ pairs accumulate in another
     order, which moves a few values across a rounding boundary (more often at 16 bits, whose
     steps are 256 times finer);
   - accuracy (onnxruntime, default optimisations) vs FP32 is printed; 8 and 16 bits lose at
     most 1 pt, 6 bits at most 3 pt, and accuracy does not grow by more than 1 pt as N drops.

Usage: test_quant_bits.py --ptq BUILD/ptq --shared ../shared [--only NAME] [--keep]
"""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_common as oc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FASHION = "/usr/share/datasets/fashion-mnist"
N_EVAL = 200 if oc.QUICK else 1000  # accuracy
N_PROBE = 50 if oc.QUICK else 200  # numerics: every activation of these samples
FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg)
    return cond


def qrange(bits, signed, narrow=False):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return lo + (1 if narrow else 0), hi


def idx_images(path):
    with gzip.open(path, "rb") as f:
        d = f.read()
    n, h, w = (int.from_bytes(d[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(d, np.uint8, offset=16).reshape(n, 1, h, w)


def idx_labels(path):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)


# ------------------------------------------------------------ 1. Clip -> Q -> DQ ---

def clip_qdq_model(bits, signed, scale, zp, lo, hi):
    import onnx
    from onnx import TensorProto as T, helper
    wide = bits > 8
    dt = (T.INT16 if signed else T.UINT16) if wide else (T.INT8 if signed else T.UINT8)
    inits = [helper.make_tensor("s", T.FLOAT, [], [scale]), helper.make_tensor("z", dt, [], [zp]),
             helper.make_tensor("lo", T.FLOAT, [], [lo]), helper.make_tensor("hi", T.FLOAT, [], [hi])]
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["c"]),
             helper.make_node("QuantizeLinear", ["c", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, [None])],
                          [helper.make_tensor_value_info("q", dt, [None]),
                           helper.make_tensor_value_info("y", T.FLOAT, [None])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21 if wide else 13)])
    m.ir_version = 10 if wide else 7
    onnx.checker.check_model(m)
    return m.SerializeToString()


def ulp_neighbourhood(centres, k=4096):
    """Every float32 within k ulps of each centre (finite ones)."""
    c = np.asarray(centres, np.float32)
    c = c[np.isfinite(c)]
    bits = c.view(np.int32).astype(np.int64)
    # walk in the integer order of float32 magnitudes, on each side of the sign
    off = np.arange(-k, k + 1, dtype=np.int64)
    mag = (bits & 0x7fffffff)[:, None] + off[None, :]
    mag = np.clip(mag, 0, 0x7f7fffff)
    sign = (bits < 0)[:, None]
    out = np.where(sign, mag | np.int64(-0x80000000), mag).astype(np.int64)
    return (out & 0xffffffff).astype(np.uint32).view(np.float32).ravel()


def check_clip_qdq(tool, tmp, bits, signed, sym, scale, zp, lo, hi, tag):
    import onnxruntime as ort
    qmin, qmax = qrange(bits, signed)
    s = np.float32(scale)
    ks = np.arange(qmin - zp, qmax - zp + 1, dtype=np.float64)
    if len(ks) > 600:  # 9..15 bits: the ends, the middle and a sample of the rest
        ks = np.unique(np.concatenate([ks[:200], ks[-200:], ks[len(ks) // 2 - 100:len(ks) // 2 + 100],
                                       np.random.default_rng(bits).choice(ks, 200)]))
    centres = np.concatenate([[lo, hi], ks * s, (ks + 0.5) * s, (ks - 0.5) * s]).astype(np.float32)
    rng = np.random.default_rng(1000 + bits)
    rand = (rng.standard_normal(20000) * 10.0 ** rng.uniform(-5, 5, 20000) * float(s) * 64)
    k = (64 if len(ks) > 300 else 1024) // (4 if oc.QUICK else 1)
    x = np.concatenate([ulp_neighbourhood(centres, k),
                        np.array([0.0, -0.0, np.inf, -np.inf, 3.4028235e38, -3.4028235e38], np.float32),
                        rand.astype(np.float32)]).astype(np.float32)
    sess = ort.InferenceSession(clip_qdq_model(bits, signed, float(s), zp, lo, hi),
                                providers=["CPUExecutionProvider"])
    q_ort, y_ort = sess.run(None, {"x": x})
    xp, sp, zpp = (os.path.join(tmp, n) for n in ("x.npy", "s.npy", "z.npy"))
    np.save(xp, x)
    np.save(sp, np.array([s], np.float32))
    np.save(zpp, np.array([zp], np.int32))
    qo, fo = os.path.join(tmp, "q.npy"), os.path.join(tmp, "fq.npy")
    spec = "bits=%d,signed=%d,sym=%d,axis=-99" % (bits, signed, sym)
    r = subprocess.run([tool, "fq", spec, xp, sp, zpp, qo, fo], capture_output=True, text=True)
    if not check(r.returncode == 0, "%s: quant_fakequant fq: %s" % (tag, r.stderr.strip())):
        return 0
    q_ptq, y_ptq = np.load(qo), np.load(fo)
    bad_q = np.nonzero(q_ptq.astype(np.int64) != q_ort.astype(np.int64))[0]
    bad_y = np.nonzero(y_ptq.view(np.uint32) != y_ort.view(np.uint32))[0]
    check(len(bad_q) == 0 and len(bad_y) == 0,
          "%s: %d codes / %d values differ, e.g. x=%r ptq q=%s ort q=%s" % (
              tag, len(bad_q), len(bad_y), x[bad_q[:1]] if len(bad_q) else x[bad_y[:1]],
              q_ptq[bad_q[:1]] if len(bad_q) else q_ptq[bad_y[:1]],
              q_ort[bad_q[:1]] if len(bad_q) else q_ort[bad_y[:1]]))
    check(q_ort.min() >= qmin and q_ort.max() <= qmax,
          "%s: onnxruntime codes [%d, %d] outside [%d, %d]" % (tag, q_ort.min(), q_ort.max(), qmin, qmax))
    return len(x)


# -------------------------------------------------------------- 2. whole models ---

def act_points(m):
    """(QuantizeLinear node, DequantizeLinear output, Clip node or None) per activation Q."""
    inits = {t.name for t in m.graph.initializer}
    prod = {o: n for n in m.graph.node for o in n.output}
    pts = []
    for n in m.graph.node:
        if n.op_type != "QuantizeLinear" or n.input[0] in inits:
            continue
        dq = [d for d in m.graph.node if d.op_type == "DequantizeLinear" and d.input[0] == n.output[0]]
        clip = prod.get(n.input[0])
        pts.append((n, dq[0].output[0] if dq else None, clip if clip is not None and clip.op_type == "Clip" else None))
    return pts


def probe_model(path, out_path, names):
    import onnx
    from onnx import TensorProto as T, helper
    m = onnx.load(path)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(helper.make_tensor_value_info(n, T.FLOAT, None))
    onnx.save(m, out_path)


def ort_outputs(path, x, optimize):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 2
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    outs = [o.name for o in s.get_outputs()]
    fixed = isinstance(s.get_inputs()[0].shape[0], int)
    if fixed:
        res = [s.run(outs, {name: x[i:i + 1]}) for i in range(len(x))]
        return name, {o: np.concatenate([r[k] for r in res]) for k, o in enumerate(outs)}
    return name, dict(zip(outs, s.run(outs, {name: x})))


def check_model(args, tmp, tag, fp, pool, x, labels, bits, acc_fp, rows, tool):
    import onnx
    out = os.path.join(tmp, "%s-a%d.onnx" % (tag, bits))
    argv = ["quantize", fp, "-o", out, "--calib", pool, "--calib-size", 100, "--seed", 7,
            "--a-bits", bits, "--threads", args.threads]
    r = oc.run_ptq(args, argv)
    print("$ ptq " + oc.cmdline(argv) + "  (%.2f s)" % r.seconds)
    if not check(r.rc == 0, "%s a%d: quantize failed: %s" % (tag, bits, r.brief())):
        return
    m = onnx.load(out)
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:  # noqa: BLE001
        check(False, "%s a%d: onnx.checker: %s" % (tag, bits, str(e)[:300]))
    opset = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0]
    check(opset == (21 if bits > 8 else 13), "%s a%d: opset %d" % (tag, bits, opset))
    enc = json.load(open(out[:-5] + ".encodings.json"))["tensors"]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    pts = act_points(m)
    want_clip = bits not in (8, 16)
    grids = {}
    for qn, dq_out, clip in pts:
        z = inits[qn.input[2]]
        e = [v for v in enc.values() if v["kind"] == "activation" and v["zero_point_initializer"] == qn.input[2]]
        if not check(len(e) == 1, "%s a%d: no encodings for %s" % (tag, bits, qn.name)):
            continue
        e = e[0]
        check(e["bits"] == bits, "%s a%d: %s encodes %s bits" % (tag, bits, qn.name, e["bits"]))
        check(z.dtype in ((np.int16, np.uint16) if bits > 8 else (np.int8, np.uint8)),
              "%s a%d: %s zero point %s" % (tag, bits, qn.name, z.dtype))
        if check((clip is not None) == want_clip, "%s a%d: %s Clip %s" % (tag, bits, qn.name, clip is not None)) \
                and clip is not None:
            lo, hi = float(inits[clip.input[1]]), float(inits[clip.input[2]])
            check([np.float32(lo), np.float32(hi)] == [np.float32(v) for v in e["clip"]],
                  "%s a%d: %s Clip bounds differ from the encodings" % (tag, bits, qn.name))
            # (1) the exported parameters, through onnxruntime vs ptq's fake quantization
            signed = z.dtype in (np.int8, np.int16)
            if len(grids) < 2:
                check_clip_qdq(tool, tmp, bits, int(signed), int(e["symmetric"]), float(inits[qn.input[1]]),
                               int(z), lo, hi, "%s a%d %s" % (tag, bits, qn.name))
        grids[dq_out] = (np.float32(inits[qn.input[1]]), int(z), qrange(bits, z.dtype in (np.int8, np.int16)),
                         clip.input[0] if clip is not None else qn.input[0], int(e["symmetric"]))
    probe = os.path.join(tmp, "%s-a%d-probe.onnx" % (tag, bits))
    probe_model(out, probe, list(grids) + [g[3] for g in grids.values()])
    xq, x = x, x[:N_PROBE]  # numerics on the first N_PROBE samples, accuracy on all
    in_name, o_ref = ort_outputs(probe, x, optimize=False)
    logits_name = onnx.load(fp).graph.output[0].name
    max_distinct = 0
    n_exact = 0
    for name, (s, zp, (qmin, qmax), src, sym) in grids.items():
        # ptq's N-bit fake quantization of onnxruntime's float tensor == onnxruntime's Q/DQ
        xp, sp, zpp = (os.path.join(tmp, n) for n in ("px.npy", "ps.npy", "pz.npy"))
        np.save(xp, np.ascontiguousarray(o_ref[src], np.float32))
        np.save(sp, np.array([s], np.float32))
        np.save(zpp, np.array([zp], np.int32))
        fo = os.path.join(tmp, "pfq.npy")
        spec = "bits=%d,signed=%d,sym=%d,axis=-99" % (bits, int(qmin < 0), sym)
        rf = subprocess.run([tool, "fq", spec, xp, sp, zpp, os.path.join(tmp, "pq.npy"), fo],
                            capture_output=True, text=True)
        if check(rf.returncode == 0, "%s a%d: quant_fakequant: %s" % (tag, bits, rf.stderr.strip())):
            diff = int((np.load(fo).view(np.uint32) != o_ref[name].view(np.uint32)).sum())
            check(diff == 0, "%s a%d: %s: %d elements of onnxruntime's Q/DQ differ from ptq's %d-bit "
                  "fake quantization of the same input" % (tag, bits, name, diff, bits))
            n_exact += o_ref[name].size
        v = o_ref[name]
        u = np.unique(v)
        max_distinct = max(max_distinct, len(u))
        check(len(u) <= 2 ** bits, "%s a%d: %s takes %d distinct values > 2^%d" % (tag, bits, name, len(u), bits))
        q = u.astype(np.float64) / float(s) + zp
        k = np.rint(q)
        on_grid = np.all(np.abs(q - k) < 0.25) and k.min() >= qmin and k.max() <= qmax and \
            np.array_equal(((k - zp).astype(np.float32) * s).astype(np.float32), u)
        check(on_grid, "%s a%d: %s values are not on the %d-bit grid" % (tag, bits, name, bits))
    # ptq run of the same probe model
    xp = os.path.join(tmp, "%s-eval.npy" % tag)
    if not os.path.exists(xp):
        np.save(xp, x)
    rdir = os.path.join(tmp, "%s-a%d-run" % (tag, bits))
    rr = oc.run_ptq(args, ["run", probe, "--input", "%s=%s" % (in_name, xp), "--out", rdir,
                           "--batch", len(x), "--threads", args.threads])
    agree = same = float("nan")
    if check(rr.rc == 0, "%s a%d: ptq run failed: %s" % (tag, bits, rr.brief())):
        p_logits = np.load(os.path.join(rdir, oc.sanitize(logits_name) + ".npy")).reshape(len(x), -1)
        agree = 100 * (p_logits.argmax(1) == o_ref[logits_name].reshape(len(x), -1).argmax(1)).mean()
        check(agree >= 99.0, "%s a%d: ptq vs onnxruntime top-1 agreement %.2f%%" % (tag, bits, agree))
        fr, w1, mx = [], [], 0.0
        for name, (s, _, _, _, _) in grids.items():
            pv = np.load(os.path.join(rdir, oc.sanitize(name) + ".npy")).reshape(o_ref[name].shape)
            steps = np.abs(pv.astype(np.float64) - o_ref[name]) / float(s)
            fr.append((pv == o_ref[name]).mean())
            w1.append((steps <= 1.001).mean())
            mx = max(mx, float(steps.max()))
        same, within1 = (100 * min(fr), 100 * min(w1)) if fr else (100.0, 100.0)
        print("  %d activation values: onnxruntime Q/DQ == ptq fake quantization bit for bit" % n_exact)
        print("  ptq run vs onnxruntime: >= %.3f%% of each activation identical, >= %.3f%% within "
              "one step, at most %.1f steps apart" % (same, within1, mx))
        check(within1 >= 99.0 and (bits > 8 or same >= 99.5),
              "%s a%d: ptq run vs onnxruntime: only %.3f%% of an activation's elements identical, "
              "%.3f%% within one step" % (tag, bits, same, within1))
    _, o_opt = ort_outputs(out, xq, optimize=True)
    acc = 100 * (o_opt[logits_name].reshape(len(xq), -1).argmax(1) == labels).mean()
    rows.append([tag, bits, opset, len(pts), sum(1 for p in pts if p[2] is not None), max_distinct,
                 "%.2f" % same, "%.2f" % agree, "%.2f" % acc_fp, "%.2f" % acc, "%+.2f" % (acc - acc_fp),
                 "%.2f" % r.seconds])
    return acc


def fashion_case(args, tmp, tool, rows):
    fp = os.path.join(ROOT, "models", "fashion-cnn.onnx")
    imgs = idx_images(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    labels = idx_labels(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"))[:N_EVAL]
    pool = os.path.join(tmp, "fashion-calib.npy")
    np.save(pool, imgs[1000:2000])
    x = np.ascontiguousarray(imgs[:N_EVAL])
    _, o = ort_outputs(fp, x, optimize=True)
    acc_fp = 100 * (list(o.values())[0].argmax(1) == labels).mean()
    accs = {}
    for bits in (2, 4, 6, 8, 12, 16):
        accs[bits] = check_model(args, tmp, "fashion-cnn", fp, pool, x, labels, bits, acc_fp, rows, tool)
    limit_checks("fashion-cnn", acc_fp, accs)


def mnist_case(args, tmp, tool, rows):
    fp = oc.model_path(args, "mnist-8.onnx")
    d = os.path.join(args.shared, "data", "mnist")
    imgs = np.load(os.path.join(d, "test-images.npy"), mmap_mode="r")
    labels = np.load(os.path.join(d, "test-labels.npy"))[:N_EVAL]
    pool = os.path.join(tmp, "mnist-calib.npy")
    np.save(pool, np.asarray(imgs[1000:2000], np.float32))
    x = np.asarray(imgs[:N_EVAL], np.float32)
    _, o = ort_outputs(fp, x, optimize=True)
    acc_fp = 100 * (list(o.values())[0].reshape(len(x), -1).argmax(1) == labels).mean()
    accs = {}
    for bits in (4, 16):
        accs[bits] = check_model(args, tmp, "mnist-8", fp, pool, x, labels, bits, acc_fp, rows, tool)
    limit_checks("mnist-8", acc_fp, accs)


def limit_checks(tag, acc_fp, accs):
    for b in (8, 16):
        if accs.get(b) is not None:
            check(acc_fp - accs[b] <= 1.0, "%s a%d: drop %.2f pt > 1" % (tag, b, acc_fp - accs[b]))
    if accs.get(6) is not None:
        check(acc_fp - accs[6] <= 3.0, "%s a6: drop %.2f pt > 3" % (tag, acc_fp - accs[6]))
    bs = sorted(b for b in accs if accs[b] is not None)
    for lo, hi in zip(bs, bs[1:]):
        check(accs[lo] <= accs[hi] + 1.0, "%s: a%d (%.2f%%) beats a%d (%.2f%%) by > 1 pt"
              % (tag, lo, accs[lo], hi, accs[hi]))


def random_clip_cases(tool, tmp):
    """(1) on random parameters: every width, signed/unsigned, asymmetric/symmetric."""
    rng = np.random.default_rng(7)
    n = 0
    for bits in (2, 3, 4, 5, 6, 7, 9, 12, 15):
        for signed in (1, 0):
            for sym in (0, 1):
                qmin, qmax = qrange(bits, signed)
                scale = np.float32(10.0 ** rng.uniform(-6, 3))
                zp = 0 if (sym and signed) else ((qmin + qmax + 1) // 2 if sym else int(rng.integers(qmin, qmax + 1)))
                lo = np.float32(np.float32(qmin - zp) * scale)
                hi = np.float32(np.float32(qmax - zp) * scale)
                n += check_clip_qdq(tool, tmp, bits, signed, sym, float(scale), zp, float(lo), float(hi),
                                    "random a%d signed=%d sym=%d s=%r zp=%d" % (bits, signed, sym, scale, zp))
    return n


def main():
    args = oc.parse_args(__doc__.splitlines()[0])
    tool = os.path.join(os.path.dirname(args.ptq), "tests", "quant_fakequant")
    tmp = tempfile.mkdtemp(prefix="ptq_qbits_")
    rows = []
    try:
        if oc.selected(args, "clip"):
            n = random_clip_cases(tool, tmp)
            print("Clip->Q->DQ vs ptq fake quantization: %d inputs over random parameters" % n)
        if oc.selected(args, "fashion") and os.path.isdir(FASHION):
            fashion_case(args, tmp, tool, rows)
        elif oc.selected(args, "fashion"):
            print("skipped fashion-cnn: %s missing (Debian dataset-fashion-mnist)" % FASHION)
        if oc.selected(args, "mnist"):
            mnist_case(args, tmp, tool, rows)
        if rows:
            oc.print_table(["model", "a-bits", "opset", "act Q", "Clip", "max distinct", "ptq=ort elems %",
                            "ptq=ort top1 %", "fp32 %", "qdq %", "delta pt", "quantize s"], rows)
    finally:
        if args.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for f in FAILS:
        print("FAIL", f)
    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
