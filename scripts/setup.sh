#!/usr/bin/env bash
# Installs what ptq's build, tests and benchmarks need. Idempotent: skips what is present.
set -euo pipefail

DEB_PKGS=(cmake make gcc clang pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev
  libonnx-testdata libopenblas-openmp-dev libjpeg-dev libpng-dev libcmocka-dev
  libclang-rt-14-dev dataset-fashion-mnist)
# python3-torch (Debian) is needed only to retrain models/fashion-cnn.onnx (tools/).
PY_PKGS=(numpy onnx onnxruntime pillow)

missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! "$PY" -c "import numpy, onnx, onnxruntime, PIL" >/dev/null 2>&1; then
  echo "setup: installing Python packages ${PY_PKGS[*]}"
  "$PY" -m pip install -q "${PY_PKGS[@]}"
fi
echo "setup: ok"
