"""LSTM / GRU / RNN oracle: `ptq run` on tiny single-node models against onnxruntime and numpy.

Every case builds a one-node model with onnx.helper in a temporary folder, feeds seeded random
inputs (uniform in [-1, 1]; weights scaled by 1/sqrt(hidden) so states do not saturate) and
compares every output with two references:
  ort    onnxruntime (CPU, one thread, no graph optimisation);
  numpy  float64 loops written from the ONNX equations (numpy_reference), independent of both.
Covered: forward / reverse / bidirectional, sequence_lens (including 0 for LSTM and GRU),
initial states, peepholes, clip, input_forget, linear_before_reset 0 and 1, layout 1, every
activation with explicit alpha/beta, omitted outputs, weights as initializers, symbolic dims,
no hidden_size attribute, hidden sizes 1..64.

onnxruntime's CPU kernels reject layout = 1, so those cases run the same node with layout 0 in
onnxruntime on transposed inputs and transpose its outputs back (reference "ort-layout0").
Cases marked ort=False check semantics onnxruntime does not implement and use numpy only:
ONNX default alpha/beta where onnxruntime uses 0 (Affine, ScaledTanh, ThresholdedRelu),
RNN's alpha order with mixed activations, and sequence_lens 0 in RNN (onnxruntime reads out of
bounds there; ptq gives zeros, as onnxruntime's LSTM and GRU do).

Cases ptq must reject (exit 3 for unsupported, 1 for invalid shapes / values) are checked for
the exit code and for a message naming the problem; bad_seq_lens is only detectable at run
time (sequence_lens is a graph input).

Tolerance: norm-wise relative error (oracle_common.compare) <= 1e-5 and max abs error <= 1e-5
against each reference (onnxruntime's sigmoid/tanh are approximations; all three agree to
~3e-7).

Usage (ctest passes --ptq and --shared):
  python3 tests/oracle/test_rnn_ops.py --ptq build/ptq --shared ../shared [--only lstm] [--keep]
"""
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_common as oc  # noqa: E402

TOL = dict(rel=1e-5, abs=1e-5)
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
OUTPUTS = {"LSTM": ["Y", "Y_h", "Y_c"], "GRU": ["Y", "Y_h"], "RNN": ["Y", "Y_h"]}
INPUTS = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]


class Case:
    """One node. p: op, dir, S, N, I, H, layout, and flags B, seq (list of lengths), h0, c0, P,
    clip, input_forget, lbr, acts (list), alpha, beta, outs (subset of outputs), init (weights
    W, R, B, P as initializers), consts (further input names made initializers), sym (symbolic
    X dims), opset, dtype, ort (False: numpy reference only)."""

    def __init__(self, name, **p):
        self.name = name
        self.p = dict(dir="forward", S=5, N=3, I=4, H=6, layout=0, B=True, seq=None, h0=False,
                      c0=False, P=False, clip=None, input_forget=None, lbr=None, acts=None,
                      alpha=None, beta=None, outs=None, init=False, consts=(), sym=False,
                      opset=None, hidden_attr=True, dtype=np.float32, ort=True)
        self.p.update(p)
        self.expect_rc = p.get("expect_rc")  # rejection cases: exit code
        self.expect_msg = p.get("expect_msg")  # ... and a substring of stderr
        self.feeds_override = p.get("feeds", {})  # name -> array replacing the random one


def make_feeds(c, rng):
    p = c.p
    op, D = p["op"], 2 if p["dir"] == "bidirectional" else 1
    G, S, N, I, H = GATES[op], p["S"], p["N"], p["I"], p["H"]
    sc = 1.0 / np.sqrt(H)
    dt = p["dtype"]

    def u(shape, scale=1.0):
        return (rng.uniform(-1, 1, size=shape) * scale).astype(dt)

    f = {}
    f["X"] = u([N, S, I] if p["layout"] else [S, N, I])
    f["W"] = u([D, G * H, I], sc)
    f["R"] = u([D, G * H, H], sc)
    if p["B"]:
        f["B"] = u([D, 2 * G * H], 0.5)
    if p["seq"] is not None:
        f["sequence_lens"] = np.array(p["seq"], np.int32)
    st = [N, D, H] if p["layout"] else [D, N, H]
    if p["h0"]:
        f["initial_h"] = u(st)
    if p["c0"]:
        f["initial_c"] = u(st)
    if p["P"]:
        f["P"] = u([D, 3 * H], 0.5)
    for k, v in c.feeds_override.items():
        f[k] = v
    return f


def build_model(c, feeds, path, layout, twin=False):
    """Writes the one-node model; layout overrides p['layout']. twin: the onnxruntime model,
    which always states hidden_size (onnxruntime requires it)."""
    p = c.p
    op = p["op"]
    attrs = dict(direction=p["dir"])
    if p["hidden_attr"] or twin:
        attrs["hidden_size"] = p["H"]
    if layout:
        attrs["layout"] = 1
    if p["clip"] is not None:
        attrs["clip"] = p["clip"]
    if p["input_forget"] is not None:
        attrs["input_forget"] = p["input_forget"]
    if p["lbr"] is not None:
        attrs["linear_before_reset"] = p["lbr"]
    if p["acts"] is not None:
        attrs["activations"] = p["acts"]
    if p["alpha"] is not None:
        attrs["activation_alpha"] = p["alpha"]
    if p["beta"] is not None:
        attrs["activation_beta"] = p["beta"]
    present = [n for n in INPUTS if n in feeds]
    last = max(INPUTS.index(n) for n in present)
    node_in = [n if n in feeds else "" for n in INPUTS[: last + 1]]
    outs = p["outs"] or OUTPUTS[op]
    node_out = [n if n in outs else "" for n in OUTPUTS[op]]
    while node_out and node_out[-1] == "":
        node_out.pop()
    node = helper.make_node(op, node_in, node_out, **attrs)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(p["dtype"]))
    g_in, inits = [], []
    for n in present:
        a = feeds[n]
        et = helper.np_dtype_to_tensor_dtype(a.dtype)
        if is_const(p, n):
            inits.append(onnx.numpy_helper.from_array(a, n))
            continue
        shape = list(a.shape)
        if p["sym"] and n == "X":
            shape = ["batch", "seq", a.shape[2]] if layout else ["seq", "batch", a.shape[2]]
        g_in.append(helper.make_tensor_value_info(n, et, shape))
    g_out = [helper.make_tensor_value_info(n, elem, None) for n in node_out if n]
    graph = helper.make_graph([node], c.name, g_in, g_out, initializer=inits)
    opset = p["opset"] or (14 if layout else 7)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.save(model, path)
    return [n for n in node_out if n], [n for n in present if not is_const(p, n)]


def is_const(p, name):
    return (p["init"] and name in ("W", "R", "B", "P")) or name in p["consts"]


def ort_reference(c, feeds, tmp):
    """onnxruntime outputs for the case; layout-1 cases via the layout-0 twin."""
    p = c.p
    layout = p["layout"]
    f = dict(feeds)
    if layout:
        f["X"] = np.ascontiguousarray(f["X"].transpose(1, 0, 2))
        for k in ("initial_h", "initial_c"):
            if k in f:
                f[k] = np.ascontiguousarray(f[k].transpose(1, 0, 2))
    path = os.path.join(tmp, "ort.onnx")
    outs, graph_inputs = build_model(c, f, path, 0, twin=True)
    sess = oc.ort_session(path)
    res = oc.ort_run(sess, {k: f[k] for k in graph_inputs})
    if layout:
        for k in res:
            res[k] = (res[k].transpose(2, 0, 1, 3) if k == "Y" else res[k].transpose(1, 0, 2))
    return res


# ONNX operator defaults for activation parameters; used when activation_alpha / _beta run out.
# onnxruntime uses 0 instead for Affine, ThresholdedRelu and ScaledTanh (and 0 for every alpha
# in RNN), so cases relying on those defaults are checked against numpy only.
NP_ACTS = {  # name: (uses alpha, uses beta, default alpha, default beta, f(x, alpha, beta))
    "sigmoid": (0, 0, 0, 0, lambda x, a, b: 1 / (1 + np.exp(-x))),
    "tanh": (0, 0, 0, 0, lambda x, a, b: np.tanh(x)),
    "relu": (0, 0, 0, 0, lambda x, a, b: np.maximum(x, 0)),
    "hardsigmoid": (1, 1, 0.2, 0.5, lambda x, a, b: np.clip(a * x + b, 0, 1)),
    "affine": (1, 1, 1.0, 0.0, lambda x, a, b: a * x + b),
    "leakyrelu": (1, 0, 0.01, 0, lambda x, a, b: np.where(x >= 0, x, a * x)),
    "thresholdedrelu": (1, 0, 1.0, 0, lambda x, a, b: np.where(x > a, x, 0)),
    "scaledtanh": (1, 1, 1.0, 1.0, lambda x, a, b: a * np.tanh(b * x)),
    "elu": (1, 0, 1.0, 0, lambda x, a, b: np.where(x >= 0, x, a * (np.exp(x) - 1))),
    "softsign": (0, 0, 0, 0, lambda x, a, b: x / (1 + np.abs(x))),
    "softplus": (0, 0, 0, 0, lambda x, a, b: np.logaddexp(0, x)),
}


def np_activations(p, per_dir, D):
    """Activation callables, per direction, from the ONNX attributes."""
    names = p["acts"] or {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
                          "RNN": ["Tanh"]}[p["op"]] * D
    alphas, betas = list(p["alpha"] or []), list(p["beta"] or [])
    fns = []
    for n in names:
        ua, ub, da, db, fn = NP_ACTS[n.lower()]
        a = alphas.pop(0) if ua and alphas else da
        b = betas.pop(0) if ub and betas else db
        fns.append(lambda x, fn=fn, a=a, b=b: fn(x, a, b))
    return [fns[d * per_dir:(d + 1) * per_dir] for d in range(D)]


def numpy_reference(c, f):
    """Float64 loops straight from the ONNX equations (one batch entry at a time)."""
    p = c.p
    op, D = p["op"], 2 if p["dir"] == "bidirectional" else 1
    G, S, N, H = GATES[op], p["S"], p["N"], p["H"]
    GH = G * H
    lay = p["layout"]
    X = f["X"].astype(np.float64)
    X = X.transpose(1, 0, 2) if lay else X

    def state(name):
        if name not in f:
            return np.zeros([D, N, H])
        v = f[name].astype(np.float64)
        return v.transpose(1, 0, 2) if lay else v

    h0, c0 = state("initial_h"), state("initial_c")
    lens = f["sequence_lens"] if "sequence_lens" in f else np.full([N], S)
    acts = np_activations(p, {"LSTM": 3, "GRU": 2, "RNN": 1}[op], D)
    cl = (lambda x: np.clip(x, -p["clip"], p["clip"])) if p["clip"] is not None else (lambda x: x)
    Y, Yh, Yc = np.zeros([S, D, N, H]), np.zeros([D, N, H]), np.zeros([D, N, H])
    for d in range(D):
        W, R = f["W"][d].astype(np.float64), f["R"][d].astype(np.float64)
        Bv = f["B"][d].astype(np.float64) if "B" in f else np.zeros(2 * GH)
        Wb, Rb = Bv[:GH], Bv[GH:]
        Pv = f["P"][d].astype(np.float64) if "P" in f else np.zeros(3 * H)
        rev = d == 1 or p["dir"] == "reverse"
        a = acts[d]
        for b in range(N):
            h, cs, L = h0[d, b].copy(), c0[d, b].copy(), int(lens[b])
            for t in (range(L - 1, -1, -1) if rev else range(L)):
                x = X[t, b]
                if op == "LSTM":
                    gi, go, gf, gc = np.split(W @ x + Wb + R @ h + Rb, 4)
                    i = a[0](cl(gi + Pv[:H] * cs))
                    fg = 1 - i if p["input_forget"] else a[0](cl(gf + Pv[2 * H:] * cs))
                    cs = fg * cs + i * a[1](cl(gc))
                    o = a[0](cl(go + Pv[H:2 * H] * cs))
                    h = o * a[2](cs)
                elif op == "GRU":
                    xw = W @ x + Wb
                    z = a[0](cl(xw[:H] + R[:H] @ h + Rb[:H]))
                    r = a[0](cl(xw[H:2 * H] + R[H:2 * H] @ h + Rb[H:2 * H]))
                    if p["lbr"]:
                        hh = a[1](cl(xw[2 * H:] + r * (R[2 * H:] @ h + Rb[2 * H:])))
                    else:
                        hh = a[1](cl(xw[2 * H:] + R[2 * H:] @ (r * h) + Rb[2 * H:]))
                    h = (1 - z) * hh + z * h
                else:
                    h = a[0](cl(W @ x + Wb + R @ h + Rb))
                Y[t, d, b] = h
            if L > 0:
                Yh[d, b], Yc[d, b] = h, cs
    if lay:
        Y, Yh, Yc = Y.transpose(2, 0, 1, 3), Yh.transpose(1, 0, 2), Yc.transpose(1, 0, 2)
    dt = p["dtype"]
    return {"Y": Y.astype(dt), "Y_h": Yh.astype(dt), "Y_c": Yc.astype(dt)}


def compare_outputs(tmp, outs, ref):
    """(worst abs, worst rel, problems) of ptq's outputs against ref."""
    worst_abs, worst_rel, problems = 0.0, 0.0, []
    for n in outs:
        fn = os.path.join(tmp, "out", oc.sanitize(n) + ".npy")
        if not os.path.exists(fn):
            problems.append("%s missing" % n)
            continue
        d = oc.compare(np.load(fn), ref[n])
        if d["problem"]:
            problems.append("%s: %s" % (n, d["problem"]))
            continue
        if not oc.within(d, TOL):
            problems.append("%s: abs %.2e rel %.2e" % (n, d["abs"], d["rel"]))
        worst_abs, worst_rel = max(worst_abs, d["abs"]), max(worst_rel, d["rel"])
    return worst_abs, worst_rel, problems


def run_case(args, c, tmp, rng):
    """Returns (row, detail or None)."""
    p = c.p
    feeds = make_feeds(c, rng)
    path = os.path.join(tmp, "model.onnx")
    outs, graph_inputs = build_model(c, feeds, path, p["layout"])
    argv = ["run", path, "--threads", args.threads, "--out", os.path.join(tmp, "out")]
    for n in graph_inputs:
        fn = os.path.join(tmp, "%s.npy" % n)
        np.save(fn, feeds[n])
        argv += ["--input", "%s=%s" % (n, fn)]
    r = oc.run_ptq(args, argv, timeout=60)
    desc = describe(c)
    if c.expect_rc is not None:
        ok = r.rc == c.expect_rc and c.expect_msg.lower() in r.stderr.lower()
        row = [c.name, desc, "reject", "-", "-", "-", "-", "rc=%s" % r.rc,
               "PASS" if ok else "FAIL"]
        detail = None if ok else "%s: expected rc=%d and a message containing %r; got %s" % (
            c.name, c.expect_rc, c.expect_msg, r.brief())
        return row, detail, ok
    if r.rc != 0:
        return ([c.name, desc, "-", "-", "-", "-", "-", "rc=%s" % r.rc, "FAIL"],
                "%s: %s\n  %s" % (c.name, r.brief(), oc.cmdline(r.cmd)), False)
    problems = []
    if p["ort"]:
        ref_name = "ort-layout0" if p["layout"] else "ort"
        oa, orel, op = compare_outputs(tmp, outs, ort_reference(c, feeds, tmp))
        problems += ["vs %s: %s" % (ref_name, m) for m in op]
    else:
        ref_name, oa, orel = "-", None, None
    na, nrel, npb = compare_outputs(tmp, outs, numpy_reference(c, feeds))
    problems += ["vs numpy: %s" % m for m in npb]
    ok = not problems
    row = [c.name, desc, ref_name, oc.fmt_err(oa), oc.fmt_err(orel), oc.fmt_err(na),
           oc.fmt_err(nrel), "%.2f" % r.seconds, "PASS" if ok else "FAIL"]
    return row, (None if ok else "%s: %s" % (c.name, "; ".join(problems))), ok


def describe(c):
    p = c.p
    s = "%s %s S%d N%d I%d H%d" % (p["op"], p["dir"][:5], p["S"], p["N"], p["I"], p["H"])
    flags = []
    if p["layout"]:
        flags.append("layout1")
    if p["seq"] is not None:
        flags.append("seq=" + ",".join(str(v) for v in p["seq"]))
    for k in ("h0", "c0", "P"):
        if p[k]:
            flags.append(k)
    if not p["B"]:
        flags.append("noB")
    if p["clip"] is not None:
        flags.append("clip=%g" % p["clip"])
    if p["input_forget"]:
        flags.append("input_forget")
    if p["lbr"] is not None:
        flags.append("lbr=%d" % p["lbr"])
    if p["acts"]:
        flags.append("/".join(p["acts"]))
    if p["outs"]:
        flags.append("outs=" + ",".join(p["outs"]))
    if p["init"]:
        flags.append("init")
    if p["sym"]:
        flags.append("symbolic")
    return s + (" " + " ".join(flags) if flags else "")


def cases():
    L, G, R = "LSTM", "GRU", "RNN"
    cs = [
        # LSTM
        Case("lstm_fwd", op=L),
        Case("lstm_fwd_noB_h1", op=L, B=False, H=1, I=3),
        Case("lstm_rev_states", op=L, dir="reverse", h0=True, c0=True, H=16),
        Case("lstm_bidir_peep", op=L, dir="bidirectional", h0=True, c0=True, P=True, H=5),
        Case("lstm_fwd_seqlens", op=L, N=4, seq=[5, 2, 0, 4], h0=True, c0=True),
        Case("lstm_rev_seqlens", op=L, dir="reverse", N=4, seq=[3, 5, 1, 0], h0=True, c0=True),
        Case("lstm_bidir_seqlens", op=L, dir="bidirectional", S=7, N=4, seq=[7, 3, 0, 5],
             h0=True, c0=True, P=True),
        Case("lstm_clip", op=L, dir="bidirectional", clip=0.3, P=True, h0=True),
        Case("lstm_input_forget", op=L, input_forget=1, P=True, c0=True),
        Case("lstm_input_forget_rev", op=L, dir="reverse", input_forget=1, seq=[5, 3, 1]),
        Case("lstm_layout1", op=L, layout=1, dir="bidirectional", N=3, seq=[4, 5, 2], h0=True,
             c0=True, P=True),
        Case("lstm_layout1_fwd", op=L, layout=1, h0=True, c0=True),
        Case("lstm_acts_bidir", op=L, dir="bidirectional", H=7,
             acts=["HardSigmoid", "LeakyRelu", "Softsign", "Sigmoid", "Elu", "ScaledTanh"],
             alpha=[0.3, 0.05, 0.8, 0.9], beta=[0.45, 1.3]),
        Case("lstm_acts_fwd", op=L, acts=["Sigmoid", "Affine", "ThresholdedRelu"],
             alpha=[0.7, 0.1], beta=[0.2]),
        Case("lstm_acts_softplus", op=L, acts=["Sigmoid", "Softplus", "Relu"]),
        Case("lstm_only_Yc", op=L, outs=["Y_c"], h0=True, c0=True),
        Case("lstm_only_Y", op=L, dir="bidirectional", outs=["Y"], seq=[5, 1, 3]),
        Case("lstm_no_Y", op=L, dir="reverse", outs=["Y_h", "Y_c"], seq=[2, 5, 4]),
        Case("lstm_h64_init", op=L, S=12, N=2, I=32, H=64, init=True, h0=True, c0=True, P=True),
        Case("lstm_symbolic", op=L, sym=True, init=True, dir="bidirectional"),
        Case("lstm_no_hidden_attr", op=L, hidden_attr=False, dir="reverse"),
        Case("lstm_opset14", op=L, opset=14, dir="bidirectional", h0=True),
        Case("lstm_batch1_long", op=L, S=40, N=1, I=8, H=24, h0=True, c0=True),
        # GRU
        Case("gru_fwd", op=G),
        Case("gru_fwd_lbr", op=G, lbr=1),
        Case("gru_fwd_lbr_noB", op=G, lbr=1, B=False),
        Case("gru_rev_states", op=G, dir="reverse", h0=True, H=16),
        Case("gru_bidir_lbr_seqlens", op=G, dir="bidirectional", lbr=1, S=6, N=4,
             seq=[6, 2, 0, 4], h0=True),
        Case("gru_bidir_seqlens", op=G, dir="bidirectional", S=6, N=4, seq=[1, 6, 3, 0],
             h0=True),
        Case("gru_rev_seqlens", op=G, dir="reverse", N=4, seq=[3, 5, 2, 4]),
        Case("gru_clip", op=G, dir="bidirectional", clip=0.25, h0=True),
        Case("gru_clip_lbr", op=G, clip=0.4, lbr=1, h0=True),
        Case("gru_layout1", op=G, layout=1, dir="bidirectional", seq=[5, 3, 4], h0=True, lbr=1),
        Case("gru_layout1_fwd", op=G, layout=1, h0=True),
        Case("gru_acts", op=G, dir="bidirectional", acts=["HardSigmoid", "Softsign", "Sigmoid",
                                                          "LeakyRelu"],
             alpha=[0.25, 0.2], beta=[0.55]),
        Case("gru_acts_lbr", op=G, lbr=1, acts=["Sigmoid", "ScaledTanh"], alpha=[1.1],
             beta=[0.9]),
        Case("gru_h1", op=G, H=1, I=2),
        Case("gru_h64_init", op=G, S=12, N=2, I=32, H=64, init=True, h0=True),
        Case("gru_only_Yh", op=G, outs=["Y_h"], seq=[5, 2, 4]),
        Case("gru_symbolic", op=G, sym=True, init=True, lbr=1),
        # RNN (onnxruntime reads out of bounds for sequence_lens 0 in RNN: not covered)
        Case("rnn_fwd", op=R),
        Case("rnn_fwd_noB", op=R, B=False, H=3),
        Case("rnn_rev_states", op=R, dir="reverse", h0=True, H=16),
        Case("rnn_bidir_seqlens", op=R, dir="bidirectional", N=4, seq=[5, 2, 1, 4], h0=True),
        Case("rnn_rev_seqlens", op=R, dir="reverse", N=3, seq=[2, 5, 3]),
        Case("rnn_clip", op=R, dir="bidirectional", clip=0.2, h0=True),
        Case("rnn_layout1", op=R, layout=1, dir="bidirectional", seq=[3, 5, 4], h0=True),
        Case("rnn_relu", op=R, acts=["Relu"]),
        Case("rnn_leaky_bidir", op=R, dir="bidirectional", acts=["LeakyRelu", "Elu"],
             alpha=[0.2, 0.7]),
        Case("rnn_scaledtanh", op=R, acts=["ScaledTanh"], alpha=[1.5], beta=[0.7]),
        Case("rnn_h64_init", op=R, S=12, N=2, I=32, H=64, init=True, h0=True),
        Case("rnn_symbolic", op=R, sym=True, init=True, dir="reverse"),
        Case("rnn_two_acts_fwd", op=R, acts=["Relu", "Tanh"]),
        # numpy only: semantics onnxruntime does not implement (see NP_ACTS, numpy_reference)
        Case("lstm_default_params", op=L, dir="bidirectional", ort=False,
             acts=["HardSigmoid", "Affine", "ScaledTanh", "Sigmoid", "LeakyRelu", "Elu"]),
        Case("gru_default_thresholded", op=G, acts=["Sigmoid", "ThresholdedRelu"], H=3, I=6,
             ort=False, feeds={"W": np.full([1, 9, 6], 0.8, np.float32)}),
        Case("rnn_seqlen0_bidir", op=R, dir="bidirectional", N=4, seq=[5, 0, 2, 0], h0=True,
             ort=False),
        Case("rnn_alpha_order", op=R, dir="bidirectional", acts=["Tanh", "LeakyRelu"],
             alpha=[0.3], ort=False),
        Case("lstm_layout1_seqlen0", op=L, layout=1, dir="reverse", N=3, seq=[0, 5, 3], h0=True,
             c0=True, ort=False),
        # rejections
        Case("bad_activation", op=L, acts=["Sigmoid", "Gelu", "Tanh"], expect_rc=3,
             expect_msg="activation 'Gelu'"),
        Case("bad_activation_count", op=G, acts=["Sigmoid", "Tanh"], dir="bidirectional",
             expect_rc=1, expect_msg="'activations' has 2 entries"),
        Case("bad_dtype", op=R, dtype=np.float64, expect_rc=3,
             expect_msg="X has element type float64; only float32"),
        Case("bad_seq_lens_dtype", op=L, feeds={"sequence_lens": np.full([3], 5, np.float32)},
             expect_rc=3, expect_msg="sequence_lens has element type float"),
        Case("bad_W", op=L, feeds={"W": np.zeros([1, 4 * 6 + 1, 4], np.float32)}, expect_rc=1,
             expect_msg="W has shape [1, 25, 4]"),
        Case("bad_R", op=G, feeds={"R": np.zeros([1, 18, 5], np.float32)}, expect_rc=1,
             expect_msg="R has shape [1, 18, 5]"),
        Case("bad_B", op=R, feeds={"B": np.zeros([1, 6 * 3], np.float32)}, expect_rc=1,
             expect_msg="B has shape [1, 18]"),
        Case("bad_initial_h", op=L, h0=True, feeds={"initial_h": np.zeros([1, 2, 6], np.float32)},
             expect_rc=1, expect_msg="initial_h has shape [1, 2, 6]"),
        Case("bad_P", op=L, P=True, feeds={"P": np.zeros([1, 12], np.float32)}, expect_rc=1,
             expect_msg="P has shape [1, 12]"),
        Case("bad_seq_lens", op=G, seq=[5, 6, 1], expect_rc=1, expect_msg="sequence_lens[1] = 6"),
        Case("bad_seq_lens_const", op=L, seq=[5, -1, 1], consts=("sequence_lens",),
             expect_rc=1, expect_msg="sequence_lens[1] = -1"),
        Case("bad_hidden_size", op=L, feeds={"R": np.zeros([1, 20, 5], np.float32),
                                             "W": np.zeros([1, 20, 4], np.float32)},
             expect_rc=1, expect_msg="not 4*hidden_size = 24"),
        Case("bad_direction", op=L, dir="sideways", expect_rc=1, expect_msg="direction"),
    ]
    return cs


def main():
    args = oc.parse_args(__doc__.splitlines()[0])
    print("test_rnn_ops: seed %d, ptq %s" % (args.seed, args.ptq))
    tmp_root = tempfile.mkdtemp(prefix="ptq_rnn_")
    rows, details, failed = [], [], 0
    try:
        for c in cases():
            # per-case generator: a case's inputs do not depend on which cases ran before it
            rng = np.random.default_rng([args.seed, sum(map(ord, c.name))])
            if not oc.selected(args, c.name):
                continue
            tmp = os.path.join(tmp_root, c.name)
            os.makedirs(tmp)
            try:
                row, detail, ok = run_case(args, c, tmp, rng)
            except Exception as e:  # noqa: BLE001 - a broken case is a failure, not a crash
                row, detail, ok = [c.name, describe(c)] + ["-"] * 6 + ["FAIL"], \
                    "%s: %s: %s" % (c.name, type(e).__name__, e), False
            rows.append(row)
            if detail:
                details.append(detail)
            failed += not ok
    finally:
        if args.keep:
            print("kept %s" % tmp_root)
        else:
            shutil.rmtree(tmp_root, ignore_errors=True)
    oc.print_table(["case", "node", "ort ref", "ort abs", "ort rel", "numpy abs", "numpy rel",
                    "ptq s", "result"], rows)
    if details:
        print("\nfailures:")
        for d in details:
            print("  " + d)
    print("\n%d case(s), %d failed (seed %d, tolerance %s)" % (len(rows), failed, args.seed,
                                                               oc.fmt_tol(TOL)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
