/* Helpers shared by the kernel implementations; not part of the kernel contract. */
#ifndef PTQ_KERNELS_INTERNAL_H
#define PTQ_KERNELS_INTERNAL_H

#include <stdint.h>

#include "kernels/kernels.h"

/* Work (in output elements) below which a kernel runs on the calling thread only: forking a
 * team costs more than it saves. */
#define PTQ_PAR_MIN_WORK 16384

/* Sets [*lo, *hi) to the indices i in [0, n_i) for which 0 <= i*s + off < n_o (s >= 1). The
 * range is empty (*lo == *hi) when no index qualifies, and always lies within [0, n_i]. */
static inline void ptq_tap_range(int64_t off, int64_t s, int64_t n_i, int64_t n_o, int64_t *lo,
                                 int64_t *hi) {
  int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
  int64_t h = n_o - off <= 0 ? 0 : (n_o - off + s - 1) / s;
  if (l > n_i) l = n_i;
  if (h > n_i) h = n_i;
  if (h < l) h = l;
  *lo = l;
  *hi = h;
}

/* y[ch][0..hw) = bias[ch] for ch in [0, c), or 0 when bias is NULL. */
void ptq_fill_bias(float *y, const float *bias, int64_t c, int64_t hw);

/* Direct convolution for c_in / group == 1 (depthwise with any channel multiplier): output
 * channel oc reads input channel oc / (c_out / group). No scratch. */
void ptq_conv2d_depthwise_f32(const ptq_conv_params *p, const float *x, const float *w,
                              const float *bias, float *y);

#endif
