/* 2-D max/average pooling and global average pooling, parallel over (image, channel, row).
 * Window (oh, ow) has taps at rows oh*s_h - pad_t + i*d_h (i < k_h) and likewise columns. */
#include <float.h>

#include "kernels/kernels_internal.h"
#include "util/util.h"

/* An output with no tap inside the input yields -FLT_MAX, as onnxruntime does. */
void ptq_maxpool2d_f32(const ptq_pool_params *p, const float *x, float *y) {
  const int64_t planes = p->n * p->c, h_out = p->h_out, w_out = p->w_out;
  const int64_t hw_in = p->h_in * p->w_in;
#pragma omp parallel for collapse(2) schedule(static) \
    num_threads(ptq_threads()) if (planes * h_out * w_out * p->k_h * p->k_w >= PTQ_PAR_MIN_WORK)
  for (int64_t pi = 0; pi < planes; pi++) {
    for (int64_t oh = 0; oh < h_out; oh++) {
      const float *xp = x + pi * hw_in;
      float *yr = y + (pi * h_out + oh) * w_out;
      const int64_t hs = oh * p->stride_h - p->pad_t;
      int64_t ilo, ihi;
      ptq_tap_range(hs, p->dil_h, p->k_h, p->h_in, &ilo, &ihi);
      for (int64_t ow = 0; ow < w_out; ow++) {
        const int64_t ws = ow * p->stride_w - p->pad_l;
        int64_t jlo, jhi;
        ptq_tap_range(ws, p->dil_w, p->k_w, p->w_in, &jlo, &jhi);
        float m = -FLT_MAX;
        for (int64_t i = ilo; i < ihi; i++) {
          const float *xr = xp + (hs + i * p->dil_h) * p->w_in;
          for (int64_t j = jlo; j < jhi; j++) {
            const float v = xr[ws + j * p->dil_w];
            m = v > m ? v : m;
          }
        }
        yr[ow] = m;
      }
    }
  }
}

/* The divisor is the number of taps inside the input, or with count_include_pad the number
 * inside the padded input [-pad, n + pad_end): taps past the padded end (ceil_mode windows)
 * never count. A window with a zero divisor yields 0. */
void ptq_avgpool2d_f32(const ptq_pool_params *p, const float *x, float *y) {
  const int64_t planes = p->n * p->c, h_out = p->h_out, w_out = p->w_out;
  const int64_t hw_in = p->h_in * p->w_in;
  const int64_t h_padded = p->h_in + p->pad_t + p->pad_b, w_padded = p->w_in + p->pad_l + p->pad_r;
#pragma omp parallel for collapse(2) schedule(static) \
    num_threads(ptq_threads()) if (planes * h_out * w_out * p->k_h * p->k_w >= PTQ_PAR_MIN_WORK)
  for (int64_t pi = 0; pi < planes; pi++) {
    for (int64_t oh = 0; oh < h_out; oh++) {
      const float *xp = x + pi * hw_in;
      float *yr = y + (pi * h_out + oh) * w_out;
      const int64_t hs = oh * p->stride_h - p->pad_t;
      int64_t ilo, ihi, plo, phi;
      ptq_tap_range(hs, p->dil_h, p->k_h, p->h_in, &ilo, &ihi);
      ptq_tap_range(hs + p->pad_t, p->dil_h, p->k_h, h_padded, &plo, &phi);
      const int64_t rows = p->count_include_pad ? phi - plo : ihi - ilo;
      for (int64_t ow = 0; ow < w_out; ow++) {
        const int64_t ws = ow * p->stride_w - p->pad_l;
        int64_t jlo, jhi;
        ptq_tap_range(ws, p->dil_w, p->k_w, p->w_in, &jlo, &jhi);
        ptq_tap_range(ws + p->pad_l, p->dil_w, p->k_w, w_padded, &plo, &phi);
        const int64_t cols = p->count_include_pad ? phi - plo : jhi - jlo;
        float sum = 0.0f;
        for (int64_t i = ilo; i < ihi; i++) {
          const float *xr = xp + (hs + i * p->dil_h) * p->w_in;
          for (int64_t j = jlo; j < jhi; j++) sum += xr[ws + j * p->dil_w];
        }
        yr[ow] = rows * cols > 0 ? sum / (float)(rows * cols) : 0.0f;
      }
    }
  }
}

/* Accumulates in double. An empty plane (hw == 0) yields 0. */
void ptq_global_avgpool_f32(int64_t n, int64_t c, int64_t hw, const float *x, float *y) {
  const int64_t planes = n * c;
#pragma omp parallel for schedule(static) \
    num_threads(ptq_threads()) if (planes * hw >= 4 * PTQ_PAR_MIN_WORK)
  for (int64_t pi = 0; pi < planes; pi++) {
    const float *xp = x + pi * hw;
    double sum = 0.0;
    for (int64_t i = 0; i < hw; i++) sum += xp[i];
    y[pi] = hw > 0 ? (float)(sum / (double)hw) : 0.0f;
  }
}
