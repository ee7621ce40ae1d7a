/* Int8 pooling (qops.h): MaxPool, AveragePool and GlobalAveragePool on NHWC uint8. The driver
 * walks output pixels (threads over rows (image, oh), or over (image, channel block) for the
 * global pool) and hands each pixel's tap grid to a per-ISA pixel function: plain C here (the
 * reference), AVX2 / AVX-512 in qpool_avx2.c / qpool_avx512.c. Sums are exact int32 and the
 * average's requantization is ptq_requant_ref (formula in qops.h), so every ISA and thread
 * count gives the same bytes. */
#include "kernels/qmisc_simd.h"
#include "util/pool.h"
#include "util/util.h"

static void max_pix_scalar(const ptq_qpool_pix *q, uint8_t *y) {
  for (int64_t ch = 0; ch < q->c; ch++) {
    uint8_t m = q->lo;
    for (int64_t r = 0; r < q->rows; r++)
      for (int64_t k = 0; k < q->cols; k++) {
        const uint8_t v = q->base[r * q->row_step + k * q->col_step + ch];
        m = v > m ? v : m;
      }
    y[ch] = m < q->hi ? m : q->hi;
  }
}

static void avg_pix_scalar(const ptq_qpool_pix *q, uint8_t *y) {
  for (int64_t ch = 0; ch < q->c; ch++) {
    int32_t s = 0;
    for (int64_t r = 0; r < q->rows; r++)
      for (int64_t k = 0; k < q->cols; k++)
        s += (int32_t)q->base[r * q->row_step + k * q->col_step + ch] - q->zx;
    y[ch] = ptq_requant_ref(s, q->mult, q->shift, q->zy, q->lo, q->hi);
  }
}

typedef void (*pix_fn)(const ptq_qpool_pix *, uint8_t *);

static pix_fn choose(int avg) {
#if PTQ_HAVE_X86_KERNELS
  const enum ptq_qisa isa = ptq_qisa();
  if (isa == PTQ_QISA_AVX512VNNI) return avg ? ptq_qavg_pix_avx512 : ptq_qmax_pix_avx512;
  if (isa == PTQ_QISA_AVX2) return avg ? ptq_qavg_pix_avx2 : ptq_qmax_pix_avx2;
#endif
  return avg ? avg_pix_scalar : max_pix_scalar;
}

/* (mult, shift) of the average over cnt taps: ptq_requant_from_real(sx / (sy · cnt)); cnt 0
 * (or an unrepresentable multiplier, excluded by the caller) gives mult 0. */
static void avg_mult(const ptq_qpool_params *p, int64_t cnt, int32_t *mult, int32_t *shift) {
  *mult = 0;
  *shift = 1;
  if (cnt <= 0) return;
  if (ptq_requant_from_real((double)p->sx / ((double)p->sy * (double)cnt), mult, shift) != 0) {
    *mult = 0;
    *shift = 1;
  }
}

typedef struct pool_job {
  const ptq_qpool_params *p;
  const uint8_t *x;
  uint8_t *y;
  int avg;
} pool_job;

/* Output rows [r0, r1) (row r = image r / h_out, output row r % h_out). */
static void pool_rows(void *ctx, int64_t r0, int64_t r1, int thread) {
  const pool_job *j = ctx;
  const ptq_qpool_params *p = j->p;
  const uint8_t *x = j->x;
  uint8_t *y = j->y;
  const int avg = j->avg;
  const pix_fn fn = choose(avg);
  const int64_t c = p->c;
  const int64_t h_padded = p->h_in + p->pad_t + p->pad_b, w_padded = p->w_in + p->pad_l + p->pad_r;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t b = r / p->h_out, oh = r % p->h_out;
    const int64_t hs = oh * p->stride_h - p->pad_t;
    int64_t ilo, ihi, plo, phi;
    ptq_tap_range(hs, p->dil_h, p->k_h, p->h_in, &ilo, &ihi);
    ptq_tap_range(hs + p->pad_t, p->dil_h, p->k_h, h_padded, &plo, &phi);
    int64_t last_cnt = -1;
    ptq_qpool_pix q = {.c = c, .zx = p->zx, .zy = p->zy, .lo = p->lo, .hi = p->hi, .shift = 1};
    for (int64_t ow = 0; ow < p->w_out; ow++) {
      const int64_t ws = ow * p->stride_w - p->pad_l;
      int64_t jlo, jhi, qlo, qhi;
      ptq_tap_range(ws, p->dil_w, p->k_w, p->w_in, &jlo, &jhi);
      q.rows = ihi - ilo;
      q.cols = jhi - jlo;
      q.row_step = p->dil_h * p->w_in * c;
      q.col_step = p->dil_w * c;
      q.base = q.rows > 0 && q.cols > 0
                   ? x + ((b * p->h_in + hs + ilo * p->dil_h) * p->w_in + ws + jlo * p->dil_w) * c
                   : x;
      if (q.rows <= 0 || q.cols <= 0) q.rows = q.cols = 0;
      if (avg) {
        ptq_tap_range(ws + p->pad_l, p->dil_w, p->k_w, w_padded, &qlo, &qhi);
        const int64_t cnt = p->count_include_pad ? (phi - plo) * (qhi - qlo) : q.rows * q.cols;
        if (cnt != last_cnt) avg_mult(p, cnt, &q.mult, &q.shift);
        last_cnt = cnt;
      }
      fn(&q, y + (r * p->w_out + ow) * c);
    }
  }
}

static void pool(const ptq_qpool_params *p, const uint8_t *x, uint8_t *y, int avg) {
  const int64_t rows = p->n * p->h_out;
  const int64_t work = rows * p->w_out * p->c * p->k_h * p->k_w;
  pool_job job = {p, x, y, avg};
  const int threads = ptq_threads();
  if (threads > 1 && work >= 4 * PTQ_QPAR_MIN_WORK)
    ptq_parallel_for(rows, ptq_dyn_chunk(rows, threads), pool_rows, &job);
  else
    pool_rows(&job, 0, rows, 0);
}

void ptq_qmaxpool(const ptq_qpool_params *p, const uint8_t *x, uint8_t *y) {
  pool(p, x, y, 0);
}

void ptq_qavgpool(const ptq_qpool_params *p, const uint8_t *x, uint8_t *y) {
  pool(p, x, y, 1);
}

typedef struct gap_job {
  const ptq_qpool_pix *q0;
  pix_fn fn;
  const uint8_t *x;
  uint8_t *y;
  int64_t hw, c, cb;
} gap_job;

/* Units [u0, u1) of 64 channels of one image (unit u = image u / cb, block u % cb). */
static void gap_units(void *ctx, int64_t u0, int64_t u1, int thread) {
  const gap_job *j = ctx;
  for (int64_t u = u0; u < u1; u++) {
    const int64_t b = u / j->cb, c0 = (u % j->cb) * 64;
    ptq_qpool_pix q = *j->q0;
    q.base = j->x + b * j->hw * j->c + c0;
    q.c = j->c - c0 < 64 ? j->c - c0 : 64;
    j->fn(&q, j->y + b * j->c + c0);
  }
}

void ptq_qglobal_avgpool(const ptq_qpool_params *p, const uint8_t *x, uint8_t *y) {
  const pix_fn fn = choose(1);
  const int64_t hw = p->h_in * p->w_in, c = p->c, cb = (c + 63) / 64, units = p->n * cb;
  ptq_qpool_pix q0 = {.rows = hw > 0,
                      .row_step = 0,
                      .cols = hw,
                      .col_step = c,
                      .zx = p->zx,
                      .zy = p->zy,
                      .lo = p->lo,
                      .hi = p->hi};
  avg_mult(p, hw, &q0.mult, &q0.shift);
  gap_job job = {&q0, fn, x, y, hw, c, cb};
  const int threads = ptq_threads();
  if (threads > 1 && units > 1 && p->n * hw * c >= 4 * PTQ_QPAR_MIN_WORK)
    ptq_parallel_for(units, ptq_dyn_chunk(units, threads), gap_units, &job);
  else
    gap_units(&job, 0, units, 0);
}
