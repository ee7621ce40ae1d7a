/* Lowering of a quantized (QDQ) graph to the int8 runtime's graph (see exec/lower.h).
 *
 * A quantized activation is the output of a per-tensor QuantizeLinear (int8 or uint8, scalar
 * scale and zero point, rank 2 or 4, static shape) all of whose readers are
 * DequantizeLinear nodes with the same parameters. Such a value is "lowered": it becomes a
 * uint8 tensor in NHWC (an int8 value q is stored as q ^ 0x80, its zero point + 128: the same
 * real values). A compute node X is replaced by an int8 node when every activation input is
 * DQ(lowered value), its output reaches exactly one QuantizeLinear of a lowered value (through
 * at most one Relu/Clip, which becomes the output clamp: Q is monotonic, so
 * Q(relu(v)) = max(Q(v), Q(0)) and Q(clip(v, a, b)) = clamp(Q(v), Q(a), Q(b))), and its
 * constants are in a form the int8 kernels take. Everything else stays float: the
 * QuantizeLinear nodes that remain become QuantizeNhwc (float NCHW → uint8 NHWC) and the
 * DequantizeLinear nodes DequantizeNhwc, with the float QDQ numerics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/conv_geom.h"
#include "exec/exec.h"
#include "exec/lower.h"
#include "kernels/qkernels.h"
#include "util/util.h"

typedef struct qparam {
  float scale;
  int32_t zp; /* uint8 domain */
} qparam;

typedef struct lower_ctx {
  ir_graph *g;
  int *readers;         /* per value: number of node inputs reading it */
  int *first_reader;    /* per value: a node reading it (the only one when readers == 1) */
  unsigned char *low;   /* per value: lowered quantized activation */
  qparam *qp;           /* per value: parameters of lowered values */
  unsigned char *drop;  /* per node: removed */
  unsigned char *fused; /* per node: absorbed into an int8 node (kept for DQ bookkeeping) */
  int n_nodes0, n_values0;
} lower_ctx;

/* ---------------------------------------------------------------- helpers --- */

static int is_op(const ir_node *n, const char *op) {
  return (!n->domain[0] || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, op) == 0;
}

static int const_numel(const ir_value *v, ptq_dtype dt, int64_t n) {
  return v && v->data && v->data->dtype == dt && ptq_tensor_numel(v->data) == n;
}

/* Per-tensor parameters of a QuantizeLinear/DequantizeLinear node: scalar float scale, scalar
 * int8/uint8 zero point (or none: uint8 0 / output_dtype). 0 if not of that form. */
static int node_qparam(const ir_graph *g, const ir_node *n, qparam *out, ptq_dtype *type) {
  const ir_value *s = ir_in(g, n, 1), *z = ir_in(g, n, 2);
  if (!const_numel(s, PTQ_DT_FLOAT, 1)) return 0;
  if (ir_attr_int(n, "block_size", 0) != 0) return 0;
  ptq_dtype t = PTQ_DT_UINT8;
  if (z) {
    if (!z->data || ptq_tensor_numel(z->data) != 1) return 0;
    t = z->data->dtype;
  } else if (is_op(n, "QuantizeLinear") && ir_attr_int(n, "output_dtype", 0)) {
    t = (ptq_dtype)ir_attr_int(n, "output_dtype", 0);
  } else if (is_op(n, "DequantizeLinear")) {
    const ir_value *x = ir_in(g, n, 0);
    t = x ? x->dtype : PTQ_DT_UNDEFINED;
  }
  if (t != PTQ_DT_INT8 && t != PTQ_DT_UINT8) return 0;
  const float sc = *(const float *)s->data->data;
  if (!(sc > 0.0f) || !isfinite(sc)) return 0;
  out->scale = sc;
  out->zp = !z                 ? (t == PTQ_DT_INT8 ? 128 : 0)
            : t == PTQ_DT_INT8 ? (int32_t)((const int8_t *)z->data->data)[0] + 128
                               : (int32_t)((const uint8_t *)z->data->data)[0];
  *type = t;
  return 1;
}

/* The uint8-domain quantization of v with p, as QuantizeLinear computes it (x / scale in
 * float32, ties to even, saturated to [0, 255]). */
static int32_t quantize_u8(float v, qparam p) {
  const float r = nearbyintf(v / p.scale);
  if (isnan(r)) return 0;
  const double q = (double)r + p.zp;
  return q <= 0.0 ? 0 : q >= 255.0 ? 255 : (int32_t)q;
}

/* quantize_u8, then clamped to [lo, hi] (a fused Relu/Clip). */
static uint8_t quantize_clamped(float v, qparam p, int32_t lo, int32_t hi) {
  const int32_t t = quantize_u8(v, p);
  return (uint8_t)(t < lo ? lo : t > hi ? hi : t);
}

/* table[q] = the code of DQ(q; px) requantized with py: the simulation's DQ -> Q. */
static void rescale_table(qparam px, qparam py, int32_t lo, int32_t hi, uint8_t table[256]) {
  for (int i = 0; i < 256; i++)
    table[i] = quantize_clamped((float)(i - px.zp) * px.scale, py, lo, hi);
}

/* The lowered value behind input k of node n (n reads DQ(lowered)), or -1. */
static int low_source(const lower_ctx *lc, const ir_node *n, int k) {
  const ir_graph *g = lc->g;
  if (k >= n->n_inputs || n->inputs[k] < 0) return -1;
  const ir_value *v = &g->values[n->inputs[k]];
  if (v->producer < 0) return -1;
  const ir_node *dq = &g->nodes[v->producer];
  if (!is_op(dq, "DequantizeLinear") || dq->inputs[0] < 0) return -1;
  return lc->low[dq->inputs[0]] ? dq->inputs[0] : -1;
}

/* Output chain of X: X -> [Relu | Clip] -> Q(lowered). Sets *q_node, *act_node (-1 if none),
 * the lowered output value and the clamp range. 0 if the output does not end that way. */
static int out_chain(const lower_ctx *lc, const ir_node *x, int *q_node, int *act_node, int *yv,
                     int32_t *lo, int32_t *hi) {
  const ir_graph *g = lc->g;
  if (x->n_outputs < 1 || x->outputs[0] < 0) return 0;
  for (int k = 1; k < x->n_outputs; k++)
    if (x->outputs[k] >= 0 && lc->readers[x->outputs[k]]) return 0;
  int v = x->outputs[0];
  *act_node = -1;
  if (g->values[v].is_output || lc->readers[v] != 1) return 0;
  int r = lc->first_reader[v];
  const ir_node *rn = &g->nodes[r];
  float a_lo = -INFINITY, a_hi = INFINITY;
  int relu = 0;
  if (is_op(rn, "Relu") || is_op(rn, "Clip")) {
    if (is_op(rn, "Relu")) {
      relu = 1;
    } else {
      if (ir_node_attr(rn, "min")) a_lo = ir_attr_float(rn, "min", -INFINITY);
      if (ir_node_attr(rn, "max")) a_hi = ir_attr_float(rn, "max", INFINITY);
      const ir_value *mn = ir_in(g, rn, 1), *mx = ir_in(g, rn, 2);
      if ((mn && !const_numel(mn, PTQ_DT_FLOAT, 1)) || (mx && !const_numel(mx, PTQ_DT_FLOAT, 1)))
        return 0;
      if (mn) a_lo = *(const float *)mn->data->data;
      if (mx) a_hi = *(const float *)mx->data->data;
    }
    *act_node = r;
    v = rn->outputs[0];
    if (v < 0 || g->values[v].is_output || lc->readers[v] != 1) return 0;
    r = lc->first_reader[v];
    rn = &g->nodes[r];
  }
  if (!is_op(rn, "QuantizeLinear") || rn->outputs[0] < 0 || !lc->low[rn->outputs[0]]) return 0;
  *q_node = r;
  *yv = rn->outputs[0];
  const qparam p = lc->qp[*yv];
  *lo = 0;
  *hi = 255;
  if (relu) *lo = quantize_u8(0.0f, p);
  if (a_lo > -INFINITY) *lo = quantize_u8(a_lo, p);
  if (a_hi < INFINITY) *hi = quantize_u8(a_hi, p);
  return *lo <= *hi;
}

/* Weights DQ(const int8 [c_out][...], scale per tensor or per channel along axis, zero point
 * 0): the int8 data and the scale of each of the c_out channels. 0 if not of that form. */
static int const_weights(const lower_ctx *lc, const ir_node *x, int k, int axis_expected,
                         const int8_t **w, float *scales, int64_t c_out) {
  const ir_graph *g = lc->g;
  const ir_value *v = ir_in(g, x, k);
  if (!v || v->producer < 0 || lc->readers[x->inputs[k]] < 1) return 0;
  const ir_node *dq = &g->nodes[v->producer];
  if (!is_op(dq, "DequantizeLinear")) return 0;
  const ir_value *q = ir_in(g, dq, 0), *s = ir_in(g, dq, 1), *z = ir_in(g, dq, 2);
  if (!q || !q->data || q->data->dtype != PTQ_DT_INT8 || !s || !s->data ||
      s->data->dtype != PTQ_DT_FLOAT)
    return 0;
  if (ir_attr_int(dq, "block_size", 0) != 0) return 0;
  const int64_t ns = ptq_tensor_numel(s->data);
  if (ns != 1) {
    int64_t axis = ir_attr_int(dq, "axis", 1);
    if (axis < 0) axis += q->data->rank;
    if (axis != axis_expected || ns != c_out) return 0;
  }
  if (z) {
    if (!z->data || z->data->dtype != PTQ_DT_INT8 || ptq_tensor_numel(z->data) != ns) return 0;
    for (int64_t i = 0; i < ns; i++)
      if (((const int8_t *)z->data->data)[i] != 0) return 0;
  }
  const float *sd = s->data->data;
  for (int64_t c = 0; c < c_out; c++) {
    scales[c] = sd[ns == 1 ? 0 : c];
    if (!(scales[c] > 0.0f) || !isfinite(scales[c])) return 0;
  }
  *w = q->data->data;
  return 1;
}

/* Bias input k of x as real values (DQ(const int32) or a float constant) of c_out entries:
 * the float32 values the simulation adds. NULL input: zeros. 0 if not constant. */
static int const_bias(const lower_ctx *lc, const ir_node *x, int k, float *b, int64_t c_out) {
  const ir_graph *g = lc->g;
  const ir_value *v = ir_in(g, x, k);
  for (int64_t c = 0; c < c_out; c++) b[c] = 0.0f;
  if (!v) return 1;
  if (v->data) {
    if (v->data->dtype != PTQ_DT_FLOAT || ptq_tensor_numel(v->data) != c_out) return 0;
    memcpy(b, v->data->data, (size_t)c_out * sizeof *b);
    return 1;
  }
  if (v->producer < 0) return 0;
  const ir_node *dq = &g->nodes[v->producer];
  if (!is_op(dq, "DequantizeLinear")) return 0;
  const ir_value *q = ir_in(g, dq, 0), *s = ir_in(g, dq, 1), *z = ir_in(g, dq, 2);
  if (!q || !q->data || q->data->dtype != PTQ_DT_INT32 || ptq_tensor_numel(q->data) != c_out ||
      !s || !s->data || s->data->dtype != PTQ_DT_FLOAT)
    return 0;
  const int64_t ns = ptq_tensor_numel(s->data);
  if (ns != 1 && ns != c_out) return 0;
  if (z && (!z->data || z->data->dtype != PTQ_DT_INT32)) return 0;
  for (int64_t c = 0; c < c_out; c++) {
    const int64_t zc =
        z ? ((const int32_t *)z->data->data)[ptq_tensor_numel(z->data) == 1 ? 0 : c] : 0;
    b[c] = (float)(((const int32_t *)q->data->data)[c] - zc) *
           ((const float *)s->data->data)[ns == 1 ? 0 : c];
  }
  return 1;
}

/* Adds a constant tensor of dtype/dims filled from data (copied). Returns the value or -1. */
static int add_const(lower_ctx *lc, const char *base, ptq_dtype dt, int rank, const int64_t *dims,
                     const void *data) {
  ptq_tensor *t;
  if (ptq_tensor_create(dt, rank, dims, &t) != PTQ_OK) return -1;
  memcpy(t->data, data, (size_t)ptq_tensor_numel(t) * ptq_dtype_size(dt));
  return ir_graph_add_constant(lc->g, base, t);
}

/* Appends an int8-domain node; returns its index or -1 (error set). */
static int add_node(lower_ctx *lc, const char *name, const char *op, int n_in, const int *in,
                    int out) {
  int idx = ir_graph_new_node(lc->g, name, op, n_in, in, 1, &out);
  if (idx < 0) return -1;
  ir_node *n = &lc->g->nodes[idx];
  free(n->domain);
  if (!(n->domain = ptq_strdup(OP_INT8_DOMAIN))) return -1;
  return idx;
}

static ptq_status set_qattrs(ir_node *n, const char *prefix, qparam p) {
  char key[32];
  snprintf(key, sizeof key, "%s_scale", prefix);
  PTQ_TRY(ir_node_set_float(n, key, p.scale));
  snprintf(key, sizeof key, "%s_zp", prefix);
  return ir_node_set_int(n, key, p.zp);
}

static void mark_fused(lower_ctx *lc, int x, int act, int q) {
  lc->drop[x] = lc->fused[x] = 1;
  if (act >= 0) lc->drop[act] = lc->fused[act] = 1;
  lc->drop[q] = lc->fused[q] = 1;
}

/* Requantization parameters per channel: M = sx * sw[c] / sy and the int32 bias
 * round(b[c] / (sx * sw[c])). 0 if some M is out of the kernels' range or a bias overflows. */
static int requant_params(float sx, const float *sw, float sy, const float *b, int64_t c_out,
                          int64_t k_terms, int32_t *bias, int32_t *mult, int32_t *shift) {
  for (int64_t c = 0; c < c_out; c++) {
    const double sxw = (double)sx * (double)sw[c];
    if (ptq_requant_from_real(sxw / (double)sy, &mult[c], &shift[c]) != 0) return 0;
    const double bq = nearbyint((double)b[c] / sxw);
    /* the kernels' accumulator bound: |bias| + K * 255 * 128 < 2^31 */
    if (!(fabs(bq) + (double)k_terms * 255.0 * 128.0 < 2147483648.0)) return 0;
    bias[c] = (int32_t)bq;
  }
  return 1;
}

/* ------------------------------------------------------------------- ops --- */

/* Adds a requantizing int8 node (QConv, QGemm) reading xv, its int8 weights (w_rank, w_dims)
 * and the per-channel int32 bias, mult and shift of rq ([3][n_out]), writing yv, with the zero
 * points and clamp attributes; *ni receives the node's index. */
static ptq_status add_requant_node(lower_ctx *lc, int xi, const char *op, int xv, int yv,
                                   int w_rank, const int64_t *w_dims, const int8_t *w,
                                   const int32_t *rq, int64_t n_out, int32_t lo, int32_t hi,
                                   int *ni) {
  ir_graph *g = lc->g;
  const int64_t cdim[1] = {n_out};
  const int in_v[5] = {xv, add_const(lc, "q_w", PTQ_DT_INT8, w_rank, w_dims, w),
                       add_const(lc, "q_bias", PTQ_DT_INT32, 1, cdim, rq),
                       add_const(lc, "q_mult", PTQ_DT_INT32, 1, cdim, rq + n_out),
                       add_const(lc, "q_shift", PTQ_DT_INT32, 1, cdim, rq + 2 * n_out)};
  for (int k = 1; k < 5; k++)
    if (in_v[k] < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  if ((*ni = add_node(lc, g->nodes[xi].name, op, 5, in_v, yv)) < 0)
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  ir_node *n = &g->nodes[*ni];
  PTQ_TRY(ir_node_set_int(n, "x_zp", lc->qp[xv].zp));
  PTQ_TRY(ir_node_set_int(n, "y_zp", lc->qp[yv].zp));
  PTQ_TRY(ir_node_set_int(n, "lo", lo));
  return ir_node_set_int(n, "hi", hi);
}

/* Gemm (alpha = beta = 1, transA = 0, a bias broadcast along rows) or MatMul x reading an
 * [M, K] input with [K, N] or (transB) [N, K] weights: sets k, n_out and trans_b; 0 if x is
 * not of that form. */
static int linear_shape(const ir_graph *g, const ir_node *x, const ir_value *in, const ir_value *wv,
                        int64_t *k, int64_t *n_out, int *trans_b) {
  const int gemm = is_op(x, "Gemm");
  if (in->rank != 2 || !wv || wv->rank != 2) return 0;
  if (gemm && (ir_attr_int(x, "transA", 0) != 0 || ir_attr_float(x, "alpha", 1.0f) != 1.0f ||
               ir_attr_float(x, "beta", 1.0f) != 1.0f))
    return 0;
  if (gemm && x->n_inputs > 2 && x->inputs[2] >= 0) {
    const ir_value *cv = ir_in(g, x, 2);
    if (!(cv->rank == 1 || (cv->rank == 2 && cv->dims[0] == 1))) return 0; /* [N] or [1, N] */
  }
  *trans_b = gemm && ir_attr_int(x, "transB", 0) != 0;
  *k = *trans_b ? wv->dims[1] : wv->dims[0];
  *n_out = *trans_b ? wv->dims[0] : wv->dims[1];
  return *k == in->dims[1] && *n_out > 0;
}

/* wt[j][l] = the weight of output j and input l: w as stored ([N][K]) or transposed ([K][N]). */
static void weights_nk(const int8_t *w, int64_t k, int64_t n_out, int transposed, int8_t *wt) {
  for (int64_t j = 0; j < n_out; j++)
    for (int64_t l = 0; l < k; l++) wt[j * k + l] = transposed ? w[l * n_out + j] : w[j * k + l];
}

/* Conv (2-D) -> QConv. */
static ptq_status lower_conv(lower_ctx *lc, int xi, int *done) {
  ir_graph *g = lc->g;
  const ir_node *x = &g->nodes[xi];
  *done = 0;
  const int xv = low_source(lc, x, 0);
  int q, act, yv;
  int32_t lo, hi;
  if (xv < 0 || !out_chain(lc, x, &q, &act, &yv, &lo, &hi)) return PTQ_OK;
  const ir_value *in = &g->values[xv], *wv = ir_in(g, x, 1);
  if (in->rank != 4 || !wv || wv->rank != 4) return PTQ_OK;
  const int64_t c_out = wv->dims[0], group = ir_attr_int(x, "group", 1);
  if (c_out <= 0 || group <= 0 || in->dims[1] != wv->dims[1] * group) return PTQ_OK;
  op_ctx oc = {.graph = g, .node = x};
  conv_geom geo;
  if (conv_geom_get(&oc, 2, &in->dims[2], &wv->dims[2], 0, &geo) != PTQ_OK) {
    ptq_error_clear();
    return PTQ_OK;
  }
  float *sw = ptq_malloc((size_t)c_out * 3 * sizeof(float));
  int32_t *rq = ptq_malloc((size_t)c_out * 3 * sizeof(int32_t));
  ptq_status st = PTQ_OK;
  const int8_t *w;
  if (!sw || !rq) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  const int64_t k_terms = wv->dims[1] * wv->dims[2] * wv->dims[3];
  if (!const_weights(lc, x, 1, 0, &w, sw, c_out) || !const_bias(lc, x, 2, sw + c_out, c_out) ||
      !requant_params(lc->qp[xv].scale, sw, lc->qp[yv].scale, sw + c_out, c_out, k_terms, rq,
                      rq + c_out, rq + 2 * c_out))
    goto out;
  int ni;
  if ((st = add_requant_node(lc, xi, "QConv", xv, yv, 4, wv->dims, w, rq, c_out, lo, hi, &ni)))
    goto out;
  ir_node *n = &g->nodes[ni];
  const int64_t strides[2] = {geo.s[0], geo.s[1]}, dil[2] = {geo.d[0], geo.d[1]};
  const int64_t pads[4] = {geo.pb[0], geo.pb[1], geo.pe[0], geo.pe[1]};
  if ((st = ir_node_set_ints(n, "strides", 2, strides)) ||
      (st = ir_node_set_ints(n, "dilations", 2, dil)) ||
      (st = ir_node_set_ints(n, "pads", 4, pads)) || (st = ir_node_set_int(n, "group", group)))
    goto out;
  mark_fused(lc, xi, act, q);
  *done = 1;
out:
  free(sw);
  free(rq);
  return st;
}

/* Gemm (alpha = beta = 1, transA = 0) and MatMul with constant weights -> QGemm over
 * [M, K] rows. The weights are stored [N][K] (row = output channel). */
static ptq_status lower_gemm(lower_ctx *lc, int xi, int *done) {
  ir_graph *g = lc->g;
  const ir_node *x = &g->nodes[xi];
  *done = 0;
  const int gemm = is_op(x, "Gemm");
  const int xv = low_source(lc, x, 0);
  int q, act, yv;
  int32_t lo, hi;
  if (xv < 0 || !out_chain(lc, x, &q, &act, &yv, &lo, &hi)) return PTQ_OK;
  const ir_value *in = &g->values[xv], *wv = ir_in(g, x, 1);
  int64_t k, n_out;
  int trans_b;
  if (!linear_shape(g, x, in, wv, &k, &n_out, &trans_b)) return PTQ_OK;
  float *sw = ptq_malloc((size_t)n_out * 2 * sizeof(float));
  int32_t *rq = ptq_malloc((size_t)n_out * 3 * sizeof(int32_t));
  int8_t *wt = ptq_malloc((size_t)(n_out * k));
  ptq_status st = PTQ_OK;
  const int8_t *w;
  if (!sw || !rq || !wt) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  if (!const_weights(lc, x, 1, trans_b ? 0 : 1, &w, sw, n_out) ||
      !const_bias(lc, x, gemm ? 2 : 99, sw + n_out, n_out) ||
      !requant_params(lc->qp[xv].scale, sw, lc->qp[yv].scale, sw + n_out, n_out, k, rq, rq + n_out,
                      rq + 2 * n_out))
    goto out;
  weights_nk(w, k, n_out, !trans_b, wt);
  const int64_t wdims[2] = {n_out, k};
  int ni;
  if ((st = add_requant_node(lc, xi, "QGemm", xv, yv, 2, wdims, wt, rq, n_out, lo, hi, &ni)))
    goto out;
  mark_fused(lc, xi, act, q);
  *done = 1;
out:
  free(sw);
  free(rq);
  free(wt);
  return st;
}

/* Add / Mul of two lowered values of the same shape, or one [N, C, 1, 1] -> QAdd / QMul
 * (float-exact). */
static ptq_status lower_binary(lower_ctx *lc, int xi, int *done) {
  ir_graph *g = lc->g;
  const ir_node *x = &g->nodes[xi];
  *done = 0;
  int av = low_source(lc, x, 0), bv = low_source(lc, x, 1);
  int q, act, yv;
  int32_t lo, hi;
  if (av < 0 || bv < 0 || x->n_inputs != 2 || !out_chain(lc, x, &q, &act, &yv, &lo, &hi))
    return PTQ_OK;
  const ir_value *a = &g->values[av], *b = &g->values[bv];
  /* [N, C, 1, 1] against [N, C, H, W] (squeeze-excitation gates): the broadcast operand goes
   * second (float + and * are commutative bit for bit) */
  const int a_bc = a->rank == 4 && b->rank == 4 && a->dims[2] == 1 && a->dims[3] == 1 &&
                   a->dims[0] == b->dims[0] && a->dims[1] == b->dims[1] &&
                   (b->dims[2] != 1 || b->dims[3] != 1);
  if (a_bc) {
    const int t = av;
    av = bv;
    bv = t;
    a = &g->values[av];
    b = &g->values[bv];
  }
  const int b_bc = a->rank == 4 && b->rank == 4 && b->dims[2] == 1 && b->dims[3] == 1 &&
                   a->dims[0] == b->dims[0] && a->dims[1] == b->dims[1];
  if (!b_bc &&
      (a->rank != b->rank || memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]) != 0))
    return PTQ_OK;
  int in_v[2] = {av, bv};
  const int ni = add_node(lc, g->nodes[xi].name, is_op(x, "Add") ? "QAdd" : "QMul", 2, in_v, yv);
  if (ni < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  ir_node *n = &g->nodes[ni];
  PTQ_TRY(set_qattrs(n, "a", lc->qp[av]));
  PTQ_TRY(set_qattrs(n, "b", lc->qp[bv]));
  PTQ_TRY(set_qattrs(n, "y", lc->qp[yv]));
  PTQ_TRY(ir_node_set_int(n, "lo", lo));
  PTQ_TRY(ir_node_set_int(n, "hi", hi));
  mark_fused(lc, xi, act, q);
  *done = 1;
  return PTQ_OK;
}

/* A unary elementwise float op -> QLut: table[q] = Q_y(f(DQ_x(q))) evaluated with the
 * executor's own implementation of f, so the table holds exactly the simulation's values. */
static const char *const g_lut_ops[] = {
    "Relu", "Clip",     "Sigmoid",         "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh", "Elu",
    "Selu", "Softplus", "Softsign",        "Abs",         "Neg",       "Identity",  "Gelu", "Erf",
    "Exp",  "Mish",     "ThresholdedRelu", NULL};

static ptq_status lut_eval(const ir_graph *g, const ir_node *x, qparam px, qparam py, int32_t lo,
                           int32_t hi, uint8_t *table) {
  const int64_t dims[1] = {256};
  ptq_tensor *in = NULL, *outt = NULL;
  ptq_status st = ptq_tensor_create(PTQ_DT_FLOAT, 1, dims, &in);
  if (st == PTQ_OK) st = ptq_tensor_create(PTQ_DT_FLOAT, 1, dims, &outt);
  if (st != PTQ_OK) goto out;
  float *xf = in->data;
  for (int i = 0; i < 256; i++) xf[i] = (float)(i - px.zp) * px.scale;
  ptq_tensor *ins[3] = {in, NULL, NULL}, *outs[1] = {outt};
  for (int k = 1; k < x->n_inputs && k < 3; k++) {
    const ir_value *v = ir_in(g, x, k);
    if (v) ins[k] = v->data;
  }
  op_ctx c = {.graph = g,
              .node = x,
              .opset = g->opset,
              .n_in = x->n_inputs,
              .n_out = 1,
              .in = ins,
              .out = outs};
  if ((st = x->op->run(&c)) != PTQ_OK) goto out;
  const float *yf = outt->data;
  for (int i = 0; i < 256; i++) table[i] = quantize_clamped(yf[i], py, lo, hi);
out:
  ptq_tensor_destroy(in);
  ptq_tensor_destroy(outt);
  return st;
}

static ptq_status lower_lut(lower_ctx *lc, int xi, int *done) {
  ir_graph *g = lc->g;
  const ir_node *x = &g->nodes[xi];
  *done = 0;
  const int xv = low_source(lc, x, 0);
  int q, act, yv;
  int32_t lo, hi;
  if (xv < 0 || !x->op || !out_chain(lc, x, &q, &act, &yv, &lo, &hi)) return PTQ_OK;
  for (int k = 1; k < x->n_inputs; k++) {
    const ir_value *v = ir_in(g, x, k);
    if (v && !v->data) return PTQ_OK;
  }
  uint8_t table[256];
  ptq_status st = lut_eval(g, x, lc->qp[xv], lc->qp[yv], lo, hi, table);
  if (st != PTQ_OK) {
    ptq_error_clear(); /* an op that cannot run on a 1-D table stays float */
    return PTQ_OK;
  }
  const int64_t dims[1] = {256};
  int in_v[2] = {xv, add_const(lc, "qlut_table", PTQ_DT_UINT8, 1, dims, table)};
  if (in_v[1] < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  if (add_node(lc, g->nodes[xi].name, "QLut", 2, in_v, yv) < 0)
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  mark_fused(lc, xi, act, q);
  *done = 1;
  return PTQ_OK;
}

/* MaxPool / AveragePool (2-D) and GlobalAveragePool -> QMaxPool / QAvgPool / QGlobalAvgPool.
 * MaxPool needs the same quantization in and out (then max commutes with it exactly). */
static ptq_status lower_pool(lower_ctx *lc, int xi, int *done) {
  ir_graph *g = lc->g;
  const ir_node *x = &g->nodes[xi];
  *done = 0;
  const int xv = low_source(lc, x, 0);
  int q, act, yv;
  int32_t lo, hi;
  if (xv < 0 || !out_chain(lc, x, &q, &act, &yv, &lo, &hi)) return PTQ_OK;
  const ir_value *in = &g->values[xv];
  if (in->rank != 4) return PTQ_OK;
  const int gap = is_op(x, "GlobalAveragePool"), maxp = is_op(x, "MaxPool");
  if (maxp && (lc->qp[xv].scale != lc->qp[yv].scale || lc->qp[xv].zp != lc->qp[yv].zp ||
               ir_attr_int(x, "storage_order", 0) != 0))
    return PTQ_OK;
  conv_geom geo = {0};
  if (!gap) {
    op_ctx oc = {.graph = g, .node = x};
    if (conv_geom_get(&oc, 2, &in->dims[2], NULL, (int)ir_attr_int(x, "ceil_mode", 0), &geo) !=
        PTQ_OK) {
      ptq_error_clear();
      return PTQ_OK;
    }
  }
  /* the kernels' bounds: sx / sy < 2^30, window sums within int32 */
  if (!((double)lc->qp[xv].scale / lc->qp[yv].scale < 0x1p30)) return PTQ_OK;
  const char *op = gap ? "QGlobalAvgPool" : maxp ? "QMaxPool" : "QAvgPool";
  const int ni = add_node(lc, g->nodes[xi].name, op, 1, &xv, yv);
  if (ni < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  ir_node *n = &g->nodes[ni];
  if (!gap) {
    const int64_t k[2] = {geo.k[0], geo.k[1]}, st[2] = {geo.s[0], geo.s[1]},
                  dil[2] = {geo.d[0], geo.d[1]},
                  pads[4] = {geo.pb[0], geo.pb[1], geo.pe[0], geo.pe[1]},
                  out[2] = {geo.out[0], geo.out[1]};
    PTQ_TRY(ir_node_set_ints(n, "kernel_shape", 2, k));
    PTQ_TRY(ir_node_set_ints(n, "strides", 2, st));
    PTQ_TRY(ir_node_set_ints(n, "dilations", 2, dil));
    PTQ_TRY(ir_node_set_ints(n, "pads", 4, pads));
    PTQ_TRY(ir_node_set_ints(n, "out_hw", 2, out));
    PTQ_TRY(ir_node_set_int(n, "count_include_pad", ir_attr_int(x, "count_include_pad", 0)));
  }
  PTQ_TRY(set_qattrs(n, "x", lc->qp[xv]));
  PTQ_TRY(set_qattrs(n, "y", lc->qp[yv]));
  PTQ_TRY(ir_node_set_int(n, "lo", lo));
  PTQ_TRY(ir_node_set_int(n, "hi", hi));
  mark_fused(lc, xi, act, q);
  *done = 1;
  return PTQ_OK;
}

/* Reshape / Flatten whose bytes do not move in the lowered layout: [N, C, 1, 1] -> [N, C]
 * (NHWC [N, 1, 1, C]) and rank 2 -> the same rank 2; with a rescale when the quantization
 * differs -> QLut, else QReshape (a copy). */
static ptq_status lower_reshape(lower_ctx *lc, int xi, int *done) {
  ir_graph *g = lc->g;
  const ir_node *x = &g->nodes[xi];
  *done = 0;
  const int xv = low_source(lc, x, 0);
  int q, act, yv;
  int32_t lo, hi;
  if (xv < 0 || !out_chain(lc, x, &q, &act, &yv, &lo, &hi)) return PTQ_OK;
  const ir_value *in = &g->values[xv], *out = &g->values[yv];
  const int flat4 = in->rank == 4 && in->dims[2] == 1 && in->dims[3] == 1 && out->rank == 2 &&
                    out->dims[0] == in->dims[0] && out->dims[1] == in->dims[1];
  const int same2 =
      in->rank == 2 && out->rank == 2 && in->dims[0] == out->dims[0] && in->dims[1] == out->dims[1];
  if (!flat4 && !same2) return PTQ_OK;
  const qparam px = lc->qp[xv], py = lc->qp[yv];
  int ni;
  if (px.scale == py.scale && px.zp == py.zp && lo == 0 && hi == 255) {
    ni = add_node(lc, g->nodes[xi].name, "QReshape", 1, &xv, yv);
  } else {
    uint8_t table[256];
    rescale_table(px, py, lo, hi, table);
    const int64_t dims[1] = {256};
    int in_v[2] = {xv, add_const(lc, "qlut_table", PTQ_DT_UINT8, 1, dims, table)};
    if (in_v[1] < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
    ni = add_node(lc, g->nodes[xi].name, "QLut", 2, in_v, yv);
  }
  if (ni < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  mark_fused(lc, xi, act, q);
  *done = 1;
  return PTQ_OK;
}

/* Concat along channels (axis 1 of rank 4 or 2) -> QConcat; inputs whose quantization differs
 * from the output's are rescaled by a table (the simulation's DQ -> Q of each value). */
static ptq_status lower_concat(lower_ctx *lc, int xi, int *done) {
  ir_graph *g = lc->g;
  const ir_node *x = &g->nodes[xi];
  *done = 0;
  int q, act, yv;
  int32_t lo, hi;
  if (x->n_inputs < 1 || x->n_inputs > 64 || !out_chain(lc, x, &q, &act, &yv, &lo, &hi))
    return PTQ_OK;
  const ir_value *out = &g->values[yv];
  int64_t axis = ir_attr_int(x, "axis", 0);
  if (axis < 0) axis += out->rank;
  if (axis != 1) return PTQ_OK;
  int in_v[65];
  uint8_t *tables = ptq_malloc((size_t)x->n_inputs * 256);
  if (!tables) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  const qparam py = lc->qp[yv];
  for (int k = 0; k < x->n_inputs; k++) {
    const int v = low_source(lc, x, k);
    if (v < 0 || g->values[v].rank != out->rank) {
      free(tables);
      return PTQ_OK;
    }
    in_v[k] = v;
    rescale_table(lc->qp[v], py, lo, hi, tables + k * 256);
  }
  const int64_t dims[2] = {x->n_inputs, 256};
  in_v[x->n_inputs] = add_const(lc, "qconcat_tables", PTQ_DT_UINT8, 2, dims, tables);
  free(tables);
  if (in_v[x->n_inputs] < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  const int ni = add_node(lc, g->nodes[xi].name, "QConcat", x->n_inputs + 1, in_v, yv);
  if (ni < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  mark_fused(lc, xi, act, q);
  *done = 1;
  return PTQ_OK;
}

/* Conv 1x1 (stride 1, no padding, group 1) and Gemm/MatMul whose output stays float (no
 * QuantizeLinear after it) -> QConvF / QGemmF: exact int32 accumulation, then
 * y = float(acc) * (sx * sw[c]) + b[c] in float32, NCHW (the simulation sums float32
 * products instead: the results differ by float rounding only). */
static ptq_status lower_float_out(lower_ctx *lc, int xi, int *done) {
  ir_graph *g = lc->g;
  const ir_node *x = &g->nodes[xi];
  *done = 0;
  const int xv = low_source(lc, x, 0);
  if (xv < 0 || x->n_outputs != 1 || x->outputs[0] < 0) return PTQ_OK;
  const ir_value *in = &g->values[xv], *wv = ir_in(g, x, 1), *yval = &g->values[x->outputs[0]];
  if (!wv || yval->dtype != PTQ_DT_FLOAT) return PTQ_OK;
  const int conv = is_op(x, "Conv"), gemm = is_op(x, "Gemm");
  int64_t n_out, k, axis = 0;
  int trans_b = 0;
  if (conv) {
    const int64_t *v;
    if (in->rank != 4 || wv->rank != 4 || wv->dims[2] != 1 || wv->dims[3] != 1 ||
        ir_attr_int(x, "group", 1) != 1)
      return PTQ_OK;
    size_t nv = ir_attr_ints(x, "strides", &v);
    for (size_t i = 0; i < nv; i++)
      if (v[i] != 1) return PTQ_OK;
    nv = ir_attr_ints(x, "pads", &v);
    for (size_t i = 0; i < nv; i++)
      if (v[i] != 0) return PTQ_OK;
    /* auto_pad: any mode pads nothing for a 1x1 kernel at stride 1 */
    n_out = wv->dims[0];
    k = wv->dims[1];
    if (k != in->dims[1] || n_out <= 0) return PTQ_OK;
  } else {
    if (!linear_shape(g, x, in, wv, &k, &n_out, &trans_b)) return PTQ_OK;
    axis = trans_b ? 0 : 1;
  }
  float *sw = ptq_malloc((size_t)n_out * 2 * sizeof(float));
  int8_t *wt = ptq_malloc((size_t)(n_out * k));
  ptq_status st = PTQ_OK;
  const int8_t *w;
  if (!sw || !wt) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  if (!const_weights(lc, x, 1, (int)axis, &w, sw, n_out) ||
      !const_bias(lc, x, conv || gemm ? 2 : 99, sw + n_out, n_out))
    goto out;
  for (int64_t j = 0; j < n_out; j++)
    sw[j] = lc->qp[xv].scale * sw[j]; /* float32, as the product of the two DQ scales */
  weights_nk(w, k, n_out, !conv && !trans_b, wt);
  const int64_t wdims[2] = {n_out, k}, cdim[1] = {n_out};
  int in_v[4] = {xv, add_const(lc, "qlin_w", PTQ_DT_INT8, 2, wdims, wt),
                 add_const(lc, "qlin_bias", PTQ_DT_FLOAT, 1, cdim, sw + n_out),
                 add_const(lc, "qlin_scale", PTQ_DT_FLOAT, 1, cdim, sw)};
  for (int i = 1; i < 4; i++)
    if (in_v[i] < 0) {
      st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
      goto out;
    }
  const int ni =
      add_node(lc, g->nodes[xi].name, conv ? "QConvF" : "QGemmF", 4, in_v, x->outputs[0]);
  if (ni < 0 || (st = ir_node_set_int(&g->nodes[ni], "x_zp", lc->qp[xv].zp)) != PTQ_OK) {
    if (st == PTQ_OK) st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  lc->drop[xi] = lc->fused[xi] = 1;
  *done = 1;
out:
  free(sw);
  free(wt);
  return st;
}

/* Ops that only move values (Resize-nearest, Pad, Transpose, Slice, Reshape, ...) -> an index
 * map found by running the op itself on a probe whose values are the input positions: each
 * output takes one input element (or, for Pad, the padding value): QGather, with a table that
 * rescales between the input's and the output's quantization. */
static const char *const g_move_ops[] = {"Resize",   "Pad",          "Transpose",    "Slice",
                                         "Reshape",  "Flatten",      "Squeeze",      "Unsqueeze",
                                         "Upsample", "DepthToSpace", "SpaceToDepth", NULL};

/* Storage offset of logical element i (C order over dims) of a lowered tensor: rank 4 is
 * stored NHWC. */
static int64_t lowered_offset(const ir_value *v, int64_t i) {
  if (v->rank != 4) return i;
  const int64_t C = v->dims[1], H = v->dims[2], W = v->dims[3];
  const int64_t w = i % W, h = (i / W) % H, c = (i / (W * H)) % C, n = i / (W * H * C);
  return ((n * H + h) * W + w) * C + c;
}

static ptq_status move_probe(lower_ctx *lc, const ir_node *x, const ir_value *in,
                             ptq_tensor **out) {
  const ir_graph *g = lc->g;
  *out = NULL;
  ptq_tensor *pin = NULL, *pad = NULL, *res = NULL;
  ptq_tensor shapes[8], *ins[8] = {0}, *outs[1];
  if (x->n_inputs > 8) return PTQ_ERR_UNSUPPORTED;
  ptq_status st = ptq_tensor_create(PTQ_DT_FLOAT, in->rank, in->dims, &pin);
  if (st != PTQ_OK) return st;
  float *pv = pin->data;
  for (int64_t i = 0; i < ptq_tensor_numel(pin); i++) pv[i] = (float)i;
  ins[0] = pin;
  for (int k = 1; k < x->n_inputs; k++) {
    const ir_value *v = ir_in(g, x, k);
    ins[k] = v ? v->data : NULL;
  }
  if (is_op(x, "Pad")) { /* padding cells read -1 */
    const int64_t one = 1;
    if ((st = ptq_tensor_create(PTQ_DT_FLOAT, 0, &one, &pad)) != PTQ_OK) goto out;
    *(float *)pad->data = -1.0f;
    ins[2] = pad;
  }
  memset(shapes, 0, sizeof shapes);
  outs[0] = &shapes[0];
  op_ctx c = {.graph = g,
              .node = x,
              .opset = g->opset,
              .n_in = x->n_inputs,
              .n_out = 1,
              .in = ins,
              .out = outs,
              .infer_only = 1};
  if (is_op(x, "Pad") && x->n_inputs < 3) c.n_in = 3;
  if ((st = x->op->infer(&c)) != PTQ_OK) goto out;
  if ((st = ptq_tensor_create(shapes[0].dtype, shapes[0].rank, shapes[0].dims, &res)) != PTQ_OK)
    goto out;
  outs[0] = res;
  c.infer_only = 0;
  if ((st = x->op->run(&c)) != PTQ_OK) goto out;
  *out = res;
  res = NULL;
out:
  ptq_tensor_destroy(pin);
  ptq_tensor_destroy(pad);
  ptq_tensor_destroy(res);
  return st;
}

static ptq_status lower_move(lower_ctx *lc, int xi, int *done) {
  ir_graph *g = lc->g;
  const ir_node *x = &g->nodes[xi];
  *done = 0;
  const int xv = low_source(lc, x, 0);
  int q, act, yv;
  int32_t lo, hi;
  if (xv < 0 || !x->op || x->n_outputs != 1 || !out_chain(lc, x, &q, &act, &yv, &lo, &hi))
    return PTQ_OK;
  for (int k = 1; k < x->n_inputs; k++) {
    const ir_value *v = ir_in(g, x, k);
    if (v && !v->data) return PTQ_OK;
  }
  const int pad = is_op(x, "Pad");
  /* Pad before opset 11 takes its value as an attribute the probe cannot mark; axes (18) */
  if (pad && (g->opset < 11 || x->n_inputs > 3)) return PTQ_OK;
  const ir_value *in = &g->values[xv], *outv = &g->values[yv];
  int64_t ni = 1, no = 1;
  for (int d = 0; d < in->rank; d++) ni *= in->dims[d];
  for (int d = 0; d < outv->rank; d++) no *= outv->dims[d];
  if (ni > (1 << 24) || no > (1 << 24) || no < 1) return PTQ_OK; /* indices exact in float */
  ptq_tensor *probe;
  if (move_probe(lc, x, in, &probe) != PTQ_OK) {
    ptq_error_clear();
    return PTQ_OK;
  }
  ptq_status st = PTQ_OK;
  int32_t *map = NULL;
  if (ptq_tensor_numel(probe) != no || probe->dtype != PTQ_DT_FLOAT) goto out;
  if (!(map = ptq_malloc((size_t)no * sizeof *map))) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  const float *pv = probe->data;
  for (int64_t o = 0; o < no; o++) {
    const float v = pv[o];
    const int64_t iv = (int64_t)v;
    if (!(v == (float)iv) || iv < -1 || iv >= ni || (iv == -1 && !pad)) goto out;
    map[lowered_offset(outv, o)] = iv < 0 ? -1 : (int32_t)lowered_offset(in, iv);
  }
  /* the values: a table from the input's codes to the output's, and the padding code */
  const qparam px = lc->qp[xv], py = lc->qp[yv];
  uint8_t table[257];
  rescale_table(px, py, lo, hi, table);
  float padv = 0.0f; /* ONNX Pad's default constant */
  if (pad && x->n_inputs > 2 && x->inputs[2] >= 0) {
    const ir_value *cv = ir_in(g, x, 2);
    if (!cv->data || cv->data->dtype != PTQ_DT_FLOAT || ptq_tensor_numel(cv->data) != 1) goto out;
    padv = *(const float *)cv->data->data;
  }
  table[256] = quantize_clamped(padv, py, lo, hi);
  const int64_t mdims[1] = {no}, tdims[1] = {257};
  int in_v[3] = {xv, add_const(lc, "qgather_map", PTQ_DT_INT32, 1, mdims, map),
                 add_const(lc, "qgather_table", PTQ_DT_UINT8, 1, tdims, table)};
  if (in_v[1] < 0 || in_v[2] < 0) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  const int ni_ = add_node(lc, g->nodes[xi].name, "QGather", 3, in_v, yv);
  if (ni_ < 0) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  int64_t sdims[4] = {outv->dims[0], outv->dims[1], outv->dims[2], outv->dims[3]};
  if (outv->rank == 4) { /* the output's storage dims: NHWC */
    sdims[1] = outv->dims[2];
    sdims[2] = outv->dims[3];
    sdims[3] = outv->dims[1];
  }
  if ((st = ir_node_set_ints(&g->nodes[ni_], "dims", (size_t)outv->rank, sdims)) != PTQ_OK)
    goto out;
  mark_fused(lc, xi, act, q);
  *done = 1;
out:
  ptq_tensor_destroy(probe);
  free(map);
  return st;
}

/* ---------------------------------------------------------------- driver --- */

static void count_readers(lower_ctx *lc) {
  const ir_graph *g = lc->g;
  memset(lc->readers, 0, (size_t)g->n_values * sizeof *lc->readers);
  for (int i = 0; i < g->n_nodes; i++) {
    if (lc->drop[i]) continue;
    for (int k = 0; k < g->nodes[i].n_inputs; k++) {
      const int v = g->nodes[i].inputs[k];
      if (v < 0) continue;
      lc->readers[v]++;
      lc->first_reader[v] = i;
    }
  }
}

/* Marks the lowered values: outputs of per-tensor QuantizeLinear of a float activation, of
 * rank 2 or 4 with a static shape, read only by DequantizeLinear with the same parameters. */
static void find_lowered(lower_ctx *lc) {
  const ir_graph *g = lc->g;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    qparam p;
    ptq_dtype t;
    if (!is_op(n, "QuantizeLinear") || n->outputs[0] < 0 || !node_qparam(g, n, &p, &t)) continue;
    const ir_value *x = ir_in(g, n, 0), *y = &g->values[n->outputs[0]];
    if (!x || x->data || x->dtype != PTQ_DT_FLOAT || y->is_output) continue;
    if (y->rank != 2 && y->rank != 4) continue;
    int known = 1;
    for (int d = 0; d < y->rank; d++) known &= y->dims[d] > 0;
    if (!known) continue;
    int ok = lc->readers[n->outputs[0]] > 0;
    for (int j = 0; j < g->n_nodes && ok; j++) {
      const ir_node *r = &g->nodes[j];
      for (int k = 0; k < r->n_inputs && ok; k++) {
        if (r->inputs[k] != n->outputs[0]) continue;
        qparam pr;
        ptq_dtype tr;
        ok = k == 0 && is_op(r, "DequantizeLinear") && node_qparam(g, r, &pr, &tr) && tr == t &&
             pr.scale == p.scale && pr.zp == p.zp;
      }
    }
    if (!ok) continue;
    lc->low[n->outputs[0]] = 1;
    lc->qp[n->outputs[0]] = p;
  }
}

/* Replaces a remaining QuantizeLinear / DequantizeLinear of a lowered value by the NHWC
 * boundary op. */
static ptq_status lower_boundary(lower_ctx *lc, int i) {
  ir_graph *g = lc->g;
  const ir_node *n = &g->nodes[i];
  const int quant = is_op(n, "QuantizeLinear");
  const int lv = quant ? n->outputs[0] : n->inputs[0];
  if (lv < 0 || !lc->low[lv]) return PTQ_OK;
  const int src = n->inputs[0], dst = n->outputs[0];
  const int ni =
      add_node(lc, g->nodes[i].name, quant ? "QuantizeNhwc" : "DequantizeNhwc", 1, &src, dst);
  if (ni < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  PTQ_TRY(set_qattrs(&g->nodes[ni], quant ? "y" : "x", lc->qp[lv]));
  lc->drop[i] = 1;
  return PTQ_OK;
}

static ptq_status lower_graph(lower_ctx *lc) {
  ir_graph *g = lc->g;
  find_lowered(lc);
  for (int i = 0; i < lc->n_nodes0; i++) {
    if (lc->drop[i]) continue;
    const ir_node *x = &g->nodes[i];
    int done = 0;
    if (x->domain[0] && strcmp(x->domain, "ai.onnx") != 0) continue;
    if (is_op(x, "Conv")) {
      PTQ_TRY(lower_conv(lc, i, &done));
      if (!done) PTQ_TRY(lower_float_out(lc, i, &done));
    } else if (is_op(x, "Gemm") || is_op(x, "MatMul")) {
      PTQ_TRY(lower_gemm(lc, i, &done));
      if (!done) PTQ_TRY(lower_float_out(lc, i, &done));
    } else if (is_op(x, "MaxPool") || is_op(x, "AveragePool") || is_op(x, "GlobalAveragePool"))
      PTQ_TRY(lower_pool(lc, i, &done));
    else if (is_op(x, "Reshape") || is_op(x, "Flatten"))
      PTQ_TRY(lower_reshape(lc, i, &done));
    else if (is_op(x, "Concat"))
      PTQ_TRY(lower_concat(lc, i, &done));
    else if (is_op(x, "Add") || is_op(x, "Mul"))
      PTQ_TRY(lower_binary(lc, i, &done));
    else
      for (const char *const *o = g_lut_ops; *o && !done; o++)
        if (is_op(x, *o)) PTQ_TRY(lower_lut(lc, i, &done));
    for (const char *const *o = g_move_ops; *o && !done; o++)
      if (is_op(x, *o)) PTQ_TRY(lower_move(lc, i, &done));
    if (done) count_readers(lc);
  }
  /* DQ nodes all of whose readers were absorbed go; the others and the remaining Q nodes
   * become boundary conversions. */
  for (int i = 0; i < lc->n_nodes0; i++) {
    const ir_node *n = &g->nodes[i];
    if (lc->drop[i] || !is_op(n, "DequantizeLinear") || n->outputs[0] < 0) continue;
    if (n->inputs[0] >= 0 && lc->low[n->inputs[0]] && lc->readers[n->outputs[0]] == 0 &&
        !g->values[n->outputs[0]].is_output)
      lc->drop[i] = 1;
  }
  for (int i = 0; i < lc->n_nodes0; i++) {
    const ir_node *n = &g->nodes[i];
    if (!lc->drop[i] && (is_op(n, "DequantizeLinear") || is_op(n, "QuantizeLinear")))
      PTQ_TRY(lower_boundary(lc, i));
  }
  /* Lowered values become uint8 NHWC. */
  for (int v = 0; v < lc->n_values0; v++) {
    if (!lc->low[v]) continue;
    ir_value *val = &g->values[v];
    val->dtype = PTQ_DT_UINT8;
    if (val->rank == 4) {
      const int64_t c = val->dims[1];
      val->dims[1] = val->dims[2];
      val->dims[2] = val->dims[3];
      val->dims[3] = c;
    }
  }
  ir_graph_remove_nodes(g, lc->drop);
  return PTQ_OK;
}

static void lower_stats(const ir_graph *g, exec_lower_stats *st) {
  memset(st, 0, sizeof *st);
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (strcmp(n->domain, OP_INT8_DOMAIN) != 0)
      st->float_nodes++;
    else if (strcmp(n->op_type, "QuantizeNhwc") == 0 || strcmp(n->op_type, "DequantizeNhwc") == 0)
      st->boundary_nodes++;
    else
      st->int8_nodes++;
  }
}

ptq_status exec_lower_int8(ptq_model *m, exec_lower_stats *stats) {
  if (!m) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  if (m->lowered) return ptq_error(PTQ_ERR_INVALID_ARG, "the model is already lowered");
  ir_graph *g = m->graph;
  lower_ctx lc = {.g = g, .n_nodes0 = g->n_nodes, .n_values0 = g->n_values};
  /* Room for the nodes and values lowering adds: at most a few per original node. */
  const size_t nv = (size_t)g->n_values + 8 * (size_t)g->n_nodes + 8;
  lc.readers = ptq_calloc(nv, sizeof *lc.readers);
  lc.first_reader = ptq_calloc(nv, sizeof *lc.first_reader);
  lc.low = ptq_calloc(nv, 1);
  lc.qp = ptq_calloc(nv, sizeof *lc.qp);
  /* at most one node is added per original node */
  lc.drop = ptq_calloc(2 * (size_t)g->n_nodes + 2, 1);
  lc.fused = ptq_calloc(2 * (size_t)g->n_nodes + 2, 1);
  ptq_status st = PTQ_OK;
  if (!lc.readers || !lc.first_reader || !lc.low || !lc.qp || !lc.drop || !lc.fused) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  count_readers(&lc);
  if ((st = lower_graph(&lc)) != PTQ_OK) goto out;
  if ((st = exec_reprepare_model(m)) != PTQ_OK) goto out;
  exec_lower_stats ls;
  lower_stats(g, &ls);
  if (ls.int8_nodes || ls.boundary_nodes) m->lowered = 1;
  if (stats) *stats = ls;
out:
  free(lc.readers);
  free(lc.first_reader);
  free(lc.low);
  free(lc.qp);
  free(lc.drop);
  free(lc.fused);
  return st;
}
