#!/usr/bin/env python3
"""Float inference latency: ptq vs onnxruntime, same thread count.

For each model (SHARED/models: mobilenet-v2-1.0-224, resnet8-cifar10, ultraface-rfb-320),
batch (1, 32) and thread count (1, 2), prints the median latency of one forward pass in ms
for ptq (`ptq bench --json --threads T --batch B`, key latency_ms) and for onnxruntime
(in process, CPUExecutionProvider, intra_op_num_threads=T, inter_op_num_threads=1,
sequential execution, default graph optimisations), and the ratio ptq/ORT (< 1: ptq faster).

ptq gets --warmup W --repeat R (defaults 3 / 20; ptq itself keeps running past R until 1 s
has passed) and ORT then does W warm-up runs and as many timed runs as ptq reports having
done (json key runs), so both medians come from the same number of runs.
ORT gets a copy of the model (temp dir) with initializers removed from the graph inputs; for
batch 32 the copy also has a dynamic batch dim (inputs and outputs; value_info dropped; Reshape
targets starting with a literal 1 made to start with 0), checked against the batch-1 model on
sample 0. ptq gets the original model and --batch 32. Inputs are seeded uniform [0,1) float32.

  python3 bench/bench_float.py --ptq build/ptq [--shared ../shared] [--models resnet8]
      [--batches 1,32] [--threads 1,2]
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ort.set_default_logger_severity(3)
DEFAULT_MODELS = ["mobilenet-v2-1.0-224", "resnet8-cifar10", "ultraface-rfb-320"]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ptq_version(ptq):
    for args in (["--version"], ["version"]):
        try:
            p = subprocess.run([ptq] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=10)
            out = p.stdout.decode("utf-8", "replace").strip()
            if p.returncode == 0 and out:
                line = out.splitlines()[0]
                return line if line.startswith("ptq") else "ptq " + line
        except (OSError, subprocess.TimeoutExpired):
            pass
    return "ptq unknown"


def graph_inputs(model):
    inits = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in inits]


ELEM_TO_NP = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64,
              onnx.TensorProto.INT64: np.int64, onnx.TensorProto.INT32: np.int32,
              onnx.TensorProto.UINT8: np.uint8, onnx.TensorProto.INT8: np.int8,
              onnx.TensorProto.FLOAT16: np.float16, onnx.TensorProto.BOOL: np.bool_}


def make_feeds(model, batch, seed=0):
    rng = np.random.default_rng(seed)
    feeds = {}
    for v in graph_inputs(model):
        tt = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                for d in tt.shape.dim]
        if dims:
            dims[0] = batch
        if any(d is None for d in dims):
            raise SystemExit("model input %s has dynamic non-batch dims %s; pass a fixed-shape "
                             "model" % (v.name, dims))
        dt = ELEM_TO_NP.get(tt.elem_type, np.float32)
        feeds[v.name] = rng.random(dims).astype(dt)
    return feeds


def ort_model_copy(path, tmpdir, dynamic_batch):
    """The model as given to ORT: initializers dropped from the graph inputs (old exporters
    list them there, which stops ORT from constant-folding; ptq treats them as constants),
    and with dynamic_batch the first dim of every graph input/output made dynamic, with
    Reshape target shapes that start with a literal 1 changed to start with 0 (= copy the
    batch dim), so that batch-1 exports run at batch 32. Returns the new path."""
    m = onnx.load(path)
    inits = {t.name: t for t in m.graph.initializer}
    keep = [v for v in m.graph.input if v.name not in inits]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    if dynamic_batch:
        for v in list(m.graph.input) + list(m.graph.output):
            dims = v.type.tensor_type.shape.dim
            if len(dims) > 0 and dims[0].HasField("dim_value"):
                dims[0].Clear()
                dims[0].dim_param = "batch"
        del m.graph.value_info[:]
        consts = {n.output[0]: n for n in m.graph.node if n.op_type == "Constant"}
        for n in m.graph.node:
            if n.op_type != "Reshape" or len(n.input) < 2:
                continue
            if any(a.name == "allowzero" and a.i for a in n.attribute):
                continue
            src = inits.get(n.input[1])
            if src is None and n.input[1] in consts:
                src = next((a.t for a in consts[n.input[1]].attribute if a.name == "value"),
                           None)
            if src is None:
                continue
            shape = numpy_helper.to_array(src).copy()
            if shape.ndim == 1 and shape.size >= 2 and shape[0] == 1:
                shape[0] = 0
                new = numpy_helper.from_array(shape.astype(np.int64),
                                              n.input[1] + "__dynbatch")
                if new.name not in {t.name for t in m.graph.initializer}:
                    m.graph.initializer.append(new)
                n.input[1] = new.name
    out = os.path.join(tmpdir, os.path.basename(path).replace(
        ".onnx", "-ort-dynbatch.onnx" if dynamic_batch else "-ort.onnx"))
    onnx.save(m, out)
    return out


def check_batch_copy(orig, copy, feeds):
    """Sample 0 through the batch copy must give what the batch-1 model gives."""
    so = ort.SessionOptions()
    so.log_severity_level = 3
    one = {k: v[:1] for k, v in feeds.items()}
    a = ort.InferenceSession(orig, so, providers=["CPUExecutionProvider"]).run(None, one)
    b = ort.InferenceSession(copy, so, providers=["CPUExecutionProvider"]).run(None, feeds)
    return all(x.shape[1:] == y.shape[1:] and np.allclose(x[:1], y[:1], rtol=1e-3, atol=1e-4)
               for x, y in zip(a, b))


def bench_ptq(ptq, model_path, batch, threads, warmup, repeats, timeout, repeat_flag):
    cmd = [ptq, "bench", model_path, "--json", "--threads", str(threads), "--batch", str(batch)]
    if warmup is not None:
        cmd += ["--warmup", str(warmup)]
    if repeats is not None:
        cmd += [repeat_flag, str(repeats)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if p.returncode != 0:
        msg = p.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError("exit %d: %s" % (p.returncode, msg[-1] if msg else ""))
    text = p.stdout.decode("utf-8", "replace")
    m = re.search(r"\{.*\}", text, re.S)
    if not m:
        raise RuntimeError("no JSON in ptq bench output: %r" % text[:200])
    return json.loads(m.group(0))


def bench_ort(model_path, feeds, threads, warmup, repeats):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def ptq_bench_flags(ptq):
    """(accepts --warmup, the repeat flag or None) from `ptq bench --help`."""
    try:
        p = subprocess.run([ptq, "bench", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
        text = p.stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        text = ""
    m = re.search(r"--repeats?\b", text)
    return "--warmup" in text, (m.group(0) if m else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ptq", default="build/ptq")
    ap.add_argument("--shared", default=None, help="default: ../shared from the project root")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help="comma-separated names (without .onnx) or substrings")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--timeout", type=int, default=900, help="per ptq bench call, seconds")
    args = ap.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    shared = os.path.abspath(args.shared or os.path.join(root, "..", "shared"))
    ptq = os.path.abspath(args.ptq)
    if not os.access(ptq, os.X_OK):
        raise SystemExit("ptq binary not found: %s" % ptq)
    all_models = sorted(f[:-5] for f in os.listdir(os.path.join(shared, "models"))
                        if f.endswith(".onnx"))
    models = []
    for want in args.models.split(","):
        hits = [m for m in all_models if m == want] or [m for m in all_models if want in m]
        if not hits:
            raise SystemExit("no model matches %r in %s/models" % (want, shared))
        models += [h for h in hits if h not in models]
    batches = [int(b) for b in args.batches.split(",")]
    threads_list = [int(t) for t in args.threads.split(",")]
    has_warmup, repeat_flag = ptq_bench_flags(ptq)

    print("machine : %s, %d logical CPUs (os.sched_getaffinity: %d), %s"
          % (cpu_model(), os.cpu_count() or 0, len(os.sched_getaffinity(0)), platform.machine()))
    print("versions: %s; onnxruntime %s; onnx %s; numpy %s; python %s"
          % (ptq_version(ptq), ort.__version__, onnx.__version__, np.__version__,
             platform.python_version()))
    print("load avg: %.2f %.2f %.2f at start (anything else running skews the numbers)"
          % os.getloadavg())
    print("method  : median of timed runs after warm-up; ORT intra_op=T inter_op=1 sequential;"
          " ptq bench --threads T --batch B")
    print()
    hdr = "%-22s %5s %3s %11s %11s %9s %11s %11s  %s" % (
        "model", "batch", "thr", "ptq ms", "ORT ms", "ptq/ORT", "ptq img/s", "ORT img/s",
        "runs (warm-up+timed)")
    print(hdr)
    print("-" * len(hdr))
    with tempfile.TemporaryDirectory(prefix="ptq-bench-") as tmp:
        for name in models:
            path = os.path.join(shared, "models", name + ".onnx")
            model = onnx.load(path)
            fixed = ort_model_copy(path, tmp, dynamic_batch=False)
            dyn = None
            for batch in batches:
                feeds = make_feeds(model, batch)
                ort_path = fixed
                if batch != 1:
                    if dyn is None:
                        dyn = ort_model_copy(path, tmp, dynamic_batch=True)
                        try:
                            ok = check_batch_copy(fixed, dyn, feeds)
                        except Exception as e:  # noqa: BLE001
                            ok = False
                            print("warning: %s batch copy does not run in ORT: %s"
                                  % (name, str(e)[:200]))
                        if not ok:
                            print("warning: %s batch copy disagrees with the batch-1 model"
                                  % name)
                    ort_path = dyn
                for threads in threads_list:
                    note = ""
                    warmup, repeats = args.warmup, args.repeats
                    ptq_ms = None
                    try:
                        res = bench_ptq(ptq, path, batch, threads,
                                        args.warmup if has_warmup else None,
                                        args.repeats if repeat_flag else None, args.timeout,
                                        repeat_flag)
                        ptq_ms = float(res["latency_ms"])
                        # use ptq's own counts for ORT when it reports them
                        warmup = int(res.get("warmup", warmup))
                        for k in ("repeats", "runs", "iterations", "iters"):
                            if k in res:
                                repeats = int(res[k])
                                break
                    except Exception as e:  # noqa: BLE001 - report and go on
                        note = "ptq: %s" % str(e)[:80]
                    try:
                        ort_ms = bench_ort(ort_path, feeds, threads, warmup, max(1, repeats))
                    except Exception as e:  # noqa: BLE001
                        ort_ms = None
                        note += " ORT: %s" % str(e)[:80]
                    fmt = lambda v, f="%11.2f": (f % v) if v is not None else "%11s" % "-"  # noqa
                    ratio = (ptq_ms / ort_ms) if (ptq_ms and ort_ms) else None
                    print("%-22s %5d %3d %s %s %s %s %s  %d+%d %s" % (
                        name, batch, threads, fmt(ptq_ms), fmt(ort_ms),
                        fmt(ratio, "%9.2f") if ratio else "%9s" % "-",
                        fmt(batch * 1e3 / ptq_ms, "%11.1f") if ptq_ms else "%11s" % "-",
                        fmt(batch * 1e3 / ort_ms, "%11.1f") if ort_ms else "%11s" % "-",
                        warmup, repeats, note), flush=True)
    print("\nload avg: %.2f %.2f %.2f at the end" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
