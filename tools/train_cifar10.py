#!/usr/bin/python3
"""Trains ResNet-20 or MobileNetV2 on CIFAR-10 (CPU) and exports it to ONNX with BatchNorm kept.

Runs under Debian's /usr/bin/python3 with `python3-torch` (CPU only); needs numpy and PIL
(python3-pil) and nothing else. Reads the CIFAR-10 training JPEGs straight from the tar
(`train/<class>/NNNN.jpg`, class indices in classes.txt order), decodes them once into
WORKDIR/cache/train-{images,labels}.npy, and evaluates on the shared test-images.npy:

    /usr/bin/python3 tools/train_cifar10.py --arch resnet20 --workdir /tmp/ptq-c10-r20 \\
        --out models/cifar10-resnet20.onnx

Model input: float32 NCHW N x 3 x 32 x 32 named "input", RGB, holding
    x = (pixels / 255 - MEAN) / STD,  MEAN = 0.4914, 0.4822, 0.4465, STD = 0.2470, 0.2435, 0.2616
(the normalisation is NOT in the graph; with ptq: --preprocess
scale=1/255,mean=0.4914:0.4822:0.4465,std=0.2470:0.2435:0.2616). Output "logits", N x 10, in
CIFAR-10 class order. The batch dim is dynamic.

Architectures
  resnet20     He et al. 2016, sec. 4.2: conv3x3(16)-BN-ReLU, 3 stages x 3 basic blocks with
               16/32/64 channels (stride 2 at the start of stages 2 and 3), global average pool,
               FC(10). --shortcut A (default, the paper's CIFAR choice: identity, subsampled and
               zero-padded in channels: Slice + Pad in ONNX, 0.270 M parameters) or B (1x1 conv +
               BN projection where the shape changes, 0.272 M).
  mobilenetv2  Sandler et al. 2018 with the usual CIFAR strides (as in kuangliu/pytorch-cifar and
               chenyaofo/pytorch-cifar-models): stem conv stride 1 (not 2) and the first stride-2
               bottleneck stage (24 channels) at stride 1, so the network downsamples 8x
               (32 -> 4x4 before the pool). Channels scaled by --width (rounded to multiples of 8,
               as torchvision does; the 1280-channel head is not narrowed below 1.0). ReLU6
               exports as Clip(0, 6).
Every conv is bias-free and followed by its own BatchNormalization node in the ONNX file (the
export keeps BN, for ptq's BN folding and BN-statistics-based data-free quantization); the
script counts the BatchNormalization nodes in the written file and fails if any went missing.
--limit-train N and --limit-test N (evenly spaced: the test file is sorted by class) make smoke
runs (see models/README.md).

Training: SGD (momentum 0.9, Nesterov, weight decay 5e-4 on all parameters), cosine learning
rate per iteration (optional linear warmup), cross-entropy (optional label smoothing), random
crop 32 from the zero-padded 40x40 image and random horizontal flip.

Deterministic and resumable: torch.use_deterministic_algorithms(True), a fixed thread count
(--threads), the shuffle and augmentation RNG of each epoch derived from (seed, epoch), and a
checkpoint after every epoch (WORKDIR/checkpoint.pt: model, optimizer, epoch, the torch, numpy
and python RNG states). --resume continues from it (refusing one made with other settings) and
ends bit-for-bit where an uninterrupted run ends. --stop-after K stops after K epochs of this
run (to test that). --time-iters N times N training iterations, prints the extrapolated time
per epoch, and exits without writing anything but the data cache.

After training: test accuracy in torch, export (opset 13), BN node count, and a comparison of
onnxruntime with torch on a few test images (one per class and more). Debian's python has no
onnxruntime, so that check runs in a child process under --check-python (default: the first
`python3` on PATH, or /root/.pyenv/shims/python3, that imports onnxruntime and numpy).
"""
import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "..", "shared", "data", "cifar10")
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


# ----------------------------------------------------------------------------------- models

class ShortcutA(torch.autograd.Function):
    """Option-A shortcut as two ONNX nodes: Slice (steps = stride on H, W) and Pad (channels).

    Used only while exporting: traced plainly, the zero padding becomes a dozen Shape/Gather/
    ConstantOfShape/... nodes computing the pads at run time (constant folding is off so that
    BN survives). Training uses the equivalent plain ops, see BasicBlock.forward."""

    @staticmethod
    def forward(ctx, x, stride, lo, hi):
        return F.pad(x[:, :, ::stride, ::stride], (0, 0, 0, 0, lo, hi))

    @staticmethod
    def symbolic(g, x, stride, lo, hi):
        big = 9223372036854775807
        y = g.op("Slice", x, g.op("Constant", value_t=torch.tensor([0, 0])),
                 g.op("Constant", value_t=torch.tensor([big, big])),
                 g.op("Constant", value_t=torch.tensor([2, 3])),
                 g.op("Constant", value_t=torch.tensor([stride, stride])))
        pads = g.op("Constant", value_t=torch.tensor([0, lo, 0, 0, 0, hi, 0, 0]))
        out = g.op("Pad", y, pads, mode_s="constant")
        n, c, h, w = x.type().varyingSizes()   # None where dynamic (the batch)
        out.setType(x.type().with_sizes([n, c + lo + hi, (h + stride - 1) // stride,
                                          (w + stride - 1) // stride]))
        return out


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.kind = None
        if stride != 1 or cin != cout:
            self.kind = shortcut
            if shortcut == "B":
                self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(cout))
            else:
                self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.kind == "B":
            sc = self.proj(x)
        elif self.kind == "A":
            lo = self.pad // 2
            if torch.onnx.is_in_onnx_export():
                sc = ShortcutA.apply(x, self.stride, lo, self.pad - lo)
            else:
                sc = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, lo, self.pad - lo))
        else:
            sc = x
        return F.relu(out + sc)


class ResNet20(nn.Module):
    def __init__(self, shortcut="A", classes=10, n=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(BasicBlock(cin, cout, stride if i == 0 else 1, shortcut))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)  # GlobalAveragePool + Flatten in ONNX
        return self.fc(x)


def make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_bn(cin, cout, k, stride, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers += conv_bn(cin, hidden, 1, 1)
        layers += conv_bn(hidden, hidden, 3, stride, groups=hidden)
        layers += conv_bn(hidden, cout, 1, 1, act=False)
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2Cifar(nn.Module):
    # (expansion t, channels c, blocks n, stride s); ImageNet strides 1,2,2,2,1,2,1 with a
    # stride-2 stem; CIFAR: stem stride 1 and the 24-channel stage at stride 1.
    SETTING = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, width=1.0, classes=10):
        super().__init__()
        cin = make_divisible(32 * width)
        last = make_divisible(1280 * max(1.0, width))
        layers = conv_bn(3, cin, 3, 1)
        for t, c, n, s in self.SETTING:
            cout = make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers += conv_bn(cin, last, 1, 1)
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(last, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def build_model(args):
    if args.arch == "resnet20":
        return ResNet20(shortcut=args.shortcut)
    return MobileNetV2Cifar(width=args.width)


# ------------------------------------------------------------------------------------- data

def load_classes(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def load_train(tar_path, classes, cache_dir):
    """The training set as (uint8 N x 3 x 32 x 32, int64 N), decoded once and cached as .npy."""
    from PIL import Image
    xp = os.path.join(cache_dir, "train-images.npy")
    yp = os.path.join(cache_dir, "train-labels.npy")
    if os.path.exists(xp) and os.path.exists(yp):
        return np.load(xp), np.load(yp)
    t0 = time.time()
    index = {c: i for i, c in enumerate(classes)}
    items = []
    with tarfile.open(tar_path, "r:*") as tf:
        for m in tf:
            if not m.isfile() or not m.name.lower().endswith((".jpg", ".jpeg", ".png")):
                continue
            parts = m.name.split("/")
            if len(parts) < 2 or parts[-2] not in index:
                sys.exit(f"train: unexpected member {m.name} in {tar_path}")
            with Image.open(io.BytesIO(tf.extractfile(m).read())) as im:
                a = np.asarray(im.convert("RGB"), dtype=np.uint8)
            if a.shape != (32, 32, 3):
                sys.exit(f"train: {m.name} is {a.shape}, not 32x32x3")
            items.append((index[parts[-2]], m.name, a.transpose(2, 0, 1)))
    items.sort(key=lambda it: (it[0], it[1]))  # independent of the tar's member order
    x = np.stack([it[2] for it in items])
    y = np.array([it[0] for it in items], dtype=np.int64)
    os.makedirs(cache_dir, exist_ok=True)
    for path, arr in ((xp, x), (yp, y)):
        with open(path + ".tmp", "wb") as f:
            np.save(f, arr)
        os.replace(path + ".tmp", path)
    print(f"decoded {len(y)} training images from {tar_path} in {time.time() - t0:.1f} s "
          f"-> {cache_dir}", flush=True)
    return x, y


def normalize(x_u8):
    """uint8 N x 3 x H x W -> float32 (x / 255 - MEAN) / STD."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x_u8.float().div_(255.0) - mean) / std


def augment(x, gen, pad=4):
    """Random horizontal flip, then a random 32x32 crop of the zero-padded image (uint8 in/out)."""
    n, c, h, w = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    xp = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = dy[:, None] + torch.arange(h)[None, :]                   # n x h
    cols = dx[:, None] + torch.arange(w)[None, :]                   # n x w
    ni = torch.arange(n)[:, None, None, None]
    ci = torch.arange(c)[None, :, None, None]
    return xp[ni, ci, rows[:, None, :, None], cols[:, None, None, :]]


@torch.no_grad()
def evaluate(model, x_u8, y, batch=500):
    model.eval()
    correct = 0
    for i in range(0, x_u8.shape[0], batch):
        logits = model(normalize(x_u8[i:i + batch]))
        correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return correct / x_u8.shape[0]


# ----------------------------------------------------------------------------------- export

def _varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf):
    """(field number, wire type, value) of a protobuf message; value is bytes for wire type 2."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 1:
            val, pos = buf[pos:pos + 8], pos + 8
        elif wt == 5:
            val, pos = buf[pos:pos + 4], pos + 4
        elif wt == 2:
            ln, pos = _varint(buf, pos)
            val, pos = buf[pos:pos + ln], pos + ln
        else:
            raise ValueError(f"protobuf wire type {wt} not handled")
        yield num, wt, val


def onnx_op_counts(path):
    """Op type -> count over the main graph of an ONNX file (no onnx package needed), and the
    number of nodes with more than one output (a BatchNormalization in training form has 3)."""
    with open(path, "rb") as f:
        buf = f.read()
    counts, multi = {}, {}
    for num, wt, graph in _fields(buf):
        if num == 7 and wt == 2:                       # ModelProto.graph
            for gnum, gwt, node in _fields(graph):
                if gnum == 1 and gwt == 2:             # GraphProto.node
                    op, nout = None, 0
                    for nnum, nwt, val in _fields(node):
                        if nnum == 4 and nwt == 2:     # NodeProto.op_type
                            op = bytes(val).decode()
                        elif nnum == 2 and nwt == 2:   # NodeProto.output
                            nout += 1
                    counts[op] = counts.get(op, 0) + 1
                    if nout > 1:
                        multi[op] = multi.get(op, 0) + 1
    return counts, multi


def export_onnx(model, path, opset):
    model.eval()
    dummy = torch.zeros(1, 3, 32, 32)
    tmp = path + ".tmp"
    # TrainingMode.PRESERVE with the model in eval mode exports BatchNormalization in its
    # inference form but skips the exporter's eval-mode peephole pass, which would fold each
    # BN into the preceding Conv (TrainingMode.EVAL, the default, does that).
    with warnings.catch_warnings():
        # torch 1.13 calls g.op() in ShortcutA.symbolic deprecated; it works in 1.13
        warnings.filterwarnings("ignore", message=".*_graph_op.* is deprecated",
                                category=FutureWarning)
        # The top module's own `training` flag set (its forward ignores it; every submodule,
        # BN included, stays in eval mode): torch 1.13's exporter then merges only initializers
        # that are the same tensor, not those that are merely equal. With shortcut B, a block's
        # bn2 bias and its projection BN's bias get identical gradients and stay equal; merged,
        # one of them became an Identity node.
        model.training = True
        try:
            torch.onnx.export(model, dummy, tmp, opset_version=opset,
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                              training=torch.onnx.TrainingMode.PRESERVE,
                              do_constant_folding=False)
        finally:
            model.training = False
    os.replace(tmp, path)
    counts, multi = onnx_op_counts(path)
    want = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    have = counts.get("BatchNormalization", 0)
    print("ONNX ops: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if have != want or multi.get("BatchNormalization") or counts.get("Identity"):
        sys.exit(f"train: {path} has {have} BatchNormalization nodes (the model {want}), "
                 f"{multi.get('BatchNormalization', 0)} in training form, "
                 f"{counts.get('Identity', 0)} Identity nodes")
    print(f"BatchNormalization nodes kept: {have}/{want}, all in inference form")


ORT_CHECK = r"""
import sys, numpy as np, onnxruntime as ort
try:
    import onnx
    onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)
    print(f"onnx {onnx.__version__} checker: ok")
except ImportError:
    pass
d = np.load(sys.argv[2])
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
inp = s.get_inputs()[0]
out = s.run(["logits"], {"input": d["x"]})[0]
ref = d["ref"]
print(f"onnxruntime {ort.__version__}: input {inp.name} {inp.shape} {inp.type}; "
      f"{len(ref)} test images: max |logit diff| vs torch {np.abs(out - ref).max():.2e}, "
      f"top-1 agreement {(out.argmax(1) == ref.argmax(1)).mean():.4f}")
"""


def find_check_python(explicit):
    if explicit:
        return explicit
    candidates = [shutil.which("python3"), "/root/.pyenv/shims/python3"]
    for c in candidates:
        if not c or os.path.realpath(c) == os.path.realpath(sys.executable):
            continue
        try:
            r = subprocess.run([c, "-c", "import onnxruntime, numpy"], capture_output=True,
                               timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return c
    return None


@torch.no_grad()
def check_onnx(model, path, xte, check_python):
    """onnxruntime vs torch on 20 evenly spaced test images (2 per class: sorted by class)."""
    try:
        import onnxruntime  # noqa: F401
        py = sys.executable
    except ImportError:
        py = find_check_python(check_python)
    if py is None:
        print("no python with onnxruntime found (--check-python); onnxruntime check skipped")
        return
    n = xte.shape[0]
    idx = torch.linspace(0, n - 1, min(n, 20)).round().long().unique()
    x = normalize(xte[idx])
    ref = model.eval()(x).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        npz = os.path.join(tmp, "check.npz")
        np.savez(npz, x=x.numpy(), ref=ref)
        r = subprocess.run([py, "-c", ORT_CHECK, path, npz], capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        sys.exit(f"train: onnxruntime check failed under {py}:\n{r.stderr}")


# --------------------------------------------------------------------------------- training

def learning_rate(step, total, warmup, peak):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * peak * (1.0 + np.cos(np.pi * t))


def rng_state():
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
            "python": random.getstate()}


def set_rng_state(st):
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", choices=("resnet20", "mobilenetv2"), default="resnet20")
    ap.add_argument("--width", type=float, default=1.0,
                    help="MobileNetV2 width multiplier (0.5 .. 1.0; default %(default)s)")
    ap.add_argument("--shortcut", choices=("A", "B"), default="A",
                    help="ResNet-20 shortcut where the shape changes: A zero-pad identity "
                         "(He et al. CIFAR), B 1x1 conv + BN (default %(default)s)")
    ap.add_argument("--data", default=SHARED,
                    help="folder with train-jpeg.tar.gz, test-images.npy, test-labels.npy, "
                         "classes.txt (default ../shared/data/cifar10)")
    ap.add_argument("--workdir", default="/tmp/ptq-cifar10-train",
                    help="checkpoint and decoded-data cache folder (default %(default)s)")
    ap.add_argument("--cache", default=None,
                    help="folder for the decoded training set (default WORKDIR/cache)")
    ap.add_argument("--out", default=None, help="ONNX file to write "
                    "(default models/cifar10-ARCH.onnx)")
    ap.add_argument("--resume", action="store_true",
                    help="continue from WORKDIR/checkpoint.pt if present")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1, help="peak SGD learning rate")
    ap.add_argument("--warmup-epochs", type=float, default=0.0,
                    help="linear warmup before the cosine decay (default %(default)s)")
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit-train", type=int, default=0,
                    help="train on a fixed random subset of N images (smoke runs)")
    ap.add_argument("--limit-test", type=int, default=0,
                    help="evaluate on N evenly spaced test images (smoke runs; the file is "
                         "sorted by class)")
    ap.add_argument("--eval-every", type=int, default=5,
                    help="test accuracy after every K-th epoch and the last (default %(default)s;"
                         " 10 000 test images take 15-35 s at 1 thread)")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--stop-after", type=int, default=0,
                    help="exit after this many epochs of this run (to test --resume)")
    ap.add_argument("--time-iters", type=int, default=0,
                    help="time this many training iterations, extrapolate to one epoch, exit")
    ap.add_argument("--check-python", default=None,
                    help="python with onnxruntime for the export check")
    args = ap.parse_args(argv)
    if args.out is None:
        name = "resnet20" if args.arch == "resnet20" else f"mobilenetv2-{args.width:g}"
        args.out = f"models/cifar10-{name}.onnx"

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    print(f"{args.arch} (width {args.width:g}, shortcut {args.shortcut}), seed {args.seed}, "
          f"torch {torch.__version__}, {args.threads} threads, {args.epochs} epochs, "
          f"batch {args.batch_size}, lr {args.lr}, wd {args.weight_decay}, "
          f"label smoothing {args.label_smoothing}", flush=True)

    classes = load_classes(os.path.join(args.data, "classes.txt"))
    xtr, ytr = load_train(os.path.join(args.data, "train-jpeg.tar.gz"), classes,
                          args.cache or os.path.join(args.workdir, "cache"))
    xte = np.load(os.path.join(args.data, "test-images.npy"))
    yte = np.load(os.path.join(args.data, "test-labels.npy"))
    if xte.ndim != 4 or xte.shape[1:] != (3, 32, 32):
        if xte.ndim == 4 and xte.shape[3] == 3:
            xte = np.ascontiguousarray(xte.transpose(0, 3, 1, 2))
        else:
            sys.exit(f"train: test images have shape {xte.shape}")
    xtr, ytr = torch.from_numpy(xtr), torch.from_numpy(ytr)
    xte, yte = torch.from_numpy(xte), torch.from_numpy(yte.astype(np.int64))
    if args.limit_train:
        sub = torch.randperm(xtr.shape[0], generator=torch.Generator().manual_seed(args.seed))
        sub = sub[:args.limit_train].sort().values
        xtr, ytr = xtr[sub], ytr[sub]
    if args.limit_test:
        sel = torch.linspace(0, xte.shape[0] - 1, args.limit_test).round().long()
        xte, yte = xte[sel], yte[sel]
    print(f"train {tuple(xtr.shape)}, test {tuple(xte.shape)}", flush=True)

    model = build_model(args)
    nparams = sum(p.numel() for p in model.parameters())
    nbn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    print(f"model: {nparams} trainable parameters, {nbn} BatchNorm layers", flush=True)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                          weight_decay=args.weight_decay, nesterov=True)
    ntrain = xtr.shape[0]
    steps_per_epoch = (ntrain + args.batch_size - 1) // args.batch_size
    total_steps = steps_per_epoch * args.epochs
    warmup_steps = int(round(args.warmup_epochs * steps_per_epoch))

    os.makedirs(args.workdir, exist_ok=True)
    ckpt_path = os.path.join(args.workdir, "checkpoint.pt")
    start_epoch, elapsed = 0, 0.0
    # The settings that determine the trained weights; a checkpoint must match them.
    config = {k: getattr(args, k) for k in
              ("arch", "width", "shortcut", "seed", "epochs", "batch_size", "lr",
               "warmup_epochs", "weight_decay", "label_smoothing", "threads", "limit_train")}
    if args.resume and os.path.exists(ckpt_path) and not args.time_iters:
        ck = torch.load(ckpt_path)
        if ck["config"] != config:
            sys.exit(f"train: {ckpt_path} was made with other settings: {ck['config']}")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        set_rng_state(ck["rng"])
        start_epoch, elapsed = ck["epoch"], ck["elapsed"]
        print(f"resumed from {ckpt_path} after epoch {start_epoch}", flush=True)

    run_epochs, acc = 0, None
    for epoch in range(start_epoch, args.epochs):
        t0 = time.time()
        model.train()
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        perm = torch.randperm(ntrain, generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for it, i in enumerate(range(0, ntrain, args.batch_size)):
            if args.time_iters and it == 2:
                t_start = time.time()  # the first iterations warm up allocators and caches
            step = epoch * steps_per_epoch + it
            for g in opt.param_groups:
                g["lr"] = learning_rate(step, total_steps, warmup_steps, args.lr)
            idx = perm[i:i + args.batch_size]
            x, y = normalize(augment(xtr[idx], gen)), ytr[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * y.shape[0]
            correct += (logits.argmax(1) == y).sum().item()
            total += y.shape[0]
            if args.time_iters and it + 1 == args.time_iters + 2:
                per_it = (time.time() - t_start) / args.time_iters
                full = (50000 + args.batch_size - 1) // args.batch_size
                print(f"timing: {per_it:.3f} s per iteration (batch {args.batch_size}, "
                      f"{args.threads} threads, mean of {args.time_iters}); one epoch of "
                      f"50000 images ({full} it) ~{per_it * full / 60:.1f} min; "
                      f"{args.epochs} epochs ~{per_it * full * args.epochs / 3600:.1f} h "
                      f"(plus the test evaluations)")
                return 0
        train_time = time.time() - t0
        test = ""
        if (epoch + 1) % max(1, args.eval_every) == 0 or epoch + 1 == args.epochs:
            acc = evaluate(model, xte, yte)
            test = (f"test acc {acc:.4f} "
                    f"({time.time() - t0 - train_time:.1f} s), ")
        elapsed += time.time() - t0
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / total:.4f}, "
              f"train acc {correct / total:.4f}, {test}lr {opt.param_groups[0]['lr']:.5f}, "
              f"{train_time:.1f} s train (total {elapsed:.1f} s)", flush=True)
        torch.save({"epoch": epoch + 1, "elapsed": elapsed, "config": config,
                    "model": model.state_dict(), "opt": opt.state_dict(),
                    "rng": rng_state()}, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)
        run_epochs += 1
        if args.stop_after and run_epochs >= args.stop_after and epoch + 1 < args.epochs:
            print(f"stopping after {run_epochs} epochs; continue with --resume")
            return 0

    if acc is None or run_epochs == 0:
        acc = evaluate(model, xte, yte)
    print(f"FP32 test accuracy (torch): {acc:.4f} ({round(acc * xte.shape[0])}/{xte.shape[0]})")
    print(f"training time: {elapsed:.1f} s")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    export_onnx(model, args.out, args.opset)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    check_onnx(model, args.out, xte, args.check_python)
    with open(os.path.join(args.workdir, "result.json"), "w") as f:
        json.dump({"config": config, "test_top1": acc, "test_n": int(xte.shape[0]), "params": nparams, "bn_layers": nbn,
                   "train_seconds": elapsed, "onnx": os.path.abspath(args.out)}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
