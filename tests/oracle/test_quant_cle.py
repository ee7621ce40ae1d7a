#!/usr/bin/env python3
"""Oracle test: cross-layer equalization (`ptq quantize --cle`) recovers per-tensor W8A8
MobileNetV1-0.25-128 on imagenet-dev, measured by onnxruntime.

imagenet-dev's 500 images (crop=0.875, resize 128x128, (x-128)/128; label = class_index + 1),
a numpy default_rng(0) permutation: the first 100 images are the calibration file (all used),
the other 400 are evaluated (PTQ_ORACLE_QUICK=1: 200). For per-tensor weights with --no-cle,
with --cle and with the default (which must be CLE for per-tensor weights), and per-channel
(default: no CLE):
  - onnx.checker passes on each exported model, onnxruntime runs it;
  - the summary reports the equalized pairs for --cle (26 on this model, in one chain) and none
    for --no-cle; the Clip(0, 6) nodes stay (ptq's data-bounded CLE keeps them exact on the
    calibration data), so the QDQ model has as many Clip nodes as the float one;
  - top-1: per-tensor --cle gains >= 15 pt over --no-cle (measured 20.0 -> 42.8, FP32 44.5)
    and is within 4 pt of FP32 (6 pt on the quick run's 200 images); the default equals --cle.
Usage: test_quant_cle.py --ptq BUILD/ptq --shared ../shared [--keep]
"""
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_common as oc  # noqa: E402

MODEL = "mobilenet-v1-0.25-128.onnx"
HW = (128, 128)


def ort_top1(path, x):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))]).argmax(1)


def count_ops(path, op):
    import onnx
    return sum(n.op_type == op for n in onnx.load(path).graph.node)


def main():
    args = oc.parse_args(__doc__.splitlines()[0])
    tmp = tempfile.mkdtemp(prefix="ptq_cle_")
    fails, rows = [], []
    try:
        import onnx
        rows_all = oc.imagenet_dev(args.shared)
        perm = np.random.default_rng(0).permutation(len(rows_all))
        n_eval = 200 if oc.QUICK else 400
        ci, ei = np.sort(perm[:100]), np.sort(perm[100:100 + n_eval])
        x_cal = np.stack([oc.preprocess_image(rows_all[i][0], HW) for i in ci])
        x = np.stack([oc.preprocess_image(rows_all[i][0], HW) for i in ei])
        y = np.array([rows_all[i][1] + 1 for i in ei])
        calib = os.path.join(tmp, "calib.npy")
        np.save(calib, x_cal)
        fp = oc.model_path(args, MODEL)
        acc_fp = 100 * (ort_top1(fp, x) == y).mean()
        n_clip = count_ops(fp, "Clip")
        acc = {}
        for tag, extra in [("per-tensor --no-cle", ["--per-tensor", "--no-cle"]),
                           ("per-tensor --cle", ["--per-tensor", "--cle"]),
                           ("per-tensor default", ["--per-tensor"]),
                           ("per-channel default", [])]:
            out = os.path.join(tmp, tag.replace(" ", "_") + ".onnx")
            argv = ["quantize", fp, "-o", out, "--calib", calib, "--calib-size", 100,
                    "--threads", args.threads] + extra
            r = oc.run_ptq(args, argv)
            print("$ ptq " + oc.cmdline(argv) + "  (%.1f s)" % r.seconds)
            if r.rc != 0:
                fails.append("%s: quantize failed: %s" % (tag, r.brief()))
                continue
            cle_line = [l for l in r.stdout.splitlines() if l.startswith("cross-layer")]
            print("\n".join(cle_line))
            want_cle = "--no-cle" not in extra and "per-tensor" in tag
            if want_cle and not (cle_line and "26 layer pairs in 1 chains" in cle_line[0]):
                fails.append("%s: summary does not report 26 equalized pairs: %r" % (tag, cle_line))
            if not want_cle and cle_line:
                fails.append("%s: CLE ran: %r" % (tag, cle_line))
            try:
                onnx.checker.check_model(onnx.load(out))
            except Exception as e:  # noqa: BLE001
                fails.append("%s: onnx.checker: %s" % (tag, e))
            if count_ops(out, "Clip") != n_clip:
                fails.append("%s: %d Clip nodes, the float model has %d"
                             % (tag, count_ops(out, "Clip"), n_clip))
            acc[tag] = 100 * (ort_top1(out, x) == y).mean()
            rows.append([tag, "%.2f" % acc_fp, "%.2f" % acc[tag], "%+.2f" % (acc[tag] - acc_fp),
                         "%.1f" % r.seconds])
        oc.print_table(["weights / CLE", "fp32 ort %", "qdq ort %", "delta pt", "quantize s"],
                       rows)
        a0, a1 = acc.get("per-tensor --no-cle"), acc.get("per-tensor --cle")
        if a0 is not None and a1 is not None:
            if a1 - a0 < 15.0:
                fails.append("per-tensor: --cle %.2f%% gains %.2f pt over --no-cle %.2f%% (< 15)"
                             % (a1, a1 - a0, a0))
            # 400 images: 4 pt; the quick run's 200 (sanitizer CI) are noisier: 6 pt there
            # (measured 5.5 on that subset, where per-channel itself drops 1.0)
            bound = 6.0 if oc.QUICK else 4.0
            if acc_fp - a1 > bound:
                fails.append("per-tensor --cle %.2f%% drops %.2f pt from FP32 (> %g)"
                             % (a1, acc_fp - a1, bound))
        if a1 is not None and acc.get("per-tensor default") != a1:
            fails.append("per-tensor default %s%% differs from --cle %.2f%%"
                         % (acc.get("per-tensor default"), a1))
    finally:
        if args.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for f in fails:
        print("FAIL", f)
    print("%d failure(s)" % len(fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
