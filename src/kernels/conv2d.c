/* Convolution dispatch: depthwise kernel for c_in/group == 1, plain GEMM for 1x1 stride-1
 * unpadded convolutions, else the register-blocked direct kernel where it is built and the
 * kernel is small enough, else im2col + GEMM. All but depthwise work one (image, group) unit at
 * a time: either the units run one after another, each parallelised inside, or, when there are
 * enough units to balance or each is too small to parallelise, the units are spread over the
 * threads (one fork per call instead of several per unit), each thread with its own slice of
 * scratch. Every unit is computed the same way in both cases, so results do not depend on it. */
#include <omp.h>
#include <stdlib.h>

#include "kernels/kernels_internal.h"
#include "util/util.h"

static int conv_is_depthwise(const ptq_conv_params *p) {
  return p->c_in / p->group == 1;
}

static int conv_is_pointwise(const ptq_conv_params *p) {
  return p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_t == 0 &&
         p->pad_l == 0 && p->pad_b == 0 && p->pad_r == 0;
}

/* Floats of scratch one (image, group) unit needs. */
static size_t unit_scratch_size(const ptq_conv_params *p) {
  if (conv_is_depthwise(p) || conv_is_pointwise(p)) return 0;
#if PTQ_HAVE_CONV_DIRECT
  if (ptq_conv2d_direct_applies(p)) return ptq_conv2d_direct_scratch_size(p);
#endif
  return (size_t)(p->c_in / p->group * p->k_h * p->k_w) * (size_t)(p->h_out * p->w_out);
}

/* Threads over which whole (image, group) units are spread (1: units in turn, each
 * parallelised inside). Depends only on p and ptq_threads(). */
static int unit_threads(const ptq_conv_params *p) {
  const int t = ptq_threads();
  const int64_t units = p->n * p->group;
  if (t <= 1 || units < 2 || conv_is_depthwise(p)) return 1;
  const int64_t macs =
      p->c_out / p->group * p->h_out * p->w_out * (p->c_in / p->group) * p->k_h * p->k_w;
  if (macs * units < PTQ_PAR_MIN_MACS) return 1;
  if (macs >= PTQ_PAR_MIN_MACS && units < 4 * (int64_t)t) return 1;
  return units < t ? (int)units : t;
}

size_t ptq_conv2d_scratch_size(const ptq_conv_params *p) {
  return unit_scratch_size(p) * (size_t)unit_threads(p);
}

/* col[(ci*k_h + kh)*k_w + kw][oh*w_out + ow] = x[ci][oh*s_h - pad_t + kh*d_h]
 * [ow*s_w - pad_l + kw*d_w], 0 where that lies in the padding. x holds c channels. */
static void im2col(const ptq_conv_params *p, int64_t c, const float *x, float *col) {
  const int64_t kk = p->k_h * p->k_w, hw_out = p->h_out * p->w_out, rows = c * kk;
  const int64_t w_out = p->w_out, w_in = p->w_in, s_w = p->stride_w;
#pragma omp parallel for num_threads(ptq_threads()) if (rows * hw_out >= PTQ_PAR_MIN_COPY)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t ci = r / kk, kh = r % kk / p->k_w, kw = r % p->k_w;
    const int64_t off_w = kw * p->dil_w - p->pad_l;
    int64_t lo, hi;
    ptq_tap_range(off_w, s_w, w_out, w_in, &lo, &hi);
    const float *xc = x + ci * p->h_in * w_in;
    float *out = col + r * hw_out;
    for (int64_t oh = 0; oh < p->h_out; oh++, out += w_out) {
      const int64_t ih = oh * p->stride_h - p->pad_t + kh * p->dil_h;
      if (ih < 0 || ih >= p->h_in) {
        ptq_zero_f32(out, w_out);
        continue;
      }
      const float *xr = xc + ih * w_in;
      ptq_zero_f32(out, lo);
      if (s_w == 1) {
        ptq_copy_f32(out + lo, xr + lo + off_w, hi - lo);
      } else {
        for (int64_t ow = lo; ow < hi; ow++) out[ow] = xr[ow * s_w + off_w];
      }
      ptq_zero_f32(out + hi, w_out - hi);
    }
  }
}

struct ptq_conv_packed {
  int64_t groups, g_cout, kdim;
  ptq_packed_a **a; /* per group: c_out/group x c_in/group*k_h*k_w */
};

/* The paths that run on GEMM (and so use packed weights): not depthwise, and pointwise or too
 * large for the direct kernel. */
static int conv_uses_gemm(const ptq_conv_params *p) {
  if (conv_is_depthwise(p)) return 0;
  if (conv_is_pointwise(p)) return 1;
#if PTQ_HAVE_CONV_DIRECT
  if (ptq_conv2d_direct_applies(p)) return 0;
#endif
  return 1;
}

ptq_conv_packed *ptq_conv2d_pack(const ptq_conv_params *p, const float *w) {
  if (!conv_uses_gemm(p)) return NULL;
  const int64_t g_cout = p->c_out / p->group, kdim = p->c_in / p->group * p->k_h * p->k_w;
  ptq_conv_packed *pk = calloc(1, sizeof *pk);
  if (!pk) return NULL;
  pk->a = calloc((size_t)p->group, sizeof *pk->a);
  if (!pk->a) {
    free(pk);
    return NULL;
  }
  pk->groups = p->group;
  pk->g_cout = g_cout;
  pk->kdim = kdim;
  for (int64_t g = 0; g < p->group; g++) {
    pk->a[g] = ptq_sgemm_pack(g_cout, kdim, w + g * g_cout * kdim, kdim);
    if (!pk->a[g]) {
      ptq_conv2d_packed_free(pk);
      return NULL;
    }
  }
  return pk;
}

void ptq_conv2d_packed_free(ptq_conv_packed *pk) {
  if (!pk) return;
  for (int64_t g = 0; g < pk->groups; g++) ptq_sgemm_packed_free(pk->a[g]);
  free(pk->a);
  free(pk);
}

/* Unit (image ni, group g): channels [g*g_cout, (g+1)*g_cout) of image ni of y. */
static void conv_unit(const ptq_conv_params *p, const ptq_conv_packed *pk, const float *x,
                      const float *w, const float *bias, float *y, float *scratch, int64_t ni,
                      int64_t g) {
  const int64_t g_cin = p->c_in / p->group, g_cout = p->c_out / p->group;
  const int64_t hw_in = p->h_in * p->w_in, hw_out = p->h_out * p->w_out;
  const int64_t kdim = g_cin * p->k_h * p->k_w;
  const float *xg = x + (ni * p->c_in + g * g_cin) * hw_in;
  const float *wg = w + g * g_cout * kdim, *bg = bias ? bias + g * g_cout : NULL;
  float *yg = y + (ni * p->c_out + g * g_cout) * hw_out;
  const int pointwise = conv_is_pointwise(p);
#if PTQ_HAVE_CONV_DIRECT
  if (!pointwise && ptq_conv2d_direct_applies(p)) {
    ptq_conv2d_direct_group_f32(p, xg, wg, bg, yg, scratch);
    return;
  }
#endif
  if (!pointwise) im2col(p, g_cin, xg, scratch);
  if (pk) {
    ptq_sgemm_packed(pk->a[g], hw_out, pointwise ? xg : scratch, hw_out, bg, &p->act, yg, hw_out);
    return;
  }
  if (bg) ptq_fill_bias(yg, bg, g_cout, hw_out);
  ptq_sgemm(0, 0, g_cout, hw_out, kdim, 1.0f, wg, kdim, pointwise ? xg : scratch, hw_out,
            bg ? 1.0f : 0.0f, yg, hw_out);
  if (p->act.kind != PTQ_ACT_NONE) ptq_act_apply(&p->act, yg, g_cout * hw_out);
}

void ptq_conv2d_f32(const ptq_conv_params *p, const float *x, const float *w, const float *bias,
                    float *y, float *scratch) {
  if (conv_is_depthwise(p)) {
    ptq_conv2d_depthwise_f32(p, x, w, bias, y);
    return;
  }
  const int64_t g_cout = p->c_out / p->group;
  const int64_t kdim = p->c_in / p->group * p->k_h * p->k_w;
  const ptq_conv_packed *pk = p->packed;
  if (pk && (pk->groups != p->group || pk->g_cout != g_cout || pk->kdim != kdim)) pk = NULL;
  const int64_t units = p->n * p->group;
  const int ut = unit_threads(p);
  if (ut <= 1) {
    for (int64_t u = 0; u < units; u++)
      conv_unit(p, pk, x, w, bias, y, scratch, u / p->group, u % p->group);
    return;
  }
  const size_t per = unit_scratch_size(p);
  /* Dynamic scheduling: a thread that is descheduled (shared cores) delays only its unit. */
#pragma omp parallel num_threads(ut)
  {
    float *sc = scratch ? scratch + per * (size_t)omp_get_thread_num() : NULL;
#pragma omp for schedule(dynamic, 1)
    for (int64_t u = 0; u < units; u++)
      conv_unit(p, pk, x, w, bias, y, sc, u / p->group, u % p->group);
  }
}
