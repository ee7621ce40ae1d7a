/* Direct convolution for c_in/group == 1, parallelised over (image, channel, band of output
 * rows). Each band's input rows are copied, zero-padded, into a thread-private stack buffer so
 * that the compute loops need no bounds checks. Narrow stride-1 planes and 3x3 stride-2 planes
 * (after an even/odd split of rows and columns) are then computed over the band flattened to
 * one dimension, which keeps vector lanes busy and every load unit-stride. Rows too wide for
 * the buffer fall back to per-tap bounds. Each output is bias + Σ taps in (kh, kw) order,
 * contracted with fmaf, then the fused activation (applied per band while it is in cache). */
#include <math.h>

#include "kernels/kernels_internal.h"
#include "util/util.h"

/* Floats in each of the two per-thread stack buffers (padded input band, flattened output). */
#define PTQ_DW_BUF 8192

/* Work units per thread to aim for when planes alone are too few to balance. */
#define PTQ_DW_UNITS_PER_THREAD 4

/* y[i] = b + Σ_{kh,kw} w[kh*3 + kw] · r0[i + kh*wp + kw] for i in [0, n): a 3x3 undilated
 * stride-1 window over rows wp apart. Kept out of line so that the nine weights stay in
 * registers. */
static __attribute__((noinline)) void run_3x3_s1(const float *restrict r0, int64_t wp,
                                                 const float *restrict w, float b,
                                                 float *restrict y, int64_t n) {
  const float *restrict r1 = r0 + wp, *restrict r2 = r1 + wp;
  const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6];
  const float w7 = w[7], w8 = w[8];
  for (int64_t i = 0; i < n; i++) {
    float acc = fmaf(w0, r0[i], b);
    acc = fmaf(w1, r0[i + 1], acc);
    acc = fmaf(w2, r0[i + 2], acc);
    acc = fmaf(w3, r1[i], acc);
    acc = fmaf(w4, r1[i + 1], acc);
    acc = fmaf(w5, r1[i + 2], acc);
    acc = fmaf(w6, r2[i], acc);
    acc = fmaf(w7, r2[i + 1], acc);
    y[i] = fmaf(w8, r2[i + 2], acc);
  }
}

/* The 3x3 stride-2 window over the parity planes of band_3x3_s2 (see there). */
static __attribute__((noinline)) void run_3x3_s2(const float *restrict ee, const float *restrict eo,
                                                 const float *restrict oe, const float *restrict oo,
                                                 int64_t hw, const float *restrict w, float b,
                                                 float *restrict y, int64_t n) {
  const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6];
  const float w7 = w[7], w8 = w[8];
  for (int64_t q = 0; q < n; q++) {
    float acc = fmaf(w0, ee[q], b);
    acc = fmaf(w1, eo[q], acc);
    acc = fmaf(w2, ee[q + 1], acc);
    acc = fmaf(w3, oe[q], acc);
    acc = fmaf(w4, oo[q], acc);
    acc = fmaf(w5, oe[q + 1], acc);
    acc = fmaf(w6, ee[q + hw], acc);
    acc = fmaf(w7, eo[q + hw], acc);
    y[q] = fmaf(w8, ee[q + hw + 1], acc);
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

/* Band algorithms, by kernel shape and stride. */
enum band_kind {
  BAND_S1,     /* stride 1: flattened over padded rows */
  BAND_3X3_S2, /* 3x3, dilation 1, stride 2: flattened over even/odd-split padded rows */
  BAND_ROWS    /* anything else: row by row over padded rows */
};

static enum band_kind band_kind_of(const ptq_conv_params *p) {
  if (p->stride_h == 1 && p->stride_w == 1) return BAND_S1;
  if (p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1 && p->stride_h == 2 &&
      p->stride_w == 2)
    return BAND_3X3_S2;
  return BAND_ROWS;
}

/* Most output rows per band that fit the buffers (0: not even one). Row stride wp. */
static int64_t band_max_rows(const ptq_conv_params *p, enum band_kind kind, int64_t wp) {
  const int64_t cap = PTQ_DW_BUF / wp, halo = (p->k_h - 1) * p->dil_h;
  switch (kind) {
    case BAND_S1: return cap > halo ? cap - halo : 0;
    case BAND_3X3_S2: {
      /* (4*rows + 2) half-width rows of (wp + 1) / 2 floats */
      const int64_t half_rows = PTQ_DW_BUF / ((wp + 1) / 2);
      return half_rows >= 6 ? (half_rows - 2) / 4 : 0;
    }
    case BAND_ROWS: break;
  }
  return cap > halo ? (cap - halo - 1) / p->stride_h + 1 : 0;
}

/* xb[r][0, wp) = input row ih0 + r with pad_l zeros before and zeros after, or all zeros
 * outside the input, for r in [0, n_in). */
static void load_rows(const ptq_conv_params *p, const float *x, int64_t ih0, int64_t n_in,
                      int64_t wp, float *restrict xb) {
  const int64_t w_in = p->w_in;
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
}

/* Rows narrower than this are computed flattened across the band (see band_s1). */
#define PTQ_DW_FLATTEN_BELOW 32

/* Stride 1. Wide rows are computed one at a time straight into y; narrow rows are computed
 * flattened, tb[q] for q = r*wp + ow being output (oh0 + r, ow), so that vectors span rows,
 * and the columns ow >= w_out are then dropped. */
static void band_s1(const ptq_conv_params *p, const float *x, const float *w, float b, float *y,
                    int64_t oh0, int64_t rows, int64_t wp, float *restrict xb, float *restrict tb) {
  const int64_t w_out = p->w_out;
  const int k3x3 = p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1;
  load_rows(p, x, oh0 - p->pad_t, rows + (p->k_h - 1) * p->dil_h, wp, xb);
  if (w_out >= PTQ_DW_FLATTEN_BELOW) {
    for (int64_t r = 0; r < rows; r++) {
      float *yr = y + (oh0 + r) * w_out;
      if (k3x3) {
        run_3x3_s1(xb + r * wp, wp, w, b, yr, w_out);
      } else {
        window_generic(p, xb + r * wp, w, b, yr, w_out, 1, p->dil_h * wp);
      }
    }
    return;
  }
  const int64_t n = (rows - 1) * wp + w_out;
  if (k3x3) {
    run_3x3_s1(xb, wp, w, b, tb, n);
  } else {
    window_generic(p, xb, w, b, tb, n, 1, p->dil_h * wp);
  }
  for (int64_t r = 0; r < rows; r++) ptq_copy_f32(y + (oh0 + r) * w_out, tb + r * wp, w_out);
}

/* 3x3 stride 2: padded rows are split by row parity and column parity into four planes of
 * half width hw = (wp + 1) / 2, so that every tap reads at unit stride: with q = r*hw + ow,
 * row 2r + kh and column 2ow + kw of the band is plane (kh & 1, kw & 1) at
 * q + (kh >> 1)*hw + (kw >> 1). Columns ow >= w_out (<= hw - 1) are discarded. */
static void band_3x3_s2(const ptq_conv_params *p, const float *x, const float *w, float b, float *y,
                        int64_t oh0, int64_t rows, int64_t wp, float *restrict xb,
                        float *restrict tb) {
  const int64_t hw = (wp + 1) / 2, w_in = p->w_in, w_out = p->w_out;
  float *restrict ee = xb, *restrict eo = ee + (rows + 1) * hw;
  float *restrict oe = eo + (rows + 1) * hw, *restrict oo = oe + rows * hw;
  int64_t e_lo, e_hi, o_lo, o_hi;
  ptq_tap_range(-p->pad_l, 2, hw, w_in, &e_lo, &e_hi);
  ptq_tap_range(1 - p->pad_l, 2, hw, w_in, &o_lo, &o_hi);
  for (int64_t r = 0; r < 2 * rows + 1; r++) {
    const int64_t ih = 2 * oh0 - p->pad_t + r;
    float *de = (r & 1 ? oe : ee) + (r >> 1) * hw, *dod = (r & 1 ? oo : eo) + (r >> 1) * hw;
    if (ih < 0 || ih >= p->h_in) {
      ptq_zero_f32(de, hw);
      ptq_zero_f32(dod, hw);
      continue;
    }
    const float *xr = x + ih * w_in;
    ptq_zero_f32(de, e_lo);
    for (int64_t j = e_lo; j < e_hi; j++) de[j] = xr[2 * j - p->pad_l];
    ptq_zero_f32(de + e_hi, hw - e_hi);
    ptq_zero_f32(dod, o_lo);
    for (int64_t j = o_lo; j < o_hi; j++) dod[j] = xr[2 * j + 1 - p->pad_l];
    ptq_zero_f32(dod + o_hi, hw - o_hi);
  }
  run_3x3_s2(ee, eo, oe, oo, hw, w, b, tb, (rows - 1) * hw + w_out);
  for (int64_t r = 0; r < rows; r++) ptq_copy_f32(y + (oh0 + r) * w_out, tb + r * hw, w_out);
}

/* Any stride: output rows one at a time over padded rows. */
static void band_by_rows(const ptq_conv_params *p, const float *x, const float *w, float b,
                         float *y, int64_t oh0, int64_t rows, int64_t wp, float *restrict xb) {
  const int64_t w_out = p->w_out, s_h = p->stride_h;
  load_rows(p, x, oh0 * s_h - p->pad_t, (rows - 1) * s_h + (p->k_h - 1) * p->dil_h + 1, wp, xb);
  for (int64_t r = 0; r < rows; r++)
    window_generic(p, xb + r * s_h * wp, w, b, y + (oh0 + r) * w_out, w_out, p->stride_w,
                   p->dil_h * wp);
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
  const enum band_kind kind = band_kind_of(p);
  const int64_t band_max = band_max_rows(p, kind, wp);
  int64_t band_h = h_out, splits = (PTQ_DW_UNITS_PER_THREAD * threads + planes - 1) / planes;
  if (splits > 1) band_h = (h_out + splits - 1) / splits;
  if (band_h > band_max) band_h = band_max;
  if (band_h < 1) band_h = 1;
  const int64_t bands = (h_out + band_h - 1) / band_h;
#pragma omp parallel num_threads(threads) if (planes * hw_out * kk >= PTQ_PAR_MIN_DW_MACS)
  {
    _Alignas(64) float xb[PTQ_DW_BUF];
    _Alignas(64) float tb[PTQ_DW_BUF];
#pragma omp for schedule(dynamic, ptq_dyn_chunk(planes *bands, threads))
    for (int64_t u = 0; u < planes * bands; u++) {
      const int64_t pi = u / bands, oh0 = u % bands * band_h;
      const int64_t oh1 = oh0 + band_h < h_out ? oh0 + band_h : h_out;
      const int64_t ni = pi / p->c_out, oc = pi % p->c_out;
      const float *xp = x + (ni * p->c_in + oc / mult) * hw_in;
      const float *wk = w + oc * kk;
      const float b = bias ? bias[oc] : 0.0f;
      float *yp = y + pi * hw_out;
      if (band_max < 1) {
        for (int64_t oh = oh0; oh < oh1; oh++) row_unbuffered(p, xp, wk, b, yp + oh * w_out, oh);
      } else if (kind == BAND_S1) {
        band_s1(p, xp, wk, b, yp, oh0, oh1 - oh0, wp, xb, tb);
      } else if (kind == BAND_3X3_S2) {
        band_3x3_s2(p, xp, wk, b, yp, oh0, oh1 - oh0, wp, xb, tb);
      } else {
        band_by_rows(p, xp, wk, b, yp, oh0, oh1 - oh0, wp, xb);
      }
      if (p->act.kind != PTQ_ACT_NONE)
        ptq_act_apply(&p->act, yp + oh0 * w_out, (oh1 - oh0) * w_out);
    }
  }
}
