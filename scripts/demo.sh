#!/usr/bin/env bash
# One command from a fresh clone: set up, build, and run ptq's main job on the built-in model
# (models/fashion-cnn.onnx, trained by tools/train_fashion_mnist.py, BatchNormalization kept):
# FP32 accuracy on the Fashion-MNIST test set, then W8A8 and W4A8 quantization calibrated on
# 100 seeded training images, each evaluated on the 10 000 test images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target ptq_cli
python3 tools/fashion_mnist_npy.py --out build/data >/dev/null
DATA=build/data/fashion-mnist
OUT=build/demo
mkdir -p "$OUT"
MODEL=models/fashion-cnn.onnx
EVAL=(--data "$DATA/test-images.npy" --labels "$DATA/test-labels.npy" --preprocess scale=1/255)

build/ptq info "$MODEL"
row() { # name model seconds
  local acc size
  acc=$(build/ptq eval "$2" "${EVAL[@]}" --json)
  size=$(stat -c %s "$2")
  printf '%-10s %-32s top-1 %s  size %7d B  quantize %s s\n' "$1" "$2" \
    "$(echo "$acc" | sed 's/.*"top1": \([0-9.]*\).*/\1/')" "$size" "$3"
}
quant() { # out extra-args...
  local out=$1 t0 t1
  shift
  t0=$EPOCHREALTIME
  build/ptq quantize "$MODEL" -o "$out" --calib "$DATA/train-images.npy" --preprocess scale=1/255 \
    --calib-size 100 --seed 1 "$@" >/dev/null
  t1=$EPOCHREALTIME
  python3 -c "print(round($t1 - $t0, 2))"
}
T8=$(quant "$OUT/fashion-w8a8.onnx")
T4=$(quant "$OUT/fashion-w4a8.onnx" --w-bits 4 --method mse)
echo
row FP32 "$MODEL" "-"
row W8A8 "$OUT/fashion-w8a8.onnx" "$T8"
row W4A8 "$OUT/fashion-w4a8.onnx" "$T4"
# quantized models are evaluated on the int8 runtime (ptq eval --engine int8, the default)
lat() { build/ptq bench "$1" --batch 1 --threads 1 --json 2>/dev/null | sed 's/.*"latency_ms": \([0-9.]*\).*/\1/'; }
echo
echo "latency at batch 1, 1 thread: FP32 $(lat "$MODEL") ms, W8A8 on the int8 runtime $(lat "$OUT/fashion-w8a8.onnx") ms"
