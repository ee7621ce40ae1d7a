#!/usr/bin/env python3
"""Oracle test: `ptq eval --json` accuracy equals onnxruntime's on the same data.

Datasets (first N samples; PTQ_ORACLE_QUICK=1 uses fewer):
  mnist-8           SHARED/data/mnist test-images.npy (uint8 -> float 0..255), 2000
  resnet8-cifar10   SHARED/data/cifar10 test-images.npy (uint8 -> float 0..255), 2000
  mobilenet-v2-1.0-224, mobilenet-v1-0.25-128
                    SHARED/data/imagenet-dev/images (500 JPEGs, sorted by file name),
                    labels.csv class_index, --label-offset 1 (1001-way output, 0 = background),
                    --preprocess crop=0.875,resize=SxS,mean=128,std=128

The reference applies the same preprocessing in numpy (oracle_common.preprocess_image:
PIL decode, TF central_crop, half-pixel bilinear resize without antialiasing,
(x-128)/128) and runs onnxruntime (one thread, no graph optimizations).

Checks per dataset:
  - ptq eval exits 0 and prints one JSON object with top1, top5 in [0,1] and n == N;
  - correct top-1 (and top-5) counts equal onnxruntime's; on the ImageNet images a
    difference of 1 sample is allowed (float noise on a near-tie), and printed;
  - per-sample argmax of `ptq run --batch B` on the numpy-preprocessed inputs against
    onnxruntime's: 0 differences (at most 1 on ImageNet). This isolates the executor
    from ptq's own image pipeline, and names the samples that differ.
The FP32 reference accuracies from SHARED/README.md are printed for information.

Usage: test_eval.py --ptq BUILD/ptq --shared ../shared [--only NAME] [--keep]
"""
import os
import shutil
import sys
import tempfile
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_common as oc  # noqa: E402

QUICK = oc.QUICK
N_MNIST = 300 if QUICK else 2000
N_CIFAR = 300 if QUICK else 2000
N_IMAGENET = 60 if QUICK else 500

# README figures (FP32, independent runtime); only printed.
README_TOP1 = {
    "mnist-8": ("98.91% (full 10000)", 0.9891),
    "resnet8-cifar10": ("75.48% (full 10000)", 0.7548),
    "mobilenet-v2-1.0-224": ("86.8% (500 images)", 0.868),
    "mobilenet-v1-0.25-128": ("41.2% (500 images)", 0.412),
}


class Dataset:
    def __init__(self, name, model, eval_args, x, labels, label_offset, allowed_diff,
                 run_chunk, note):
        self.name = name
        self.model = model
        self.eval_args = eval_args    # ptq eval arguments after MODEL (without --json)
        self.x = x                    # float32 N x ... (the reference's model inputs)
        self.labels = labels          # int64 N, already offset to the model's output index
        self.allowed_diff = allowed_diff
        self.run_chunk = run_chunk    # batch size for the `ptq run` per-sample check
        self.note = note


def npy_dataset(args, name, model, sub, n):
    d = os.path.join(args.shared, "data", sub)
    imgs, labs = os.path.join(d, "test-images.npy"), os.path.join(d, "test-labels.npy")
    x = np.asarray(np.load(imgs, mmap_mode="r")[:n], np.float32)
    y = np.asarray(np.load(labs)[:n], np.int64)
    eval_args = ["--data", imgs, "--labels", labs, "--limit", str(n)]
    return Dataset(name, model, eval_args, x, y, 0, 0, 500, "%s first %d" % (sub, n))


def imagenet_datasets(args, n):
    rows = oc.imagenet_dev(args.shared)[:n]
    base = os.path.join(args.shared, "data", "imagenet-dev")
    x224 = np.empty((len(rows), 3, 224, 224), np.float32)
    x128 = np.empty((len(rows), 3, 128, 128), np.float32)
    for i, (path, _) in enumerate(rows):
        img = oc.central_crop_fraction(oc.load_rgb(path), 0.875)
        for arr, s in ((x224, 224), (x128, 128)):
            arr[i] = ((oc.resize_bilinear(img, s, s) - np.float32(128)) / np.float32(128)) \
                .transpose(2, 0, 1)
    y = np.array([c for _, c in rows], np.int64) + 1
    out = []
    for name, size, x in (("mobilenet-v2-1.0-224", 224, x224), ("mobilenet-v1-0.25-128", 128, x128)):
        eval_args = ["--data", os.path.join(base, "images"),
                     "--labels", os.path.join(base, "labels.csv"), "--label-offset", "1",
                     "--preprocess", "crop=0.875,resize=%dx%d,mean=128,std=128" % (size, size),
                     "--limit", str(n)]
        out.append(Dataset(name, name + ".onnx", eval_args, x, y, 1, 1, 50,
                           "imagenet-dev first %d, %dx%d" % (n, size, size)))
    return out


def ort_logits(args, ds):
    sess = oc.ort_session(oc.model_path(args, ds.model))
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: ds.x[i:i + 1]})[0] for i in range(len(ds.x))])


def topk_correct(logits, labels, k):
    if k == 1:
        return int((logits.argmax(1) == labels).sum())
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return int((top == labels[:, None]).any(1).sum())


def ptq_run_argmax(args, ds, tmp, input_name):
    """Per-sample argmax from `ptq run --batch B` on ds.x; (argmax array, None) or
    (None, reason)."""
    preds = []
    for start in range(0, len(ds.x), ds.run_chunk):
        chunk = ds.x[start:start + ds.run_chunk]
        f = os.path.join(tmp, "chunk.npy")
        np.save(f, chunk)
        out = os.path.join(tmp, "run_%d" % start)
        r = oc.run_ptq(args, ["run", oc.model_path(args, ds.model), "--input",
                              "%s=%s" % (input_name, f), "--out", out,
                              "--batch", str(len(chunk)), "--threads", str(args.threads)])
        if r.rc != 0:
            return None, "ptq run --batch %d: %s" % (len(chunk), r.brief(200))
        files = [p for p in os.listdir(out) if p.endswith(".npy")]
        if len(files) != 1:
            return None, "ptq run wrote %s" % files
        y = np.load(os.path.join(out, files[0]))
        if y.shape[0] != len(chunk):
            return None, "ptq run output shape %s for batch %d" % (list(y.shape), len(chunk))
        preds.append(y.reshape(len(chunk), -1).argmax(1))
    return np.concatenate(preds), None


def evaluate(args, ds, tmp):
    """Returns (row, problems, info lines)."""
    problems, info = [], []
    n = len(ds.x)
    t0 = time.time()
    ref = ort_logits(args, ds)
    t_ort = time.time() - t0
    ort1, ort5 = topk_correct(ref, ds.labels, 1), topk_correct(ref, ds.labels, 5)

    argv = ["eval", oc.model_path(args, ds.model)] + ds.eval_args + \
        ["--json", "--threads", str(args.threads)]
    r = oc.run_ptq(args, argv)
    p1 = p5 = None
    if r.rc != 0:
        problems.append("ptq eval failed: %s" % r.brief(250))
        info.append("$ " + oc.cmdline(r.cmd))
    else:
        try:
            js = oc.parse_json_stdout(r.stdout)
            for k in ("top1", "top5", "n"):
                if k not in js:
                    problems.append("JSON lacks key %r: %s" % (k, r.stdout.strip()[:200]))
            if int(js.get("n", -1)) != n:
                problems.append("ptq eval n=%s, expected %d" % (js.get("n"), n))
            for k in ("top1", "top5"):
                v = js.get(k)
                if v is not None and not (0.0 <= float(v) <= 1.0):
                    problems.append("%s=%s is not a fraction in [0,1]" % (k, v))
            if "top1" in js:
                p1 = int(round(float(js["top1"]) * n))
            if "top5" in js:
                p5 = int(round(float(js["top5"]) * n))
        except ValueError as e:
            problems.append("bad JSON from ptq eval: %s" % e)
    if p1 is not None and abs(p1 - ort1) > ds.allowed_diff:
        problems.append("top-1 correct: ptq %d, onnxruntime %d of %d" % (p1, ort1, n))
    if p5 is not None and abs(p5 - ort5) > ds.allowed_diff:
        problems.append("top-5 correct: ptq %d, onnxruntime %d of %d" % (p5, ort5, n))
    if p1 is not None and p1 != ort1:
        info.append("top-1 differs by %d sample(s) (allowed %d)" % (p1 - ort1, ds.allowed_diff))

    # Per-sample argmax through `ptq run` on the reference's own preprocessed inputs.
    sess = oc.ort_session(oc.model_path(args, ds.model))
    pred, why = ptq_run_argmax(args, ds, tmp, sess.get_inputs()[0].name)
    if pred is None:
        ndiff = "n/a"
        info.append("per-sample check skipped: %s" % why)
    else:
        diff = np.nonzero(pred != ref.argmax(1))[0]
        ndiff = str(len(diff))
        if len(diff) > ds.allowed_diff:
            problems.append("ptq run argmax differs from onnxruntime on %d samples" % len(diff))
        for i in diff[:10]:
            s = np.sort(ref[i])[::-1]
            info.append("sample %d: ptq argmax %d, ort argmax %d (ort top-2 margin %.3g)" % (
                i, pred[i], ref[i].argmax(), s[0] - s[1]))

    fmt = lambda c: "-" if c is None else "%.2f%% (%d)" % (100.0 * c / n, c)  # noqa: E731
    readme = README_TOP1.get(ds.name, ("-", None))[0]
    row = [ds.name, n, fmt(p1), fmt(ort1), fmt(p5), fmt(ort5), ndiff, readme,
           "%.1f" % r.seconds, "%.1f" % t_ort, "FAIL" if problems else "PASS"]
    return row, problems, info


def main():
    args = oc.parse_args(__doc__.splitlines()[1])
    print("test_eval: seed %d (unused: no random inputs)%s, ptq %s" % (
        args.seed, " (QUICK)" if QUICK else "", args.ptq))
    builders = [
        ("mnist-8", lambda: [npy_dataset(args, "mnist-8", "mnist-8.onnx", "mnist", N_MNIST)]),
        ("resnet8-cifar10", lambda: [npy_dataset(args, "resnet8-cifar10",
                                                 "resnet8-cifar10.onnx", "cifar10", N_CIFAR)]),
        ("mobilenet", lambda: imagenet_datasets(args, N_IMAGENET)),
    ]
    tmp = tempfile.mkdtemp(prefix="ptq-oracle-eval-")
    rows, failures = [], []
    try:
        for key, build in builders:
            if args.only and not any(s in key or key in s for s in args.only):
                continue
            try:
                datasets = build()
            except Exception:  # noqa: BLE001
                rows.append([key] + ["-"] * 9 + ["FAIL"])
                failures.append((key, ["harness exception"], traceback.format_exc().splitlines()))
                continue
            for ds in datasets:
                if not oc.selected(args, ds.name):
                    continue
                d = os.path.join(tmp, ds.name)
                os.makedirs(d)
                try:
                    row, problems, info = evaluate(args, ds, d)
                except Exception:  # noqa: BLE001
                    row = [ds.name] + ["-"] * 9 + ["FAIL"]
                    problems, info = ["harness exception"], traceback.format_exc().splitlines()
                rows.append(row)
                print("  %-24s %s" % (ds.name, row[-1]), flush=True)
                if problems or info:
                    failures.append((ds.name, problems, info))
    finally:
        if args.keep:
            print("kept temporary folder %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    oc.print_table(["model", "n", "ptq top1", "ort top1", "ptq top5", "ort top5",
                    "argmax diffs", "README top1 (info)", "ptq s", "ort s", "result"], rows)
    n_fail = 0
    for name, problems, info in failures:
        print("\n--- %s" % name)
        for p in problems:
            print("    FAIL: " + p)
        for line in info:
            print("    " + line)
        n_fail += bool(problems)
    print("\n%d dataset(s), %d failed" % (len(rows), n_fail))
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
