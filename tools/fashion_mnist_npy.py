#!/usr/bin/env python3
"""Converts Fashion-MNIST from Debian's `dataset-fashion-mnist` package to .npy files.

Reads the gzipped IDX files under /usr/share/datasets/fashion-mnist (or --src) and writes

    OUT/fashion-mnist/train-images.npy   uint8  60000 x 1 x 28 x 28  (NCHW, raw pixels 0..255)
    OUT/fashion-mnist/train-labels.npy   int64  60000
    OUT/fashion-mnist/test-images.npy    uint8  10000 x 1 x 28 x 28
    OUT/fashion-mnist/test-labels.npy    int64  10000

OUT defaults to build/data (relative to the repository root). Pixels stay raw; the demo
model (models/fashion-cnn.onnx) expects x = pixels / 255, i.e. `--preprocess scale=1/255`:

    ptq eval models/fashion-cnn.onnx --data build/data/fashion-mnist/test-images.npy \
        --labels build/data/fashion-mnist/test-labels.npy --preprocess scale=1/255

Needs only numpy; runs under the pyenv python3 or /usr/bin/python3.
"""
import argparse
import gzip
import os
import struct
import sys

import numpy as np

DEFAULT_SRC = "/usr/share/datasets/fashion-mnist"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPLITS = {"train": "train", "test": "t10k"}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """Reads a (gzipped) IDX file of unsigned bytes into an ndarray of its declared shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX header")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {body.size} bytes of data, header says {dims}")
    return body.reshape(dims)


def load_split(split, src=DEFAULT_SRC):
    """Returns (images uint8 N x 1 x 28 x 28, labels int64 N) for split 'train' or 'test'."""
    stem = SPLITS[split]
    images = read_idx(os.path.join(src, f"{stem}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(src, f"{stem}-labels-idx1-ubyte.gz"))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{split}: unexpected shapes {images.shape} / {labels.shape}")
    return (images[:, None, :, :].copy(),
            labels.astype(np.int64))


def save_atomic(path, array):
    tmp = path + ".tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default=DEFAULT_SRC,
                    help="folder with the IDX .gz files (default %(default)s)")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "data"),
                    help="output folder; files go to OUT/fashion-mnist/ (default build/data)")
    ap.add_argument("--split", choices=["train", "test", "both"], default="both")
    args = ap.parse_args(argv)

    if not os.path.isdir(args.src):
        sys.exit(f"fashion_mnist_npy: {args.src} not found; "
                 "install it with: apt-get install dataset-fashion-mnist")
    out = os.path.join(args.out, "fashion-mnist")
    os.makedirs(out, exist_ok=True)
    for split in (["train", "test"] if args.split == "both" else [args.split]):
        images, labels = load_split(split, args.src)
        save_atomic(os.path.join(out, f"{split}-images.npy"), images)
        save_atomic(os.path.join(out, f"{split}-labels.npy"), labels)
        print(f"{split}: {images.shape[0]} samples -> {out}/{split}-{{images,labels}}.npy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
