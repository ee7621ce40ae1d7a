#!/usr/bin/env python3
"""Bad-input table for the ptq CLI.

Every case feeds ptq something broken (model file, graph, attribute, .npy, image, command
line) and requires a clean failure:
  - exit status in the case's allowed set (1 = error, 2 = usage, 3 = unsupported),
  - a stderr line starting "ptq: " that names the problem (a per-case keyword regex,
    case-insensitive, searched in the "ptq: " lines),
  - no crash: no signal, no sanitizer report ("AddressSanitizer", "runtime error:", ...),
    no timeout,
  - no output left behind: the --out directory is absent or empty and the working
    directory (a fresh empty one) stays empty.
The bit-flip variants may legitimately load and run (a flip inside weight data gives a valid
model), so for them exit 0 is allowed too; everything else still applies.

The bad files are created in a temporary directory. Uses SHARED/models/mnist-8.onnx (and
resnet8-cifar10.onnx when present).

  python3 tests/oracle/test_bad_inputs.py --ptq build/ptq --shared ../shared [--filter npy] [-v]
"""
import argparse
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TIMEOUT_S = 60
CRASH_MARKERS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                 "MemorySanitizer", "ThreadSanitizer", "runtime error:", "Segmentation fault",
                 "core dumped", "Assertion", "Aborted")

# keyword regexes reused by several cases
KW_PARSE = (r"pars|protobuf|malformed|truncat|corrupt|invalid|not an onnx|decode|unexpected end"
            r"|wire|varint")
KW_GARBAGE = KW_PARSE + r"|graph|ir.?version|opset|empty|model"


# ------------------------------------------------------------------------- file makers ---

def save_model(model, path):
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def make_model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "bad", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="ptq-bad-inputs")
    m.ir_version = 8
    return m


def vi(name, dims, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, dims)


def raw_init(name, dims, data, dtype=TensorProto.FLOAT):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = data
    return t


def conv_model(**attrs):
    w = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "W")
    node = helper.make_node("Conv", ["X", "W"], ["Y"], **attrs)
    return make_model([node], [vi("X", [1, 1, 8, 8])], [vi("Y", None)], [w])


def png_gray(w, h, seed=0):
    """A minimal valid 8-bit grayscale PNG, no PIL needed."""
    rng = np.random.default_rng(seed)
    pix = rng.integers(0, 256, (h, w), dtype=np.uint8)
    raw = b"".join(b"\x00" + pix[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def npy_bytes(header_dict_text, data, magic=b"\x93NUMPY", version=(1, 0)):
    hdr = header_dict_text.encode("latin1")
    pad = 64 - (10 + len(hdr) + 1) % 64
    hdr = hdr + b" " * pad + b"\n"
    return magic + bytes(version) + struct.pack("<H", len(hdr)) + hdr + data


def weight_ranges(model, blob):
    """Byte ranges of the file holding tensor data (raw_data or packed float_data)."""
    ranges = []
    for t in model.graph.initializer:
        data = t.raw_data or (np.asarray(t.float_data, "<f4").tobytes() if t.float_data else b"")
        if len(data) >= 64:
            pos = blob.find(data)
            if pos >= 0:
                ranges.append((pos, pos + len(data)))
    return ranges


def bitflip_variants(blob, model, n, seed):
    """n variants: even ones flip 1-4 bits anywhere, odd ones only outside weight data
    (so that they hit structure: tags, lengths, names, dims, attributes)."""
    rng = random.Random(seed)
    wr = weight_ranges(model, blob)
    structural = [i for i in range(len(blob)) if not any(a <= i < b for a, b in wr)]
    out = []
    for k in range(n):
        b = bytearray(blob)
        pool = structural if (k % 2 == 1 and structural) else None
        flips = []
        for _ in range(rng.randint(1, 4)):
            pos = rng.choice(pool) if pool else rng.randrange(len(b))
            bit = rng.randrange(8)
            b[pos] ^= 1 << bit
            flips.append("%d.%d" % (pos, bit))
        out.append((bytes(b), ",".join(flips)))
    return out


# ------------------------------------------------------------------------------ cases ---

class Case:
    def __init__(self, name, argv, exits, keyword, out_dir=None, allow_ok=False, note="",
                 need_prefix=True):
        self.name, self.argv, self.exits, self.keyword = name, argv, set(exits), keyword
        self.out_dir, self.allow_ok, self.note = out_dir, allow_ok, note
        self.need_prefix = need_prefix


def build_cases(ptq, shared, tmp):
    P = lambda *parts: os.path.join(tmp, *parts)  # noqa: E731
    cases = []
    mnist = os.path.join(shared, "models", "mnist-8.onnx") if shared else None
    resnet = os.path.join(shared, "models", "resnet8-cifar10.onnx") if shared else None
    have_mnist = bool(mnist and os.path.exists(mnist))

    x_ok = P("x_ok.npy")
    np.save(x_ok, np.zeros((1, 1, 28, 28), np.float32))
    x4 = P("x4.npy")
    np.save(x4, np.ones((1, 4), np.float32))
    x8 = P("x8.npy")
    np.save(x8, np.ones((1, 1, 8, 8), np.float32))

    def run(name, model, feeds, exits, kw, extra=(), **kw2):
        out = P("out", name)
        argv = [ptq, "run", model]
        for k, v in feeds:
            argv += ["--input", "%s=%s" % (k, v)]
        argv += ["--out", out] + list(extra)
        cases.append(Case(name, argv, exits, kw, out_dir=out, **kw2))

    # --- damaged model files
    if have_mnist:
        blob = open(mnist, "rb").read()
        with open(P("mnist_trunc.onnx"), "wb") as f:
            f.write(blob[: len(blob) // 2])
        run("truncated-model", P("mnist_trunc.onnx"), [("Input3", x_ok)], {1}, KW_PARSE)
        cases.append(Case("truncated-model-info", [ptq, "info", P("mnist_trunc.onnx")], {1},
                          KW_PARSE))
        model = onnx.load(mnist)
        for k, (data, flips) in enumerate(bitflip_variants(blob, model, 20, seed=1234)):
            path = P("mnist_flip%02d.onnx" % k)
            with open(path, "wb") as f:
                f.write(data)
            # 2: a flip in a name can turn an initializer into an unbound graph input
            run("bitflip-%02d" % k, path, [("Input3", x_ok)], {1, 2, 3}, r".", allow_ok=True,
                note="flipped byte.bit " + flips)
    if resnet and os.path.exists(resnet):
        blob = open(resnet, "rb").read()
        with open(P("resnet_trunc.onnx"), "wb") as f:
            f.write(blob[: len(blob) // 2])
        xr = P("xr.npy")
        np.save(xr, np.zeros((1, 3, 32, 32), np.float32))
        run("truncated-model-resnet8", P("resnet_trunc.onnx"), [("t0_input_1", xr)], {1},
            KW_PARSE)

    with open(P("image.png.onnx"), "wb") as f:
        f.write(png_gray(16, 16))
    run("png-as-model", P("image.png.onnx"), [("X", x4)], {1, 3}, KW_GARBAGE)
    with open(P("text.onnx"), "w") as f:
        f.write("This is not an ONNX model.\nJust some text, 42 lines of it.\n" * 10)
    run("text-as-model", P("text.onnx"), [("X", x4)], {1, 3}, KW_GARBAGE)
    open(P("empty.onnx"), "wb").close()
    run("empty-model", P("empty.onnx"), [("X", x4)], {1, 3}, KW_GARBAGE)
    cases.append(Case("empty-model-info", [ptq, "info", P("empty.onnx")], {1, 3}, KW_GARBAGE))
    run("nonexistent-model", P("does-not-exist.onnx"), [("X", x4)], {1},
        r"does-not-exist|no such file|not found|cannot open|open")
    os.makedirs(P("dir.onnx"))
    run("directory-as-model", P("dir.onnx"), [("X", x4)], {1},
        r"director|is a dir|read|open|not a (regular )?file")

    # --- invalid graphs
    relu = lambda i, o: helper.make_node("Relu", [i], [o])  # noqa: E731
    save_model(make_model([helper.make_node("FooBar", ["X"], ["Y"])], [vi("X", [1, 4])],
                          [vi("Y", [1, 4])]), P("foobar.onnx"))
    run("unknown-op", P("foobar.onnx"), [("X", x4)], {3}, r"FooBar")
    save_model(make_model([relu("X", "T")], [vi("X", [1, 4])], [vi("Y", [1, 4])]),
               P("badopset.onnx"))
    m = onnx.load(P("badopset.onnx"))
    m.opset_import[0].version = 99
    save_model(m, P("badopset.onnx"))
    run("unsupported-opset", P("badopset.onnx"), [("X", x4)], {3}, r"opset|99")
    save_model(make_model([helper.make_node("Add", ["X", "W_missing"], ["Y"])],
                          [vi("X", [1, 4])], [vi("Y", [1, 4])]), P("missing_init.onnx"))
    run("missing-initializer", P("missing_init.onnx"), [("X", x4)], {1}, r"W_missing")
    save_model(make_model([relu("X", "Y")], [vi("X", [1, 4])], [vi("Z_nowhere", [1, 4])]),
               P("missing_graph_output.onnx"))
    run("graph-output-not-produced", P("missing_graph_output.onnx"), [("X", x4)], {1},
        r"Z_nowhere")
    save_model(make_model([helper.make_node("Add", ["X", "B"], ["T"]), relu("T", "B")],
                          [vi("X", [1, 4])], [vi("T", [1, 4])]), P("cycle.onnx"))
    run("cycle", P("cycle.onnx"), [("X", x4)], {1}, r"cycl|topolog|loop|order")
    save_model(make_model([relu("X", "Y"), helper.make_node("Sigmoid", ["X"], ["Y"])],
                          [vi("X", [1, 4])], [vi("Y", [1, 4])]), P("dup_output.onnx"))
    run("duplicate-output-name", P("dup_output.onnx"), [("X", x4)], {1},
        r"duplicat|twice|two nodes|more than once|more than one|multiple|already|redefin"
        r"|unique")

    # a required input given as "" (the "optional input omitted" name): ops with optional
    # inputs (Clip, Resize) must still insist on input 0 (fuzz_model_load found NULL derefs)
    save_model(make_model([helper.make_node("Relu", [""], ["Y"])], [vi("X", [1, 4])],
                          [vi("Y", None)]), P("empty_in_relu.onnx"))
    run("empty-required-input-relu", P("empty_in_relu.onnx"), [("X", x4)], {1},
        r"required|missing|input 0")
    save_model(make_model([helper.make_node("Clip", [""], ["Y"])], [vi("X", [1, 4])],
                          [vi("Y", None)]), P("empty_in_clip.onnx"))
    run("empty-required-input-clip", P("empty_in_clip.onnx"), [("X", x4)], {1},
        r"required|missing|input 0")
    save_model(make_model([helper.make_node("Resize", ["", "", "S"], ["Y"])],
                          [vi("X", [1, 1, 8, 8])], [vi("Y", None)],
                          [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "S")]),
               P("empty_in_resize.onnx"))
    run("empty-required-input-resize", P("empty_in_resize.onnx"), [("X", x8)], {1},
        r"required|missing|input 0")
    # a NUL byte inside a name: as a C string "X\0junk" would silently become "X"
    save_model(make_model([relu("X\x00junk", "Y")], [vi("X", [1, 4])], [vi("Y", [1, 4])]),
               P("nul_in_name.onnx"))
    run("nul-byte-in-name", P("nul_in_name.onnx"), [("X", x4)], {1},
        r"name|NUL|\\0|\\x00|invalid|not produced")

    # --- bad dims in graph inputs / initializers
    save_model(make_model([relu("X", "Y")], [vi("X", [1, -5])], [vi("Y", None)]),
               P("neg_dim_input.onnx"))
    run("negative-dim-input", P("neg_dim_input.onnx"), [("X", x4)], {1},
        r"dim|shape|negative|-5")
    save_model(make_model([relu("X", "Y")], [vi("X", [2 ** 40, 2 ** 40])], [vi("Y", None)]),
               P("huge_dim_input.onnx"))
    run("huge-dim-input", P("huge_dim_input.onnx"), [("X", x4)], {1},
        r"dim|shape|overflow|too (large|big)|size|1099511627776")
    save_model(make_model([helper.make_node("Add", ["X", "W"], ["Y"])], [vi("X", [1, 4])],
                          [vi("Y", None)], [raw_init("W", [-2, 4], b"\0" * 32)]),
               P("neg_dim_init.onnx"))
    run("negative-dim-initializer", P("neg_dim_init.onnx"), [("X", x4)], {1},
        r"dim|shape|negative|-2")
    save_model(make_model([helper.make_node("Add", ["X", "W"], ["Y"])], [vi("X", [1, 4])],
                          [vi("Y", None)], [raw_init("W", [2 ** 40, 2 ** 40], b"\0" * 16)]),
               P("huge_dim_init.onnx"))
    run("huge-dim-initializer", P("huge_dim_init.onnx"), [("X", x4)], {1},
        r"dim|size|overflow|too (large|big)|bytes|data|elements")
    save_model(make_model([helper.make_node("Add", ["X", "W"], ["Y"])], [vi("X", [1, 4])],
                          [vi("Y", None)], [raw_init("W", [4, 4], b"\0" * 8)]),
               P("short_init.onnx"))
    run("initializer-data-too-short", P("short_init.onnx"), [("X", x4)], {1},
        r"size|bytes|data|expected|elements|short")

    # --- bad attributes
    save_model(conv_model(kernel_shape=[5, 5]), P("conv_kernel.onnx"))
    run("conv-kernel-shape-mismatch", P("conv_kernel.onnx"), [("X", x8)], {1, 3}, r"kernel")
    save_model(conv_model(kernel_shape=[3, 3], pads=[-1, -1, -1, -1]), P("conv_negpads.onnx"))
    run("conv-negative-pads", P("conv_negpads.onnx"), [("X", x8)], {1, 3}, r"pad")
    save_model(conv_model(kernel_shape=[3, 3], group=0), P("conv_group0.onnx"))
    run("conv-group-zero", P("conv_group0.onnx"), [("X", x8)], {1, 3}, r"group")

    # --- bad inputs to a good model
    if have_mnist:
        np.save(P("x_3x32.npy"), np.zeros((1, 3, 32, 32), np.float32))
        run("input-shape-mismatch", mnist, [("Input3", P("x_3x32.npy"))], {1},
            r"shape|dim|Input3|1x3x32x32")
        np.save(P("x_i64.npy"), np.zeros((1, 1, 28, 28), np.int64))
        run("input-wrong-dtype", mnist, [("Input3", P("x_i64.npy"))], {1},
            r"dtype|type|int64|float")
        run("input-missing", mnist, [], {1, 2}, r"Input3|missing|input")
        run("input-unknown-name", mnist, [("Input3", x_ok), ("Bogus", x_ok)], {1, 2},
            r"Bogus")
        run("input-npy-nonexistent", mnist, [("Input3", P("nope.npy"))], {1},
            r"nope\.npy|no such file|not found|cannot open")

        # malformed .npy files
        good_hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }"
        data = np.zeros(28 * 28, np.float32).tobytes()
        npys = {
            "npy-bad-magic": (npy_bytes(good_hdr, data, magic=b"\x93NUMPZ"),
                              r"magic|not an? \.?npy|npy"),
            "npy-truncated-header": (npy_bytes(good_hdr, data)[:40],
                                     r"truncat|short|header|end of file|eof|npy"),
            "npy-header-len-past-eof": (b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000)
                                        + b"{'descr': '<f4'",
                                        r"truncat|short|header|end of file|eof|npy"),
            "npy-fortran-order": (npy_bytes(good_hdr.replace("False", "True"), data),
                                  r"fortran"),
            "npy-shape-bigger-than-data": (
                npy_bytes(good_hdr, data[:100]),
                r"truncat|short|size|data|bytes|expected|npy"),
            "npy-unsupported-descr": (
                npy_bytes(good_hdr.replace("<f4", "<c8"), data * 2),
                r"descr|dtype|type|c8|complex|unsupported"),
            "npy-big-endian": (npy_bytes(good_hdr.replace("<f4", ">f4"), data),
                               r"descr|dtype|endian|>f4|unsupported"),
            "npy-garbage-header": (npy_bytes("{'descr': '<f4', 'shape': (1, 1, 28, 28}", data),
                                   r"header|pars|malformed|npy|shape|fortran"),
            "npy-negative-dim": (npy_bytes(good_hdr.replace("(1, 1, 28, 28)", "(1, -1, 28, 28)"),
                                           data), r"dim|shape|negative|npy"),
        }
        for name, (content, kw) in npys.items():
            path = P(name.replace("-", "_") + ".npy")
            with open(path, "wb") as f:
                f.write(content)
            # valid .npy variants that ptq may choose not to support: 1 or 3
            exits = ({1, 3} if name in ("npy-unsupported-descr", "npy-big-endian",
                                        "npy-fortran-order") else {1})
            run(name, mnist, [("Input3", path)], exits, kw)

        # a non-image file with .jpg extension in an image folder, for `ptq eval --data DIR`
        for cls in ("0", "1"):
            os.makedirs(P("images", cls))
        with open(P("images", "0", "good.png"), "wb") as f:
            f.write(png_gray(28, 28))
        with open(P("images", "1", "fake.jpg"), "wb") as f:
            f.write(b"this is a text file, not a JPEG\n" * 20)
        cases.append(Case("eval-nonimage-jpg", [ptq, "eval", mnist, "--data", P("images"),
                                                "--preprocess", "gray"], {1}, r"fake\.jpg"))

    # --- command line
    # bare `ptq` may print its help (no "ptq: " line needed), but must exit 2
    cases.append(Case("usage-no-args", [ptq], {2}, r"usage", need_prefix=False))
    cases.append(Case("usage-unknown-command", [ptq, "frobnicate"], {2},
                      r"frobnicate|unknown|usage|command"))
    cases.append(Case("usage-run-no-model", [ptq, "run"], {2}, r"usage|model|missing|argument"))
    if have_mnist:
        run("usage-bad-shape-spec", mnist, [("Input3", x_ok)], {1, 2}, r"shape|1xZx28",
            extra=["--shape", "Input3=1xZx28"])
        run("usage-bad-threads", mnist, [("Input3", x_ok)], {1, 2}, r"thread|-3",
            extra=["--threads", "-3"])
    return cases


# ----------------------------------------------------------------------------- runner ---

def check(case, work):
    """Returns (ok, exit_code_text, message, why)."""
    os.makedirs(work)
    try:
        p = subprocess.run(case.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT_S, cwd=work)
    except subprocess.TimeoutExpired:
        return False, "timeout", "", "no exit after %d s" % TIMEOUT_S
    err = p.stderr.decode("utf-8", "replace")
    rc = p.returncode
    msg_lines = [ln.strip() for ln in err.splitlines() if ln.startswith("ptq: ")]
    msg = msg_lines[0] if msg_lines else (err.strip().splitlines() or [""])[0]
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = str(-rc)
        return False, name, msg, "crashed (signal %s)" % name
    for marker in CRASH_MARKERS:
        if marker in err:
            line = next((ln for ln in err.splitlines() if marker in ln), marker)
            return False, str(rc), msg, "crash marker in stderr: %s" % line.strip()[:150]
    problems = []
    if rc == 0 and case.allow_ok:
        pass
    else:
        if rc not in case.exits:
            problems.append("exit %d, expected %s" % (rc, "/".join(map(str, sorted(case.exits)))))
        if not case.need_prefix:
            if not re.search(case.keyword, err, re.IGNORECASE):
                problems.append("stderr does not match /%s/" % case.keyword)
        elif not msg_lines:
            problems.append('no stderr line starting "ptq: "')
        elif not re.search(case.keyword, "\n".join(msg_lines), re.IGNORECASE):
            problems.append("message does not match /%s/" % case.keyword)
        if case.out_dir and os.path.isdir(case.out_dir) and os.listdir(case.out_dir):
            problems.append("output left behind: %s" % ", ".join(sorted(os.listdir(case.out_dir))))
        elif case.out_dir and os.path.exists(case.out_dir) and not os.path.isdir(case.out_dir):
            problems.append("output left behind: %s" % case.out_dir)
    left = os.listdir(work)
    if left:
        problems.append("files left in the working dir: %s" % ", ".join(sorted(left)))
    return (not problems), str(rc), msg, "; ".join(problems)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ptq", required=True)
    ap.add_argument("--shared", default=None, help="shared models/data dir (mnist-8.onnx)")
    ap.add_argument("--filter", default=None, help="only cases whose name contains this")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the command lines")
    args = ap.parse_args()
    ptq = os.path.abspath(args.ptq)
    if not os.access(ptq, os.X_OK):
        print("ptq binary not found or not executable: %s" % ptq)
        return 1
    shared = os.path.abspath(args.shared) if args.shared else None
    if not shared or not os.path.exists(os.path.join(shared, "models", "mnist-8.onnx")):
        print("note: %s/models/mnist-8.onnx not found; cases that need it are left out" % shared)

    failures = 0
    with tempfile.TemporaryDirectory(prefix="ptq-bad-") as tmp:
        os.makedirs(os.path.join(tmp, "out"))
        cases = build_cases(ptq, shared, tmp)
        if args.filter:
            cases = [c for c in cases if args.filter in c.name]
        print("%-30s %-5s %-4s %s" % ("case", "exit", "ok", "message"))
        for i, c in enumerate(cases):
            ok, rc, msg, why = check(c, os.path.join(tmp, "cwd%03d" % i))
            failures += not ok
            msg = msg.replace(tmp + "/", "$TMP/")
            print("%-30s %-5s %-4s %s" % (c.name, rc, "ok" if ok else "FAIL", msg[:150]))
            if not ok:
                print("%-30s       -> %s" % ("", why))
            if args.verbose:
                print("%-30s       $ %s%s" % ("", " ".join(c.argv),
                                             ("  (" + c.note + ")") if c.note else ""))
    print("\nbad inputs: %d cases, %d failed" % (len(cases), failures))
    print("RESULT: %s" % ("FAIL" if failures else "OK"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
