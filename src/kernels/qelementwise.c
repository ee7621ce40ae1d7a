/* Int8 elementwise Add / Mul (qops.h) with the float simulation's exact float32 operations:
 * the plain-C path (the reference), the dispatcher and the thread split. The AVX2 and AVX-512
 * paths (qelementwise_avx2.c, qelementwise_avx512.c) perform the same operations per lane
 * (cvt, sub, mul, add/mul, max/min, div, round-to-nearest-even conversion under the default
 * MXCSR), so every ISA gives the same bits. No contraction into FMA (PTQ_QOPS_NO_CONTRACT). */
#include "kernels/qmisc_simd.h"
#include "util/pool.h"
#include "util/util.h"

PTQ_QOPS_NO_CONTRACT

static inline uint8_t bin1(const ptq_qbin_params *p, uint8_t a, float bf, float flo, float fhi) {
  const float af = (float)((int32_t)a - p->za) * p->sa;
  float v = p->op == PTQ_QBIN_MUL ? af * bf : af + bf;
  if (p->clip) {
    v = v < p->clip_lo ? p->clip_lo : v;
    v = v > p->clip_hi ? p->clip_hi : v;
  }
  return (uint8_t)ptq_qops_quant(v, p->sy, flo, fhi, p->zy);
}

static void qbinary_scalar(const ptq_qbin_params *p, int64_t rows, int64_t c, const uint8_t *a,
                           const uint8_t *b, enum ptq_qbin_bcast bcast, uint8_t *y) {
  const float flo = (float)(p->lo - p->zy), fhi = (float)(p->hi - p->zy);
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t ch = 0; ch < c; ch++) {
      const int64_t k = i * c + ch;
      const uint8_t bq = bcast == PTQ_QBIN_SAME ? b[k] : bcast == PTQ_QBIN_SCALAR ? b[0] : b[ch];
      const float bf = (float)((int32_t)bq - p->zb) * p->sb;
      y[k] = bin1(p, a[k], bf, flo, fhi);
    }
  }
}

typedef void (*qbin_fn)(const ptq_qbin_params *, int64_t, int64_t, const uint8_t *, const uint8_t *,
                        enum ptq_qbin_bcast, uint8_t *);

typedef struct bin_job {
  const ptq_qbin_params *p;
  qbin_fn fn;
  const uint8_t *a, *b;
  uint8_t *y;
  enum ptq_qbin_bcast bcast;
  int64_t c, per;
} bin_job;

/* Units [u0, u1): rows of c (per channel) or runs of per elements of the flat row of c. */
static void bin_units(void *ctx, int64_t u0, int64_t u1, int thread) {
  const bin_job *j = ctx;
  if (j->bcast == PTQ_QBIN_PER_CHANNEL) {
    j->fn(j->p, u1 - u0, j->c, j->a + u0 * j->c, j->b, j->bcast, j->y + u0 * j->c);
    return;
  }
  const int64_t o = u0 * j->per, e = u1 * j->per < j->c ? u1 * j->per : j->c;
  j->fn(j->p, 1, e - o, j->a + o, j->bcast == PTQ_QBIN_SAME ? j->b + o : j->b, j->bcast, j->y + o);
}

void ptq_qbinary(const ptq_qbin_params *p, int64_t rows, int64_t c, const uint8_t *a,
                 const uint8_t *b, enum ptq_qbin_bcast bcast, uint8_t *y) {
  qbin_fn fn = qbinary_scalar;
#if PTQ_HAVE_X86_KERNELS
  const enum ptq_qisa isa = ptq_qisa();
  if (isa == PTQ_QISA_AVX512VNNI)
    fn = ptq_qbinary_avx512;
  else if (isa == PTQ_QISA_AVX2)
    fn = ptq_qbinary_avx2;
#endif
  /* Same shape or scalar b: one flat run of rows·c, split in 64-element aligned chunks. Per
   * channel: whole rows. Each element is computed alone, so the split changes nothing. */
  int64_t units, per;
  if (bcast != PTQ_QBIN_PER_CHANNEL) {
    c = rows * c;
    rows = 1;
    units = (c + 1023) / 1024;
    per = 1024;
  } else {
    units = rows;
    per = 1;
  }
  const int64_t n = rows * c;
  const int threads = ptq_threads();
  if (n < PTQ_QPAR_MIN_WORK || threads <= 1 || units < 2) {
    fn(p, rows, c, a, b, bcast, y);
    return;
  }
  bin_job job = {p, fn, a, b, y, bcast, c, per};
  ptq_parallel_for(units, ptq_dyn_chunk(units, threads), bin_units, &job);
}
