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
#include "kernels/qgemm.h"
#include "kernels/qkernels.h"
#include "kernels/qops.h"

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
  const int64_t ch = x->rank == 4 ? x->dims[1] : x->dims[1] * x->dims[0];
  const int64_t n = x->rank == 4 ? x->dims[0] : 1, hw = x->rank == 4 ? x->dims[2] * x->dims[3] : 1;
  ptq_quantize_nchw_to_nhwc(n, ch, hw, x->data, attr_scale(c, "y_scale"), attr_u8(c, "y_zp", 0), 0,
                            c->out[0]->data);
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
  const int64_t ch = x->rank == 4 ? x->dims[3] : x->dims[1] * x->dims[0];
  const int64_t n = x->rank == 4 ? x->dims[0] : 1, hw = x->rank == 4 ? x->dims[1] * x->dims[2] : 1;
  ptq_dequantize_nhwc_to_nchw(n, ch, hw, x->data, attr_scale(c, "x_scale"), attr_u8(c, "x_zp", 0),
                              0, c->out[0]->data);
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
  *g = (qconv_geo){.n = x->dims[0],
                   .h = x->dims[1],
                   .w = x->dims[2],
                   .ci = x->dims[3],
                   .co = w->dims[0],
                   .kh = w->dims[2],
                   .kw = w->dims[3],
                   .group = ir_attr_int(c->node, "group", 1),
                   .sh = s[0],
                   .sw = s[1],
                   .dh = d[0],
                   .dw = d[1],
                   .pt = p[0],
                   .pl = p[1],
                   .pb = p[2],
                   .pr = p[3]};
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

static ptq_qconv_params qconv_kparams(const qconv_geo *g) {
  return (ptq_qconv_params){.n = g->n,
                            .h_in = g->h,
                            .w_in = g->w,
                            .c_in = g->ci,
                            .c_out = g->co,
                            .h_out = g->ho,
                            .w_out = g->wo,
                            .group = g->group,
                            .k_h = g->kh,
                            .k_w = g->kw,
                            .stride_h = g->sh,
                            .stride_w = g->sw,
                            .dil_h = g->dh,
                            .dil_w = g->dw,
                            .pad_t = g->pt,
                            .pad_l = g->pl,
                            .pad_b = g->pb,
                            .pad_r = g->pr};
}

/* Packed weights and the shape they were packed for. */
typedef struct qconv_state {
  ptq_qconv_params p;
  ptq_qconv_packed *packed; /* GEMM-based path, or */
  ptq_qdw_packed *dw;       /* depthwise (group == c_in == c_out) */
} qconv_state;

static void qconv_state_free(void *st) {
  qconv_state *q = st;
  if (!q) return;
  ptq_qconv_packed_free(q->packed);
  ptq_qdw_free(q->dw);
  free(q);
}

static ptq_status qconv_run(op_ctx *c) {
  qconv_geo g;
  PTQ_TRY(qconv_geometry(c, &g));
  const qconv_state *q = c->prep ? c->prep->state : NULL;
  const ptq_qconv_params p = qconv_kparams(&g);
  if (!q || memcmp(&q->p, &p, sizeof p) != 0)
    return op_fail(c, PTQ_ERR_INTERNAL, "the weights were not packed for this shape");
  if (q->dw) {
    const ptq_qdw_geom dg = {.n = p.n,
                             .h_in = p.h_in,
                             .w_in = p.w_in,
                             .h_out = p.h_out,
                             .w_out = p.w_out,
                             .stride_h = p.stride_h,
                             .stride_w = p.stride_w,
                             .dil_h = p.dil_h,
                             .dil_w = p.dil_w,
                             .pad_t = p.pad_t,
                             .pad_l = p.pad_l};
    ptq_qdwconv(q->dw, &dg, c->in[0]->data, c->out[0]->data);
    return PTQ_OK;
  }
  const int32_t zy = attr_u8(c, "y_zp", 0);
  const uint8_t lo = (uint8_t)attr_u8(c, "lo", 0), hi = (uint8_t)attr_u8(c, "hi", 255);
  const size_t bytes = ptq_qconv_scratch_size(&p);
  float *to_free = NULL, *scratch = NULL;
  if (bytes && !(scratch = op_scratch(c, (bytes + sizeof(float) - 1) / sizeof(float), &to_free)))
    return op_fail(c, PTQ_ERR_NOMEM, "out of memory");
  ptq_qconv_run(q->packed, c->in[0]->data, zy, lo, hi, c->out[0]->data, scratch);
  free(to_free);
  return PTQ_OK;
}

/* Shape of a value as a tensor header (no data) for the prepare step. */
static void value_shape(const ir_value *v, ptq_tensor *t) {
  memset(t, 0, sizeof *t);
  t->dtype = v->dtype;
  t->rank = v->rank;
  memcpy(t->dims, v->dims, sizeof t->dims);
  t->data = v->data ? v->data->data : NULL;
}

static ptq_status qconv_prepare(const ir_graph *gr, const ir_node *n, op_prepared *pr) {
  ptq_tensor shapes[5], *in[5];
  for (int k = 0; k < 5; k++) {
    value_shape(ir_in(gr, n, k), &shapes[k]);
    in[k] = &shapes[k];
  }
  op_ctx c = {.graph = gr, .node = n, .opset = gr->opset, .n_in = 5, .in = in, .infer_only = 1};
  qconv_geo g;
  PTQ_TRY(qconv_geometry(&c, &g));
  qconv_state *q = calloc(1, sizeof *q);
  if (!q) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  q->p = qconv_kparams(&g);
  if (g.group == g.ci && g.group == g.co) {
    const ptq_qdw_desc d = {.c = g.co,
                            .k_h = g.kh,
                            .k_w = g.kw,
                            .w = in[1]->data,
                            .bias = in[2]->data,
                            .mult = in[3]->data,
                            .shift = in[4]->data,
                            .zx = attr_u8(&c, "x_zp", 0),
                            .zy = attr_u8(&c, "y_zp", 0),
                            .lo = (uint8_t)attr_u8(&c, "lo", 0),
                            .hi = (uint8_t)attr_u8(&c, "hi", 255)};
    q->dw = ptq_qdw_pack(&d);
  } else {
    q->packed = ptq_qconv_pack(&q->p, in[1]->data, in[2]->data, in[3]->data, in[4]->data,
                               (uint8_t)attr_u8(&c, "x_zp", 0));
  }
  if (!q->packed && !q->dw) {
    free(q);
    return ptq_error(PTQ_ERR_NOMEM, "out of memory packing the weights");
  }
  pr->state = q;
  pr->state_free = qconv_state_free;
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
  const ptq_qgemm_packed *pk = c->prep ? c->prep->state : NULL;
  const ptq_tensor *x = c->in[0];
  if (!pk || ptq_qgemm_packed_n(pk) != c->in[1]->dims[0] || ptq_qgemm_packed_k(pk) != x->dims[1])
    return op_fail(c, PTQ_ERR_INTERNAL, "the weights were not packed for this shape");
  const int32_t zy = attr_u8(c, "y_zp", 0);
  const uint8_t lo = (uint8_t)attr_u8(c, "lo", 0), hi = (uint8_t)attr_u8(c, "hi", 255);
  ptq_qgemm_run(pk, x->dims[0], x->data, x->dims[1], zy, lo, hi, c->out[0]->data,
                c->in[1]->dims[0]);
  return PTQ_OK;
}

static void qgemm_state_free(void *st) {
  ptq_qgemm_packed_free(st);
}

static ptq_status qgemm_prepare(const ir_graph *g, const ir_node *n, op_prepared *pr) {
  const ir_value *w = ir_in(g, n, 1), *b = ir_in(g, n, 2), *m = ir_in(g, n, 3), *s = ir_in(g, n, 4);
  if (!w || !w->data || w->rank != 2 || !b || !b->data || !m || !m->data || !s || !s->data)
    return ptq_error(PTQ_ERR_INTERNAL, "%s: constant inputs missing", ir_node_desc(n));
  const int64_t zx = ir_attr_int(n, "x_zp", 0);
  ptq_qgemm_packed *pk = ptq_qgemm_pack(w->dims[0], w->dims[1], w->data->data, w->dims[1],
                                        b->data->data, m->data->data, s->data->data,
                                        (uint8_t)(zx < 0     ? 0
                                                  : zx > 255 ? 255
                                                             : zx));
  if (!pk) return ptq_error(PTQ_ERR_NOMEM, "out of memory packing the weights");
  pr->state = pk;
  pr->state_free = qgemm_state_free;
  return PTQ_OK;
}

/* ------------------------------------------------------------ add, mul --- */

static ptq_status qbinary_infer(op_ctx *c) {
  const ptq_tensor *a = c->in[0], *b = c->in[1];
  PTQ_TRY(need_u8(c, 0, 2, 4));
  PTQ_TRY(need_u8(c, 1, 2, 4));
  /* b the same shape as a, or NHWC [N, 1, 1, C] against [N, H, W, C] */
  const int bc = a->rank == 4 && b->rank == 4 && b->dims[0] == a->dims[0] && b->dims[1] == 1 &&
                 b->dims[2] == 1 && b->dims[3] == a->dims[3];
  if (!bc && (a->rank != b->rank || memcmp(a->dims, b->dims, sizeof a->dims) != 0))
    return op_fail(c, PTQ_ERR_INTERNAL, "operand shapes differ");
  op_set_out(c, 0, PTQ_DT_UINT8, a->rank, a->dims);
  return PTQ_OK;
}

static ptq_status qbinary_run(op_ctx *c) {
  const ptq_qbin_params p = {
      .op = strcmp(c->node->op_type, "QMul") == 0 ? PTQ_QBIN_MUL : PTQ_QBIN_ADD,
      .sa = attr_scale(c, "a_scale"),
      .sb = attr_scale(c, "b_scale"),
      .sy = attr_scale(c, "y_scale"),
      .za = attr_u8(c, "a_zp", 0),
      .zb = attr_u8(c, "b_zp", 0),
      .zy = attr_u8(c, "y_zp", 0),
      .lo = (uint8_t)attr_u8(c, "lo", 0),
      .hi = (uint8_t)attr_u8(c, "hi", 255)};
  const ptq_tensor *a = c->in[0], *b = c->in[1];
  const int64_t na = ptq_tensor_numel(a), nb = ptq_tensor_numel(b);
  if (na == nb) {
    ptq_qbinary(&p, 1, na, a->data, b->data, PTQ_QBIN_SAME, c->out[0]->data);
    return PTQ_OK;
  }
  const int64_t n = a->dims[0], ch = a->dims[3], hw = a->dims[1] * a->dims[2];
  for (int64_t i = 0; i < n; i++) /* per image: b's C values broadcast over H x W */
    ptq_qbinary(&p, hw, ch, (const uint8_t *)a->data + i * hw * ch,
                (const uint8_t *)b->data + i * ch, PTQ_QBIN_PER_CHANNEL,
                (uint8_t *)c->out[0]->data + i * hw * ch);
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
  ptq_qlut(c->in[1]->data, ptq_tensor_numel(c->in[0]), c->in[0]->data, c->out[0]->data);
  return PTQ_OK;
}

/* ------------------------------------------------------------- pooling --- */

static ptq_status qpool_params(op_ctx *c, ptq_qpool_params *p) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(need_u8(c, 0, 4, 4));
  memset(p, 0, sizeof *p);
  p->n = x->dims[0];
  p->h_in = x->dims[1];
  p->w_in = x->dims[2];
  p->c = x->dims[3];
  p->sx = attr_scale(c, "x_scale");
  p->sy = attr_scale(c, "y_scale");
  p->zx = attr_u8(c, "x_zp", 0);
  p->zy = attr_u8(c, "y_zp", 0);
  p->lo = (uint8_t)attr_u8(c, "lo", 0);
  p->hi = (uint8_t)attr_u8(c, "hi", 255);
  if (strcmp(c->node->op_type, "QGlobalAvgPool") == 0) {
    p->h_out = p->w_out = 1;
    return PTQ_OK;
  }
  const int64_t *k, *s, *d, *pd, *o;
  if (ir_attr_ints(c->node, "kernel_shape", &k) != 2 || ir_attr_ints(c->node, "strides", &s) != 2 ||
      ir_attr_ints(c->node, "dilations", &d) != 2 || ir_attr_ints(c->node, "pads", &pd) != 4 ||
      ir_attr_ints(c->node, "out_hw", &o) != 2)
    return op_fail(c, PTQ_ERR_INTERNAL, "pooling geometry missing");
  p->k_h = k[0], p->k_w = k[1], p->stride_h = s[0], p->stride_w = s[1], p->dil_h = d[0],
  p->dil_w = d[1];
  p->pad_t = pd[0], p->pad_l = pd[1], p->pad_b = pd[2], p->pad_r = pd[3];
  p->h_out = o[0], p->w_out = o[1];
  p->count_include_pad = (int)ir_attr_int(c->node, "count_include_pad", 0);
  if (p->k_h < 1 || p->k_w < 1 || p->stride_h < 1 || p->stride_w < 1 || p->dil_h < 1 ||
      p->dil_w < 1 || p->h_out < 1 || p->w_out < 1)
    return op_fail(c, PTQ_ERR_INTERNAL, "bad pooling geometry");
  return PTQ_OK;
}

static ptq_status qpool_infer(op_ctx *c) {
  ptq_qpool_params p;
  PTQ_TRY(qpool_params(c, &p));
  const int64_t d[4] = {p.n, p.h_out, p.w_out, p.c};
  op_set_out(c, 0, PTQ_DT_UINT8, 4, d);
  return PTQ_OK;
}

static ptq_status qpool_run(op_ctx *c) {
  ptq_qpool_params p;
  PTQ_TRY(qpool_params(c, &p));
  const char *op = c->node->op_type;
  if (strcmp(op, "QMaxPool") == 0)
    ptq_qmaxpool(&p, c->in[0]->data, c->out[0]->data);
  else if (strcmp(op, "QAvgPool") == 0)
    ptq_qavgpool(&p, c->in[0]->data, c->out[0]->data);
  else
    ptq_qglobal_avgpool(&p, c->in[0]->data, c->out[0]->data);
  return PTQ_OK;
}

/* ------------------------------------------------------ reshape, concat --- */

static ptq_status qreshape_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(need_u8(c, 0, 2, 4));
  const int64_t d[2] = {x->dims[0], ptq_tensor_numel(x) / (x->dims[0] ? x->dims[0] : 1)};
  op_set_out(c, 0, PTQ_DT_UINT8, 2, d);
  return PTQ_OK;
}

static ptq_status qreshape_run(op_ctx *c) {
  memcpy(c->out[0]->data, c->in[0]->data, (size_t)ptq_tensor_numel(c->in[0]));
  return PTQ_OK;
}

static ptq_status qconcat_infer(op_ctx *c) {
  const int n = c->n_in - 1;
  const ptq_tensor *x0 = c->in[0];
  PTQ_TRY(need_u8(c, 0, 2, 4));
  PTQ_TRY(need_const(c, n, PTQ_DT_UINT8, (int64_t)n * 256));
  int64_t d[4];
  memcpy(d, x0->dims, sizeof d);
  const int last = x0->rank - 1;
  d[last] = 0;
  for (int k = 0; k < n; k++) {
    const ptq_tensor *x = c->in[k];
    PTQ_TRY(need_u8(c, k, 2, 4));
    if (x->rank != x0->rank) return op_fail(c, PTQ_ERR_INTERNAL, "input ranks differ");
    for (int i = 0; i < last; i++)
      if (x->dims[i] != x0->dims[i]) return op_fail(c, PTQ_ERR_INTERNAL, "input shapes differ");
    d[last] += x->dims[last];
  }
  op_set_out(c, 0, PTQ_DT_UINT8, x0->rank, d);
  return PTQ_OK;
}

/* Channels are the innermost axis: each input's pixels go to its channel slice, through its
 * rescaling table unless the table is the identity. */
static ptq_status qconcat_run(op_ctx *c) {
  const int n = c->n_in - 1;
  const ptq_tensor *y = c->out[0];
  const int last = y->rank - 1;
  const int64_t cy = y->dims[last], pix = ptq_tensor_numel(y) / (cy ? cy : 1);
  const uint8_t *tables = c->in[n]->data;
  uint8_t *yd = y->data;
  int64_t off = 0;
  for (int k = 0; k < n; k++) {
    const int64_t ck = c->in[k]->dims[last];
    const uint8_t *t = tables + (size_t)k * 256, *xd = c->in[k]->data;
    int ident = 1;
    for (int i = 0; i < 256 && ident; i++) ident = t[i] == i;
    for (int64_t p = 0; p < pix; p++) {
      if (ident)
        memcpy(yd + p * cy + off, xd + p * ck, (size_t)ck);
      else
        ptq_qlut(t, ck, xd + p * ck, yd + p * cy + off);
    }
    off += ck;
  }
  return PTQ_OK;
}

/* -------------------------------------------------------------- gather --- */

/* y[i] = map[i] < 0 ? table[256] : table[x[map[i]]]: a value-moving op (Resize-nearest, Pad,
 * Transpose, Slice, ...) as an index map found by lowering, with a rescaling table. */
static ptq_status qgather_infer(op_ctx *c) {
  const int64_t *d;
  const size_t r = ir_attr_ints(c->node, "dims", &d);
  PTQ_TRY(need_u8(c, 0, 1, 4));
  if (r < 1 || r > 4) return op_fail(c, PTQ_ERR_INTERNAL, "dims missing");
  int64_t n = 1;
  for (size_t i = 0; i < r; i++) n *= d[i];
  PTQ_TRY(need_const(c, 1, PTQ_DT_INT32, n));
  PTQ_TRY(need_const(c, 2, PTQ_DT_UINT8, 257));
  const int64_t ni = ptq_tensor_numel(c->in[0]);
  const int32_t *map = c->in[1]->data;
  for (int64_t i = 0; i < n; i++)
    if (map[i] < -1 || map[i] >= ni) return op_fail(c, PTQ_ERR_INTERNAL, "index map out of range");
  op_set_out(c, 0, PTQ_DT_UINT8, (int)r, d);
  return PTQ_OK;
}

static ptq_status qgather_run(op_ctx *c) {
  const uint8_t *x = c->in[0]->data, *t = c->in[2]->data;
  const int32_t *map = c->in[1]->data;
  uint8_t *y = c->out[0]->data;
  const int64_t n = ptq_tensor_numel(c->out[0]);
  for (int64_t i = 0; i < n; i++) y[i] = map[i] < 0 ? t[256] : t[x[map[i]]];
  return PTQ_OK;
}

/* ------------------------------------------------- float-output linear --- */

static ptq_status qlinf_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *w = c->in[1];
  const int conv = strcmp(c->node->op_type, "QConvF") == 0;
  PTQ_TRY(need_u8(c, 0, conv ? 4 : 2, conv ? 4 : 2));
  PTQ_TRY(need_const(c, 1, PTQ_DT_INT8, -1));
  const int64_t k = x->dims[conv ? 3 : 1];
  if (w->rank != 2 || w->dims[1] != k)
    return op_fail(c, PTQ_ERR_INTERNAL, "weights do not match the input");
  PTQ_TRY(need_const(c, 2, PTQ_DT_FLOAT, w->dims[0]));
  PTQ_TRY(need_const(c, 3, PTQ_DT_FLOAT, w->dims[0]));
  if (conv) {
    const int64_t d[4] = {x->dims[0], w->dims[0], x->dims[1], x->dims[2]};
    op_set_out(c, 0, PTQ_DT_FLOAT, 4, d);
  } else {
    const int64_t d[2] = {x->dims[0], w->dims[0]};
    op_set_out(c, 0, PTQ_DT_FLOAT, 2, d);
  }
  return PTQ_OK;
}

/* acc from the packed GEMM (x_zp folded in), then y = float(acc) * scale[j] + bias[j]. */
static ptq_status qlinf_run(op_ctx *c) {
  const ptq_qgemm_packed *pk = c->prep ? c->prep->state : NULL;
  const ptq_tensor *x = c->in[0];
  const int conv = strcmp(c->node->op_type, "QConvF") == 0;
  const int64_t n = c->in[1]->dims[0], k = c->in[1]->dims[1];
  const int64_t batch = x->dims[0], pix = conv ? x->dims[1] * x->dims[2] : 1;
  if (!pk || ptq_qgemm_packed_n(pk) != n || ptq_qgemm_packed_k(pk) != k)
    return op_fail(c, PTQ_ERR_INTERNAL, "the weights were not packed for this shape");
  const float *scale = c->in[3]->data, *bias = c->in[2]->data;
  float *y = c->out[0]->data, *to_free = NULL;
  const size_t need = (size_t)(batch * pix * n);
  int32_t *acc = (int32_t *)op_scratch(c, need, &to_free); /* int32 and float are both 4 bytes */
  if (!acc) return op_fail(c, PTQ_ERR_NOMEM, "out of memory");
  ptq_qgemm_run_i32(pk, batch * pix, x->data, k, acc, n);
  for (int64_t b = 0; b < batch; b++)
    for (int64_t p = 0; p < pix; p++)
      for (int64_t j = 0; j < n; j++) {
        const float v = (float)acc[(b * pix + p) * n + j] * scale[j] + bias[j];
        y[conv ? (b * n + j) * pix + p : b * n + j] = v;
      }
  free(to_free);
  return PTQ_OK;
}

static ptq_status qlinf_prepare(const ir_graph *g, const ir_node *n, op_prepared *pr) {
  const ir_value *w = ir_in(g, n, 1);
  if (!w || !w->data || w->rank != 2)
    return ptq_error(PTQ_ERR_INTERNAL, "%s: constant weights missing", ir_node_desc(n));
  int32_t *ones = ptq_malloc((size_t)w->dims[0] * 2 * sizeof(int32_t));
  if (!ones) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  for (int64_t j = 0; j < w->dims[0]; j++) {
    ones[j] = 1 << 30; /* requantization parameters of the unused uint8 output path */
    ones[w->dims[0] + j] = 31;
  }
  const int64_t zx = ir_attr_int(n, "x_zp", 0);
  ptq_qgemm_packed *pk = ptq_qgemm_pack(w->dims[0], w->dims[1], w->data->data, w->dims[1], NULL,
                                        ones, ones + w->dims[0],
                                        (uint8_t)(zx < 0     ? 0
                                                  : zx > 255 ? 255
                                                             : zx));
  free(ones);
  if (!pk) return ptq_error(PTQ_ERR_NOMEM, "out of memory packing the weights");
  pr->state = pk;
  pr->state_free = qgemm_state_free;
  return PTQ_OK;
}

static const char *const A_QY[] = {"y_scale:f", "y_zp:i", NULL};
static const char *const A_QX[] = {"x_scale:f", "x_zp:i", NULL};
static const char *const A_QCONV[] = {"strides:ints", "dilations:ints", "pads:ints",
                                      "group:i",      "x_zp:i",         "y_zp:i",
                                      "lo:i",         "hi:i",           NULL};
static const char *const A_QGEMM[] = {"x_zp:i", "y_zp:i", "lo:i", "hi:i", NULL};
static const char *const A_QPOOL[] = {"kernel_shape:ints",
                                      "strides:ints",
                                      "dilations:ints",
                                      "pads:ints",
                                      "out_hw:ints",
                                      "count_include_pad:i",
                                      "x_scale:f",
                                      "x_zp:i",
                                      "y_scale:f",
                                      "y_zp:i",
                                      "lo:i",
                                      "hi:i",
                                      NULL};
static const char *const A_QLINF[] = {"x_zp:i", NULL};
static const char *const A_QGATHER[] = {"dims:ints", NULL};
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
    {"QMaxPool", 1, 1, 1, 1, 1, A_QPOOL, qpool_infer, qpool_run, 0, 1, 0},
    {"QAvgPool", 1, 1, 1, 1, 1, A_QPOOL, qpool_infer, qpool_run, 0, 1, 0},
    {"QGlobalAvgPool", 1, 1, 1, 1, 1, A_QPOOL, qpool_infer, qpool_run, 0, 1, 0},
    {"QReshape", 1, 1, 1, 1, 1, NULL, qreshape_infer, qreshape_run, 0, 1, 0},
    {"QConcat", 1, 2, 65, 1, 1, NULL, qconcat_infer, qconcat_run, 0, 1, 0},
    {"QConvF", 1, 4, 4, 1, 1, A_QLINF, qlinf_infer, qlinf_run, 0, 1, 0},
    {"QGather", 1, 3, 3, 1, 1, A_QGATHER, qgather_infer, qgather_run, 0, 1, 0},
    {"QGemmF", 1, 4, 4, 1, 1, A_QLINF, qlinf_infer, qlinf_run, 0, 1, 0},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};

ptq_status op_int8_prepare(const ir_graph *g, const ir_node *n, op_prepared *p) {
  if (strcmp(n->op_type, "QConv") == 0) return qconv_prepare(g, n, p);
  if (strcmp(n->op_type, "QGemm") == 0) return qgemm_prepare(g, n, p);
  if (strcmp(n->op_type, "QConvF") == 0 || strcmp(n->op_type, "QGemmF") == 0)
    return qlinf_prepare(g, n, p);
  return PTQ_OK;
}
