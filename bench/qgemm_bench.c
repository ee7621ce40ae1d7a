/* Throughput of the int8 GEMM (qgemm.h) per ISA: GOP/s (2 ops per multiply-add) of
 * ptq_qgemm_run on random data, best of several runs (thread CPU time with 1 thread).
 *   qgemm_bench [threads] [m n k]...   (default: 1 thread; 3136 64 576 and 196 960 160)
 * Not a test: build with
 *   cc -O2 -std=c11 -fopenmp -Isrc -Iinclude bench/qgemm_bench.c -o qgemm_bench \
 *      -L<build> -lptq -Wl,-rpath,<build>   (or the qgemm_bench CMake target when present) */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/qgemm.h"
#include "ptq/ptq.h"

/* Thread CPU time with one thread (this machine's cores are shared: wall time counts the time
 * other work holds the core), wall time otherwise. */
static int g_threads = 1;

static double now(void) {
  struct timespec ts;
  clock_gettime(g_threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench(int64_t m, int64_t n, int64_t k) {
  uint8_t *x = malloc((size_t)(m * k)), *y = malloc((size_t)(m * n));
  int8_t *w = malloc((size_t)(n * k));
  int32_t *bias = malloc(sizeof(int32_t) * (size_t)n), *mult = malloc(sizeof(int32_t) * (size_t)n);
  int32_t *shift = malloc(sizeof(int32_t) * (size_t)n);
  if (!x || !y || !w || !bias || !mult || !shift) exit(1);
  uint32_t s = 1;
  for (int64_t i = 0; i < m * k; i++) x[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
  for (int64_t i = 0; i < n * k; i++) w[i] = (int8_t)((s = s * 1664525u + 1013904223u) >> 24);
  for (int64_t j = 0; j < n; j++)
    bias[j] = (int32_t)(j * 7) - 100, mult[j] = 1 << 30, shift[j] = 40;
  static const char *const isas[] = {"scalar", "avx2", "avx512vnni"};
  for (int i = 0; i < 3; i++) {
    setenv("PTQ_ISA", isas[i], 1);
    ptq_qgemm_packed *p = ptq_qgemm_pack(n, k, w, k, bias, mult, shift, 128);
    if (!p) exit(1);
    if (strcmp(ptq_qgemm_packed_isa(p), isas[i]) != 0) {
      ptq_qgemm_packed_free(p);
      continue;
    }
    const double ops = 2.0 * (double)m * (double)n * (double)k;
    const int reps = i == 0 ? 1 : (int)(2e9 / ops) + 1;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
      const double t0 = now();
      for (int q = 0; q < reps; q++) ptq_qgemm_run(p, m, x, k, 3, 0, 255, y, n);
      const double t = (now() - t0) / reps;
      if (t < best) best = t;
      if (i == 0) break;
    }
    printf("m=%-5lld n=%-5lld k=%-5lld %-10s %8.3f ms %8.1f GOP/s\n", (long long)m, (long long)n,
           (long long)k, isas[i], best * 1e3, ops / best * 1e-9);
    ptq_qgemm_packed_free(p);
  }
  unsetenv("PTQ_ISA");
  free(x);
  free(y);
  free(w);
  free(bias);
  free(mult);
  free(shift);
}

int main(int argc, char **argv) {
  g_threads = argc > 1 && atoi(argv[1]) > 0 ? atoi(argv[1]) : 1;
  ptq_set_threads(g_threads);
  if (argc > 4) {
    for (int i = 2; i + 2 < argc; i += 3)
      bench(atoll(argv[i]), atoll(argv[i + 1]), atoll(argv[i + 2]));
  } else {
    bench(3136, 64, 576);
    bench(196, 960, 160);
  }
  return 0;
}
