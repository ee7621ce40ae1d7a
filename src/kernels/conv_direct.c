/* Direct convolution (AVX2 + FMA) for one image and one group at a time. The group's input is
 * copied, zero-padded, into a phase-split layout: padded row r and column c of channel ci go
 * to plane (ci, r % s_h, c % s_w) at row r / s_h, column c / s_w, planes being hq x wq. Output
 * (oh, ow) then sits at the flattened index q = oh*wq + ow, and tap (kh, kw) reads its plane
 * at q + (kh*d_h / s_h)*wq + kw*d_w / s_w: every stride and dilation becomes a unit-stride
 * sweep over q. Blocks of 4 output channels x 16 values of q are accumulated in registers over
 * all (ci, kh, kw); values of q whose column is >= w_out are discarded. */
#include "kernels/kernels_internal.h"

#if PTQ_HAVE_CONV_DIRECT

#include <immintrin.h>

#include "util/util.h"

#define OC_BLOCK 4
#define Q_BLOCK 16

typedef struct layout {
  int64_t hq, wq;   /* plane rows and columns */
  int64_t plane;    /* floats per plane */
  int64_t cstride;  /* floats per input channel: s_h*s_w planes */
  int64_t q_blocks; /* Q_BLOCK-wide blocks covering (h_out - 1)*wq + w_out */
} layout;

static layout layout_of(const ptq_conv_params *p) {
  layout l;
  const int64_t hp = p->h_in + p->pad_t + p->pad_b, wp = p->w_in + p->pad_l + p->pad_r;
  l.hq = (hp + p->stride_h - 1) / p->stride_h;
  l.wq = (wp + p->stride_w - 1) / p->stride_w;
  l.plane = l.hq * l.wq;
  l.cstride = p->stride_h * p->stride_w * l.plane;
  l.q_blocks = ((p->h_out - 1) * l.wq + p->w_out + Q_BLOCK - 1) / Q_BLOCK;
  return l;
}

int ptq_conv2d_direct_applies(const ptq_conv_params *p) {
  return p->k_h * p->k_w <= PTQ_CONV_DIRECT_MAX_TAPS;
}

/* The last block may read up to Q_BLOCK - 1 floats past the last plane: they are zeroed. */
size_t ptq_conv2d_direct_scratch_size(const ptq_conv_params *p) {
  const layout l = layout_of(p);
  return (size_t)(p->c_in / p->group * l.cstride + Q_BLOCK);
}

/* Fills the phase-split padded layout from c channels of x. */
static void load_input(const ptq_conv_params *p, const layout *l, int64_t c, const float *x,
                       float *xq) {
  const int64_t s_h = p->stride_h, s_w = p->stride_w, rows = c * s_h * l->hq;
#pragma omp parallel for num_threads(ptq_threads()) if (rows * s_w * l->wq >= PTQ_PAR_MIN_COPY)
  for (int64_t i = 0; i < rows; i++) {
    const int64_t ci = i / (s_h * l->hq), fr = i / l->hq % s_h, rq = i % l->hq;
    const int64_t ih = rq * s_h + fr - p->pad_t;
    for (int64_t fc = 0; fc < s_w; fc++) {
      float *dst = xq + ci * l->cstride + (fr * s_w + fc) * l->plane + rq * l->wq;
      if (ih < 0 || ih >= p->h_in) {
        ptq_zero_f32(dst, l->wq);
        continue;
      }
      const float *xr = x + (ci * p->h_in + ih) * p->w_in;
      const int64_t off = fc - p->pad_l;
      int64_t lo, hi;
      ptq_tap_range(off, s_w, l->wq, p->w_in, &lo, &hi);
      ptq_zero_f32(dst, lo);
      if (s_w == 1) {
        ptq_copy_f32(dst + lo, xr + lo + off, hi - lo);
      } else {
        for (int64_t j = lo; j < hi; j++) dst[j] = xr[j * s_w + off];
      }
      ptq_zero_f32(dst + hi, l->wq - hi);
    }
  }
}

/* Accumulates and stores NOC (<= OC_BLOCK) output channels starting at oc0 for the flattened
 * outputs [q0, q0 + Q_BLOCK). koff[t] is the offset of tap t = kh*k_w + kw within a channel. */
static inline __attribute__((always_inline)) void block(
    const ptq_conv_params *p, const layout *l, const float *xq, const float *w,
    const float *bias, float *y, const int64_t *koff, int64_t oc0, int64_t q0, int noc) {
  const int64_t kk = p->k_h * p->k_w, cin_kk = p->c_in / p->group * kk;
  const int64_t g_cin = p->c_in / p->group;
  __m256 acc[OC_BLOCK][2];
  for (int j = 0; j < noc; j++) {
    const __m256 b = _mm256_set1_ps(bias ? bias[oc0 + j] : 0.0f);
    acc[j][0] = b;
    acc[j][1] = b;
  }
  const float *wo = w + oc0 * cin_kk;
  for (int64_t ci = 0; ci < g_cin; ci++) {
    const float *xc = xq + ci * l->cstride + q0;
    const float *wc = wo + ci * kk;
    for (int64_t t = 0; t < kk; t++) {
      const __m256 x0 = _mm256_loadu_ps(xc + koff[t]);
      const __m256 x1 = _mm256_loadu_ps(xc + koff[t] + 8);
      for (int j = 0; j < noc; j++) {
        const __m256 wv = _mm256_broadcast_ss(wc + j * cin_kk + t);
        acc[j][0] = _mm256_fmadd_ps(wv, x0, acc[j][0]);
        acc[j][1] = _mm256_fmadd_ps(wv, x1, acc[j][1]);
      }
    }
  }
  const int64_t hw_out = p->h_out * p->w_out, oh = q0 / l->wq, ow = q0 % l->wq;
  if (ow + Q_BLOCK <= p->w_out && oh < p->h_out) {
    for (int j = 0; j < noc; j++) {
      float *dst = y + (oc0 + j) * hw_out + oh * p->w_out + ow;
      _mm256_storeu_ps(dst, acc[j][0]);
      _mm256_storeu_ps(dst + 8, acc[j][1]);
    }
    return;
  }
  float tmp[OC_BLOCK][Q_BLOCK];
  for (int j = 0; j < noc; j++) {
    _mm256_storeu_ps(tmp[j], acc[j][0]);
    _mm256_storeu_ps(tmp[j] + 8, acc[j][1]);
  }
  for (int64_t i = 0, r = oh, c = ow; i < Q_BLOCK; i++) {
    if (r < p->h_out && c < p->w_out) {
      for (int j = 0; j < noc; j++) y[(oc0 + j) * hw_out + r * p->w_out + c] = tmp[j][i];
    }
    if (++c == l->wq) {
      c = 0;
      r++;
    }
  }
}

/* y gets c_out/group channels from the group whose input channels start at x. */
static void conv_group(const ptq_conv_params *p, const layout *l, const float *x, const float *w,
                       const float *bias, float *y, float *xq) {
  const int64_t g_cout = p->c_out / p->group, oc_blocks = (g_cout + OC_BLOCK - 1) / OC_BLOCK;
  int64_t koff[PTQ_CONV_DIRECT_MAX_TAPS];
  for (int64_t kh = 0; kh < p->k_h; kh++) {
    for (int64_t kw = 0; kw < p->k_w; kw++) {
      const int64_t dh = kh * p->dil_h, dw = kw * p->dil_w;
      koff[kh * p->k_w + kw] = (dh % p->stride_h * p->stride_w + dw % p->stride_w) * l->plane +
                               dh / p->stride_h * l->wq + dw / p->stride_w;
    }
  }
  load_input(p, l, p->c_in / p->group, x, xq);
  const int64_t units = l->q_blocks * oc_blocks;
#pragma omp parallel for schedule(static) num_threads(ptq_threads()) \
    if (units * Q_BLOCK * OC_BLOCK * (p->c_in / p->group) * p->k_h * p->k_w >= 64 * PTQ_PAR_MIN_WORK)
  for (int64_t u = 0; u < units; u++) {
    const int64_t q0 = u / oc_blocks * Q_BLOCK, oc0 = u % oc_blocks * OC_BLOCK;
    switch (g_cout - oc0 < OC_BLOCK ? g_cout - oc0 : OC_BLOCK) {
    case 1:
      block(p, l, xq, w, bias, y, koff, oc0, q0, 1);
      break;
    case 2:
      block(p, l, xq, w, bias, y, koff, oc0, q0, 2);
      break;
    case 3:
      block(p, l, xq, w, bias, y, koff, oc0, q0, 3);
      break;
    default:
      block(p, l, xq, w, bias, y, koff, oc0, q0, OC_BLOCK);
      break;
    }
  }
}

void ptq_conv2d_direct_f32(const ptq_conv_params *p, const float *x, const float *w,
                           const float *bias, float *y, float *scratch) {
  const layout l = layout_of(p);
  const int64_t g_cin = p->c_in / p->group, g_cout = p->c_out / p->group;
  const int64_t hw_in = p->h_in * p->w_in, hw_out = p->h_out * p->w_out;
  const int64_t cin_kk = g_cin * p->k_h * p->k_w;
  ptq_zero_f32(scratch + g_cin * l.cstride, Q_BLOCK);
  for (int64_t ni = 0; ni < p->n; ni++) {
    for (int64_t g = 0; g < p->group; g++) {
      conv_group(p, &l, x + (ni * p->c_in + g * g_cin) * hw_in, w + g * g_cout * cin_kk,
                 bias ? bias + g * g_cout : NULL, y + (ni * p->c_out + g * g_cout) * hw_out,
                 scratch);
    }
  }
}

#endif
