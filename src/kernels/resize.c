/* ONNX Resize (opset 11+) over the last two axes. Each output coordinate maps to a source
 * coordinate per coordinate_transformation_mode, then to 1 (nearest), 2 (linear) or 4 (cubic)
 * source taps per axis with weights; the value is Σ_j cw_j · Σ_i ch_i · x[h_i][w_j] (rows
 * first, as the ONNX reference interpolates axis by axis). Source coordinates are computed in
 * single precision as onnxruntime does. Linear clamps the source coordinate into
 * [0, len_in-1]; cubic replicates edge pixels, or with exclude_outside drops out-of-range taps
 * and renormalises the rest. */
#include <math.h>

#include "kernels/kernels_internal.h"
#include "util/util.h"

/* Output columns whose taps are tabulated together, per thread, on the stack. */
#define PTQ_RESIZE_BLOCK 256

typedef struct axis_taps {
  int64_t idx[4];
  float c[4];
} axis_taps;

/* align_corners divides by scale*len_in - 1 as the ONNX reference does (onnxruntime uses
 * len_out - 1; the two differ only when scale*len_in is not an integer). A length-1 output
 * maps to 0 under align_corners and pytorch_half_pixel. */
static float source_coord(enum ptq_resize_coord mode, int64_t o, float scale, int64_t len_in,
                          int64_t len_out) {
  const float x = (float)o, s = scale, half = 0.5f;
  switch (mode) {
    case PTQ_COORD_HALF_PIXEL: return (x + half) / s - half;
    case PTQ_COORD_PYTORCH_HALF_PIXEL: return len_out > 1 ? (x + half) / s - half : 0;
    case PTQ_COORD_ALIGN_CORNERS:
      return len_out > 1 ? x * (float)(len_in - 1) / (s * (float)len_in - 1.0f) : 0;
    case PTQ_COORD_ASYMMETRIC: return x / s;
    case PTQ_COORD_TF_HALF_PIXEL_FOR_CENTERS: return (x + half) / s;
  }
  return 0;
}

static int64_t clamp_index(int64_t i, int64_t len) {
  return i < 0 ? 0 : i >= len ? len - 1 : i;
}

static void nearest_taps(enum ptq_resize_nearest mode, float xo, int64_t len_in, axis_taps *t) {
  const float f = floorf(xo), r = xo - f, half = 0.5f;
  int64_t i = (int64_t)f;
  switch (mode) {
    case PTQ_NEAREST_ROUND_PREFER_FLOOR: i += r > half; break;
    case PTQ_NEAREST_ROUND_PREFER_CEIL: i += r >= half; break;
    case PTQ_NEAREST_FLOOR: break;
    case PTQ_NEAREST_CEIL: i += r > 0; break;
  }
  t->idx[0] = clamp_index(i, len_in);
  t->c[0] = 1.0f;
}

static void linear_taps(float xo, int64_t len_in, axis_taps *t) {
  const float hi = (float)(len_in - 1);
  xo = xo < 0 ? 0 : xo > hi ? hi : xo;
  const int64_t i = (int64_t)xo;
  const float r = (float)(xo - (float)i);
  t->idx[0] = i;
  t->idx[1] = i + 1 < len_in ? i + 1 : i;
  t->c[0] = 1.0f - r;
  t->c[1] = r;
}

static void cubic_taps(float xo, int64_t len_in, float a, int exclude_outside, axis_taps *t) {
  const float f = floorf(xo);
  const float r = (float)(xo - f), s0 = r + 1.0f, s3 = 2.0f - r;
  const int64_t i0 = (int64_t)f - 1;
  t->c[0] = ((a * s0 - 5.0f * a) * s0 + 8.0f * a) * s0 - 4.0f * a;
  t->c[1] = ((a + 2.0f) * r - (a + 3.0f)) * r * r + 1.0f;
  t->c[2] = ((a + 2.0f) * (1.0f - r) - (a + 3.0f)) * (1.0f - r) * (1.0f - r) + 1.0f;
  t->c[3] = ((a * s3 - 5.0f * a) * s3 + 8.0f * a) * s3 - 4.0f * a;
  float sum = 0.0f;
  for (int k = 0; k < 4; k++) {
    const int64_t i = i0 + k;
    if (exclude_outside && (i < 0 || i >= len_in)) t->c[k] = 0.0f;
    sum += t->c[k];
    t->idx[k] = clamp_index(i, len_in);
  }
  if (exclude_outside && sum != 0.0f) {
    for (int k = 0; k < 4; k++) t->c[k] /= sum;
  }
}

static void axis_taps_for(const ptq_resize_params *p, int64_t o, float scale, int64_t len_in,
                          int64_t len_out, axis_taps *t) {
  const float xo = source_coord(p->coord, o, scale, len_in, len_out);
  switch (p->mode) {
    case PTQ_RESIZE_NEAREST: nearest_taps(p->nearest, xo, len_in, t); break;
    case PTQ_RESIZE_LINEAR: linear_taps(xo, len_in, t); break;
    case PTQ_RESIZE_CUBIC: cubic_taps(xo, len_in, p->cubic_coeff_a, p->exclude_outside, t); break;
  }
}

/* Columns [0, nb) of one output row from the row taps th and the column taps tw. */
static void resize_row(const ptq_resize_params *p, const float *restrict xp, const axis_taps *th,
                       const axis_taps *tw, int64_t nb, float *restrict yr) {
  const int64_t w_in = p->w_in;
  switch (p->mode) {
    case PTQ_RESIZE_NEAREST: {
      const float *xr = xp + th->idx[0] * w_in;
      for (int64_t j = 0; j < nb; j++) yr[j] = xr[tw[j].idx[0]];
      break;
    }
    case PTQ_RESIZE_LINEAR: {
      const float *r0 = xp + th->idx[0] * w_in, *r1 = xp + th->idx[1] * w_in;
      const float h0 = th->c[0], h1 = th->c[1];
      for (int64_t j = 0; j < nb; j++) {
        const axis_taps *t = &tw[j];
        const int64_t c0 = t->idx[0], c1 = t->idx[1];
        yr[j] = t->c[0] * (h0 * r0[c0] + h1 * r1[c0]) + t->c[1] * (h0 * r0[c1] + h1 * r1[c1]);
      }
      break;
    }
    case PTQ_RESIZE_CUBIC: {
      const float *r[4];
      for (int k = 0; k < 4; k++) r[k] = xp + th->idx[k] * w_in;
      for (int64_t j = 0; j < nb; j++) {
        const axis_taps *t = &tw[j];
        float acc = 0.0f;
        for (int m = 0; m < 4; m++) {
          const int64_t c = t->idx[m];
          acc += t->c[m] * (th->c[0] * r[0][c] + th->c[1] * r[1][c] + th->c[2] * r[2][c] +
                            th->c[3] * r[3][c]);
        }
        yr[j] = acc;
      }
      break;
    }
  }
}

void ptq_resize2d_f32(const ptq_resize_params *p, const float *x, float *y) {
  const int64_t rows = p->outer * p->h_out, w_out = p->w_out, hw_in = p->h_in * p->w_in;
#pragma omp parallel num_threads(ptq_threads()) if (rows * w_out >= PTQ_PAR_MIN_WORK)
  {
    axis_taps tw[PTQ_RESIZE_BLOCK];
    for (int64_t ow0 = 0; ow0 < w_out; ow0 += PTQ_RESIZE_BLOCK) {
      const int64_t nb = w_out - ow0 < PTQ_RESIZE_BLOCK ? w_out - ow0 : PTQ_RESIZE_BLOCK;
      for (int64_t j = 0; j < nb; j++)
        axis_taps_for(p, ow0 + j, p->scale_w, p->w_in, w_out, &tw[j]);
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; r++) {
        axis_taps th;
        axis_taps_for(p, r % p->h_out, p->scale_h, p->h_in, p->h_out, &th);
        resize_row(p, x + r / p->h_out * hw_in, &th, tw, nb, y + r * w_out + ow0);
      }
    }
  }
}
