#!/usr/bin/env python3
"""int8 inference latency: ptq's int8 runtime vs onnxruntime int8 and both fp32 runtimes.

Per model (SHARED/models; default: mobilenet-v2-1.0-224, mobilenet-v1-0.25-128,
resnet8-cifar10, ultraface-rfb-320, kws-dscnn):
  1. calibration data, written once as float32 .npy in the temp dir (seeded permutation,
     numpy default_rng(SEED); --calib-size samples, the next --check samples are kept apart
     for the output check below):
       mobilenets        imagenet-dev, preprocessed as bench/bench_quant.py does
                         (tests/oracle/oracle_common.py: PIL decode, TF central crop 0.875,
                         bilinear half-pixel resize to 224 / 128, (x-128)/128, NCHW);
       resnet8-cifar10   CIFAR-10 test .npy, raw 0..255 RGB;
       ultraface-rfb-320 data/ultraface-sample.jpg + imagenet-dev images, whole image (no
                         crop) bilinear-resized to 240x320, RGB, (x-127)/128;
       kws-dscnn         no data in shared/: seeded synthetic speech-like audio (1 s at
                         16 kHz: a voiced harmonic burst with random pitch, formant-like
                         spectral tilt and envelope, plus noise), turned into MLPerf-Tiny-KWS
                         style MFCCs in numpy (30 ms Hann window, 20 ms stride, 512-point
                         FFT magnitude, 40 HTK-mel bands 20-4000 Hz, log(x+1e-6), DCT-II scaled
                         as tf.signal.mfccs_from_log_mel_spectrograms, first 10
                         coefficients) -> 1x49x10.
  2. ptq quantize FLOAT -o Q.onnx --calib CALIB.npy --calib-size N --seed S (profile ort, the
     default: int8 per-channel weights, int8 per-tensor activations, QDQ).
  3. output check (the "check" column): the --check held-out samples through
     `ptq run Q.onnx --engine int8 --batch n` and through onnxruntime on the same Q.onnx;
     argmax agreement over the last axis of the first output (classifiers: top-1 per
     sample; UltraFace: face/background per anchor) and maxdiff = max |ptq - ORT| over all
     outputs (with ORT max = max |ORT| for scale). Marked "?" when agreement < 90 % or a value is not finite.
  4. for every --batches B and --threads T, median latency of one forward pass (ms) of:
       ptq int8   ptq bench Q.onnx --engine int8 --batch B --threads T --json
       ORT int8   the same Q.onnx in onnxruntime (CPUExecutionProvider, default graph
                  optimisations = it fuses the QDQ pairs into QLinearConv etc.,
                  intra_op_num_threads=T, inter_op_num_threads=1, sequential)
       ORT fp32   the float model, same session options
       ptq fp32   ptq bench FLOAT.onnx --batch B --threads T --json
     ptq gets --warmup W --repeat R (it then runs on until 1 s has passed) and ORT runs W
     warm-ups and then until it has >= R timed runs and >= 1 s, the same rule. All four
     get the same input array (calibration samples repeated to the batch) via --input.
     The four are measured in turn --rounds times (default 3, --quick 1) and each keeps its
     best median, so that a burst of other work on the shared machine does not land on one
     engine only. The "load" column is the 1-minute load average after the row; a note
     flags every engine that got > 10 % slower with more threads (on this 2-core shared
     machine: other load, rerun before trusting those cells).
     The models have a fixed batch 1: ptq gets --batch B; ORT gets a copy with a dynamic
     first dim (bench_float.ort_model_copy: inputs/outputs' first dim made symbolic,
     Reshape targets starting with a literal 1 made to start with 0), checked against the
     batch-1 model on sample 0 -- for the float model and the QDQ model alike.
     Ratios (> 1: ptq int8 faster): ORT int8 / ptq int8 (target >= 1.25), ORT fp32 /
     ptq int8 (target >= 2.5), ptq fp32 / ptq int8 (no target); a missed target is marked
     "MISS" and every row is printed.
  5. per-layer roofline: ptq bench Q.onnx --engine int8 --profile-layers --json (a separate
     run, as profiling adds overhead) gives a "layers" array of {node, op, ms, macs}; for the
     --top-layers layers with most MACs, and for all layers with MACs together, GOP/s =
     2*macs/ms/1e6 and its fraction of the int8 peak = T x (one core's vpdpbusd zmm peak from
     bench/vnni_peak.c, CPU-time figure); also the --slow-layers slowest layers of any op,
     all layers with MACs together, and the whole network (all MACs / the ptq int8 latency
     of step 4). Layers are picked at the smallest batch and fewest threads and matched by
     position in the other configurations. Skipped with a note when the key is missing.
The peak comes from bench/vnni_peak.c, compiled into the temp dir with
  cc -O2 -std=c11 -pthread bench/vnni_peak.c -o vnni_peak
(or --vnni-peak PATH, e.g. build/vnni_peak from the CMake target of that name).
A failure (quantize, one engine, the check) is reported in the row and the rest runs on.

  python3 bench/bench_int8.py --ptq build/ptq [--shared ../shared] [--models resnet8,kws]
      [--batches 1,32] [--threads 1,2] [--repeat 20] [--warmup 3] [--rounds 3] [--quick]
      [--tmp DIR] [--markdown FILE] [--calib-size 100] [--seed 0]
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "oracle"))

DEFAULT_MODELS = ["mobilenet-v2-1.0-224", "mobilenet-v1-0.25-128", "resnet8-cifar10",
                  "ultraface-rfb-320", "kws-dscnn"]
DATA = {  # model: data kind
    "mobilenet-v2-1.0-224": "imagenet",
    "mobilenet-v1-0.25-128": "imagenet",
    "resnet8-cifar10": "cifar10",
    "ultraface-rfb-320": "ultraface",
    "kws-dscnn": "kws",
}
TARGET_ORT_INT8 = 1.25  # ORT int8 / ptq int8
TARGET_ORT_FP32 = 2.5   # ORT fp32 / ptq int8


# ------------------------------------------------------------------------- helpers ---

def fmt(v, f="%.2f", none="-"):
    return none if v is None else f % v


def brief(text, limit=160):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for l in lines:
        if l.startswith("ptq:") or "rror" in l:
            return l[:limit]
    return (lines[-1] if lines else "")[:limit]


def run_cmd(cmd, timeout):
    """(rc or 'timeout', stdout, stderr, seconds)."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or b"", e.stderr or b""
    return (rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
            time.perf_counter() - t0)


def parse_json(text):
    m = re.search(r"\{.*\}", text, re.S)
    if not m:
        raise RuntimeError("no JSON in output: %r" % text[:200])
    return json.loads(m.group(0))


def md_table(headers, rows):
    w = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
         for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"  # noqa
    out = [line(headers), "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


class Log:
    """Prints to stdout and keeps a copy for --markdown."""

    def __init__(self):
        self.lines = []
        self.head = 0

    def __call__(self, s=""):
        print(s, flush=True)
        self.lines.append(s)


# ---------------------------------------------------------------------------- data ---

def kws_mfcc_batch(n, seed):
    """n seeded synthetic speech-like clips -> MFCC features float32 n x 1 x 49 x 10, as the
    MLPerf Tiny KWS training script computes them with tf.signal (periodic Hann 480, hop 320,
    FFT 512, |STFT|, 40 HTK-mel bands 20..4000 Hz without the DC bin, log(x + 1e-6), DCT)."""
    rng = np.random.default_rng(seed)
    sr, length = 16000, 16000
    win, hop, nfft, nmel, ncoef = 480, 320, 512, 40, 10
    t = np.arange(length) / sr
    # mel filterbank (HTK mel scale, as tf.signal.linear_to_mel_weight_matrix), 20..4000 Hz
    mel = lambda f: 1127.0 * np.log1p(f / 700.0)  # noqa: E731
    fft_f = np.linspace(0, sr / 2, nfft // 2 + 1)
    edges = np.linspace(mel(20.0), mel(4000.0), nmel + 2)
    fm = mel(fft_f)[:, None]
    lo, ce, hi = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    fb = np.maximum(0, np.minimum((fm - lo) / (ce - lo), (hi - fm) / (hi - ce)))
    fb[0] = 0
    k = np.arange(ncoef)[:, None]
    nn = np.arange(nmel)[None]
    # tf.signal.mfccs_from_log_mel_spectrograms: DCT-II * rsqrt(2 * n_mel) (k = 0 not halved)
    dct = np.cos(np.pi * k * (2 * nn + 1) / (2 * nmel)) * np.sqrt(2.0 / nmel)
    window = np.hanning(win + 1)[:-1]
    out = np.empty((n, 1, 49, ncoef), np.float32)
    for i in range(n):
        f0 = rng.uniform(90, 260)
        x = np.zeros(length)
        for h in range(1, int(3800 // f0)):
            tilt = 1.0 / h ** rng.uniform(0.8, 1.6)
            form = 1 + 2 * np.exp(-((h * f0 - rng.uniform(300, 900)) / 200.0) ** 2)
            x += tilt * form * np.sin(2 * np.pi * h * f0 * (1 + 0.05 * np.sin(
                2 * np.pi * rng.uniform(1, 4) * t)) * t + rng.uniform(0, 2 * np.pi))
        c, d = rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.3)
        env = np.exp(-0.5 * ((t - c) / d) ** 2)
        x = 0.3 * x / (np.abs(x).max() + 1e-9) * env + rng.normal(0, rng.uniform(0.002, 0.02),
                                                                   length)
        frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:49] * window
        spec = np.abs(np.fft.rfft(frames, nfft))
        logmel = np.log(spec @ fb + 1e-6)
        out[i, 0] = (logmel @ dct.T).astype(np.float32)
    return out


def load_data(args, name):
    """(calibration array, held-out check array, description) as float32 NCHW."""
    kind = DATA.get(name)
    n_cal, n_chk = args.calib_size, args.check
    rng = np.random.default_rng(args.seed)
    if kind == "cifar10":
        d = os.path.join(args.shared, "data", "cifar10")
        imgs = np.load(os.path.join(d, "test-images.npy"), mmap_mode="r")
        perm = rng.permutation(len(imgs))
        return (np.asarray(imgs[np.sort(perm[:n_cal])], np.float32),
                np.asarray(imgs[np.sort(perm[n_cal:n_cal + n_chk])], np.float32),
                "CIFAR-10 test images (raw 0..255)")
    if kind in ("imagenet", "ultraface"):
        import oracle_common as oc
        rows = oc.imagenet_dev(args.shared)
        perm = rng.permutation(len(rows))
        if kind == "imagenet":
            hw = (224, 224) if "224" in name else (128, 128)
            prep = lambda p: oc.preprocess_image(p, hw)  # noqa: E731
            paths = [rows[i][0] for i in perm[:n_cal + n_chk]]
            desc = "imagenet-dev, crop 0.875, resize %dx%d, (x-128)/128" % hw
        else:
            prep = lambda p: oc.preprocess_image(p, (240, 320), crop=None, mean=127.0,  # noqa
                                                 std=128.0)
            sample = os.path.join(args.shared, "data", "ultraface-sample.jpg")
            paths = [sample] + [rows[i][0] for i in perm[:n_cal + n_chk - 1]]
            desc = "ultraface-sample.jpg + imagenet-dev, resize 240x320, (x-127)/128"
        x = np.stack([prep(p) for p in paths]).astype(np.float32)
        # the check set: held-out imagenet images (and for UltraFace the face photo first)
        if kind == "ultraface":
            return x[:n_cal], np.concatenate([x[:1], x[n_cal:n_cal + n_chk - 1]]), desc
        return x[:n_cal], x[n_cal:n_cal + n_chk], desc
    if kind == "kws":
        x = kws_mfcc_batch(n_cal + n_chk, args.seed)
        return (x[:n_cal], x[n_cal:], "synthetic speech-like audio (seed %d) -> MFCC 49x10"
                % args.seed)
    # any other model: seeded uniform [0, 1) inputs of the model's (batch-1) shape
    import onnx
    import bench_float as bf
    m = onnx.load(os.path.join(args.shared, "models", name + ".onnx"))
    ins = bf.graph_inputs(m)
    if len(ins) != 1:
        raise RuntimeError("no data recipe for %s and it has %d inputs (one .npy calibration "
                           "file feeds one input)" % (name, len(ins)))
    x = bf.make_feeds(m, n_cal + n_chk, seed=args.seed)[ins[0].name].astype(np.float32)
    return x[:n_cal], x[n_cal:], "no data recipe: seeded uniform [0, 1) random inputs"


def batch_input(x, batch):
    """The first `batch` samples of x, repeated when x has fewer."""
    reps = -(-batch // len(x))
    return np.ascontiguousarray(np.concatenate([x] * reps)[:batch], np.float32)


# ------------------------------------------------------------------- vnni_peak ---

def vnni_peak(args, log):
    """Runs bench/vnni_peak; returns its JSON dict or None."""
    exe = args.vnni_peak
    if not exe:
        exe = os.path.join(args.tmp, "vnni_peak")
        cmd = [args.cc, "-O2", "-std=c11", "-pthread", os.path.join(HERE, "vnni_peak.c"),
               "-o", exe]
        rc, out, err, _ = run_cmd(cmd, 120)
        if rc != 0:
            log("vnni_peak: compile failed (%s): %s" % (" ".join(cmd), brief(err)))
            return None
    thr = ",".join(str(t) for t in sorted(set([1] + args.threads_list)))
    cmd = [exe, "--threads", thr, "--json", "--trials", "3" if args.quick else "10"]
    rc, out, err, _ = run_cmd(cmd, 600)
    if rc != 0:
        log("vnni_peak: failed rc=%s: %s" % (rc, brief(err)))
        return None
    try:
        return parse_json(out)
    except (ValueError, RuntimeError) as e:
        log("vnni_peak: bad output: %s" % e)
        return None


def print_peak(peak, log):
    thr = [str(t) for t in peak["threads"]]
    headers = ["kernel", "unit"] + ["%s thr wall" % t for t in thr] + ["%s thr cpu" % t
                                                                      for t in thr]
    rows = []
    for k in peak["kernels"].values():
        if not k.get("supported"):
            rows.append([k["label"], k["unit"]] + ["n/a"] * (2 * len(thr)))
            continue
        rows.append([k["label"], k["unit"]] + ["%.1f" % k["wall"][t] for t in thr]
                    + ["%.1f" % k["cpu"][t] for t in thr])
    t = md_table(headers, rows)
    log(t)
    return t


# ------------------------------------------------------------------------ engines ---

def ptq_bench(args, model, batch, threads, inp, engine=None, profile=False):
    cmd = [args.ptq, "bench", model, "--json", "--threads", str(threads), "--batch", str(batch),
           "--warmup", str(args.warmup), "--repeat", str(args.repeat)]
    if inp:
        cmd += ["--input", "%s=%s" % inp]
    if engine:
        cmd += ["--engine", engine]
    if profile:
        cmd.append("--profile-layers")
    rc, out, err, _ = run_cmd(cmd, args.timeout)
    if rc != 0:
        raise RuntimeError("ptq bench rc=%s %s" % (rc, brief(err)))
    return parse_json(out)


def ort_session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_bench(args, path, threads, feeds):
    """(median ms, runs): W warm-ups, then >= R runs and >= 1 s (ptq bench's rule)."""
    sess = ort_session(path, threads)
    try:
        for _ in range(args.warmup):
            sess.run(None, feeds)
        times, t_start = [], time.perf_counter()
        while len(times) < args.repeat or time.perf_counter() - t_start < args.min_time:
            t0 = time.perf_counter()
            sess.run(None, feeds)
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times), len(times)
    finally:
        del sess


def output_check(args, qpath, in_name, x, tmp):
    """ptq int8 vs ORT on Q.onnx for the samples in x; returns (text, ok)."""
    import oracle_common as oc
    n = len(x)
    xin = os.path.join(tmp, "check-input.npy")
    np.save(xin, np.ascontiguousarray(x, np.float32))
    odir = os.path.join(tmp, "check-out")
    shutil.rmtree(odir, ignore_errors=True)
    os.makedirs(odir)
    cmd = [args.ptq, "run", qpath, "--input", "%s=%s" % (in_name, xin), "--out", odir,
           "--batch", str(n), "--engine", "int8", "--threads", str(max(args.threads_list))]
    rc, out, err, _ = run_cmd(cmd, args.timeout)
    if rc != 0:
        return "ptq run failed: rc=%s %s" % (rc, brief(err)), False
    sess = ort_session(qpath, 1)
    names = [o.name for o in sess.get_outputs()]
    ref = [np.concatenate(r) for r in zip(*[sess.run(names, {in_name: x[i:i + 1]})
                                            for i in range(n)])]
    printed = [l.strip() for l in out.splitlines() if l.strip().endswith(".npy")]
    got = []
    for i, nm in enumerate(names):
        p = os.path.join(odir, oc.sanitize(nm) + ".npy")
        if not os.path.exists(p) and i < len(printed):
            p = printed[i]
        if not os.path.exists(p):
            return "ptq run wrote no output for %s" % nm, False
        got.append(np.load(p))
    maxabs, scale, finite = 0.0, 0.0, True
    for g, r in zip(got, ref):
        if g.shape != r.shape:
            return "shape %s vs ORT %s" % (list(g.shape), list(r.shape)), False
        finite = finite and bool(np.isfinite(g).all())
        maxabs = max(maxabs, float(np.abs(g.astype(np.float64) - r).max()))
        scale = max(scale, float(np.abs(r).max()))
    g0, r0 = got[0], ref[0]
    if g0.shape[-1] > 1:
        a = g0.reshape(-1, g0.shape[-1]).argmax(1)
        b = r0.reshape(-1, r0.shape[-1]).argmax(1)
        agree, tot = int((a == b).sum()), len(a)
    else:
        agree = tot = 0
    ok = finite and (tot == 0 or agree >= 0.9 * tot)
    what = "top1" if tot == n else "argmax"
    text = "%s %d/%d, maxdiff %.2g (ORT max %.2g)" % (what, agree, tot, maxabs, scale)
    if not finite:
        text += " NON-FINITE"
    return ("" if ok else "? ") + text, ok


# ----------------------------------------------------------------------------- main ---

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ptq", default=None, help="ptq binary (default build/ptq)")
    ap.add_argument("--shared", default=None, help="default: ../shared from the project root")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help="comma list of names or substrings")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=20, help="timed runs (at least 1 s)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3,
                    help="measure the four engines N times in turn, keep each one's best "
                         "median (the machine is shared)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: repeat 3, warmup 1, 1 round, 16 calibration samples, "
                         "3 peak trials")
    ap.add_argument("--calib-size", type=int, default=100)
    ap.add_argument("--check", type=int, default=4, help="held-out samples for the check")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--top-layers", type=int, default=5,
                    help="layers with most MACs shown per model in the roofline table")
    ap.add_argument("--slow-layers", type=int, default=3,
                    help="slowest layers (any op) also shown per model in that table")
    ap.add_argument("--timeout", type=int, default=900, help="per ptq call (s)")
    ap.add_argument("--tmp", default=None, help="work dir (kept); default: a temp dir, removed")
    ap.add_argument("--markdown", default=None, help="also write the tables to FILE")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"), help="compiler for vnni_peak.c")
    ap.add_argument("--vnni-peak", default=None, help="prebuilt vnni_peak binary")
    ap.add_argument("--no-peak", action="store_true", help="skip vnni_peak")
    ap.add_argument("--no-profile", action="store_true", help="skip the per-layer table")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.warmup, args.rounds = 3, 1, 1
        if args.calib_size == 100:
            args.calib_size = 16
    args.min_time = 1.0

    if args.ptq is None:
        args.ptq = os.path.join(ROOT, "build", "ptq")
    args.ptq = os.path.abspath(args.ptq)
    if not os.access(args.ptq, os.X_OK):
        sys.exit("error: ptq binary not found: %s (--ptq)" % args.ptq)
    args.shared = os.path.abspath(args.shared or os.path.join(ROOT, "..", "shared"))
    all_models = sorted(f[:-5] for f in os.listdir(os.path.join(args.shared, "models"))
                        if f.endswith(".onnx"))
    models = []
    for want in [s for s in args.models.split(",") if s]:
        hits = [m for m in all_models if m == want] or [m for m in all_models if want in m]
        if not hits:
            sys.exit("error: no model matches %r in %s/models" % (want, args.shared))
        models += [h for h in hits if h not in models]
    batches = [int(b) for b in args.batches.split(",") if b]
    args.threads_list = [int(t) for t in args.threads.split(",") if t]
    keep = args.tmp is not None
    if keep:
        os.makedirs(args.tmp, exist_ok=True)
        args.tmp = os.path.abspath(args.tmp)
    else:
        args.tmp = tempfile.mkdtemp(prefix="bench_int8_")

    import onnx
    import onnxruntime as ort
    import bench_float as bf
    ort.set_default_logger_severity(3)

    log = Log()
    md = []  # markdown blocks
    log("# bench_int8: ptq int8 runtime vs onnxruntime int8 / fp32 and ptq fp32")
    log("date     : %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    log("machine  : %s, %d CPUs (affinity %d), %s %s" % (
        bf.cpu_model(), os.cpu_count() or 0, len(os.sched_getaffinity(0)), platform.system(),
        platform.release()))
    log("load avg : %.2f %.2f %.2f (at start; the 2-core machine is shared: figures vary)"
        % os.getloadavg())
    log("versions : %s (%s); onnxruntime %s; onnx %s; numpy %s; python %s" % (
        bf.ptq_version(args.ptq), args.ptq, ort.__version__, onnx.__version__, np.__version__,
        platform.python_version()))
    log("settings : batches %s, threads %s, warmup %d, repeat %d (+ until 1 s), best of %d "
        "rounds, calibration %d samples (seed %d), check %d held-out samples%s" % (
            args.batches, args.threads, args.warmup, args.repeat, args.rounds, args.calib_size,
            args.seed,
            args.check, ", QUICK" if args.quick else ""))
    log()
    log.head = len(log.lines)

    # ---- peak
    per_core = None
    if not args.no_peak:
        log("## int8 / fp32 peak of this machine (bench/vnni_peak.c; GOP/s, 2 ops per MAC;"
            " best of trials; cpu = per-thread CPU time)")
        log()
        peak = vnni_peak(args, log)
        if peak:
            md.append(("Peak of this machine (bench/vnni_peak.c)", print_peak(peak, log)))
            k = peak["kernels"].get("int8_vnni_zmm", {})
            if k.get("supported"):
                per_core = float(k["cpu"]["1"])
                log("\nper-core int8 peak used below: %.1f GOP/s (vpdpbusd zmm, 1 thread, CPU"
                    " time)" % per_core)
            else:
                k = peak["kernels"].get("int8_madd_ymm", {})
                if k.get("supported"):
                    per_core = float(k["cpu"]["1"])
                    log("\nno AVX512-VNNI: per-core int8 peak below is the AVX2 one: %.1f GOP/s"
                        % per_core)
        log()

    # ---- per model
    rows, notes, prof, lat = [], [], {}, {}
    t_all = time.perf_counter()
    try:
        for name in models:
            fp = os.path.join(args.shared, "models", name + ".onnx")
            mdir = os.path.join(args.tmp, name)
            os.makedirs(mdir, exist_ok=True)
            log("## %s" % name)
            fail = None
            try:
                xc, xk, desc = load_data(args, name)
                calib = os.path.join(mdir, "calib.npy")
                np.save(calib, np.ascontiguousarray(xc, np.float32))
                log("  data    : %s; calibration %s, check %d" % (desc, list(xc.shape),
                                                                 len(xk)))
                qpath = os.path.join(mdir, name + "-int8.onnx")
                if os.path.exists(qpath):  # a kept --tmp from an earlier run
                    os.unlink(qpath)
                cmd = [args.ptq, "quantize", fp, "-o", qpath, "--calib", calib, "--calib-size",
                       str(len(xc)), "--seed", str(args.seed), "--threads",
                       str(max(args.threads_list))]
                rc, out, err, sec = run_cmd(cmd, args.timeout)
                if rc != 0 or not os.path.exists(qpath):
                    raise RuntimeError("quantize failed: rc=%s %s" % (rc, brief(err)))
                log("  quantize: %.2f s -> %s" % (sec, qpath))
                fmodel = onnx.load(fp)
                in_name = bf.graph_inputs(fmodel)[0].name
            except Exception as e:  # noqa: BLE001 - report in the row, go on
                fail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                log("  FAILED: %s" % fail)
                for b in batches:
                    for t in args.threads_list:
                        rows.append([name, b, t] + ["-"] * 9 + [fail])
                continue

            try:
                check, ok = output_check(args, qpath, in_name, xk, mdir)
            except Exception as e:  # noqa: BLE001
                check = "? check failed: %s" % str(e).splitlines()[0][:120]
            log("  check   : ptq int8 vs ORT int8 on %d held-out samples: %s" % (len(xk), check))

            # ORT copies: batch 1 (initializers out of the graph inputs) and dynamic batch
            ort_paths = {}
            for kind, src in (("fp32", fp), ("int8", qpath)):
                sub = os.path.join(mdir, "ort-" + kind)
                os.makedirs(sub, exist_ok=True)
                ort_paths[(kind, 1)] = bf.ort_model_copy(src, sub, dynamic_batch=False)
                if any(b != 1 for b in batches):
                    try:
                        dyn = bf.ort_model_copy(src, sub, dynamic_batch=True)
                        feeds = {in_name: batch_input(xc, max(batches))}
                        if not bf.check_batch_copy(ort_paths[(kind, 1)], dyn, feeds):
                            notes.append("%s: ORT %s batch copy disagrees with the batch-1 model"
                                         " on sample 0" % (name, kind))
                        ort_paths[(kind, "dyn")] = dyn
                    except Exception as e:  # noqa: BLE001
                        notes.append("%s: ORT %s batch copy failed: %s"
                                     % (name, kind, str(e).splitlines()[0][:160]))

            for b in batches:
                x = batch_input(xc, b)
                xin = os.path.join(mdir, "input-b%d.npy" % b)
                np.save(xin, x)
                feeds = {in_name: x}
                for t in args.threads_list:
                    res, errs = {}, {}
                    for _ in range(args.rounds):  # engines alternate; best median kept
                        got = {}
                        try:
                            j = ptq_bench(args, qpath, b, t, (in_name, xin), engine="int8")
                            got["pi8"] = float(j["latency_ms"])
                        except Exception as e:  # noqa: BLE001
                            errs["pi8"] = "ptq int8: %s" % str(e)[:120]
                        for kind, key in (("int8", "oi8"), ("fp32", "of32")):
                            p = ort_paths.get((kind, 1 if b == 1 else "dyn"))
                            if p is None:
                                errs[key] = "ORT %s: no batch-%d model" % (kind, b)
                                continue
                            try:
                                got[key] = ort_bench(args, p, t, feeds)[0]
                            except Exception as e:  # noqa: BLE001
                                errs[key] = "ORT %s: %s" % (kind, str(e).splitlines()[0][:120])
                        try:
                            j = ptq_bench(args, fp, b, t, (in_name, xin))
                            got["pf32"] = float(j["latency_ms"])
                        except Exception as e:  # noqa: BLE001
                            errs["pf32"] = "ptq fp32: %s" % str(e)[:120]
                        for k, v in got.items():
                            res[k] = min(v, res.get(k, v))
                        if len(errs) == 4:
                            break
                    errs = [errs[k] for k in ("pi8", "oi8", "of32", "pf32") if k in errs]
                    if not args.no_profile and "pi8" in res:
                        try:
                            j = ptq_bench(args, qpath, b, t, (in_name, xin), engine="int8",
                                          profile=True)
                            prof[(name, b, t)] = (j.get("layers"), res["pi8"])
                        except Exception as e:  # noqa: BLE001
                            prof[(name, b, t)] = ("error: %s" % str(e)[:120], None)

                    cell = lambda k: ("%.2f (%.0f/s)" % (res[k], b * 1e3 / res[k])  # noqa
                                      if k in res else "-")
                    pi8 = res.get("pi8")
                    r1 = res["oi8"] / pi8 if pi8 and "oi8" in res else None
                    r2 = res["of32"] / pi8 if pi8 and "of32" in res else None
                    r3 = res["pf32"] / pi8 if pi8 and "pf32" in res else None
                    mark = lambda r, tgt: ("-" if r is None else "%.2f%s" % (  # noqa
                        r, "" if r >= tgt else " MISS"))
                    row = [name, b, t, cell("pi8"), cell("oi8"), cell("of32"), cell("pf32"),
                           mark(r1, TARGET_ORT_INT8), mark(r2, TARGET_ORT_FP32),
                           fmt(r3), check, "%.1f" % os.getloadavg()[0],
                           "ok" if not errs else "; ".join(errs)]
                    rows.append(row)
                    lat[(name, b, t)] = res
                    log("  b%-3d t%d  ptq int8 %s | ORT int8 %s | ORT fp32 %s | ptq fp32 %s | "
                        "ORTi8/ptqi8 %s  ORTf32/ptqi8 %s  ptqf32/ptqi8 %s%s" % (
                            b, t, row[3], row[4], row[5], row[6], row[7], row[8], row[9],
                            "" if not errs else "  [" + row[12] + "]"))
            log()
    finally:
        total = time.perf_counter() - t_all
        headers = ["model", "batch", "thr", "ptq int8 ms (samples/s)", "ORT int8 ms",
                   "ORT fp32 ms", "ptq fp32 ms", "ORT i8/ptq i8 (>=%.2f)" % TARGET_ORT_INT8,
                   "ORT f32/ptq i8 (>=%.1f)" % TARGET_ORT_FP32, "ptq f32/ptq i8",
                   "check (ptq vs ORT int8)", "load", "status"]
        log("## Latency: median ms per forward pass (samples/s = batch / median); ratios > 1 "
            "= ptq int8 faster; MISS = below target")
        log()
        t = md_table(headers, rows)
        log(t)
        misses = sum(1 for r in rows for c in r[7:9] if "MISS" in str(c))
        log()
        log("%d of %d rows miss a target (%d ratio cells)" % (
            sum(1 for r in rows if any("MISS" in str(c) for c in r[7:9])), len(rows), misses))
        # more threads but slower: on this shared machine that is nearly always other load
        eng = {"pi8": "ptq int8", "oi8": "ORT int8", "of32": "ORT fp32", "pf32": "ptq fp32"}
        thr = sorted(args.threads_list)
        for name in models:
            for b in batches:
                for lo, hi in zip(thr, thr[1:]):
                    a, c = lat.get((name, b, lo), {}), lat.get((name, b, hi), {})
                    slow = ["%s %.2f -> %.2f ms" % (eng[k], a[k], c[k]) for k in eng
                            if k in a and k in c and c[k] > 1.1 * a[k]]
                    if slow:
                        notes.append("%s b%d: slower with %d threads than with %d (%s): "
                                     "probably other load on the machine, rerun before "
                                     "trusting those %d-thread cells" % (
                                         name, b, hi, lo, ", ".join(slow), hi))
        for n in notes:
            log("note: " + n)
        md.append(("Latency (median ms per forward pass, samples/s = batch / median; ratios > 1"
                   " = ptq int8 faster; MISS = below target)",
                   t + "\n\n" + "\n".join(log.lines[-1 - len(notes):])))
        if not args.no_profile:
            layer_table(args, models, batches, prof, per_core, log, md)
        log()
        log("total %.0f s; load avg at end %.2f %.2f %.2f" % ((total,) + os.getloadavg()))
        if args.markdown:
            with open(args.markdown, "w") as f:
                f.write("```\n" + "\n".join(log.lines[:log.head]) + "\n```\n")
                for title, block in md:
                    f.write("\n### %s\n\n%s\n" % (title, block))
            print("wrote %s" % args.markdown)
        if keep:
            print("kept %s" % args.tmp)
        else:
            shutil.rmtree(args.tmp, ignore_errors=True)
    return 0


def layer_table(args, models, batches, prof, per_core, log, md):
    log()
    log("## Per-layer roofline, ptq int8 (`ptq bench --engine int8 --profile-layers`, separate"
        " run): GOP/s = 2*MACs/ms and %% of the int8 peak = threads x %s GOP/s per core" % (
            "%.1f" % per_core if per_core else "?"))
    if not prof:
        log("(no profile runs)")
        return
    missing = [k for k, v in prof.items() if not isinstance(v[0], list)]
    if len(missing) == len(prof):
        why = prof[missing[0]][0]
        log("ptq bench --profile-layers --json gave no \"layers\" array%s; table skipped" % (
            " (%s)" % why if isinstance(why, str) else " (not implemented in this ptq)"))
        return
    for k in missing:
        v = prof[k][0]
        log("note: %s b%d t%d: %s" % (k[0], k[1], k[2], v if isinstance(v, str) else
                                       "no \"layers\" key"))
    configs = [(b, t) for b in batches for t in args.threads_list]
    cols = ["b%d t%d" % c for c in configs]
    headers = ["model", "#", "node", "op", "why", "MMACs (b1)", "% time"] + [
        c + " GOP/s (% peak)" for c in cols]
    rows = []

    def cell(gops, t):
        if gops is None:
            return "-"
        if per_core:
            return "%.1f (%.0f%%)" % (gops, 100.0 * gops / (t * per_core))
        return "%.1f" % gops

    for name in models:
        have = {c: prof.get((name,) + c) for c in configs}
        have = {c: v for c, v in have.items() if v and isinstance(v[0], list)}
        if not have:
            continue
        # layers are chosen at the reference config: the smallest batch, then fewest threads
        ref_c = sorted(have, key=lambda c: (c[0], c[1]))[0]
        ref_layers = have[ref_c][0]
        ref_b = ref_c[0]
        ref_ms = sum(l.get("ms") or 0 for l in ref_layers) or 1.0
        idx = [i for i, l in enumerate(ref_layers) if (l.get("macs") or 0) > 0]
        by_macs = sorted(idx, key=lambda i: -ref_layers[i]["macs"])[:args.top_layers]
        by_ms = sorted(range(len(ref_layers)),
                       key=lambda i: -(ref_layers[i].get("ms") or 0))[:args.slow_layers]
        for i in sorted(set(by_macs) | set(by_ms)):
            l = ref_layers[i]
            why = "+".join(w for w, sel in (("MACs", by_macs), ("time", by_ms)) if i in sel)
            r = [name, i, (l.get("node") or "(unnamed)")[:40], l.get("op", "?"), why,
                 "%.2f" % ((l.get("macs") or 0) / ref_b / 1e6),
                 "%.0f%%" % (100.0 * (l.get("ms") or 0) / ref_ms)]
            for c in configs:
                v = have.get(c)
                txt = "-"
                if v and i < len(v[0]) and v[0][i].get("op") == l.get("op"):
                    li = v[0][i]
                    if (li.get("ms") or 0) > 0 and (li.get("macs") or 0) > 0:
                        txt = cell(2.0 * li["macs"] / li["ms"] / 1e6, c[1])
                    elif li.get("ms") is not None:
                        txt = "%.3f ms" % li["ms"]
                r.append(txt)
            rows.append(r)
        # all layers with MACs together, and the whole network against its latency
        r_all = [name, "", "all %d layers with MACs" % len(idx), "", "", "%.2f" % (
            sum(ref_layers[i]["macs"] for i in idx) / ref_b / 1e6), "%.0f%%" % (
            100.0 * sum(ref_layers[i].get("ms") or 0 for i in idx) / ref_ms)]
        r_net = [name, "", "whole network (MACs / bench latency)", "", "", "", ""]
        for c in configs:
            v = have.get(c)
            if not v:
                r_all.append("-")
                r_net.append("-")
                continue
            macs = sum(l.get("macs") or 0 for l in v[0])
            ms = sum(l.get("ms") or 0 for l in v[0] if (l.get("macs") or 0) > 0)
            r_all.append(cell(2.0 * macs / ms / 1e6 if ms > 0 else None, c[1]))
            r_net.append(cell(2.0 * macs / v[1] / 1e6 if v[1] else None, c[1]))
        rows += [r_all, r_net]
        shares = []
        for c in configs:
            v = have.get(c)
            if v:
                tot = sum(l.get("ms") or 0 for l in v[0])
                mac_ms = sum(l.get("ms") or 0 for l in v[0] if (l.get("macs") or 0) > 0)
                shares.append("b%d t%d %.0f%%" % (c[0], c[1], 100.0 * mac_ms / tot if tot else 0))
        log("  %s: share of profiled time in layers with MACs: %s" % (name, ", ".join(shares)))
    log()
    t = md_table(headers, rows)
    log(t)
    md.append(("Per-layer roofline, ptq int8 (GOP/s and %% of threads x %s GOP/s per core)"
               % ("%.1f" % per_core if per_core else "?"), t))
    log("(why: MACs = among the --top-layers layers with most MACs, time = among the "
        "--slow-layers slowest, both at the reference config = the first column; % time = "
        "share of the profiled time there; a layer without MACs shows its ms; layer ms as ptq reports it per run; 'whole "
        "network' = all MACs / the ptq int8 latency of the table above, i.e. without the "
        "profiling overhead)")


if __name__ == "__main__":
    sys.exit(main())
