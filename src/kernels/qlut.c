/* 256-entry lookup tables (qops.h): the table builder (the float simulation's DQ -> f -> Q)
 * and the lookup y[i] = table[x[i]]: plain C (the reference), AVX2 (qlut_avx2.c, pshufb) and
 * AVX-512 VBMI (qlut_avx512vbmi.c, vpermi2b; needs avx512vbmi on top of the AVX-512 VNNI
 * level, else the AVX2 path runs). */
#include "kernels/qmisc_simd.h"
#include "util/pool.h"
#include "util/util.h"

PTQ_QOPS_NO_CONTRACT

void ptq_qlut_build(uint8_t table[256], ptq_qlut_fn f, void *ctx, float sx, int32_t zx, float sy,
                    int32_t zy, uint8_t lo, uint8_t hi) {
  const float flo = (float)(lo - zy), fhi = (float)(hi - zy);
  for (int32_t q = 0; q < 256; q++) {
    const float xf = (float)(q - zx) * sx;
    const float v = f ? f(xf, ctx) : xf;
    table[q] = (uint8_t)ptq_qops_quant(v, sy, flo, fhi, zy);
  }
}

int ptq_qlut_have_vbmi(void) {
#if PTQ_HAVE_X86_KERNELS
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vbmi");
#else
  return 0;
#endif
}

typedef void (*lut_fn)(const uint8_t *, int64_t, const uint8_t *, uint8_t *);

static void lut_scalar(const uint8_t table[256], int64_t n, const uint8_t *x, uint8_t *y) {
  for (int64_t i = 0; i < n; i++) y[i] = table[x[i]];
}

typedef struct lut_job {
  const uint8_t *table;
  lut_fn fn;
  const uint8_t *x;
  uint8_t *y;
  int64_t n;
} lut_job;

static void lut_lines(void *ctx, int64_t l0, int64_t l1, int thread) {
  const lut_job *j = ctx;
  const int64_t o = l0 * 64, e = l1 * 64 < j->n ? l1 * 64 : j->n;
  j->fn(j->table, e - o, j->x + o, j->y + o);
}

void ptq_qlut(const uint8_t table[256], int64_t n, const uint8_t *x, uint8_t *y) {
  lut_fn fn = lut_scalar;
#if PTQ_HAVE_X86_KERNELS
  const enum ptq_qisa isa = ptq_qisa();
  if (isa == PTQ_QISA_AVX512VNNI && ptq_qlut_have_vbmi())
    fn = ptq_qlut_avx512vbmi;
  else if (isa >= PTQ_QISA_AVX2)
    fn = ptq_qlut_avx2;
#endif
  const int threads = ptq_threads();
  if (n < 4 * PTQ_QPAR_MIN_BYTES || threads <= 1) {
    fn(table, n, x, y);
    return;
  }
  /* Chunks of whole 64-byte lines. */
  const int64_t lines = (n + 63) / 64;
  lut_job job = {table, fn, x, y, n};
  ptq_parallel_for(lines, ptq_dyn_chunk(lines, threads), lut_lines, &job);
}
