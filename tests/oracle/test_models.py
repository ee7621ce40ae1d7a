#!/usr/bin/env python3
"""Oracle test: `ptq run` on every shared model against onnxruntime.

Each case writes its inputs as .npy files to a temporary folder, runs
    ptq run MODEL --input NAME=FILE ... --out DIR [--shape ...] [--batch B] --threads N
and compares every graph output DIR/<sanitized name>.npy with onnxruntime (CPU provider,
one thread, graph optimizations disabled) on the same inputs.

Errors (see oracle_common.compare):  abs = max|ptq - ort|,  rel = abs / max|ort|.
A case passes when every output has the reference's shape and dtype, the same non-finite
values, and rel (and abs, where the table sets it) within the case's tolerance.

Usage: test_models.py --ptq BUILD/ptq --shared ../shared [--only NAME] [--keep] [--seed S]
PTQ_ORACLE_QUICK=1 uses smaller inputs where the model allows it (sanitizer runs).
"""
import os
import shutil
import sys
import tempfile
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_common as oc  # noqa: E402

DEFAULT_TOL = dict(rel=1e-4, abs=None)

# Per-case tolerances. Anything looser than DEFAULT_TOL must say why.
TOLERANCES = {
    "mnist-8": DEFAULT_TOL,
    "resnet8-cifar10": DEFAULT_TOL,
    "resnet8-cifar10/batch4": DEFAULT_TOL,
    "mobilenet-v2-1.0-224": DEFAULT_TOL,
    "mobilenet-v1-0.25-128": DEFAULT_TOL,
    "vww-mobilenet-v1-0.25-96": DEFAULT_TOL,
    "kws-dscnn": DEFAULT_TOL,
    "ad01-autoencoder": DEFAULT_TOL,
    "ultraface-rfb-320": DEFAULT_TOL,
    "blazeface-front-128": DEFAULT_TOL,
    "ppocr-v4-det": DEFAULT_TOL,
    "ppocr-v2-cls": DEFAULT_TOL,
    "silero-vad/sr16000": DEFAULT_TOL,
    "silero-vad/sr16000-step2": DEFAULT_TOL,
    "silero-vad/sr8000": DEFAULT_TOL,
}


class Case:
    def __init__(self, name, model, feeds, ptq_args=(), ref=None, note=""):
        self.name = name            # row name, key of TOLERANCES
        self.model = model          # file under SHARED/models
        self.feeds = feeds          # name -> np.ndarray, what ptq gets
        self.ptq_args = list(ptq_args)
        self.ref = ref              # None: ORT on the same feeds; else callable(args) -> dict
        self.note = note


def mnist_case(args):
    x = np.load(os.path.join(args.shared, "data", "mnist", "test-images.npy"), mmap_mode="r")
    return Case("mnist-8", "mnist-8.onnx", {"Input3": np.asarray(x[0:1], np.float32)},
                note="MNIST test[0], 0..255")


def cifar(args, start, n):
    x = np.load(os.path.join(args.shared, "data", "cifar10", "test-images.npy"), mmap_mode="r")
    return np.asarray(x[start:start + n], np.float32)


def resnet8_cases(args):
    cases = [Case("resnet8-cifar10", "resnet8-cifar10.onnx", {"t0_input_1": cifar(args, 0, 1)},
                  note="CIFAR-10 test[0], 0..255")]
    batch = cifar(args, 1, 4)
    model = oc.model_path(args, "resnet8-cifar10.onnx")

    def per_sample_ref(_args):
        # The model is exported with batch 1 (its Reshape has a literal [1, 64]), so the
        # reference runs each sample alone and stacks the results.
        sess = oc.ort_session(model)
        outs = [oc.ort_run(sess, {"t0_input_1": batch[i:i + 1]}) for i in range(len(batch))]
        return {k: np.concatenate([o[k] for o in outs], axis=0) for k in outs[0]}

    cases.append(Case("resnet8-cifar10/batch4", "resnet8-cifar10.onnx", {"t0_input_1": batch},
                      ptq_args=["--batch", "4"], ref=per_sample_ref,
                      note="--batch 4, CIFAR-10 test[1:5], ORT per sample"))
    return cases


def mobilenet_cases(args):
    imgs = oc.imagenet_dev(args.shared)
    out = []
    for name, hw, idx in (("mobilenet-v2-1.0-224", (224, 224), 0),
                          ("mobilenet-v1-0.25-128", (128, 128), 1)):
        path = imgs[idx][0]
        x = oc.preprocess_image(path, hw, crop=0.875, mean=128.0, std=128.0)[None]
        out.append(Case(name, name + ".onnx", {"t0_input": x},
                        note="imagenet-dev %s" % os.path.basename(path)))
    return out


def ultraface_case(args):
    img = oc.load_rgb(os.path.join(args.shared, "data", "ultraface-sample.jpg"))
    x = oc.resize_bilinear(img, 240, 320)
    x = ((x - 127.0) / 128.0).transpose(2, 0, 1)[None].astype(np.float32)
    return Case("ultraface-rfb-320", "ultraface-rfb-320.onnx", {"input": np.ascontiguousarray(x)},
                note="ultraface-sample.jpg resized to 320x240, (x-127)/128")


def silero_cases(args, rng):
    model = "silero-vad-16k-op15.onnx"
    state0 = np.zeros((2, 1, 128), np.float32)
    c16 = {"input": oc.audio_like(rng, 512, 16000), "state": state0,
           "sr": np.array(16000, np.int64)}
    cases = [Case("silero-vad/sr16000", model, c16, note="audio-like 1x512, zero state")]
    # Second step: the state produced by ORT on the first step, new audio.
    sess = oc.ort_session(oc.model_path(args, model))
    state1 = oc.ort_run(sess, c16)["stateN"].astype(np.float32)
    cases.append(Case("silero-vad/sr16000-step2", model,
                      {"input": oc.audio_like(rng, 512, 16000), "state": state1,
                       "sr": np.array(16000, np.int64)},
                      note="audio-like 1x512, state from step 1"))
    # sr=8000 takes the other branch of the model's If nodes (the model accepts it in
    # onnxruntime; 8 kHz windows are 256 samples).
    cases.append(Case("silero-vad/sr8000", model,
                      {"input": oc.audio_like(rng, 256, 8000), "state": state0,
                       "sr": np.array(8000, np.int64)},
                      note="sr=8000 (other If branch), 1x256"))
    return cases


def build_cases(args, rng):
    cases = [mnist_case(args)]
    cases += resnet8_cases(args)
    cases += mobilenet_cases(args)
    cases.append(Case("vww-mobilenet-v1-0.25-96", "vww-mobilenet-v1-0.25-96.onnx",
                      {"t0_input_1": rng.uniform(0, 1, (1, 3, 96, 96)).astype(np.float32)},
                      note="uniform [0,1)"))
    cases.append(Case("kws-dscnn", "kws-dscnn.onnx",
                      {"t0_input_1": rng.normal(0, 4, (1, 1, 49, 10)).astype(np.float32)},
                      note="normal(0,4) MFCC-like"))
    cases.append(Case("ad01-autoencoder", "ad01-autoencoder.onnx",
                      {"t0_input_1": rng.normal(0, 1, (1, 640)).astype(np.float32)},
                      note="normal(0,1)"))
    cases.append(ultraface_case(args))
    cases.append(Case("blazeface-front-128", "blazeface-front-128.onnx",
                      {"input:0": rng.uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)},
                      note="NHWC uniform [-1,1]"))
    det = 320 if oc.QUICK else 640
    cases.append(Case("ppocr-v4-det", "ppocr-v4-det.onnx", {"x": oc.text_image(rng, det)},
                      ptq_args=["--shape", "x=1x3x%dx%d" % (det, det)],
                      note="synthetic text page %dx%d, BGR mean/std, + noise" % (det, det)))
    cases.append(Case("ppocr-v2-cls", "ppocr-v2-cls.onnx",
                      {"x": rng.uniform(-1, 1, (1, 3, 48, 192)).astype(np.float32)},
                      ptq_args=["--shape", "x=1x3x48x192"], note="uniform [-1,1]"))
    cases += silero_cases(args, rng)
    return cases


def run_case(args, case, tmp):
    """Returns (row, details): row for the table, details = lines printed on failure."""
    tol = TOLERANCES.get(case.name, DEFAULT_TOL)
    model = oc.model_path(args, case.model)
    d = os.path.join(tmp, oc.sanitize(case.name))
    os.makedirs(d)
    argv = ["run", model]
    for k, v in case.feeds.items():
        f = os.path.join(d, "in_" + oc.sanitize(k) + ".npy")
        np.save(f, v)
        argv += ["--input", "%s=%s" % (k, f)]
    outdir = os.path.join(d, "out")
    argv += ["--out", outdir, "--threads", str(args.threads)] + case.ptq_args

    ref = case.ref(args) if case.ref else oc.ort_run(oc.ort_session(model), case.feeds)
    res = oc.run_ptq(args, argv)
    details = []
    if res.rc != 0:
        kind = {3: "unsupported", 1: "error", 2: "usage"}.get(res.rc, "crash")
        details = ["$ " + oc.cmdline(res.cmd)] + res.stderr.strip().splitlines()[-15:]
        return [case.name, len(ref), "-", "-", oc.fmt_tol(tol),
                "FAIL (%s: %s)" % (kind, res.brief(160)), "%.1f" % res.seconds], details

    worst_abs, worst_rel, worst_name, status = 0.0, 0.0, "", "PASS"
    for name, r in ref.items():
        f = os.path.join(outdir, oc.sanitize(name) + ".npy")
        if not os.path.exists(f):
            status = "FAIL (missing %s)" % os.path.basename(f)
            details.append("output %s: no file %s (have: %s)" % (
                name, f, sorted(os.listdir(outdir)) if os.path.isdir(outdir) else "no out dir"))
            continue
        try:
            o = np.load(f)
        except Exception as e:  # noqa: BLE001
            status = "FAIL (bad npy %s)" % os.path.basename(f)
            details.append("output %s: cannot read %s: %s" % (name, f, e))
            continue
        diff = oc.compare(o, r)
        details.append("output %-40s shape %-16s abs %s rel %s %s" % (
            name, list(r.shape), oc.fmt_err(diff["abs"]), oc.fmt_err(diff["rel"]),
            diff["problem"] or ""))
        if diff["problem"]:
            if status == "PASS":
                status = "FAIL (%s: %s)" % (name, diff["problem"])
            continue
        if not oc.within(diff, tol) and status == "PASS":
            status = "FAIL (tolerance)"
        if diff["rel"] >= worst_rel:
            worst_rel, worst_name = diff["rel"], name
        worst_abs = max(worst_abs, diff["abs"])
    row = [case.name, "%d (worst: %s)" % (len(ref), worst_name) if len(ref) > 1 else str(len(ref)),
           oc.fmt_err(worst_abs), oc.fmt_err(worst_rel), oc.fmt_tol(tol), status,
           "%.1f" % res.seconds]
    if status != "PASS":
        details.insert(0, "$ " + oc.cmdline(res.cmd))
    return row, details


def main():
    args = oc.parse_args(__doc__.splitlines()[1])
    print("test_models: seed %d%s, ptq %s" % (args.seed, " (QUICK)" if oc.QUICK else "", args.ptq))
    rng = np.random.default_rng(args.seed)
    cases = build_cases(args, rng)
    missing = [c.name for c in cases if c.name not in TOLERANCES]
    assert not missing, "no tolerance entry for %s" % missing

    models = sorted(f for f in os.listdir(os.path.join(args.shared, "models"))
                    if f.endswith(".onnx"))
    covered = {c.model for c in cases}
    uncovered = [m for m in models if m not in covered]

    tmp = tempfile.mkdtemp(prefix="ptq-oracle-models-")
    rows, failures = [], []
    try:
        for case in cases:
            if not oc.selected(args, case.name):
                continue
            try:
                row, details = run_case(args, case, tmp)
            except Exception:  # noqa: BLE001 - a harness error fails the case, not the run
                row = [case.name, "-", "-", "-", "-", "FAIL (harness exception)", "-"]
                details = traceback.format_exc().splitlines()
            rows.append(row)
            if not row[5].startswith("PASS"):
                failures.append((case, details))
            print("  %-28s %s" % (case.name, row[5]), flush=True)
    finally:
        if args.keep:
            print("kept temporary folder %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    oc.print_table(["case", "outputs", "max abs err", "max rel err", "tolerance", "result", "ptq s"],
                   rows)
    for case, details in failures:
        print("\n--- %s (%s; %s)" % (case.name, case.model, case.note))
        for line in details:
            print("    " + line)
    if uncovered and not args.only:
        print("\nFAIL: shared models with no case: %s" % ", ".join(uncovered))
    n_fail = len(failures) + (1 if uncovered and not args.only else 0)
    print("\n%d case(s), %d failed (seed %d)" % (len(rows), len(failures), args.seed))
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
