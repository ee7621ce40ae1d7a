#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan/UBSan in build-fuzz/ and runs each for
# SECONDS (default 60) over its seed corpus. Exits nonzero if a target finds a crash (or does
# not build); crash inputs are left in build-fuzz/artifacts/. Before fuzzing, each target
# replays fuzz/regressions/<corpus>/* once (reproducers of bugs found earlier, named after
# the bug; add new ones there) and fails if any of them still crashes.
#   fuzz/run.sh 60          # both targets, 60 s each
#   fuzz/run.sh 300 npy     # only fuzz_npy
# Environment: SHARED (default ../shared from the project root; mnist-8.onnx is added to the
# model corpus from there), JOBS (build parallelism), FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail

SECONDS_PER_TARGET=${1:-60}
ONLY=${2:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-fuzz}
SHARED=${SHARED:-$ROOT/../shared}
JOBS=${JOBS:-$(nproc)}

CC=${CC:-clang}
if ! "$CC" --version 2>/dev/null | grep -qi clang; then
  echo "fuzz/run.sh: CC=$CC is not clang" >&2
  exit 2
fi

mkdir -p "$BUILD"
CC=$CC cmake -S "$ROOT" -B "$BUILD" -DPTQ_FUZZ=ON -DPTQ_SANITIZE=ON -DPTQ_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD/configure.log" 2>&1 ||
  { cat "$BUILD/configure.log" >&2; exit 2; }
TARGETS=()
for t in fuzz_model_load fuzz_npy; do
  if [ -z "$ONLY" ] || [[ "$t" == *"$ONLY"* ]]; then TARGETS+=("$t"); fi
done
if [ ${#TARGETS[@]} -eq 0 ]; then
  echo "fuzz/run.sh: no target matches '$ONLY'" >&2
  exit 2
fi
cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}"

# Working corpora live in the build dir (libFuzzer adds new inputs to the first corpus dir);
# the seeds in fuzz/corpus/ are read but never written.
mkdir -p "$BUILD/corpus/model" "$BUILD/corpus/npy" "$BUILD/artifacts"
if [ -f "$SHARED/models/mnist-8.onnx" ]; then
  cp -f "$SHARED/models/mnist-8.onnx" "$BUILD/corpus/model/mnist-8.onnx"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1

status=0
for name in "${TARGETS[@]}"; do
  case $name in
    fuzz_model_load) corpus=model ;;
    fuzz_npy) corpus=npy ;;
  esac
  # Replay the saved reproducers of bugs found before, one process each.
  bad=0
  for f in "$ROOT/fuzz/regressions/$corpus"/*; do
    [ -e "$f" ] || continue
    if ! "$BUILD/fuzz/$name" "$f" >"$BUILD/regression.log" 2>&1; then
      echo "=== $name: regression input still crashes: fuzz/regressions/$corpus/$(basename "$f")" >&2
      grep -m1 -E "runtime error|ERROR: AddressSanitizer|ERROR: libFuzzer" "$BUILD/regression.log" >&2 || true
      bad=1
    fi
  done
  [ $bad -eq 0 ] || status=1
  echo "=== $name: ${SECONDS_PER_TARGET}s over fuzz/corpus/$corpus"
  # -rss_limit_mb (and the malloc limit that follows it): a few-KB input must not make the
  # loader allocate gigabytes; that is reported as a crash too.
  if "$BUILD/fuzz/$name" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$name-" \
      ${FUZZ_ARGS:-} "$BUILD/corpus/$corpus" "$ROOT/fuzz/corpus/$corpus"; then
    echo "=== $name: no crash"
  else
    echo "=== $name: CRASH (exit $?); reproducer in $BUILD/artifacts/" >&2
    status=1
  fi
done
exit $status
