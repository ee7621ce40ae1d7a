/* The int8 runtime's ops (domain OP_INT8_DOMAIN), created only by exec_lower_int8.
 *
 * Quantized tensors are uint8 in NHWC (rank 4) or [rows, features] (rank 2); their real value
 * is scale * (q - zp) with scale and zp given as attributes of the nodes that read or write
 * them (int8 data is carried with the sign bit flipped and zp + 128). Numerics:
 *  - QuantizeNhwc / DequantizeNhwc: exactly QuantizeLinear / DequantizeLinear (float32
 *    x / scale, ties to even, saturation; float32(q - zp) * scale), plus the layout change;
 *  - QConv, QGemm: acc = bias + Σ (x - x_zp) · w in int32, exact; y = clamp(y_zp +
 *    round_half_even(acc · mult / 2^shift), lo, hi) (kernels/qkernels.h);
 *  - QAdd, QMul: the float32 operations of DQ → Add/Mul → Q in the same order, so they equal
 *    the simulation bit for bit;
 *  - QLut: a 256-entry table made by lowering from the simulation's own float op. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec/op.h"
#include "kernels/qkernels.h"

static ptq_status need_u8(op_ctx *c, int i, int rank_lo, int rank_hi) {
  const ptq_tensor *t = c->in[i];
  if (t->dtype != PTQ_DT_UINT8 || t->rank < rank_lo || t->rank > rank_hi)
    return op_fail(c, PTQ_ERR_INTERNAL, "input %d must be uint8 of rank %d..%d", i, rank_lo,
                   rank_hi);
  return PTQ_OK;
}

static ptq_status need_const(op_ctx *c, int i, ptq_dtype dt, int64_t numel) {
  const ptq_tensor *t = c->in[i];
  if (!t || !t->data || t->dtype != dt || (numel >= 0 && ptq_tensor_numel(t) != numel))
    return op_fail(c, PTQ_ERR_INTERNAL, "input %d must be a constant %s of %lld elements", i,
                   ptq_dtype_name(dt), (long long)numel);
  return PTQ_OK;
}

static float attr_scale(const op_ctx *c, const char *name) {
  return ir_attr_float(c->node, name, 1.0f);
}
static int32_t attr_u8(const op_ctx *c, const char *name, int32_t def) {
  int64_t v = ir_attr_int(c->node, name, def);
  return v < 0 ? 0 : v > 255 ? 255 : (int32_t)v;
}

/* QuantizeLinear's value in the uint8 domain, clamped to [lo, hi] (⊆ [0, 255]). */
static inline uint8_t q_u8(float v, float scale, int32_t zp, int32_t lo, int32_t hi) {
  const float r = nearbyintf(v / scale);
  if (isnan(r)) return (uint8_t)lo;
  const double q = (double)r + zp;
  return (uint8_t)(q <= lo ? lo : q >= hi ? hi : (int32_t)q);
}

/* --------------------------------------------------------- boundaries --- */

static ptq_status quant_nhwc_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  if (x->rank != 2 && x->rank != 4)
    return op_fail(c, PTQ_ERR_INTERNAL, "rank %d (2 or 4 expected)", x->rank);
  int64_t d[4] = {x->dims[0], x->dims[1], 0, 0};
  if (x->rank == 4) {
    d[1] = x->dims[2];
    d[2] = x->dims[3];
    d[3] = x->dims[1];
  }
  op_set_out(c, 0, PTQ_DT_UINT8, x->rank, d);
  return PTQ_OK;
}

static ptq_status quant_nhwc_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  const float s = attr_scale(c, "y_scale");
  const int32_t zp = attr_u8(c, "y_zp", 0);
  const float *xd = x->data;
  uint8_t *y = c->out[0]->data;
  if (x->rank == 2) {
    const int64_t n = ptq_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) y[i] = q_u8(xd[i], s, zp, 0, 255);
    return PTQ_OK;
  }
  const int64_t n = x->dims[0], ch = x->dims[1], hw = x->dims[2] * x->dims[3];
  for (int64_t b = 0; b < n; b++)
    for (int64_t k = 0; k < ch; k++) {
      const float *xs = xd + (b * ch + k) * hw;
      uint8_t *yd = y + b * hw * ch + k;
      for (int64_t p = 0; p < hw; p++) yd[p * ch] = q_u8(xs[p], s, zp, 0, 255);
    }
  return PTQ_OK;
}

static ptq_status dequant_nhwc_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(need_u8(c, 0, 2, 4));
  if (x->rank == 3) return op_fail(c, PTQ_ERR_INTERNAL, "rank 3");
  int64_t d[4] = {x->dims[0], x->dims[1], 0, 0};
  if (x->rank == 4) {
    d[1] = x->dims[3];
    d[2] = x->dims[1];
    d[3] = x->dims[2];
  }
  op_set_out(c, 0, PTQ_DT_FLOAT, x->rank, d);
  return PTQ_OK;
}

static ptq_status dequant_nhwc_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  const float s = attr_scale(c, "x_scale");
  const int32_t zp = attr_u8(c, "x_zp", 0);
  const uint8_t *xd = x->data;
  float *y = c->out[0]->data;
  if (x->rank == 2) {
    const int64_t n = ptq_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) y[i] = (float)((int32_t)xd[i] - zp) * s;
    return PTQ_OK;
  }
  const int64_t n = x->dims[0], hw = x->dims[1] * x->dims[2], ch = x->dims[3];
  for (int64_t b = 0; b < n; b++)
    for (int64_t k = 0; k < ch; k++) {
      const uint8_t *xs = xd + b * hw * ch + k;
      float *yd = y + (b * ch + k) * hw;
      for (int64_t p = 0; p < hw; p++) yd[p] = (float)((int32_t)xs[p * ch] - zp) * s;
    }
  return PTQ_OK;
}

/* --------------------------------------------------------------- conv --- */

typedef struct qconv_geo {
  int64_t n, h, w, ci, co, ho, wo, kh, kw, group, sh, sw, dh, dw, pt, pl, pb, pr;
} qconv_geo;

static ptq_status qconv_geometry(op_ctx *c, qconv_geo *g) {
  const ptq_tensor *x = c->in[0], *w = c->in[1];
  PTQ_TRY(need_u8(c, 0, 4, 4));
  PTQ_TRY(need_const(c, 1, PTQ_DT_INT8, -1));
  if (w->rank != 4) return op_fail(c, PTQ_ERR_INTERNAL, "weights of rank %d", w->rank);
  const int64_t *s, *d, *p;
  if (ir_attr_ints(c->node, "strides", &s) != 2 || ir_attr_ints(c->node, "dilations", &d) != 2 ||
      ir_attr_ints(c->node, "pads", &p) != 4)
    return op_fail(c, PTQ_ERR_INTERNAL, "strides, dilations and pads are required");
  *g = (qconv_geo){.n = x->dims[0], .h = x->dims[1], .w = x->dims[2], .ci = x->dims[3],
                   .co = w->dims[0], .kh = w->dims[2], .kw = w->dims[3],
                   .group = ir_attr_int(c->node, "group", 1), .sh = s[0], .sw = s[1], .dh = d[0],
                   .dw = d[1], .pt = p[0], .pl = p[1], .pb = p[2], .pr = p[3]};
  if (g->group < 1 || g->ci != w->dims[1] * g->group || g->co % g->group || g->sh < 1 ||
      g->sw < 1 || g->dh < 1 || g->dw < 1 || g->pt < 0 || g->pl < 0 || g->pb < 0 || g->pr < 0)
    return op_fail(c, PTQ_ERR_INTERNAL, "inconsistent geometry");
  for (int i = 2; i < 5; i++) PTQ_TRY(need_const(c, i, PTQ_DT_INT32, g->co));
  const int64_t eh = g->dh * (g->kh - 1) + 1, ew = g->dw * (g->kw - 1) + 1;
  if (g->h + g->pt + g->pb < eh || g->w + g->pl + g->pr < ew)
    return op_fail(c, PTQ_ERR_SHAPE, "kernel larger than the padded input");
  g->ho = (g->h + g->pt + g->pb - eh) / g->sh + 1;
  g->wo = (g->w + g->pl + g->pr - ew) / g->sw + 1;
  return PTQ_OK;
}

static ptq_status qconv_infer(op_ctx *c) {
  qconv_geo g;
  PTQ_TRY(qconv_geometry(c, &g));
  const int64_t d[4] = {g.n, g.ho, g.wo, g.co};
  op_set_out(c, 0, PTQ_DT_UINT8, 4, d);
  return PTQ_OK;
}

static ptq_status qconv_run(op_ctx *c) {
  qconv_geo g;
  PTQ_TRY(qconv_geometry(c, &g));
  const uint8_t *x = c->in[0]->data;
  const int8_t *w = c->in[1]->data;
  const int32_t *bias = c->in[2]->data, *mult = c->in[3]->data, *shift = c->in[4]->data;
  const int32_t zx = attr_u8(c, "x_zp", 0), zy = attr_u8(c, "y_zp", 0);
  const uint8_t lo = (uint8_t)attr_u8(c, "lo", 0), hi = (uint8_t)attr_u8(c, "hi", 255);
  uint8_t *y = c->out[0]->data;
  const int64_t cig = g.ci / g.group, cog = g.co / g.group;
  for (int64_t b = 0; b < g.n; b++)
    for (int64_t oy = 0; oy < g.ho; oy++)
      for (int64_t ox = 0; ox < g.wo; ox++)
        for (int64_t co = 0; co < g.co; co++) {
          const int64_t gi = co / cog;
          int32_t acc = bias[co];
          for (int64_t ky = 0; ky < g.kh; ky++) {
            const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
            if (iy < 0 || iy >= g.h) continue;
            for (int64_t kx = 0; kx < g.kw; kx++) {
              const int64_t ix = ox * g.sw - g.pl + kx * g.dw;
              if (ix < 0 || ix >= g.w) continue;
              const uint8_t *xp = x + ((b * g.h + iy) * g.w + ix) * g.ci + gi * cig;
              const int8_t *wp = w + co * cig * g.kh * g.kw + ky * g.kw + kx;
              for (int64_t k = 0; k < cig; k++)
                acc += ((int32_t)xp[k] - zx) * (int32_t)wp[k * g.kh * g.kw];
            }
          }
          y[((b * g.ho + oy) * g.wo + ox) * g.co + co] =
              ptq_requant_ref(acc, mult[co], shift[co], zy, lo, hi);
        }
  return PTQ_OK;
}

/* --------------------------------------------------------------- gemm --- */

static ptq_status qgemm_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *w = c->in[1];
  PTQ_TRY(need_u8(c, 0, 2, 2));
  PTQ_TRY(need_const(c, 1, PTQ_DT_INT8, -1));
  if (w->rank != 2 || w->dims[1] != x->dims[1])
    return op_fail(c, PTQ_ERR_INTERNAL, "weights do not match the input");
  for (int i = 2; i < 5; i++) PTQ_TRY(need_const(c, i, PTQ_DT_INT32, w->dims[0]));
  const int64_t d[2] = {x->dims[0], w->dims[0]};
  op_set_out(c, 0, PTQ_DT_UINT8, 2, d);
  return PTQ_OK;
}

static ptq_status qgemm_run(op_ctx *c) {
  const ptq_tensor *xt = c->in[0], *wt = c->in[1];
  const int64_t m = xt->dims[0], k = xt->dims[1], n = wt->dims[0];
  const uint8_t *x = xt->data;
  const int8_t *w = wt->data;
  const int32_t *bias = c->in[2]->data, *mult = c->in[3]->data, *shift = c->in[4]->data;
  const int32_t zx = attr_u8(c, "x_zp", 0), zy = attr_u8(c, "y_zp", 0);
  const uint8_t lo = (uint8_t)attr_u8(c, "lo", 0), hi = (uint8_t)attr_u8(c, "hi", 255);
  uint8_t *y = c->out[0]->data;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      int32_t acc = bias[j];
      for (int64_t l = 0; l < k; l++) acc += ((int32_t)x[i * k + l] - zx) * (int32_t)w[j * k + l];
      y[i * n + j] = ptq_requant_ref(acc, mult[j], shift[j], zy, lo, hi);
    }
  return PTQ_OK;
}

/* ------------------------------------------------------------ add, mul --- */

static ptq_status qbinary_infer(op_ctx *c) {
  const ptq_tensor *a = c->in[0], *b = c->in[1];
  PTQ_TRY(need_u8(c, 0, 2, 4));
  PTQ_TRY(need_u8(c, 1, 2, 4));
  if (a->rank != b->rank || memcmp(a->dims, b->dims, sizeof a->dims) != 0)
    return op_fail(c, PTQ_ERR_INTERNAL, "operand shapes differ");
  op_set_out(c, 0, PTQ_DT_UINT8, a->rank, a->dims);
  return PTQ_OK;
}

static ptq_status qbinary_run(op_ctx *c) {
  const int mul = strcmp(c->node->op_type, "QMul") == 0;
  const float sa = attr_scale(c, "a_scale"), sb = attr_scale(c, "b_scale"),
              sy = attr_scale(c, "y_scale");
  const int32_t za = attr_u8(c, "a_zp", 0), zb = attr_u8(c, "b_zp", 0), zy = attr_u8(c, "y_zp", 0);
  const int32_t lo = attr_u8(c, "lo", 0), hi = attr_u8(c, "hi", 255);
  const uint8_t *a = c->in[0]->data, *b = c->in[1]->data;
  uint8_t *y = c->out[0]->data;
  const int64_t n = ptq_tensor_numel(c->in[0]);
  for (int64_t i = 0; i < n; i++) {
    const float fa = (float)((int32_t)a[i] - za) * sa, fb = (float)((int32_t)b[i] - zb) * sb;
    y[i] = q_u8(mul ? fa * fb : fa + fb, sy, zy, lo, hi);
  }
  return PTQ_OK;
}

/* ---------------------------------------------------------------- lut --- */

static ptq_status qlut_infer(op_ctx *c) {
  PTQ_TRY(need_u8(c, 0, 2, 4));
  PTQ_TRY(need_const(c, 1, PTQ_DT_UINT8, 256));
  op_set_out(c, 0, PTQ_DT_UINT8, c->in[0]->rank, c->in[0]->dims);
  return PTQ_OK;
}

static ptq_status qlut_run(op_ctx *c) {
  const uint8_t *x = c->in[0]->data, *t = c->in[1]->data;
  uint8_t *y = c->out[0]->data;
  const int64_t n = ptq_tensor_numel(c->in[0]);
  for (int64_t i = 0; i < n; i++) y[i] = t[x[i]];
  return PTQ_OK;
}

static const char *const A_QY[] = {"y_scale:f", "y_zp:i", NULL};
static const char *const A_QX[] = {"x_scale:f", "x_zp:i", NULL};
static const char *const A_QCONV[] = {"strides:ints", "dilations:ints", "pads:ints", "group:i",
                                      "x_zp:i",       "y_zp:i",         "lo:i",      "hi:i",
                                      NULL};
static const char *const A_QGEMM[] = {"x_zp:i", "y_zp:i", "lo:i", "hi:i", NULL};
static const char *const A_QBIN[] = {"a_scale:f", "a_zp:i", "b_scale:f", "b_zp:i", "y_scale:f",
                                     "y_zp:i",    "lo:i",   "hi:i",      NULL};

const op_def op_defs_int8[] = {
    {"QuantizeNhwc", 1, 1, 1, 1, 1, A_QY, quant_nhwc_infer, quant_nhwc_run, 0, 1, 0},
    {"DequantizeNhwc", 1, 1, 1, 1, 1, A_QX, dequant_nhwc_infer, dequant_nhwc_run, 0, 1, 0},
    {"QConv", 1, 5, 5, 1, 1, A_QCONV, qconv_infer, qconv_run, 0, 1, 0},
    {"QGemm", 1, 5, 5, 1, 1, A_QGEMM, qgemm_infer, qgemm_run, 0, 1, 0},
    {"QAdd", 1, 2, 2, 1, 1, A_QBIN, qbinary_infer, qbinary_run, 0, 1, 0},
    {"QMul", 1, 2, 2, 1, 1, A_QBIN, qbinary_infer, qbinary_run, 0, 1, 0},
    {"QLut", 1, 2, 2, 1, 1, NULL, qlut_infer, qlut_run, 0, 1, 0},
    {NULL}};

ptq_status op_int8_prepare(const ir_graph *g, const ir_node *n, op_prepared *p) {
  (void)g;
  (void)n;
  (void)p;
  return PTQ_OK;
}
