#include <string.h>

#include "kernels/kernels_internal.h"
#include "util/util.h"

void ptq_fill_bias(float *y, const float *bias, int64_t c, int64_t hw) {
  if (!bias) {
    memset(y, 0, (size_t)(c * hw) * sizeof *y);
    return;
  }
#pragma omp parallel for num_threads(ptq_threads()) if (c * hw >= 4 * PTQ_PAR_MIN_WORK)
  for (int64_t ch = 0; ch < c; ch++) {
    float *row = y + ch * hw;
    const float b = bias[ch];
    for (int64_t i = 0; i < hw; i++) row[i] = b;
  }
}

void ptq_act_apply(const ptq_act *act, float *y, int64_t n) {
  if (!act) return;
  switch (act->kind) {
    case PTQ_ACT_NONE: return;
    case PTQ_ACT_RELU:
      for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0;
      return;
    case PTQ_ACT_CLIP: {
      const float lo = act->lo, hi = act->hi;
      for (int64_t i = 0; i < n; i++) {
        const float v = y[i] < lo ? lo : y[i];
        y[i] = v > hi ? hi : v;
      }
      return;
    }
    case PTQ_ACT_LEAKY: {
      const float a = act->alpha;
      for (int64_t i = 0; i < n; i++) y[i] = y[i] >= 0 ? y[i] : a * y[i];
      return;
    }
  }
}
