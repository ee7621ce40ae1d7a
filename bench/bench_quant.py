#!/usr/bin/env python3
"""Peer comparison: ptq quantize vs onnxruntime's quantize_static (W8A8 QDQ), same calibration
samples, both exported models evaluated by onnxruntime.

Per model (SHARED/models):
  mnist-8               MNIST test .npy (raw 0..255 pixels)
  resnet8-cifar10       CIFAR-10 test .npy (raw 0..255 RGB)
  mobilenet-v2-1.0-224  imagenet-dev (crop=0.875,resize=224x224,mean=128,std=128; label + 1)
  mobilenet-v1-0.25-128 imagenet-dev (same at 128x128)
a seeded permutation (numpy default_rng(SEED)) picks --calib-size samples for calibration; the
evaluation set is the rest (imagenet-dev: all remaining images) or, for the .npy data sets, the
next --eval-size samples of the permutation (disjoint from calibration). Images are decoded and
preprocessed once in numpy (tests/oracle/oracle_common.py: PIL decode, TF central crop, bilinear
with half-pixel centres); the calibration samples are written once as a float32 .npy that BOTH
tools read (ptq: --calib FILE.npy --calib-size N, i.e. all of them; ORT: a CalibrationDataReader
over the same array, one sample per call, as the models have batch 1).

Quantizers (W8A8 QDQ, int8 weights per channel symmetric, int8 activations asymmetric):
  ORT  quantize_static(quant_format=QDQ, activation_type=weight_type=QInt8, per_channel=True,
       reduce_range=False, calibrate_method=MinMax|Entropy|Percentile (defaults: Entropy 128
       bins, Percentile 99.999)) on the model after quant_pre_process (shape inference +
       ORT graph optimisation; models below opset 13 first go through onnx.version_converter to
       13, as per-channel QDQ needs it; done once per model, its time reported separately);
  ptq  ptq quantize MODEL -o OUT --calib CALIB.npy --calib-size N --seed S --method M
       --threads T for M in minmax, ema, percentile, mse, kl (original model: ptq does its own
       preparation inside the call).
Method families compared: minmax (ptq minmax, ema vs ORT MinMax), entropy (ptq kl vs ORT
Entropy), percentile (ptq percentile, its fixed default 99.99 two-sided, vs ORT Percentile
99.999); ptq mse has no ORT counterpart. ORT workarounds, applied only where needed and printed
as notes: opset < 13 models are converted to 13 first; where quantize_static raises in
_adjust_weight_scale_for_int32_bias (mnist-8) it is rerun with QDQDisableWeightAdjustForInt32Bias.

Measured per quantization: wall time of the quantize call (ptq: the whole `ptq quantize`
process; ORT: quantize_static() inside a child Python process, timed there), and peak memory =
ru_maxrss of the child process as /usr/bin/time reports it (the same measurement for both; the ORT
child's figure includes the Python interpreter, numpy, onnxruntime and the calibration array,
whose baseline is printed). Accuracy: top-1 by onnxruntime (CPUExecutionProvider, default graph
optimisations, --threads intra-op threads) on the same preprocessed evaluation arrays, for the
FP32 model and both exported models; the drop is in points vs that FP32 figure.

Per-tensor rows (MobileNetV2, unless --no-per-tensor): ptq --per-tensor with every method and
ORT per_channel=False with every method, to show the minmax collapse and what the others recover.

  python3 bench/bench_quant.py --ptq build-qb/ptq [--shared ../shared] [--models resnet8,mnist]
      [--methods minmax,kl] [--ort-methods MinMax,Entropy] [--calib-size 100] [--seed 0]
      [--eval-size 2000] [--threads 2] [--ptq-batch B] [--no-per-tensor] [--keep]
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "oracle"))

MODELS = {  # name: (model file, data kind, HxW for images)
    "mnist-8": ("mnist-8.onnx", "mnist", None),
    "resnet8-cifar10": ("resnet8-cifar10.onnx", "cifar10", None),
    "mobilenet-v2-1.0-224": ("mobilenet-v2-1.0-224.onnx", "imagenet", (224, 224)),
    "mobilenet-v1-0.25-128": ("mobilenet-v1-0.25-128.onnx", "imagenet", (128, 128)),
}
PTQ_METHODS = ["minmax", "ema", "percentile", "mse", "kl"]
ORT_METHODS = ["MinMax", "Entropy", "Percentile"]
FAMILY = {"minmax": "minmax", "ema": "minmax", "MinMax": "minmax", "kl": "entropy",
          "Entropy": "entropy", "percentile": "percentile", "Percentile": "percentile",
          "mse": "mse"}
LIMITS = {"mnist-8": 0.2, "resnet8-cifar10": 0.5, "mobilenet-v2-1.0-224": 1.0,
          "mobilenet-v1-0.25-128": 1.0}  # issue 3 "Done when" max drop (pt), W8A8 ort profile


# ------------------------------------------------------------------ ORT child process ---

def ort_child(argv):
    """--ort-child IN OUT CALIB.npy METHOD PER_CHANNEL(0|1) [noadjust] | --ort-child-pre IN OUT |
    --ort-child-base CALIB.npy; prints one JSON line."""
    mode = argv[0]
    if mode == "--ort-child-base":  # baseline: interpreter + imports + calibration array
        import onnxruntime  # noqa: F401
        from onnxruntime import quantization  # noqa: F401
        x = np.load(argv[1])
        print(json.dumps({"n": int(len(x))}))
        return 0
    if mode == "--ort-child-pre":
        from onnxruntime.quantization.shape_inference import quant_pre_process
        import onnx
        from onnx import version_converter
        t0 = time.perf_counter()
        src, m = argv[1], onnx.load(argv[1])
        opset = max([o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] or [0])
        if opset < 13:  # per-channel QDQ needs opset >= 13; ORT itself only upgrades to 11
            src = argv[2] + ".opset13.onnx"
            onnx.save(version_converter.convert_version(m, 13), src)
        quant_pre_process(src, argv[2])
        print(json.dumps({"seconds": time.perf_counter() - t0, "opset_from": opset}))
        return 0
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    ort.set_default_logger_severity(3)
    src, dst, calib, method, per_channel = argv[1], argv[2], argv[3], argv[4], argv[5] == "1"
    extra = {"QDQDisableWeightAdjustForInt32Bias": True} if "noadjust" in argv[6:] else {}
    x = np.load(calib)
    name = ort.InferenceSession(src, providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.i = 0

        def get_next(self):
            if self.i >= len(x):
                return None
            self.i += 1
            return {name: x[self.i - 1:self.i]}

        def rewind(self):
            self.i = 0

    t0 = time.perf_counter()
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    per_channel=per_channel, reduce_range=False,
                    calibrate_method=getattr(CalibrationMethod, method), extra_options=extra)
    print(json.dumps({"seconds": time.perf_counter() - t0}))
    return 0


# ------------------------------------------------------------------------ helpers ---

def run_child(cmd, timeout):
    """Runs cmd under /usr/bin/time; returns (rc, stdout, stderr, wall s, maxrss MiB).

    The peak is ru_maxrss of cmd's own process as /usr/bin/time reports it (GNU time, %M).
    Measured there and not by wait4 on a child of this script: Linux carries the hiwater RSS of
    the address space being replaced across exec (and Python's subprocess uses vfork), so a
    direct child would report this (large) Python process's RSS as its own floor."""
    rfile = tempfile.NamedTemporaryFile(prefix="rss_", delete=False)
    rfile.close()
    full = ["/usr/bin/time", "-f", "%M", "-o", rfile.name] + cmd
    t0 = time.perf_counter()
    try:
        p = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or b"", e.stderr or b""
    wall = time.perf_counter() - t0
    try:
        with open(rfile.name) as f:
            kib = [int(l) for l in f.read().split() if l.isdigit()]
        rss = kib[-1] / 1024.0 if kib else float("nan")
    except OSError:
        rss = float("nan")
    os.unlink(rfile.name)
    return (rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), wall, rss)


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def brief(err, limit=240):
    lines = [l.strip() for l in err.splitlines() if l.strip()]
    for l in lines:
        if l.startswith("ptq:") or "Error" in l or "error" in l:
            return l[:limit]
    return (lines[-1] if lines else "")[:limit]


def ort_top1(path, x, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    b = s.get_inputs()[0].shape[0]
    bs = b if isinstance(b, int) and b > 0 else 64
    outs = [s.run(None, {name: x[i:i + bs]})[0] for i in range(0, len(x), bs)]
    return np.concatenate(outs).reshape(len(x), -1).argmax(1)


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
    try:
        p = subprocess.run([ptq, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=10)
        out = p.stdout.decode("utf-8", "replace").strip()
        if p.returncode == 0 and out:
            return out.splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
        return "ptq (git %s)" % rev.stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired):
        return "ptq unknown"


def print_table(headers, rows, out=sys.stdout):
    w = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"
    print(line(headers), file=out)
    print("|" + "|".join("-" * (x + 2) for x in w) + "|", file=out)
    for r in rows:
        print(line(r), file=out)
    out.flush()


# ---------------------------------------------------------------------------- data ---

def load_data(args, name, kind, hw):
    """(calib float32 array, eval float32 array, eval labels in the model's output index)."""
    rng = np.random.default_rng(args.seed)
    if kind in ("mnist", "cifar10"):
        d = os.path.join(args.shared, "data", kind)
        imgs = np.load(os.path.join(d, "test-images.npy"), mmap_mode="r")
        labels = np.load(os.path.join(d, "test-labels.npy"))
        perm = rng.permutation(len(imgs))
        ci = np.sort(perm[:args.calib_size])
        ei = np.sort(perm[args.calib_size:args.calib_size + args.eval_size])
        return (np.asarray(imgs[ci], np.float32), np.asarray(imgs[ei], np.float32), labels[ei])
    import oracle_common as oc
    rows = oc.imagenet_dev(args.shared)
    cache = os.path.join(args.tmp, "imagenet-%dx%d.npy" % hw)
    if os.path.exists(cache):
        x = np.load(cache)
    else:
        x = np.stack([oc.preprocess_image(p, hw) for p, _ in rows])
        np.save(cache, x)
    y = np.array([c + 1 for _, c in rows], np.int64)  # 1001-way output, background at 0
    perm = rng.permutation(len(rows))
    ci = np.sort(perm[:args.calib_size])
    ei = np.sort(perm[args.calib_size:])
    return x[ci], x[ei], y[ei]


# --------------------------------------------------------------------------- main ---

def main():
    if len(sys.argv) > 1 and sys.argv[1].startswith("--ort-child"):
        return ort_child(sys.argv[1:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ptq", default=None, help="ptq binary (default: build-qb/ptq or build/ptq)")
    p.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    p.add_argument("--models", default=",".join(MODELS),
                   help="comma list; a name matches a model whose name contains it")
    p.add_argument("--methods", default=",".join(PTQ_METHODS), help="ptq methods")
    p.add_argument("--ort-methods", default=",".join(ORT_METHODS),
                   help="ORT CalibrationMethod names (MinMax, Entropy, Percentile)")
    p.add_argument("--calib-size", type=int, default=100)
    p.add_argument("--eval-size", type=int, default=2000, help="evaluation samples (.npy sets)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ptq-batch", type=int, default=0,
                   help="pass --batch B to ptq quantize (default: ptq's own default)")
    p.add_argument("--no-per-tensor", action="store_true",
                   help="skip the per-tensor MobileNetV2 rows")
    p.add_argument("--timeout", type=int, default=900, help="per quantize call (s)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args()
    if args.ptq is None:
        for c in ("build-qb/ptq", "build/ptq"):
            if os.access(os.path.join(ROOT, c), os.X_OK):
                args.ptq = os.path.join(ROOT, c)
                break
    if not args.ptq or not os.access(args.ptq, os.X_OK):
        sys.exit("error: ptq binary not found (--ptq)")
    args.ptq = os.path.abspath(args.ptq)
    args.shared = os.path.abspath(args.shared)
    want = [s for s in args.models.split(",") if s]
    models = [m for m in MODELS if any(s in m for s in want)]
    methods = [m for m in args.methods.split(",") if m]
    ort_methods = [m for m in args.ort_methods.split(",") if m]
    for m in methods:
        if m not in PTQ_METHODS:
            sys.exit("error: unknown ptq method %r" % m)
    for m in ort_methods:
        if m not in ORT_METHODS:
            sys.exit("error: unknown ORT method %r" % m)

    import onnx
    import onnxruntime as ort
    ort.set_default_logger_severity(3)
    print("# bench_quant: ptq quantize vs onnxruntime quantize_static (W8A8 QDQ)")
    print("date     : %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    print("machine  : %s, %d CPUs, %s %s" % (cpu_model(), os.cpu_count(), platform.system(),
                                              platform.release()))
    print("load avg : %.2f %.2f %.2f (at start)" % os.getloadavg())
    print("versions : %s; onnxruntime %s; onnx %s; numpy %s; python %s"
          % (ptq_version(args.ptq), ort.__version__, onnx.__version__, np.__version__,
             platform.python_version()))
    print("settings : seed %d, calibration %d samples, eval <= %d (.npy sets) / rest "
          "(imagenet-dev), threads %d, ptq batch %s" % (args.seed, args.calib_size, args.eval_size,
                                          args.threads, args.ptq_batch or "default"))
    sys.stdout.flush()

    args.tmp = tempfile.mkdtemp(prefix="bench_quant_")
    rows, notes, results = [], [], []
    t_start = time.perf_counter()
    try:
        for name in models:
            mfile, kind, hw = MODELS[name]
            fp = os.path.join(args.shared, "models", mfile)
            xc, xe, ye = load_data(args, name, kind, hw)
            calib = os.path.join(args.tmp, name + "-calib.npy")
            np.save(calib, np.ascontiguousarray(xc, np.float32))
            acc_fp = 100.0 * (ort_top1(fp, xe, args.threads) == ye).mean()
            rows.append([name, "fp32", "-", "-", "%.2f" % acc_fp, "", "", "", ""])
            print("\n## %s: calib %d, eval %d, FP32 top-1 %.2f%%" % (name, len(xc), len(xe),
                                                                    acc_fp))
            sys.stdout.flush()

            # ORT pre-processing (once per model), and the ORT child's baseline memory
            pre = os.path.join(args.tmp, name + "-pre.onnx")
            rc, out, err, wall, _ = run_child([sys.executable, __file__, "--ort-child-pre", fp, pre],
                                              args.timeout)
            if rc != 0:
                notes.append("%s: quant_pre_process failed (%s); ORT gets the original model"
                             % (name, brief(err)))
                pre = fp
            else:
                j = last_json(out)
                notes.append("%s: ORT quant_pre_process %.2f s (not in the table's time)%s"
                             % (name, j["seconds"], "" if j["opset_from"] >= 13 else
                                ", after onnx.version_converter opset %d -> 13 (ORT's own "
                                "upgrade stops at 11, where DequantizeLinear has no axis)"
                                % j["opset_from"]))
            rc, out, err, wall, rss = run_child([sys.executable, __file__, "--ort-child-base",
                                                 calib], args.timeout)
            notes.append("%s: ORT child baseline (python + numpy + onnxruntime imported, "
                         "calibration array loaded): %.0f MiB" % (name, rss))

            granularities = ["channel"]
            if "mobilenet-v2" in name and not args.no_per_tensor:
                granularities.append("tensor")
            for gran in granularities:
                for m in ort_methods:
                    out_path = os.path.join(args.tmp, "%s-ort-%s-%s.onnx" % (name, m, gran))
                    cmd = [sys.executable, __file__, "--ort-child", pre, out_path, calib, m,
                           "1" if gran == "channel" else "0"]
                    rc, out, err, wall, rss = run_child(cmd, args.timeout)
                    if rc != 0 and "truth value of an array" in err:
                        # ORT bug: its int32-bias weight-scale adjustment fails on a bias that
                        # is not 1-D (mnist-8 after quant_pre_process); rerun without it.
                        rc, out, err, wall, rss = run_child(cmd + ["noadjust"], args.timeout)
                        notes.append("%s: ORT %s per-%s failed in _adjust_weight_scale_for_int32_"
                                     "bias (ValueError on a non-1-D bias); rerun with extra_options"
                                     " QDQDisableWeightAdjustForInt32Bias=True" % (name, m, gran))
                    results.append(evaluate(args, name, "ort", m, gran, rc, out, err, wall, rss,
                                            out_path, xe, ye, acc_fp, rows))
                for m in methods:
                    out_path = os.path.join(args.tmp, "%s-ptq-%s-%s.onnx" % (name, m, gran))
                    cmd = [args.ptq, "quantize", fp, "-o", out_path, "--calib", calib,
                           "--calib-size", str(args.calib_size), "--seed", str(args.seed),
                           "--method", m, "--threads", str(args.threads)]
                    if gran == "tensor":
                        cmd.append("--per-tensor")
                    if args.ptq_batch > 0:
                        cmd += ["--batch", str(args.ptq_batch)]
                    rc, out, err, wall, rss = run_child(cmd, args.timeout)
                    results.append(evaluate(args, name, "ptq", m, gran, rc, out, err, wall, rss,
                                            out_path, xe, ye, acc_fp, rows))
    finally:
        total = time.perf_counter() - t_start
        print("\n## Results (top-1 by onnxruntime; drop = quantized - FP32 in points; time = "
              "the quantize call; peak = ru_maxrss of the child process)\n")
        print_table(["model", "tool", "method", "weights", "top-1 %", "drop pt", "quantize s",
                     "peak MiB", "status"], rows)
        print()
        for n in notes:
            print("note: " + n)
        summarize(results, models)
        print("\ntotal %.0f s; load avg at end %.2f %.2f %.2f" % ((total,) + os.getloadavg()))
        if args.keep:
            print("kept", args.tmp)
        else:
            shutil.rmtree(args.tmp, ignore_errors=True)
    return 0


def evaluate(args, name, tool, method, gran, rc, out, err, wall, rss, path, xe, ye, acc_fp, rows):
    r = {"model": name, "tool": tool, "method": method, "gran": gran, "family": FAMILY[method],
         "ok": False, "acc": None, "drop": None, "seconds": None, "rss": rss}
    status = "ok"
    if rc != 0 or not os.path.exists(path):
        status = "quantize failed: rc=%s %s" % (rc, brief(err))
    else:
        r["seconds"] = wall if tool == "ptq" else (last_json(out) or {}).get("seconds", wall)
        try:
            acc = 100.0 * (ort_top1(path, xe, args.threads) == ye).mean()
            r.update(ok=True, acc=acc, drop=acc - acc_fp)
        except Exception as e:  # noqa: BLE001 - report, keep going
            status = "ORT cannot run it: %s" % str(e).splitlines()[0][:200]
    rows.append([name, tool, method, "per-" + gran,
                 "%.2f" % r["acc"] if r["acc"] is not None else "-",
                 "%+.2f" % r["drop"] if r["drop"] is not None else "-",
                 "%.2f" % r["seconds"] if r["seconds"] is not None else "-",
                 "%.0f" % rss, status])
    print("  %-4s %-10s per-%-7s %s" % (tool, method, gran, "  ".join(str(c) for c in rows[-1][4:])))
    sys.stdout.flush()
    return r


def summarize(results, models):
    print("\n## ptq vs ORT per method family (per-channel; ptq's best method of the family vs "
          "ORT's)")
    hdr = ["model", "family", "ptq (method)", "ORT", "acc ptq>=ORT", "time ptq/ORT",
           "peak ptq/ORT"]
    out = []
    for name in models:
        for fam in ("minmax", "entropy", "percentile"):
            pr = [r for r in results if r["model"] == name and r["gran"] == "channel"
                  and r["tool"] == "ptq" and r["family"] == fam and r["ok"]]
            orr = [r for r in results if r["model"] == name and r["gran"] == "channel"
                   and r["tool"] == "ort" and r["family"] == fam and r["ok"]]
            if not pr or not orr:
                continue
            b = max(pr, key=lambda r: (r["acc"], -r["seconds"]))
            o = orr[0]
            out.append([name, fam, "%.2f (%s)" % (b["acc"], b["method"]), "%.2f" % o["acc"],
                        "yes" if b["acc"] >= o["acc"] else "NO",
                        "%.2f" % (b["seconds"] / o["seconds"]), "%.2f" % (b["rss"] / o["rss"])])
    if out:
        print_table(hdr, out)
    print("\n## issue 3 'Done when' accuracy lines (W8A8 ort profile, ptq per-channel)")
    for name in models:
        pr = [r for r in results if r["model"] == name and r["gran"] == "channel"
              and r["tool"] == "ptq" and r["ok"]]
        if not pr:
            continue
        lim = LIMITS[name]
        parts = ["%s %+.2f%s" % (r["method"], r["drop"], "" if -r["drop"] <= lim else " (FAIL)")
                 for r in pr]
        print("%-22s limit -%.1f pt: %s" % (name, lim, ", ".join(parts)))


if __name__ == "__main__":
    sys.exit(main())
