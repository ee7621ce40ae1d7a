/* Direct convolution for c_in/group == 1, parallelised over (image, channel, band of output
 * rows). Each band's input rows are copied, zero-padded, into a thread-private stack buffer so
 * that the compute loops need no bounds checks; stride-1 kernels then run over the band
 * flattened to one dimension (row stride = padded width), which keeps vector lanes busy on
 * narrow planes. Each output is bias + Σ taps in (kh, kw) order, contracted with fmaf. */
#include <math.h>

#include "kernels/kernels_internal.h"
#include "util/util.h"

/* Floats in each of the two per-thread stack buffers (padded input band, flattened output). */
#define PTQ_DW_BUF 8192

/* Work units per thread to aim for when planes alone are too few to balance. */
#define PTQ_DW_UNITS_PER_THREAD 4

/* y[i] = b + Σ_{kh,kw} w[kh*3 + kw] · r_kh[i*s + kw] for i in [0, n): a 3x3 undilated window
 * over rows r0..r2. Inlined with a constant s so that the loop vectorises. */
static inline __attribute__((always_inline)) void window_3x3(
    const float *restrict r0, const float *restrict r1, const float *restrict r2,
    const float *restrict w, float b, float *restrict y, int64_t n, int64_t s) {
  for (int64_t i = 0; i < n; i++) {
    const int64_t j = i * s;
    float acc = fmaf(w[0], r0[j], b);
    acc = fmaf(w[1], r0[j + 1], acc);
    acc = fmaf(w[2], r0[j + 2], acc);
    acc = fmaf(w[3], r1[j], acc);
    acc = fmaf(w[4], r1[j + 1], acc);
    acc = fmaf(w[5], r1[j + 2], acc);
    acc = fmaf(w[6], r2[j], acc);
    acc = fmaf(w[7], r2[j + 1], acc);
    y[i] = fmaf(w[8], r2[j + 2], acc);
  }
}

/* y[i] = b + Σ_{kh,kw} w[kh][kw] · xb[i*s + kh*row_step + kw*d_w] for i in [0, n), any kernel
 * shape; xb holds padded rows, so no tap is checked. */
static void window_generic(const ptq_conv_params *p, const float *restrict xb,
                           const float *restrict w, float b, float *restrict y, int64_t n,
                           int64_t s, int64_t row_step) {
  for (int64_t i = 0; i < n; i++) y[i] = b;
  for (int64_t kh = 0; kh < p->k_h; kh++) {
    for (int64_t kw = 0; kw < p->k_w; kw++) {
      const float wv = w[kh * p->k_w + kw];
      const float *restrict xs = xb + kh * row_step + kw * p->dil_w;
      if (s == 1) {
        for (int64_t i = 0; i < n; i++) y[i] = fmaf(wv, xs[i], y[i]);
      } else {
        for (int64_t i = 0; i < n; i++) y[i] = fmaf(wv, xs[i * s], y[i]);
      }
    }
  }
}

/* Output rows [oh0, oh1) of one plane via the padded band buffer xb (row stride wp) and, for
 * stride 1, the flattened output buffer tb. */
static void band(const ptq_conv_params *p, const float *x, const float *w, float b, float *y,
                 int64_t oh0, int64_t oh1, int64_t wp, float *restrict xb, float *restrict tb) {
  const int64_t w_in = p->w_in, w_out = p->w_out, rows = oh1 - oh0;
  const int64_t ih0 = oh0 * p->stride_h - p->pad_t;
  const int64_t n_in = (rows - 1) * p->stride_h + (p->k_h - 1) * p->dil_h + 1;
  for (int64_t r = 0; r < n_in; r++) {
    float *dst = xb + r * wp;
    const int64_t ih = ih0 + r;
    if (ih < 0 || ih >= p->h_in) {
      ptq_zero_f32(dst, wp);
      continue;
    }
    ptq_zero_f32(dst, p->pad_l);
    ptq_copy_f32(dst + p->pad_l, x + ih * w_in, w_in);
    ptq_zero_f32(dst + p->pad_l + w_in, wp - p->pad_l - w_in);
  }
  const int k3x3 = p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1;
  if (p->stride_h == 1 && p->stride_w == 1) {
    /* Flattened index q = r*wp + ow; the columns ow >= w_out of each row are discarded. */
    const int64_t n = (rows - 1) * wp + w_out;
    if (k3x3) {
      window_3x3(xb, xb + wp, xb + 2 * wp, w, b, tb, n, 1);
    } else {
      window_generic(p, xb, w, b, tb, n, 1, p->dil_h * wp);
    }
    for (int64_t r = 0; r < rows; r++) ptq_copy_f32(y + (oh0 + r) * w_out, tb + r * wp, w_out);
    return;
  }
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = xb + r * p->stride_h * wp;
    float *yr = y + (oh0 + r) * w_out;
    if (k3x3 && p->stride_w == 1) {
      window_3x3(xr, xr + wp, xr + 2 * wp, w, b, yr, w_out, 1);
    } else if (k3x3 && p->stride_w == 2) {
      window_3x3(xr, xr + wp, xr + 2 * wp, w, b, yr, w_out, 2);
    } else {
      window_generic(p, xr, w, b, yr, w_out, p->stride_w, p->dil_h * wp);
    }
  }
}

/* Output row oh of one plane with bounds handled per tap, for rows too wide to buffer. */
static void row_unbuffered(const ptq_conv_params *p, const float *restrict x,
                           const float *restrict w, float b, float *restrict y, int64_t oh) {
  const int64_t w_out = p->w_out, w_in = p->w_in, s_w = p->stride_w;
  for (int64_t ow = 0; ow < w_out; ow++) y[ow] = b;
  for (int64_t kh = 0; kh < p->k_h; kh++) {
    const int64_t ih = oh * p->stride_h - p->pad_t + kh * p->dil_h;
    if (ih < 0 || ih >= p->h_in) continue;
    const float *restrict xr = x + ih * w_in;
    for (int64_t kw = 0; kw < p->k_w; kw++) {
      const int64_t off = kw * p->dil_w - p->pad_l;
      const float wv = w[kh * p->k_w + kw];
      int64_t lo, hi;
      ptq_tap_range(off, s_w, w_out, w_in, &lo, &hi);
      for (int64_t ow = lo; ow < hi; ow++) y[ow] = fmaf(wv, xr[ow * s_w + off], y[ow]);
    }
  }
}

void ptq_conv2d_depthwise_f32(const ptq_conv_params *p, const float *x, const float *w,
                              const float *bias, float *y) {
  const int64_t planes = p->n * p->c_out, h_out = p->h_out, w_out = p->w_out;
  const int64_t mult = p->c_out / p->group, hw_in = p->h_in * p->w_in, hw_out = h_out * w_out;
  const int64_t kk = p->k_h * p->k_w, wp = p->w_in + p->pad_l + p->pad_r;
  const int threads = ptq_threads();
  /* Largest band whose padded input rows and flattened output fit the buffers. */
  int64_t band_max = (PTQ_DW_BUF / wp - (p->k_h - 1) * p->dil_h - 1) / p->stride_h + 1;
  if (band_max > PTQ_DW_BUF / wp) band_max = PTQ_DW_BUF / wp;
  if (PTQ_DW_BUF / wp < (p->k_h - 1) * p->dil_h + 1) band_max = 0;
  int64_t band_rows = h_out, splits = (PTQ_DW_UNITS_PER_THREAD * threads + planes - 1) / planes;
  if (splits > 1) band_rows = (h_out + splits - 1) / splits;
  if (band_rows > band_max) band_rows = band_max;
  if (band_rows < 1) band_rows = 1;
  const int64_t bands = (h_out + band_rows - 1) / band_rows;
#pragma omp parallel num_threads(threads) if (planes * hw_out * kk >= 8 * PTQ_PAR_MIN_WORK)
  {
    _Alignas(64) float xb[PTQ_DW_BUF];
    _Alignas(64) float tb[PTQ_DW_BUF];
#pragma omp for schedule(static)
    for (int64_t u = 0; u < planes * bands; u++) {
      const int64_t pi = u / bands, oh0 = u % bands * band_rows;
      const int64_t oh1 = oh0 + band_rows < h_out ? oh0 + band_rows : h_out;
      const int64_t ni = pi / p->c_out, oc = pi % p->c_out;
      const float *xp = x + (ni * p->c_in + oc / mult) * hw_in;
      const float *wk = w + oc * kk;
      const float b = bias ? bias[oc] : 0.0f;
      float *yp = y + pi * hw_out;
      if (band_max >= 1) {
        band(p, xp, wk, b, yp, oh0, oh1, wp, xb, tb);
      } else {
        for (int64_t oh = oh0; oh < oh1; oh++) row_unbuffered(p, xp, wk, b, yp + oh * w_out, oh);
      }
    }
  }
}
