#!/usr/bin/env python3
"""Cross-layer equalization (ptq quantize --cle / --no-cle) on imagenet-dev: top-1 by onnxruntime.

Data as bench/bench_quant.py: imagenet-dev's 500 images (crop=0.875, bilinear resize, (x-128)/128,
NCHW; label = class_index + 1 for the 1001-way models), a numpy default_rng(SEED) permutation,
the first --calib-size images written as CALIB.npy for `ptq quantize --calib CALIB.npy
--calib-size N`, the other images evaluated. Per model: FP32, the FP32 model with the ReLU6
between equalized layers replaced by Relu (the float effect of CLE: ptq's own equalized float
graph is not exported, so this row replaces every Clip(0, 6) whose input comes from a Conv and
whose output feeds a Conv only; the same Clips ptq replaces on these models), and W8A8 (ort
profile) for every method x {per-tensor, per-channel} x {--no-cle, --cle}.

  python3 bench/bench_cle.py --ptq build-cle/ptq [--shared ../shared] [--models v2,v1]
      [--methods minmax,mse,percentile] [--calib-size 100] [--seed 0] [--threads 2]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "oracle"))
import oracle_common as oc  # noqa: E402

MODELS = {"mobilenet-v2-1.0-224": (224, 224), "mobilenet-v1-0.25-128": (128, 128)}


def load(shared, hw, seed, n_calib, tmp):
    rows = oc.imagenet_dev(shared)
    cache = os.path.join(tmp, "imagenet-%dx%d.npy" % hw)
    if os.path.exists(cache):
        x = np.load(cache)
    else:
        x = np.stack([oc.preprocess_image(p, hw) for p, _ in rows])
        np.save(cache, x)
    y = np.array([c + 1 for _, c in rows], np.int64)
    perm = np.random.default_rng(seed).permutation(len(rows))
    ci, ei = np.sort(perm[:n_calib]), np.sort(perm[n_calib:])
    return x[ci], x[ei], y[ei]


def top1(path, x, y, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    hit = 0
    for i in range(len(x)):
        out = s.run(None, {name: x[i:i + 1]})[0]
        hit += int(np.argmax(out.reshape(-1)) == y[i])
    return 100.0 * hit / len(x)


def relu_model(src, dst):
    """src with each Clip(0, c) between two Convs (Conv output read only by the Clip, Clip output
    read only by one Conv) replaced by Relu: the float model CLE quantizes."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(src)
    g = m.graph
    uses = {}
    for n in g.node:
        for i in n.input:
            uses.setdefault(i, []).append(n)
    prod = {o: n for n in g.node for o in n.output}
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    outs = {o.name for o in g.output}
    count = 0
    for n in g.node:
        if n.op_type != "Clip" or len(n.input) < 3:
            continue
        p = prod.get(n.input[0])
        u = uses.get(n.output[0], [])
        if (p is None or p.op_type != "Conv" or len(uses.get(n.input[0], [])) != 1
                or len(u) != 1 or u[0].op_type != "Conv" or n.output[0] in outs
                or float(np.asarray(init[n.input[1]]).reshape(-1)[0]) != 0.0):
            continue
        n.op_type = "Relu"
        del n.input[1:]
        count += 1
    onnx.save(m, dst)
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ptq", default=os.path.join(ROOT, "build-cle", "ptq"))
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--models", default="v2,v1")
    ap.add_argument("--methods", default="minmax,mse,percentile")
    ap.add_argument("--calib-size", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tmp", default=None)
    a = ap.parse_args()
    tmp = a.tmp or tempfile.mkdtemp(prefix="bench_cle_")
    os.makedirs(tmp, exist_ok=True)
    methods = a.methods.split(",")
    for name, hw in MODELS.items():
        if not any(k in name for k in a.models.split(",")):
            continue
        model = os.path.join(a.shared, "models", name + ".onnx")
        xc, xe, ye = load(a.shared, hw, a.seed, a.calib_size, tmp)
        calib = os.path.join(tmp, name + "-calib.npy")
        np.save(calib, xc)
        fp32 = top1(model, xe, ye, a.threads)
        rm = os.path.join(tmp, name + "-relu.onnx")
        nrelu = relu_model(model, rm)
        frelu = top1(rm, xe, ye, a.threads)
        print("## %s: %d eval images, %d calibration (seed %d)" % (name, len(xe), len(xc), a.seed))
        print("FP32 %.1f; ReLU6 -> Relu in %d equalized pairs: %.1f" % (fp32, nrelu, frelu))
        print("| weights | method | no CLE | CLE |")
        print("|---|---|---|---|")
        for gran in ("per-tensor", "per-channel"):
            for meth in methods:
                res = []
                for cle in ("--no-cle", "--cle"):
                    out = os.path.join(tmp, "%s-%s-%s%s.onnx" % (name, gran, meth, cle))
                    cmd = [a.ptq, "quantize", model, "-o", out, "--calib", calib, "--calib-size",
                           str(a.calib_size), "--method", meth, "--threads", str(a.threads), cle]
                    if gran == "per-tensor":
                        cmd.append("--per-tensor")
                    t0 = time.time()
                    r = subprocess.run(cmd, capture_output=True, text=True)
                    if r.returncode != 0:
                        print("FAILED:", " ".join(cmd), r.stderr[-2000:])
                        res.append(float("nan"))
                        continue
                    res.append(top1(out, xe, ye, a.threads))
                    print("  (%s %s %s: %.1f, quantize %.1f s)" %
                          (gran, meth, cle, res[-1], time.time() - t0), file=sys.stderr)
                print("| %s | %s | %.1f | %.1f |" % (gran, meth, res[0], res[1]), flush=True)


if __name__ == "__main__":
    main()
