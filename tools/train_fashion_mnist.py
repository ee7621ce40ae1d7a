#!/usr/bin/python3
"""Trains ptq's demo model, a small BatchNorm CNN on Fashion-MNIST, and exports it to ONNX.

Runs under Debian's /usr/bin/python3 with `python3-torch` (CPU only) and reads the IDX files
of Debian's `dataset-fashion-mnist` (apt-get install python3-torch dataset-fashion-mnist):

    /usr/bin/python3 tools/train_fashion_mnist.py --out models/fashion-cnn.onnx

Model input: float32 NCHW N x 1 x 28 x 28 named "input", holding x = pixels / 255 (0..1; no
mean/std). Output: "logits", N x 10 (Fashion-MNIST class order). The batch dim is dynamic.
With the .npy files from tools/fashion_mnist_npy.py that is `--preprocess scale=1/255`.

Architecture: conv3x3(c1)-BN-ReLU, conv3x3(c2, stride 2)-BN-ReLU, conv3x3(c2)-BN-ReLU,
conv3x3(c3, stride 2)-BN-ReLU, conv3x3(c3)-BN-ReLU, global average pool, FC(10).
The ONNX export keeps every BatchNormalization as its own node (no Conv+BN fusion), so the
model exercises ptq's BN folding.

Deterministic: seeded (--seed), deterministic algorithms, a fixed thread count, and per-epoch
RNGs derived from the seed, so an interrupted run resumed with --resume (from the checkpoint
written to --work after every epoch) ends with the same weights as an uninterrupted one.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_mnist_npy import DEFAULT_SRC, load_split  # noqa: E402


class FashionCNN(nn.Module):
    def __init__(self, c1=16, c2=32, c3=64, classes=10):
        super().__init__()

        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(*block(1, c1, 1), *block(c1, c2, 2), *block(c2, c2, 1),
                                      *block(c2, c3, 2), *block(c3, c3, 1))
        self.fc = nn.Linear(c3, classes)

    def forward(self, x):
        x = self.features(x)
        x = torch.mean(x, dim=(2, 3))  # global average pool -> ReduceMean in ONNX
        return self.fc(x)


def augment(x, gen):
    """Random horizontal flip and a random shift of up to 2 pixels (zero padding)."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = F.pad(x, (2, 2, 2, 2))
    dx = torch.randint(0, 5, (n,), generator=gen)
    dy = torch.randint(0, 5, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(28)[None, :])            # n x 28
    cols = (dx[:, None] + torch.arange(28)[None, :])            # n x 28
    idx = torch.arange(n)[:, None, None]
    return pad[:, 0][idx, rows[:, :, None], cols[:, None, :]][:, None]


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch):
        logits = model(x[i:i + batch])
        correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return correct / x.shape[0]


def export_onnx(model, path, opset):
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    tmp = path + ".tmp"
    # TrainingMode.PRESERVE with the model in eval mode exports BatchNormalization in its
    # inference form but skips the exporter's eval-mode peephole pass, which would fold each
    # BN into the preceding Conv (TrainingMode.EVAL, the default, does that).
    torch.onnx.export(model, dummy, tmp, opset_version=opset,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False)
    os.replace(tmp, path)


@torch.no_grad()
def check_onnx(model, path, x, y):
    """Runs the exported model in onnxruntime, if this python has it, against torch."""
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not importable here; check the export with another python")
        return
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ref = model.eval()(x).numpy()
    out = sess.run(["logits"], {"input": x.numpy()})[0]
    agree = (out.argmax(1) == ref.argmax(1)).mean()
    print(f"onnxruntime: test accuracy {(out.argmax(1) == y.numpy()).mean():.4f}, "
          f"max |logit diff| vs torch {np.abs(out - ref).max():.2e}, top-1 agreement {agree:.4f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default=DEFAULT_SRC, help="Fashion-MNIST IDX folder")
    ap.add_argument("--out", default="models/fashion-cnn.onnx", help="ONNX file to write")
    ap.add_argument("--work", default="/tmp/ptq-fashion-train",
                    help="checkpoint folder (default %(default)s)")
    ap.add_argument("--resume", action="store_true",
                    help="continue from WORK/checkpoint.pt if present")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05, help="peak SGD learning rate")
    ap.add_argument("--width", default="16,32,64", help="channels c1,c2,c3")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--stop-after", type=int, default=0,
                    help="exit after this many epochs of this run (to test --resume)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    print(f"seed {args.seed}, torch {torch.__version__}, {args.threads} threads, "
          f"{args.epochs} epochs, batch {args.batch}, lr {args.lr}, width {args.width}")

    xtr, ytr = load_split("train", args.src)
    xte, yte = load_split("test", args.src)
    xtr = torch.from_numpy(xtr).float().div_(255.0)
    xte = torch.from_numpy(xte).float().div_(255.0)
    ytr, yte = torch.from_numpy(ytr), torch.from_numpy(yte)

    widths = [int(c) for c in args.width.split(",")]
    model = FashionCNN(*widths)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"model: {nparams} parameters")
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4,
                          nesterov=True)
    steps_per_epoch = (xtr.shape[0] + args.batch - 1) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, pct_start=0.2,
                                                epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch)

    os.makedirs(args.work, exist_ok=True)
    ckpt_path = os.path.join(args.work, "checkpoint.pt")
    start_epoch, elapsed = 0, 0.0
    # The settings that determine the trained weights; a checkpoint must match them.
    config = {k: getattr(args, k) for k in
              ("src", "seed", "epochs", "batch", "lr", "width", "threads")}
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        if ck["config"] != config:
            sys.exit(f"train: {ckpt_path} was made with other settings: {ck['config']}")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        start_epoch, elapsed = ck["epoch"], ck["elapsed"]
        print(f"resumed from {ckpt_path} after epoch {start_epoch}")

    run_epochs = 0
    for epoch in range(start_epoch, args.epochs):
        t0 = time.time()
        model.train()
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        perm = torch.randperm(xtr.shape[0], generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, xtr.shape[0], args.batch):
            idx = perm[i:i + args.batch]
            x, y = augment(xtr[idx], gen), ytr[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * y.shape[0]
            correct += (logits.argmax(1) == y).sum().item()
            total += y.shape[0]
        acc = evaluate(model, xte, yte)
        elapsed += time.time() - t0
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / total:.4f}, "
              f"train acc {correct / total:.4f}, test acc {acc:.4f}, "
              f"{time.time() - t0:.1f} s (total {elapsed:.1f} s)", flush=True)
        torch.save({"epoch": epoch + 1, "elapsed": elapsed, "config": config,
                    "model": model.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict()}, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)
        run_epochs += 1
        if args.stop_after and run_epochs >= args.stop_after and epoch + 1 < args.epochs:
            print(f"stopping after {run_epochs} epochs; continue with --resume")
            return 0

    acc = evaluate(model, xte, yte)
    print(f"FP32 test accuracy (torch): {acc:.4f} ({round(acc * xte.shape[0])}/{xte.shape[0]})")
    print(f"training time: {elapsed:.1f} s")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    export_onnx(model, args.out, args.opset)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    check_onnx(model, args.out, xte, yte)
    return 0


if __name__ == "__main__":
    sys.exit(main())
