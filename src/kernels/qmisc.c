/* Int8 data movement and the model boundary (qops.h): nearest resize, pad, and the float NCHW
 * <-> uint8 NHWC conversions. The conversions run per channel over tiles of pixels (one
 * contiguous float run per channel, converted by the plain-C path here or the AVX2 / AVX-512
 * runs of qmisc_avx2.c / qmisc_avx512.c, all with the same float32 operations) through a
 * small uint8 transpose buffer. Threads over rows or tiles; every byte is computed alone, so
 * results do not depend on the thread count. */
#include <string.h>

#include "kernels/qmisc_simd.h"
#include "util/util.h"

PTQ_QOPS_NO_CONTRACT

void ptq_qresize_nearest(int64_t n, int64_t c, int64_t h_in, int64_t w_in, int64_t h_out,
                         int64_t w_out, const int64_t *ih, const int64_t *iw, const uint8_t *x,
                         uint8_t *y) {
  const int64_t rows = n * h_out;
#pragma omp parallel for schedule(static) \
    num_threads(ptq_threads()) if (rows * w_out * c >= 4 * PTQ_PAR_MIN_COPY)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t b = r / h_out, oh = r % h_out;
    const uint8_t *xr = x + (b * h_in + ih[oh]) * w_in * c;
    uint8_t *yr = y + r * w_out * c;
    if (c == 1)
      for (int64_t ow = 0; ow < w_out; ow++) yr[ow] = xr[iw[ow]];
    else
      for (int64_t ow = 0; ow < w_out; ow++) memcpy(yr + ow * c, xr + iw[ow] * c, (size_t)c);
  }
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

void ptq_qpad(const ptq_qpad_params *p, const uint8_t *x, uint8_t *y) {
  const int64_t ho = p->pad_t + p->h + p->pad_b, wo = p->pad_l + p->w + p->pad_r;
  const int64_t co = p->pad_c0 + p->c + p->pad_c1, rows = p->n * ho;
#pragma omp parallel for schedule(static) \
    num_threads(ptq_threads()) if (rows * wo * co >= 4 * PTQ_PAR_MIN_COPY)
  for (int64_t r = 0; r < rows; r++) {
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
#pragma omp parallel for schedule(static) \
    num_threads(ptq_threads()) if (n * c * hw >= PTQ_PAR_MIN_WORK)
  for (int64_t u = 0; u < units; u++) {
    const int64_t b = u / tiles, p0 = (u % tiles) * TILE, np = hw - p0 < TILE ? hw - p0 : TILE;
    uint8_t buf[CCH][TILE];
    for (int64_t c0 = 0; c0 < c; c0 += CCH) {
      const int64_t nc = c - c0 < CCH ? c - c0 : CCH;
      for (int64_t k = 0; k < nc; k++)
        run(np, x + (b * c + c0 + k) * hw + p0, scale, flo, fhi, zq, buf[k]);
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
#pragma omp parallel for schedule(static) \
    num_threads(ptq_threads()) if (n * c * hw >= PTQ_PAR_MIN_WORK)
  for (int64_t u = 0; u < units; u++) {
    const int64_t b = u / tiles, p0 = (u % tiles) * TILE, np = hw - p0 < TILE ? hw - p0 : TILE;
    uint8_t buf[CCH][TILE];
    for (int64_t c0 = 0; c0 < c; c0 += CCH) {
      const int64_t nc = c - c0 < CCH ? c - c0 : CCH;
      const uint8_t *xt = x + (b * hw + p0) * c + c0;
      for (int64_t i = 0; i < np; i++)
        for (int64_t k = 0; k < nc; k++) buf[k][i] = xt[i * c + k];
      for (int64_t k = 0; k < nc; k++) run(np, buf[k], scale, zq, y + (b * c + c0 + k) * hw + p0);
    }
  }
}
