"""Helpers shared by the oracle tests in this directory (not a test itself: ctest only
registers test_*.py).

Everything here is deliberately independent of ptq's own code: image decoding uses PIL,
preprocessing is written in numpy, and the reference executor is onnxruntime.
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

# PTQ_ORACLE_QUICK=1 (the sanitizer CI job) shrinks sample counts and input sizes.
QUICK = os.environ.get("PTQ_ORACLE_QUICK", "") not in ("", "0")


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--ptq", required=True, help="path of the ptq binary")
    p.add_argument("--shared", required=True, help="shared models/data folder")
    p.add_argument("--only", action="append", default=[],
                   help="run only cases whose name contains this (repeatable)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--seed", type=int, default=20240611, help="seed for all random inputs")
    p.add_argument("--threads", type=int, default=2, help="--threads passed to ptq")
    p.add_argument("--timeout", type=int, default=600, help="timeout per ptq call (s)")
    args = p.parse_args()
    args.ptq = os.path.abspath(args.ptq)
    args.shared = os.path.abspath(args.shared)
    if not os.access(args.ptq, os.X_OK):
        sys.exit("error: ptq binary not found or not executable: %s" % args.ptq)
    if not os.path.isdir(os.path.join(args.shared, "models")):
        sys.exit("error: no models/ under shared folder %s" % args.shared)
    return args


def selected(args, name):
    return not args.only or any(s in name for s in args.only)


def model_path(args, name):
    return os.path.join(args.shared, "models", name)


def sanitize(name):
    """File name ptq uses for a graph output: chars outside [A-Za-z0-9._-] become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


class PtqResult:
    def __init__(self, cmd, rc, stdout, stderr, seconds):
        self.cmd, self.rc, self.stdout, self.stderr, self.seconds = cmd, rc, stdout, stderr, seconds

    def brief(self, limit=300):
        """One-line reason for a failure: exit code and the first 'ptq:' line of stderr."""
        msg = ""
        for line in self.stderr.splitlines():
            if line.startswith("ptq:") or "ERROR" in line or "Sanitizer" in line:
                msg = line.strip()
                break
        if not msg:
            lines = [l for l in self.stderr.splitlines() if l.strip()]
            msg = lines[-1].strip() if lines else ""
        return ("rc=%s %s" % (self.rc, msg))[:limit]


def run_ptq(args, argv, timeout=None):
    cmd = [args.ptq] + [str(a) for a in argv]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout or args.timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or b"", (e.stderr or b"") + b"\nptq: timed out"
    dt = time.time() - t0
    return PtqResult(cmd, rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), dt)


def cmdline(argv):
    import shlex
    return " ".join(shlex.quote(str(a)) for a in argv)


# --------------------------------------------------------------------- onnxruntime ---

def ort_session(path, optimize=False):
    """A deterministic onnxruntime session: CPU, one thread, graph optimizations disabled
    (or BASIC with optimize=True), warnings silenced."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_run(sess, feeds):
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


# ---------------------------------------------------------------------- comparison ---

def compare(out, ref):
    """Differences between a ptq output and the reference.

    abs = max |out - ref|
    rel = abs / max |ref|   (norm-wise relative error: robust for outputs that are
                             near zero in places, e.g. conv maps, tiny softmax entries)
    Returns dict(abs, rel, problem) where problem is None or a string (shape/dtype/NaN)."""
    out = np.asarray(out)
    ref = np.asarray(ref)
    if out.shape != ref.shape:
        return dict(abs=float("nan"), rel=float("nan"),
                    problem="shape %s, expected %s" % (list(out.shape), list(ref.shape)))
    if out.dtype != ref.dtype:
        return dict(abs=float("nan"), rel=float("nan"),
                    problem="dtype %s, expected %s" % (out.dtype, ref.dtype))
    if out.size == 0:
        return dict(abs=0.0, rel=0.0, problem=None)
    o = out.astype(np.float64)
    r = ref.astype(np.float64)
    bad_o, bad_r = ~np.isfinite(o), ~np.isfinite(r)
    if (bad_o != bad_r).any():
        return dict(abs=float("nan"), rel=float("nan"),
                    problem="%d non-finite values differ" % int((bad_o != bad_r).sum()))
    ob, rb = o[bad_r], r[bad_r]
    if not ((ob == rb) | (np.isnan(ob) & np.isnan(rb))).all():
        return dict(abs=float("nan"), rel=float("nan"), problem="inf/nan values differ")
    fin = ~bad_r
    d = np.abs(o[fin] - r[fin])
    a = float(d.max()) if d.size else 0.0
    scale = float(np.abs(r[fin]).max()) if d.size else 0.0
    rel = a / scale if scale > 0 else (0.0 if a == 0 else float("inf"))
    return dict(abs=a, rel=rel, problem=None)


def within(diff, tol):
    """tol: dict(rel=..., abs=None or float). Both given limits must hold."""
    if diff["problem"]:
        return False
    if not diff["rel"] <= tol["rel"]:
        return False
    if tol.get("abs") is not None and not diff["abs"] <= tol["abs"]:
        return False
    return True


def fmt_tol(tol):
    s = "rel<=%.0e" % tol["rel"]
    if tol.get("abs") is not None:
        s += " abs<=%.0e" % tol["abs"]
    return s


def fmt_err(x):
    if x is None:
        return "-"
    if isinstance(x, float) and (x != x):
        return "nan"
    return "%.2e" % x


# -------------------------------------------------------------------------- tables ---

def print_table(headers, rows, out=sys.stdout):
    rows = [[str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(headers))
    out.write(line.rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in rows:
        out.write("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() + "\n")
    out.flush()


# ---------------------------------------------------------------------- input data ---

def random_inputs_for(sess, rng, overrides=None, shape_overrides=None):
    """Seeded random feeds for every input of an onnxruntime session: float inputs
    uniform in [-1, 1], int64 inputs zero. overrides: name -> array (used as is);
    shape_overrides: name -> shape for dynamic inputs."""
    overrides = overrides or {}
    shape_overrides = shape_overrides or {}
    feeds = {}
    for i in sess.get_inputs():
        if i.name in overrides:
            feeds[i.name] = overrides[i.name]
            continue
        if i.name in shape_overrides:
            shape = shape_overrides[i.name]
        else:
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        if i.type == "tensor(float)":
            feeds[i.name] = rng.uniform(-1, 1, size=shape).astype(np.float32)
        elif i.type == "tensor(int64)":
            feeds[i.name] = np.zeros(shape, np.int64)
        else:
            raise ValueError("no random generator for %s of type %s" % (i.name, i.type))
    return feeds


def audio_like(rng, n, sr):
    t = np.arange(n) / float(sr)
    x = np.zeros(n)
    for _ in range(4):
        f = rng.uniform(80, min(4000, sr / 2 - 100))
        x += rng.uniform(0.02, 0.2) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    x += rng.normal(0, 0.02, n)
    return x.astype(np.float32)[None]


def text_image(rng, size):
    """A seeded synthetic page of dark words on a light background, BGR, normalised with
    PP-OCR's mean/std, plus a little noise. Pure noise is a poor input for the detector:
    its probability map stays near 0 (max ~1e-3), so the norm-wise relative error measures
    only the noise of near-zero sigmoids (onnxruntime with and without its own fusions
    differs by 3e-4 there). On text the map reaches 1 and the same comparison gives 2e-5."""
    from PIL import Image, ImageDraw, ImageFont
    words = ["PTQ", "oracle", "ONNX", "quantize", "int8", "calibrate", "Hello", "World",
             "text", "detect", "2024", "model"]
    try:
        font, scale = ImageFont.load_default(size=max(12, size // 16)), 1
    except Exception:  # noqa: BLE001 - PIL without FreeType: bitmap font, upscaled
        font, scale = ImageFont.load_default(), 4
    canvas = size // scale
    im = Image.new("RGB", (canvas, canvas), (235, 235, 225))
    draw = ImageDraw.Draw(im)
    for i in range(10):
        x = int(rng.integers(4, canvas // 2))
        y = 4 + i * (canvas // 11)
        draw.text((x, y), " ".join(rng.choice(words, 3)), fill=(20, 20, 20), font=font)
    if scale != 1:
        im = im.resize((size, size), Image.NEAREST)
    bgr = np.asarray(im, np.float64)[:, :, ::-1] / 255.0
    x = (bgr - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    x = x.transpose(2, 0, 1)[None] + rng.normal(0, 0.05, (1, 3, size, size))
    return np.ascontiguousarray(x, dtype=np.float32)


# ------------------------------------------------------ image preprocessing (numpy) ---
#
# The reference for ptq's preprocessing spec "crop=F,resize=HxW,mean=M,std=S":
#   decode JPEG with PIL (same libjpeg-turbo IDCT as ptq's libjpeg), to RGB;
#   crop=F   : TF central_crop: begin = int((H - H*F) / 2), size = H - 2*begin (same for W);
#   resize   : bilinear, half-pixel centres, no antialiasing (TF resize_bilinear with
#              half_pixel_centers=True), computed in float;
#   mean/std : (x - mean) / std;  layout NCHW.

def load_rgb(path):
    from PIL import Image
    with Image.open(path) as im:
        im = im.convert("RGB")
        return np.asarray(im, dtype=np.uint8).copy()


def central_crop_fraction(img, frac):
    h, w = img.shape[:2]
    bh = int((h - h * frac) / 2.0)
    bw = int((w - w * frac) / 2.0)
    return img[bh:h - bh, bw:w - bw]


def _axis_weights(in_size, out_size):
    scale = in_size / float(out_size)
    src = (np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5
    src = np.clip(src, 0.0, in_size - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    return lo, hi, frac


def resize_bilinear(img, oh, ow):
    """img: HxWxC (any dtype) -> float32 ohxowxC, half-pixel centres, no antialias."""
    x = img.astype(np.float64)
    h, w = x.shape[:2]
    y0, y1, fy = _axis_weights(h, oh)
    x0, x1, fx = _axis_weights(w, ow)
    fy = fy[:, None, None]
    fx = fx[None, :, None]
    top = x[y0][:, x0] * (1 - fx) + x[y0][:, x1] * fx
    bot = x[y1][:, x0] * (1 - fx) + x[y1][:, x1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


def preprocess_image(path, hw, crop=0.875, mean=128.0, std=128.0):
    """Decoded image -> float32 3xHxW with the 'crop=F,resize=HxW,mean=M,std=S' spec."""
    img = load_rgb(path)
    if crop is not None:
        img = central_crop_fraction(img, crop)
    x = resize_bilinear(img, hw[0], hw[1])
    x = (x - np.float32(mean)) / np.float32(std)
    return np.ascontiguousarray(x.transpose(2, 0, 1)).astype(np.float32)


def imagenet_dev(shared):
    """[(absolute image path, class_index)] sorted by file name (ptq's order)."""
    base = os.path.join(shared, "data", "imagenet-dev")
    rows = []
    with open(os.path.join(base, "labels.csv"), newline="") as f:
        for r in csv.DictReader(f):
            rows.append((os.path.join(base, r["file"]), int(r["class_index"])))
    rows.sort(key=lambda t: os.path.basename(t[0]).encode("utf-8"))
    return rows


def parse_json_stdout(text):
    """The single JSON object printed by ptq --json (tolerates surrounding lines)."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    start, end = text.find("{"), text.rfind("}")
    if start >= 0 and end > start:
        return json.loads(text[start:end + 1])
    raise ValueError("no JSON object in output: %r" % text[:200])
