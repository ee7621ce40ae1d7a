#!/usr/bin/env python3
"""Accuracy of ptq's int8 runtime against its simulation and onnxruntime, on the evaluation
sets of the calibration benchmark (bench/bench_quant.py's data preparation: a seeded permutation
picks --calib-size calibration samples, the rest of imagenet-dev / the next --eval-size samples
of MNIST and CIFAR-10 are evaluated).

Per model: `ptq quantize` (W8A8, profile ort, --method), then top-1 on the evaluation samples by
  ptq int8   `ptq eval --engine int8` (the int8 runtime),
  ptq sim    `ptq eval --engine sim` (Q/DQ in float32, onnxruntime's QDQ reference semantics),
  ORT        onnxruntime (default optimizations: its int8 QLinear kernels) on the same QDQ file,
  ORT noopt  onnxruntime with graph optimizations off (Q/DQ in float32),
and the top-1 agreement of ptq int8 with each. ORT vs ORT noopt is the control: how far two
implementations of the same quantized model drift apart by rounding alone.

Usage: bench/int8_accuracy.py --ptq build/ptq --shared ../shared [--models a,b] [--seed 0]
       [--calib-size 100] [--eval-size 10000] [--threads 2]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "oracle"))
import bench_quant as bq  # noqa: E402


def ort_top1(path, x, optimize, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    n = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {n: x[i:i + 1]})[0].reshape(1, -1)
                           for i in range(len(x))]).argmax(1)


def ptq_top1(ptq, path, xpath, n, engine, threads, tmp):
    out = os.path.join(tmp, "out-" + engine)
    subprocess.run(["rm", "-rf", out])
    import onnxruntime as ort
    name = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    p = subprocess.run([ptq, "run", path, "--input", "%s=%s" % (name, xpath), "--out", out,
                        "--batch", str(n), "--threads", str(threads), "--engine", engine],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    f = [l for l in p.stdout.decode().split() if l.endswith(".npy")][0]
    return np.load(f).reshape(n, -1).argmax(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ptq", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--models", default="mnist-8,resnet8-cifar10,mobilenet-v2-1.0-224,"
                    "mobilenet-v1-0.25-128")
    ap.add_argument("--method", default="minmax")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calib-size", type=int, default=100)
    ap.add_argument("--eval-size", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    args.tmp = tempfile.mkdtemp(prefix="ptq-int8acc-")
    print("seed %d, calibration %d samples, method %s, eval <= %d (.npy sets) / rest "
          "(imagenet-dev)" % (args.seed, args.calib_size, args.method, args.eval_size))
    rows = []
    for name in args.models.split(","):
        model, kind, hw = bq.MODELS[name]
        xc, xe, ye = bq.load_data(args, name, kind, hw)
        calib, xpath = os.path.join(args.tmp, name + "-c.npy"), os.path.join(args.tmp,
                                                                             name + "-x.npy")
        np.save(calib, np.ascontiguousarray(xc, np.float32))
        np.save(xpath, np.ascontiguousarray(xe, np.float32))
        fp = os.path.join(args.shared, "models", model)
        q = os.path.join(args.tmp, name + "-q.onnx")
        subprocess.run([args.ptq, "quantize", fp, "-o", q, "--calib", calib, "--calib-size",
                        str(args.calib_size), "--seed", str(args.seed), "--method", args.method],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t8 = ptq_top1(args.ptq, q, xpath, len(xe), "int8", args.threads, args.tmp)
        ts = ptq_top1(args.ptq, q, xpath, len(xe), "sim", args.threads, args.tmp)
        to = ort_top1(q, xe, True, args.threads)
        tn = ort_top1(q, xe, False, args.threads)
        acc = lambda t: "%.2f" % (100 * (t == ye).mean())  # noqa: E731
        agr = lambda a, b: "%.2f" % (100 * (a == b).mean())  # noqa: E731
        rows.append([name, len(xe), acc(t8), acc(ts), acc(to), acc(tn), agr(t8, ts), agr(t8, to),
                     agr(ts, to), agr(to, tn)])
        print(rows[-1], flush=True)
    print()
    bq.print_table(["model", "n", "int8 %", "sim %", "ORT %", "ORT noopt %", "int8=sim %",
                    "int8=ORT %", "sim=ORT %", "ORT=noopt %"], rows)


if __name__ == "__main__":
    main()
