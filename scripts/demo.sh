#!/usr/bin/env bash
# One command from a fresh clone: set up, build, and run ptq's main job on the default model:
# FP32 evaluation of MNIST-8 on the MNIST test set (../shared), then info and a benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${PTQ_SHARED:-../shared}
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target ptq_cli
MODEL=$SHARED/models/mnist-8.onnx
build/ptq info "$MODEL"
build/ptq eval "$MODEL" --data "$SHARED/data/mnist/test-images.npy" \
  --labels "$SHARED/data/mnist/test-labels.npy"
build/ptq bench "$MODEL" --threads 1
