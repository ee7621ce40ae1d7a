/* Direct convolution (AVX2 + FMA) for one image and one group at a time. The group's input is
 * copied, zero-padded, into a phase-split layout: padded row r and column c of channel ci go
 * to plane (ci, r % s_h, c % s_w) at row r / s_h, column c / s_w, planes being hq x wq. Output
 * (oh, ow) then sits at the flattened index q = oh*wq + ow, and tap (kh, kw) reads its plane
 * at q + (kh*d_h / s_h)*wq + kw*d_w / s_w: every stride and dilation becomes a unit-stride
 * sweep over q. Blocks of 6 output channels x 16 values of q are accumulated in registers over
 * all (ci, kh, kw), then the fused activation is applied; values of q whose column is
 * >= w_out are discarded. */
#include "kernels/kernels_internal.h"

#if PTQ_HAVE_CONV_DIRECT

#include <immintrin.h>

#include "util/util.h"

/* 6 x 2 accumulators of 8 floats, 2 input vectors and a broadcast weight: 15 of the 16 ymm
 * registers. */
#define OC_BLOCK 6
#define Q_VECS 2
#define Q_BLOCK (8 * Q_VECS)

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

/* Whether some tap reads phase plane (fr, fc): kh*d_h % s_h == fr and kw*d_w % s_w == fc. */
static int phase_used(const ptq_conv_params *p, int64_t fr, int64_t fc) {
  int rows = 0, cols = 0;
  for (int64_t kh = 0; kh < p->k_h; kh++) rows |= kh * p->dil_h % p->stride_h == fr;
  for (int64_t kw = 0; kw < p->k_w; kw++) cols |= kw * p->dil_w % p->stride_w == fc;
  return rows && cols;
}

/* Fills the phase-split padded layout from c channels of x, each plane row written once: the
 * input columns it takes, zeros elsewhere (rows outside the input all zeros). Planes no tap
 * reads (a 1x1 kernel with stride 2 reads one of four) are only zeroed: blocks reading past
 * the end of a plane read them, into lanes that are discarded. */
static void load_input(const ptq_conv_params *p, const layout *l, int64_t c, const float *x,
                       float *xq) {
  const int64_t s_h = p->stride_h, s_w = p->stride_w, w_in = p->w_in, wq = l->wq;
#pragma omp parallel for num_threads(ptq_threads()) if (c * l->cstride >= PTQ_PAR_MIN_COPY)
  for (int64_t ci = 0; ci < c; ci++) {
    for (int64_t fr = 0; fr < s_h; fr++) {
      for (int64_t fc = 0; fc < s_w; fc++) {
        float *pl = xq + ci * l->cstride + (fr * s_w + fc) * l->plane;
        if (!phase_used(p, fr, fc)) {
          ptq_zero_f32(pl, l->plane);
          continue;
        }
        const int64_t off = fc - p->pad_l;
        int64_t lo, hi;
        ptq_tap_range(off, s_w, wq, w_in, &lo, &hi);
        for (int64_t rq = 0; rq < l->hq; rq++) {
          float *dst = pl + rq * wq;
          const int64_t ih = rq * s_h + fr - p->pad_t;
          if (ih < 0 || ih >= p->h_in) {
            ptq_zero_f32(dst, wq);
            continue;
          }
          const float *xr = x + (ci * p->h_in + ih) * w_in;
          ptq_zero_f32(dst, lo);
          if (s_w == 1) {
            ptq_copy_f32(dst + lo, xr + lo + off, hi - lo);
          } else {
            for (int64_t jj = lo; jj < hi; jj++) dst[jj] = xr[jj * s_w + off];
          }
          ptq_zero_f32(dst + hi, wq - hi);
        }
      }
    }
  }
}

/* The fused activation on one vector (see ptq_act for the NaN behaviour). */
static inline __m256 act8(const ptq_act *act, __m256 v) {
  switch (act->kind) {
    case PTQ_ACT_RELU: return _mm256_max_ps(v, _mm256_setzero_ps());
    case PTQ_ACT_CLIP:
      return _mm256_min_ps(_mm256_set1_ps(act->hi), _mm256_max_ps(_mm256_set1_ps(act->lo), v));
    case PTQ_ACT_LEAKY:
      return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(act->alpha)),
                              _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NGE_UQ));
    case PTQ_ACT_NONE: break;
  }
  return v;
}

/* Accumulates and stores NOC (<= OC_BLOCK) output channels starting at oc0 for the flattened
 * outputs [q0, q0 + Q_BLOCK). koff[t] is the offset of tap t = kh*k_w + kw within a channel. */
static inline __attribute__((always_inline)) void block(const ptq_conv_params *p, const layout *l,
                                                        const float *xq, const float *w,
                                                        const float *bias, float *y,
                                                        const int64_t *koff, int64_t oc0,
                                                        int64_t q0, int noc) {
  const int64_t kk = p->k_h * p->k_w, cin_kk = p->c_in / p->group * kk;
  const int64_t g_cin = p->c_in / p->group;
  __m256 acc[OC_BLOCK][Q_VECS];
  for (int j = 0; j < noc; j++) {
    const __m256 b = _mm256_set1_ps(bias ? bias[oc0 + j] : 0.0f);
    for (int v = 0; v < Q_VECS; v++) acc[j][v] = b;
  }
  const float *wo = w + oc0 * cin_kk;
  for (int64_t ci = 0; ci < g_cin; ci++) {
    const float *xc = xq + ci * l->cstride + q0;
    const float *wc = wo + ci * kk;
    for (int64_t t = 0; t < kk; t++) {
      __m256 xv[Q_VECS];
      for (int v = 0; v < Q_VECS; v++) xv[v] = _mm256_loadu_ps(xc + koff[t] + 8 * v);
      for (int j = 0; j < noc; j++) {
        const __m256 wv = _mm256_broadcast_ss(wc + j * cin_kk + t);
        for (int v = 0; v < Q_VECS; v++) acc[j][v] = _mm256_fmadd_ps(wv, xv[v], acc[j][v]);
      }
    }
  }
  if (p->act.kind != PTQ_ACT_NONE) {
    for (int j = 0; j < noc; j++)
      for (int v = 0; v < Q_VECS; v++) acc[j][v] = act8(&p->act, acc[j][v]);
  }
  const int64_t hw_out = p->h_out * p->w_out, oh = q0 / l->wq, ow = q0 % l->wq;
  if (ow + Q_BLOCK <= p->w_out && oh < p->h_out) {
    for (int j = 0; j < noc; j++) {
      float *dst = y + (oc0 + j) * hw_out + oh * p->w_out + ow;
      for (int v = 0; v < Q_VECS; v++) _mm256_storeu_ps(dst + 8 * v, acc[j][v]);
    }
    return;
  }
  /* The block straddles rows or the discarded columns: store it row segment by segment. */
  float tmp[OC_BLOCK][Q_BLOCK];
  for (int j = 0; j < noc; j++) {
    for (int v = 0; v < Q_VECS; v++) _mm256_storeu_ps(tmp[j] + 8 * v, acc[j][v]);
  }
  for (int64_t i = 0, r = oh, c = ow; i < Q_BLOCK && r < p->h_out; r++, c = 0) {
    const int64_t run = l->wq - c < Q_BLOCK - i ? l->wq - c : Q_BLOCK - i;
    const int64_t valid = c < p->w_out ? (p->w_out - c < run ? p->w_out - c : run) : 0;
    for (int j = 0; j < noc; j++)
      ptq_copy_f32(y + (oc0 + j) * hw_out + r * p->w_out + c, tmp[j] + i, valid);
    i += run;
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
  const int threads = ptq_threads();
#pragma omp parallel for schedule(dynamic, ptq_dyn_chunk(units, threads)) num_threads(  \
    threads) if (units * Q_BLOCK * OC_BLOCK * (p->c_in / p->group) * p->k_h * p->k_w >= \
                 PTQ_PAR_MIN_MACS)
  for (int64_t u = 0; u < units; u++) {
    const int64_t q0 = u / oc_blocks * Q_BLOCK, oc0 = u % oc_blocks * OC_BLOCK;
    switch (g_cout - oc0 < OC_BLOCK ? g_cout - oc0 : OC_BLOCK) {
      case 1: block(p, l, xq, w, bias, y, koff, oc0, q0, 1); break;
      case 2: block(p, l, xq, w, bias, y, koff, oc0, q0, 2); break;
      case 3: block(p, l, xq, w, bias, y, koff, oc0, q0, 3); break;
      case 4: block(p, l, xq, w, bias, y, koff, oc0, q0, 4); break;
      case 5: block(p, l, xq, w, bias, y, koff, oc0, q0, 5); break;
      default: block(p, l, xq, w, bias, y, koff, oc0, q0, OC_BLOCK); break;
    }
  }
}

void ptq_conv2d_direct_group_f32(const ptq_conv_params *p, const float *x, const float *w,
                                 const float *bias, float *y, float *scratch) {
  const layout l = layout_of(p);
  ptq_zero_f32(scratch + p->c_in / p->group * l.cstride, Q_BLOCK);
  conv_group(p, &l, x, w, bias, y, scratch);
}

#endif
