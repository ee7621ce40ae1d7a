/* Int8 data movement and the model boundary (qops.h): nearest resize, pad, and the float NCHW
 * <-> uint8 NHWC conversions. The conversions run per channel over tiles of pixels (one
 * contiguous float run per channel, converted by the plain-C path here or the AVX2 / AVX-512
 * runs of qmisc_avx2.c / qmisc_avx512.c, all with the same float32 operations) through a
 * small uint8 transpose buffer. Threads over rows or tiles; every byte is computed alone, so
 * results do not depend on the thread count. */
#include <string.h>

#include "kernels/qmisc_simd.h"
#include "util/pool.h"
#include "util/util.h"

PTQ_QOPS_NO_CONTRACT

/* Runs fn over [0, units) writing bytes output bytes in all: on the pool when large enough. */
static void run_units(int64_t units, int64_t bytes, ptq_pfor_fn fn, void *ctx) {
  const int threads = ptq_threads();
  if (threads > 1 && units > 1 && bytes >= 4 * PTQ_QPAR_MIN_BYTES)
    ptq_parallel_for(units, ptq_dyn_chunk(units, threads), fn, ctx);
  else
    fn(ctx, 0, units, 0);
}

typedef struct resize_job {
  int64_t c, h_in, w_in, h_out, w_out;
  const int64_t *ih, *iw;
  const uint8_t *x;
  uint8_t *y;
} resize_job;

static void resize_rows(void *ctx, int64_t r0, int64_t r1, int thread) {
  const resize_job *j = ctx;
  const int64_t c = j->c, h_in = j->h_in, w_in = j->w_in, h_out = j->h_out, w_out = j->w_out;
  const int64_t *ih = j->ih, *iw = j->iw;
  const uint8_t *x = j->x;
  uint8_t *y = j->y;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t b = r / h_out, oh = r % h_out;
    const uint8_t *xr = x + (b * h_in + ih[oh]) * w_in * c;
    uint8_t *yr = y + r * w_out * c;
    if (c == 1)
      for (int64_t ow = 0; ow < w_out; ow++) yr[ow] = xr[iw[ow]];
    else
      for (int64_t ow = 0; ow < w_out; ow++) memcpy(yr + ow * c, xr + iw[ow] * c, (size_t)c);
  }
}

void ptq_qresize_nearest(int64_t n, int64_t c, int64_t h_in, int64_t w_in, int64_t h_out,
                         int64_t w_out, const int64_t *ih, const int64_t *iw, const uint8_t *x,
                         uint8_t *y) {
  resize_job job = {c, h_in, w_in, h_out, w_out, ih, iw, x, y};
  run_units(n * h_out, n * h_out * w_out * c, resize_rows, &job);
}

/* Source index of output index i along an axis of n inputs padded by pad in front, or -1
 * for the constant. */
static inline int64_t pad_src(int64_t i, int64_t pad, int64_t n, enum ptq_qpad_mode mode) {
  int64_t j = i - pad;
  if (j >= 0 && j < n) return j;
  if (mode == PTQ_QPAD_CONSTANT) return -1;
  if (mode == PTQ_QPAD_EDGE) return j < 0 ? 0 : n - 1;
  return j < 0 ? -j : 2 * (n - 1) - j; /* reflect, pad < n */
}

typedef struct pad_job {
  const ptq_qpad_params *p;
  const uint8_t *x;
  uint8_t *y;
} pad_job;

static void pad_rows(void *ctx, int64_t r0, int64_t r1, int thread) {
  const pad_job *j = ctx;
  const ptq_qpad_params *p = j->p;
  const uint8_t *x = j->x;
  uint8_t *y = j->y;
  const int64_t ho = p->pad_t + p->h + p->pad_b, wo = p->pad_l + p->w + p->pad_r;
  const int64_t co = p->pad_c0 + p->c + p->pad_c1;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t b = r / ho, oh = r % ho;
    uint8_t *yr = y + r * wo * co;
    const int64_t sh = pad_src(oh, p->pad_t, p->h, p->mode);
    if (sh < 0) {
      memset(yr, p->value, (size_t)(wo * co));
      continue;
    }
    const uint8_t *xr = x + (b * p->h + sh) * p->w * p->c;
    for (int64_t ow = 0; ow < wo; ow++) {
      uint8_t *yp = yr + ow * co;
      const int64_t sw = pad_src(ow, p->pad_l, p->w, p->mode);
      if (sw < 0) {
        memset(yp, p->value, (size_t)co);
        continue;
      }
      const uint8_t *xp = xr + sw * p->c;
      for (int64_t k = 0; k < p->pad_c0; k++) {
        const int64_t s = pad_src(k, p->pad_c0, p->c, p->mode);
        yp[k] = s < 0 ? p->value : xp[s];
      }
      memcpy(yp + p->pad_c0, xp, (size_t)p->c);
      for (int64_t k = p->pad_c0 + p->c; k < co; k++) {
        const int64_t s = pad_src(k, p->pad_c0, p->c, p->mode);
        yp[k] = s < 0 ? p->value : xp[s];
      }
    }
  }
}

void ptq_qpad(const ptq_qpad_params *p, const uint8_t *x, uint8_t *y) {
  const int64_t ho = p->pad_t + p->h + p->pad_b, wo = p->pad_l + p->w + p->pad_r;
  const int64_t co = p->pad_c0 + p->c + p->pad_c1, rows = p->n * ho;
  pad_job job = {p, x, y};
  run_units(rows, rows * wo * co, pad_rows, &job);
}

/* ------------------------------------------------------------ boundary --- */

static void quantize_run_scalar(int64_t n, const float *x, float scale, float flo, float fhi,
                                int32_t zq, uint8_t *y) {
  for (int64_t i = 0; i < n; i++) y[i] = (uint8_t)ptq_qops_quant(x[i], scale, flo, fhi, zq);
}

static void dequantize_run_scalar(int64_t n, const uint8_t *x, float scale, int32_t zq, float *y) {
  for (int64_t i = 0; i < n; i++) y[i] = (float)((int32_t)x[i] - zq) * scale;
}

#define TILE 256 /* pixels per tile */
#define CCH 16   /* channels per transpose step */

/* Runs fn over units tiles of elems elements in all: on the pool when large enough. */
static void run_tiles(int64_t units, int64_t elems, ptq_pfor_fn fn, void *ctx) {
  const int threads = ptq_threads();
  if (threads > 1 && units > 1 && elems >= PTQ_QPAR_MIN_WORK)
    ptq_parallel_for(units, ptq_dyn_chunk(units, threads), fn, ctx);
  else
    fn(ctx, 0, units, 0);
}

typedef struct quant_job {
  void (*run)(int64_t, const float *, float, float, float, int32_t, uint8_t *);
  const float *x;
  uint8_t *y;
  int64_t c, hw, tiles;
  float scale, flo, fhi;
  int32_t zq;
} quant_job;
static void quant_tiles(void *ctx, int64_t u0, int64_t u1, int thread);

typedef struct dequant_job {
  void (*run)(int64_t, const uint8_t *, float, int32_t, float *);
  const uint8_t *x;
  float *y;
  int64_t c, hw, tiles;
  float scale;
  int32_t zq;
} dequant_job;
static void dequant_tiles(void *ctx, int64_t u0, int64_t u1, int thread);

void ptq_quantize_nchw_to_nhwc(int64_t n, int64_t c, int64_t hw, const float *x, float scale,
                               int32_t zp, int int8, uint8_t *y) {
  void (*run)(int64_t, const float *, float, float, float, int32_t, uint8_t *) =
      quantize_run_scalar;
#if PTQ_HAVE_X86_KERNELS
  const enum ptq_qisa isa = ptq_qisa();
  if (isa == PTQ_QISA_AVX512VNNI)
    run = ptq_quantize_run_avx512;
  else if (isa == PTQ_QISA_AVX2)
    run = ptq_quantize_run_avx2;
#endif
  /* The code range is [qmin, qmax] of the target type; zq is the uint8-domain zero point. */
  const int32_t qmin = int8 ? -128 : 0, qmax = int8 ? 127 : 255, zq = int8 ? zp + 128 : zp;
  const float flo = (float)(qmin - zp), fhi = (float)(qmax - zp);
  const int64_t tiles = (hw + TILE - 1) / TILE, units = n * tiles;
  quant_job job = {run, x, y, c, hw, tiles, scale, flo, fhi, zq};
  run_tiles(units, n * c * hw, quant_tiles, &job);
}

static void quant_tiles(void *ctx, int64_t u0, int64_t u1, int thread) {
  const quant_job *j = ctx;
  const int64_t c = j->c, hw = j->hw, tiles = j->tiles;
  const float *x = j->x;
  uint8_t *y = j->y;
  for (int64_t u = u0; u < u1; u++) {
    const int64_t b = u / tiles, p0 = (u % tiles) * TILE, np = hw - p0 < TILE ? hw - p0 : TILE;
    uint8_t buf[CCH][TILE];
    for (int64_t c0 = 0; c0 < c; c0 += CCH) {
      const int64_t nc = c - c0 < CCH ? c - c0 : CCH;
      for (int64_t k = 0; k < nc; k++)
        j->run(np, x + (b * c + c0 + k) * hw + p0, j->scale, j->flo, j->fhi, j->zq, buf[k]);
      uint8_t *yt = y + (b * hw + p0) * c + c0;
      for (int64_t i = 0; i < np; i++)
        for (int64_t k = 0; k < nc; k++) yt[i * c + k] = buf[k][i];
    }
  }
}

void ptq_dequantize_nhwc_to_nchw(int64_t n, int64_t c, int64_t hw, const uint8_t *x, float scale,
                                 int32_t zp, int int8, float *y) {
  void (*run)(int64_t, const uint8_t *, float, int32_t, float *) = dequantize_run_scalar;
#if PTQ_HAVE_X86_KERNELS
  const enum ptq_qisa isa = ptq_qisa();
  if (isa == PTQ_QISA_AVX512VNNI)
    run = ptq_dequantize_run_avx512;
  else if (isa == PTQ_QISA_AVX2)
    run = ptq_dequantize_run_avx2;
#endif
  const int32_t zq = int8 ? zp + 128 : zp;
  const int64_t tiles = (hw + TILE - 1) / TILE, units = n * tiles;
  dequant_job job = {run, x, y, c, hw, tiles, scale, zq};
  run_tiles(units, n * c * hw, dequant_tiles, &job);
}

static void dequant_tiles(void *ctx, int64_t u0, int64_t u1, int thread) {
  const dequant_job *j = ctx;
  const int64_t c = j->c, hw = j->hw, tiles = j->tiles;
  const uint8_t *x = j->x;
  float *y = j->y;
  for (int64_t u = u0; u < u1; u++) {
    const int64_t b = u / tiles, p0 = (u % tiles) * TILE, np = hw - p0 < TILE ? hw - p0 : TILE;
    uint8_t buf[CCH][TILE];
    for (int64_t c0 = 0; c0 < c; c0 += CCH) {
      const int64_t nc = c - c0 < CCH ? c - c0 : CCH;
      const uint8_t *xt = x + (b * hw + p0) * c + c0;
      for (int64_t i = 0; i < np; i++)
        for (int64_t k = 0; k < nc; k++) buf[k][i] = xt[i * c + k];
      for (int64_t k = 0; k < nc; k++)
        j->run(np, buf[k], j->scale, j->zq, y + (b * c + c0 + k) * hw + p0);
    }
  }
}
