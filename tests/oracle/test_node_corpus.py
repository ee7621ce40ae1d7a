#!/usr/bin/env python3
"""ONNX node-test corpus oracle for `ptq run`.

For every test directory of the ONNX backend node tests (libonnx-testdata,
/usr/share/libonnx-testdata/data/node: model.onnx + test_data_set_*/input_N.pb, output_N.pb)
this converts the inputs to .npy, runs `ptq run MODEL --input NAME=FILE ... --out DIR`, and
compares every graph output with the expected tensor (dtype and shape exactly; values with
rtol=1e-3, atol=1e-5 for floating types, the ONNX backend-test defaults; exact for the rest;
NaN == NaN).

Every case ends up in one of:
  passed    all data sets match
  rejected  ptq exited 3 (unsupported op / attribute / dtype / opset) with a "ptq: " message
  skipped   not a tensor I/O test (sequence / optional / map inputs or outputs), or string
            tensors; decided in Python from the model, ptq is not run
  failed    anything else: wrong values, shape or dtype, missing output, crash (signal or
            sanitizer report), timeout (30 s), other exit codes, exit 3 without a message

The test fails if any case is "failed" and is not in EXPECTED_FAILURES below.

Usage (ctest runs it with --ptq and --shared):
  python3 tests/oracle/test_node_corpus.py --ptq build/ptq [--filter conv] [--jobs 2] [-v]
"""
import argparse
import collections
import concurrent.futures
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import numpy_helper

DEFAULT_NODE_DIR = "/usr/share/libonnx-testdata/data/node"
RTOL = 1e-3
ATOL = 1e-5
TIMEOUT_S = 30

# Known failures that do not fail the test. Keep this empty if at all possible; every entry
# must say why the case cannot pass (e.g. the reference output depends on a random generator).
#   "test_dir_name": "reason",
EXPECTED_FAILURES = {
}

STRING = onnx.TensorProto.STRING


def sanitize(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _type_problem(tp):
    """None if tp is a non-string tensor type, else a short description."""
    kind = tp.WhichOneof("value")
    if kind != "tensor_type":
        return "%s I/O" % (kind or "untyped")
    if tp.tensor_type.elem_type == STRING:
        return "string tensor"
    if tp.tensor_type.elem_type == onnx.TensorProto.UNDEFINED:
        return "undefined elem_type"
    return None


def op_label(case_dir, model):
    """Op type of the case: the single node's op_type; for expanded/multi-node graphs the op of
    the non-expanded sibling directory (or the one non-Constant op) plus '(expanded)'."""
    nodes = list(model.graph.node)
    if len(nodes) == 1:
        return nodes[0].op_type
    name = os.path.basename(case_dir)
    if name.endswith("_expanded"):
        sib = os.path.join(os.path.dirname(case_dir), name[: -len("_expanded")], "model.onnx")
        if os.path.exists(sib):
            try:
                m = onnx.load(sib, load_external_data=False)
                if len(m.graph.node) == 1:
                    return m.graph.node[0].op_type + "(expanded)"
            except Exception:
                pass
    ops = sorted({n.op_type for n in nodes if n.op_type != "Constant"})
    if len(ops) == 1:
        return ops[0]
    # fall back to the directory name stem
    stem = re.sub(r"^test_", "", name)
    return "multi:" + stem.split("_")[0]


def load_case(case_dir):
    """Returns dict(name, op, skip_reason, inputs (names), outputs (names), sets)."""
    name = os.path.basename(case_dir)
    model = onnx.load(os.path.join(case_dir, "model.onnx"), load_external_data=False)
    inits = {t.name for t in model.graph.initializer}
    ins = [v for v in model.graph.input if v.name not in inits]
    outs = list(model.graph.output)
    case = {
        "name": name,
        "dir": case_dir,
        "op": op_label(case_dir, model),
        "skip": None,
        "inputs": [v.name for v in ins],
        "outputs": [v.name for v in outs],
        "sets": sorted(glob.glob(os.path.join(case_dir, "test_data_set_*"))),
    }
    for v in ins + outs:
        p = _type_problem(v.type)
        if p:
            case["skip"] = "%s (%s)" % (p, v.name)
            break
    return case


def np_to_npy(arr, path):
    # not np.ascontiguousarray: it turns 0-d arrays into shape (1,)
    arr = np.array(arr, order="C", copy=True)
    np.save(path, arr, allow_pickle=False)


def compare(expected, actual):
    """None if equal within tolerance, else (category, detail)."""
    if actual.dtype != expected.dtype:
        return ("wrong dtype", "dtype %s, expected %s" % (actual.dtype, expected.dtype))
    if actual.shape != expected.shape:
        return ("wrong shape", "shape %s, expected %s" % (actual.shape, expected.shape))
    if expected.size == 0:
        return None
    if expected.dtype.kind in "fc":
        e = expected.astype(np.float64) if expected.dtype.kind == "f" else expected
        a = actual.astype(np.float64) if actual.dtype.kind == "f" else actual
        ok = np.isclose(a, e, rtol=RTOL, atol=ATOL, equal_nan=True)
        if ok.all():
            return None
        bad = np.count_nonzero(~ok)
        with np.errstate(invalid="ignore"):
            diff = np.abs(a - e)
        diff = np.where(ok, 0, diff)
        i = np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))), e.shape)
        return ("wrong values", "%d/%d mismatched, e.g. at %s got %r expected %r"
                % (bad, e.size, tuple(int(x) for x in i), a[i].item(), e[i].item()))
    ok = actual == expected
    if ok.all():
        return None
    bad = np.count_nonzero(~ok)
    i = tuple(int(x) for x in np.argwhere(~ok)[0])
    return ("wrong values", "%d/%d mismatched, e.g. at %s got %r expected %r"
            % (bad, expected.size, i, actual[i].item(), expected[i].item()))


def first_line(text, limit=160):
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line[:limit]
    return ""


def ptq_message(stderr):
    for line in stderr.splitlines():
        if line.startswith("ptq: "):
            return line.strip()
    return None


def run_set(ptq, case, set_dir, tmp):
    """Runs one data set. Returns (status, category, detail); status in passed/rejected/failed."""
    inputs = []
    for i, iname in enumerate(case["inputs"]):
        pb = os.path.join(set_dir, "input_%d.pb" % i)
        arr = numpy_helper.to_array(onnx.load_tensor(pb))
        npy = os.path.join(tmp, "in%d.npy" % i)
        np_to_npy(arr, npy)
        inputs += ["--input", "%s=%s" % (iname, npy)]
    out_dir = os.path.join(tmp, "out")
    cmd = [ptq, "run", os.path.join(case["dir"], "model.onnx")] + inputs + [
        "--out", out_dir, "--threads", "1"]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT_S, cwd=tmp)
    except subprocess.TimeoutExpired:
        return ("failed", "timeout", "no result after %d s" % TIMEOUT_S)
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode < 0:
        try:
            sig = signal.Signals(-p.returncode).name
        except ValueError:
            sig = str(-p.returncode)
        return ("failed", "crash", "killed by %s; %s" % (sig, first_line(err)))
    if "Sanitizer" in err or "runtime error:" in err:
        m = re.search(r"(ERROR: \w*Sanitizer[^\n]*|runtime error:[^\n]*)", err)
        return ("failed", "crash", "sanitizer: %s" % (m.group(1)[:160] if m else first_line(err)))
    if p.returncode == 3:
        msg = ptq_message(err)
        if not msg:
            return ("failed", "exit 3 without message", first_line(err))
        return ("rejected", "unsupported", msg)
    if p.returncode != 0:
        return ("failed", "exit %d" % p.returncode, ptq_message(err) or first_line(err))
    for i, oname in enumerate(case["outputs"]):
        expected = numpy_helper.to_array(
            onnx.load_tensor(os.path.join(set_dir, "output_%d.pb" % i)))
        path = os.path.join(out_dir, sanitize(oname) + ".npy")
        if not os.path.exists(path):
            return ("failed", "missing output", "no %s" % os.path.relpath(path, tmp))
        try:
            actual = np.load(path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001
            return ("failed", "unreadable output", "%s: %s" % (os.path.basename(path), e))
        r = compare(expected, actual)
        if r:
            return ("failed", r[0], "output %r: %s" % (oname, r[1]))
    return ("passed", None, "")


def run_case(ptq, case):
    t0 = time.time()
    if case["skip"]:
        return dict(case, status="skipped", category="not a tensor I/O test",
                    detail=case["skip"], secs=0.0)
    if not case["sets"]:
        return dict(case, status="skipped", category="no data sets", detail="", secs=0.0)
    result = ("passed", None, "")
    for s in case["sets"]:
        with tempfile.TemporaryDirectory(prefix="ptq-node-") as tmp:
            try:
                result = run_set(ptq, case, s, tmp)
            except Exception as e:  # noqa: BLE001 - harness problem with this case
                result = ("failed", "harness error", "%s: %s" % (type(e).__name__, e))
        if result[0] != "passed":
            break
    return dict(case, status=result[0], category=result[1], detail=result[2],
                secs=time.time() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ptq", required=True, help="path of the ptq binary")
    ap.add_argument("--shared", default=None, help="shared models/data dir (unused here)")
    ap.add_argument("--node-dir", default=DEFAULT_NODE_DIR)
    ap.add_argument("--filter", default=None, help="only cases whose dir name contains this")
    ap.add_argument("--jobs", type=int, default=2, help="parallel ptq runs (default 2)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = ap.parse_args()

    if not os.path.isdir(args.node_dir):
        print("SKIP: node-test corpus not found at %s (install libonnx-testdata)" % args.node_dir)
        return 0
    ptq = os.path.abspath(args.ptq)
    if not os.access(ptq, os.X_OK):
        print("ptq binary not found or not executable: %s" % ptq)
        return 1

    dirs = sorted(d for d in glob.glob(os.path.join(args.node_dir, "test_*"))
                  if os.path.isdir(d))
    if args.filter:
        dirs = [d for d in dirs if args.filter in os.path.basename(d)]
    if not dirs:
        print("no cases match filter %r" % args.filter)
        return 1

    cases = []
    results = []
    for d in dirs:
        try:
            cases.append(load_case(d))
        except Exception as e:  # noqa: BLE001 - model the harness cannot read
            results.append(dict(name=os.path.basename(d), op="?", status="failed",
                                category="harness error", detail=str(e)[:160], secs=0.0))

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futs = [pool.submit(run_case, ptq, c) for c in cases]
        for f in concurrent.futures.as_completed(futs):
            r = f.result()
            results.append(r)
            if args.verbose:
                print("%-8s %-60s %s %s" % (r["status"], r["name"], r["category"] or "",
                                            r["detail"]), flush=True)
    wall = time.time() - t0
    results.sort(key=lambda r: r["name"])

    # ---- per-op table
    per_op = collections.OrderedDict()
    for r in sorted(results, key=lambda r: r["op"].lower()):
        c = per_op.setdefault(r["op"], collections.Counter())
        c[r["status"]] += 1
    print("\nper op type (cases: passed / rejected-unsupported / failed / skipped)")
    print("%-34s %5s %6s %6s %6s %6s" % ("op", "total", "pass", "reject", "FAIL", "skip"))
    for op, c in per_op.items():
        print("%-34s %5d %6d %6d %6s %6d" % (op, sum(c.values()), c["passed"], c["rejected"],
                                             c["failed"] or "", c["skipped"]))

    # ---- rejected: the messages, grouped (file paths removed)
    rej = collections.Counter()
    for r in results:
        if r["status"] == "rejected":
            msg = re.sub(r"'?/[^\s':]+'?:?", "", r["detail"])
            rej[re.sub(r"\s+", " ", msg)[:140]] += 1
    if rej:
        print("\nrejected-unsupported messages (count, message without file paths):")
        top = rej.most_common()
        for msg, n in top[:40]:
            print("  %4d  %s" % (n, msg))
        if len(top) > 40:
            print("  ... and %d more distinct messages (%d cases)"
                  % (len(top) - 40, sum(n for _, n in top[40:])))

    # ---- failures
    unexpected = [r for r in results if r["status"] == "failed"
                  and r["name"] not in EXPECTED_FAILURES]
    expected = [r for r in results if r["status"] == "failed" and r["name"] in EXPECTED_FAILURES]
    xpass = [r for r in results if r["status"] != "failed" and r["name"] in EXPECTED_FAILURES]
    cats = collections.Counter(r["category"] for r in results if r["status"] == "failed")
    if cats:
        print("\nfailure categories: " + ", ".join("%s: %d" % kv for kv in cats.most_common()))
    if unexpected:
        print("\nFAILED cases:")
        for r in unexpected:
            print("  %-58s %-16s %s" % (r["name"], r["category"], r["detail"]))
    if expected:
        print("\nexpected failures (EXPECTED_FAILURES):")
        for r in expected:
            print("  %-58s %-16s %s  [%s]" % (r["name"], r["category"], r["detail"],
                                             EXPECTED_FAILURES[r["name"]]))
    if xpass:
        print("\nnote: listed in EXPECTED_FAILURES but did not fail (remove them): "
              + ", ".join(r["name"] for r in xpass))
    skipped = collections.Counter(r["category"] for r in results if r["status"] == "skipped")

    counts = collections.Counter(r["status"] for r in results)
    print("\nnode corpus: %d cases in %.0f s: passed %d, rejected-unsupported %d, failed %d "
          "(%d expected), skipped %d (%s)"
          % (len(results), wall, counts["passed"], counts["rejected"], counts["failed"],
             len(expected), counts["skipped"],
             ", ".join("%s: %d" % kv for kv in skipped.items()) or "none"))
    if unexpected:
        print("RESULT: FAIL (%d unexpected failures)" % len(unexpected))
        return 1
    print("RESULT: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
