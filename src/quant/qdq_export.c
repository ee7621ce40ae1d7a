/* QDQ export: QuantizeLinear→DequantizeLinear pairs on the plan's activations, int8 weights
 * and int32 biases behind DequantizeLinear, and the matching encodings. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quant/calib.h"
#include "quant/qgraph.h"

/* One quantized tensor for the encodings JSON. */
typedef struct qenc {
  const char *kind; /* "activation", "weight", "bias" */
  const char *dtype;
  int bits, symmetric, axis; /* axis -1: per tensor */
  int64_t n;
  const float *scale, *rmin, *rmax;
  const int32_t *zp;
  const char *q, *scale_name, *zp_name; /* initializer / value names in the model */
  const float *clip; /* activations narrower than their container: the Clip bounds, or NULL */
} qenc;

static void enc_array_f(qbuf *b, const float *x, int64_t n) {
  qbuf_printf(b, "[");
  for (int64_t i = 0; i < n; i++) {
    if (i) qbuf_printf(b, ", ");
    qbuf_json_float(b, x[i]);
  }
  qbuf_printf(b, "]");
}

static void enc_write(qbuf *b, const char *name, const qenc *e) {
  if (b->len) qbuf_printf(b, ",\n");
  qbuf_printf(b, "    ");
  qbuf_json_string(b, name);
  qbuf_printf(b, ": {\"kind\": \"%s\", \"dtype\": \"%s\", \"bits\": %d, \"symmetric\": %s, ",
              e->kind, e->dtype, e->bits, e->symmetric ? "true" : "false");
  if (e->axis >= 0)
    qbuf_printf(b, "\"axis\": %d, ", e->axis);
  else
    qbuf_printf(b, "\"axis\": null, ");
  qbuf_printf(b, "\"scale\": ");
  enc_array_f(b, e->scale, e->n);
  qbuf_printf(b, ", \"zero_point\": [");
  for (int64_t i = 0; i < e->n; i++) qbuf_printf(b, "%s%d", i ? ", " : "", (int)e->zp[i]);
  qbuf_printf(b, "], \"min\": ");
  enc_array_f(b, e->rmin, e->n);
  qbuf_printf(b, ", \"max\": ");
  enc_array_f(b, e->rmax, e->n);
  qbuf_printf(b, ", \"quantized\": ");
  qbuf_json_string(b, e->q);
  qbuf_printf(b, ", \"scale_initializer\": ");
  qbuf_json_string(b, e->scale_name);
  qbuf_printf(b, ", \"zero_point_initializer\": ");
  qbuf_json_string(b, e->zp_name);
  if (e->clip) {
    qbuf_printf(b, ", \"clip\": ");
    enc_array_f(b, e->clip, 2);
  }
  qbuf_printf(b, "}");
}

/* code (within the dtype's range) into element i of an integer tensor */
static void store_code(ptq_tensor *t, int64_t i, int32_t v) {
  switch (t->dtype) {
    case PTQ_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case PTQ_DT_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    case PTQ_DT_INT16: ((int16_t *)t->data)[i] = (int16_t)v; break;
    case PTQ_DT_UINT16: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
    default: ((int32_t *)t->data)[i] = v; break;
  }
}

/* A scale/zero-point pair of initializers: rank 0 when n == 0 (per tensor), else [n]. */
static ptq_status add_qparams(ir_graph *g, const char *base, int64_t n, const float *scale,
                              ptq_dtype zp_dtype, const int32_t *zp, int *sv, int *zv) {
  ptq_tensor *s = NULL, *z = NULL;
  const int64_t dims[1] = {n};
  const int rank = n > 0 ? 1 : 0, cnt = n > 0 ? (int)n : 1;
  PTQ_TRY(ptq_tensor_create(PTQ_DT_FLOAT, rank, dims, &s));
  ptq_status st = ptq_tensor_create(zp_dtype, rank, dims, &z);
  if (st != PTQ_OK) {
    ptq_tensor_destroy(s);
    return st;
  }
  memcpy(s->data, scale, (size_t)cnt * sizeof(float));
  for (int i = 0; i < cnt; i++) store_code(z, i, zp[i]);
  char *sn = ptq_asprintf("%s_scale", base), *zn = ptq_asprintf("%s_zero_point", base);
  *sv = sn ? ir_graph_add_constant(g, sn, s) : (ptq_tensor_destroy(s), -1);
  *zv = zn ? ir_graph_add_constant(g, zn, z) : (ptq_tensor_destroy(z), -1);
  free(sn);
  free(zn);
  return *sv >= 0 && *zv >= 0 ? PTQ_OK : ptq_error(PTQ_ERR_NOMEM, "out of memory");
}

/* A float value shaped like src (dims copied, names not). */
static int add_like(ir_graph *g, const char *base, int src, ptq_dtype dtype) {
  char *name = ir_graph_unique_name(g, base);
  int v = name ? ir_graph_add_value(g, name) : -1;
  free(name);
  if (v < 0) return -1;
  ir_value *d = &g->values[v];
  const ir_value *s = &g->values[src];
  d->dtype = dtype;
  d->has_type = 1;
  d->rank = s->rank;
  memcpy(d->dims, s->dims, sizeof d->dims);
  return v;
}

/* value → DequantizeLinear(q, scale, zp[, axis]) output; returns the output value or -1. */
static int add_dq(ir_graph *g, const char *base, int q, int sv, int zv, int src, int axis) {
  char *dn = ptq_asprintf("%s_dequantized", base), *nn = ptq_asprintf("%s_DequantizeLinear", base);
  int out = dn ? add_like(g, dn, src, PTQ_DT_FLOAT) : -1;
  const int in[3] = {q, sv, zv};
  int ni = out >= 0 && nn ? ir_graph_new_node(g, nn, "DequantizeLinear", 3, in, 1, &out) : -1;
  free(dn);
  free(nn);
  if (ni < 0) return -1;
  if (axis >= 0 && ir_node_set_int(&g->nodes[ni], "axis", axis) != PTQ_OK) return -1;
  return out;
}

static void rewire(ir_graph *g, int from, int to, int skip_node) {
  for (int i = 0; i < g->n_nodes; i++)
    if (i != skip_node)
      for (int k = 0; k < g->nodes[i].n_inputs; k++)
        if (g->nodes[i].inputs[k] == from) g->nodes[i].inputs[k] = to;
}

/* A float32 scalar initializer named base + suffix; the value index or -1. */
static int add_scalar(ir_graph *g, const char *base, const char *suffix, float x) {
  ptq_tensor *t = NULL;
  if (ptq_tensor_create(PTQ_DT_FLOAT, 0, NULL, &t) != PTQ_OK) return -1;
  *(float *)t->data = x;
  char *n = ptq_asprintf("%s%s", base, suffix);
  int v = n ? ir_graph_add_constant(g, n, t) : (ptq_tensor_destroy(t), -1);
  free(n);
  return v;
}

/* Q/DQ pair on activation point pi. A b-bit scheme narrower than its container (b < 8 in
 * int8/uint8, 8 < b < 16 in int16/uint16) gets Clip(x, lo, hi) before QuantizeLinear with
 * lo = (qmin - zp) * scale and hi = (qmax - zp) * scale (float32): QuantizeLinear maps lo to
 * qmin and hi to qmax exactly and is monotonic, so the codes are those of b-bit fake
 * quantization (docs/quantization.md, "Activations below the container width"). */
static ptq_status insert_point(ir_graph *g, qplan *p, const qprofile *prof, int pi, qbuf *json) {
  const qpoint pt = p->points[pi];
  const int v = pt.value;
  const ptq_qscheme s = qprofile_act_scheme(prof, pt.bits);
  char *base = ptq_strdup(g->values[v].name);
  char *qn = ptq_asprintf("%s_quantized", base), *nn = ptq_asprintf("%s_QuantizeLinear", base);
  char *cn = ptq_asprintf("%s_clipped", base), *cnn = ptq_asprintf("%s_Clip", base);
  ptq_status st = PTQ_OK;
  int sv = -1, zv = -1, q = -1, dq = -1, ni = -1, xin = v;
  if (!base || !qn || !nn || !cn || !cnn) goto nomem;
  const ptq_dtype dt = qscheme_dtype(&s);
  const int clip = s.bits != 8 && s.bits != 16;
  float bounds[2] = {0.0f, 0.0f};
  if (clip) {
    int32_t qmin, qmax;
    ptq_qscheme_range(&s, &qmin, &qmax);
    bounds[0] = ptq_dequantize_value(qmin, pt.qp);
    bounds[1] = ptq_dequantize_value(qmax, pt.qp);
    if (!isfinite(bounds[0]) || !isfinite(bounds[1])) {
      st = ptq_error(PTQ_ERR_DATA, "tensor '%s': the %d-bit range overflows float32", base, s.bits);
      goto out;
    }
  }
  if ((st = add_qparams(g, base, 0, &pt.qp.scale, dt, &pt.qp.zero_point, &sv, &zv))) goto out;
  if ((q = add_like(g, qn, v, dt)) < 0) goto nomem;
  /* consumers first, so that the new QuantizeLinear (or Clip) keeps reading the float value */
  if ((dq = add_dq(g, base, q, sv, zv, v, -1)) < 0) goto nomem;
  rewire(g, v, dq, g->n_nodes - 1);
  if (clip) {
    const int lo = add_scalar(g, base, "_clip_min", bounds[0]);
    const int hi = lo >= 0 ? add_scalar(g, base, "_clip_max", bounds[1]) : -1;
    if (hi < 0 || (xin = add_like(g, cn, v, PTQ_DT_FLOAT)) < 0) goto nomem;
    const int cin[3] = {v, lo, hi};
    if (ir_graph_new_node(g, cnn, "Clip", 3, cin, 1, &xin) < 0) goto nomem;
  }
  const int in[3] = {xin, sv, zv};
  if ((ni = ir_graph_new_node(g, nn, "QuantizeLinear", 3, in, 1, &q)) < 0) goto nomem;
  qenc e = {.kind = "activation",
            .dtype = ptq_dtype_name(dt),
            .bits = s.bits,
            .symmetric = s.symmetric,
            .axis = -1,
            .n = 1,
            .scale = &pt.qp.scale,
            .zp = &pt.qp.zero_point,
            .rmin = &pt.rmin,
            .rmax = &pt.rmax,
            .q = g->values[q].name,
            .scale_name = g->values[sv].name,
            .zp_name = g->values[zv].name,
            .clip = clip ? bounds : NULL};
  enc_write(json, base, &e);
  goto out;
nomem:
  st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
out:
  free(base);
  free(qn);
  free(nn);
  free(cn);
  free(cnn);
  return st;
}

/* Quantized weight of one node. */
typedef struct wq {
  int64_t n; /* channels (1 per tensor) */
  int axis;
  float *scale, *rmin, *rmax;
  int32_t *zp;
} wq;

static void wq_free(wq *w) {
  free(w->scale);
  free(w->rmin);
  free(w->rmax);
  free(w->zp);
}

/* Weight codes: the node's b-bit grid (b = w_bits), stored in the scheme's 8-bit container;
 * below 8 bits the codes stay within the b-bit range, so DequantizeLinear of them equals
 * b-bit fake quantization exactly. */
static ptq_status quantize_weight(ir_graph *g, int wv, int axis, int bits, const qprofile *prof,
                                  ptq_qmethod method, wq *out, int *dq, qbuf *json) {
  const ptq_tensor *w = g->values[wv].data;
  ptq_qscheme s = prof->weight;
  s.bits = bits;
  s.per_channel = axis >= 0;
  s.axis = axis >= 0 ? axis : 0;
  int64_t outer = 1, n = 1, inner = ptq_tensor_numel(w);
  if (axis >= 0) PTQ_TRY(ptq_axis_split(w->rank, w->dims, axis, &outer, &n, &inner));
  const size_t nn = (size_t)n;
  ptq_status st = PTQ_OK;
  ptq_qparams *qp = ptq_malloc(nn * sizeof *qp);
  int32_t *codes = ptq_malloc((size_t)ptq_tensor_numel(w) * sizeof *codes + 1);
  ptq_tensor *qt = NULL;
  out->n = n;
  out->axis = axis;
  out->scale = ptq_malloc(nn * sizeof(float));
  out->rmin = ptq_malloc(nn * sizeof(float));
  out->rmax = ptq_malloc(nn * sizeof(float));
  out->zp = ptq_malloc(nn * sizeof(int32_t));
  char *base = ptq_strdup(g->values[wv].name), *qn = ptq_asprintf("%s_quantized", base ? base : "");
  if (!qp || !codes || !out->scale || !out->rmin || !out->rmax || !out->zp || !base || !qn) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  const float *x = w->data;
  if (method == PTQ_QMETHOD_MSE) {
    if ((st = ptq_calib_mse_weights(x, w->rank, w->dims, &s, out->rmin, out->rmax))) goto out;
  } else {
    for (int64_t c = 0; c < n; c++) out->rmin[c] = out->rmax[c] = 0.0f;
    for (int64_t o = 0; o < outer; o++)
      for (int64_t c = 0; c < n; c++)
        for (int64_t i = 0; i < inner; i++) {
          const float v = x[(o * n + c) * inner + i];
          if (!isfinite(v)) {
            st = ptq_error(PTQ_ERR_DATA, "weight '%s' holds NaN or infinity", base);
            goto out;
          }
          if (v < out->rmin[c]) out->rmin[c] = v;
          if (v > out->rmax[c]) out->rmax[c] = v;
        }
  }
  if ((st = ptq_qparams_from_ranges(&s, n, out->rmin, out->rmax, qp))) goto out;
  if ((st = ptq_quantize_tensor(x, w->rank, w->dims, &s, qp, codes))) goto out;
  const ptq_dtype dt = qscheme_dtype(&s);
  if ((st = ptq_tensor_create(dt, w->rank, w->dims, &qt))) goto out;
  for (int64_t i = 0; i < ptq_tensor_numel(w); i++) store_code(qt, i, codes[i]);
  for (int64_t c = 0; c < n; c++) {
    out->scale[c] = qp[c].scale;
    out->zp[c] = qp[c].zero_point;
  }
  const int q = ir_graph_add_constant(g, qn, qt);
  qt = NULL;
  int sv = -1, zv = -1;
  if (q < 0) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  if ((st = add_qparams(g, base, axis >= 0 ? n : 0, out->scale, dt, out->zp, &sv, &zv))) goto out;
  if ((*dq = add_dq(g, base, q, sv, zv, wv, axis)) < 0) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  qenc e = {.kind = "weight",
            .dtype = ptq_dtype_name(dt),
            .bits = s.bits,
            .symmetric = s.symmetric,
            .axis = axis,
            .n = n,
            .scale = out->scale,
            .zp = out->zp,
            .rmin = out->rmin,
            .rmax = out->rmax,
            .q = g->values[q].name,
            .scale_name = g->values[sv].name,
            .zp_name = g->values[zv].name};
  enc_write(json, base, &e);
out:
  ptq_tensor_destroy(qt);
  free(qp);
  free(codes);
  free(base);
  free(qn);
  return st;
}

/* int32 bias: scale[c] = x_scale * w_scale[c mod channels] (float32 product), zero point 0,
 * code = round_half_even(b / scale) (float32 division), saturated to int32 (onnxruntime's
 * quantize_bias_static). */
static ptq_status quantize_bias(ir_graph *g, int ni, int bin, float sx, const wq *w, int *dq,
                                qbuf *json) {
  const int bv = g->nodes[ni].inputs[bin];
  const ptq_tensor *b = g->values[bv].data;
  const int64_t n = ptq_tensor_numel(b);
  const int per = w->axis >= 0 && n > 1, cnt = per ? (int)n : 1;
  ptq_status st = PTQ_OK;
  ptq_tensor *qt = NULL;
  float *scale = ptq_malloc((size_t)cnt * sizeof *scale);
  float *lo = ptq_malloc((size_t)cnt * sizeof *lo), *hi = ptq_malloc((size_t)cnt * sizeof *hi);
  int32_t *zp = ptq_calloc((size_t)cnt, sizeof *zp);
  char *base = ptq_strdup(g->values[bv].name), *qn = ptq_asprintf("%s_quantized", base ? base : "");
  if (!scale || !lo || !hi || !zp || !base || !qn) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  if ((st = ptq_tensor_create(PTQ_DT_INT32, b->rank, b->dims, &qt))) goto out;
  const float *x = b->data;
  for (int c = 0; c < cnt; c++) {
    scale[c] = sx * w->scale[per ? c % w->n : 0];
    lo[c] = hi[c] = 0.0f;
  }
  for (int64_t i = 0; i < n; i++) {
    const int c = per ? (int)i : 0;
    const float r = nearbyintf(x[i] / scale[c]);
    ((int32_t *)qt->data)[i] = r >= 2147483647.0f    ? INT32_MAX
                               : r <= -2147483648.0f ? INT32_MIN
                                                     : (int32_t)r;
    if (!isfinite(x[i])) {
      st = ptq_error(PTQ_ERR_DATA, "bias '%s' holds NaN or infinity", base);
      goto out;
    }
    if (x[i] < lo[c]) lo[c] = x[i];
    if (x[i] > hi[c]) hi[c] = x[i];
  }
  const int q = ir_graph_add_constant(g, qn, qt);
  qt = NULL;
  int sv = -1, zv = -1;
  if (q < 0) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  if ((st = add_qparams(g, base, per ? n : 0, scale, PTQ_DT_INT32, zp, &sv, &zv))) goto out;
  const int axis = per ? b->rank - 1 : -1;
  if ((*dq = add_dq(g, base, q, sv, zv, bv, axis)) < 0) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  qenc e = {.kind = "bias",
            .dtype = "int32",
            .bits = 32,
            .symmetric = 1,
            .axis = axis,
            .n = cnt,
            .scale = scale,
            .zp = zp,
            .rmin = lo,
            .rmax = hi,
            .q = g->values[q].name,
            .scale_name = g->values[sv].name,
            .zp_name = g->values[zv].name};
  enc_write(json, base, &e);
out:
  ptq_tensor_destroy(qt);
  free(scale);
  free(lo);
  free(hi);
  free(zp);
  free(base);
  free(qn);
  return st;
}

static ptq_status export_weighted(ir_graph *g, qplan *p, int ni, const qprofile *prof,
                                  ptq_qmethod method, qbuf *json, qbuf *report) {
  const qnode q = p->nodes[ni];
  const int wv = g->nodes[ni].inputs[q.w_input];
  wq w = {0};
  int dq = -1;
  ptq_status st =
      quantize_weight(g, wv, q.w_axis, q.w_bits, prof, (ptq_qmethod)q.w_method, &w, &dq, json);
  if (st != PTQ_OK) {
    ptq_error_prefix(st, "%s: ", ir_node_desc(&g->nodes[ni]));
    wq_free(&w);
    return st;
  }
  g->nodes[ni].inputs[q.w_input] = dq;
  const int px = p->point_of[g->nodes[ni].inputs[0]];
  int bias_q = 0;
  if (q.b_input >= 0 && px >= 0 && prof->bias_int32) {
    if ((st = quantize_bias(g, ni, q.b_input, p->points[px].qp.scale, &w, &dq, json))) {
      wq_free(&w);
      return st;
    }
    g->nodes[ni].inputs[q.b_input] = dq;
    bias_q = 1;
  }
  ptq_qscheme ws = prof->weight;
  ws.bits = q.w_bits;
  char wt[96];
  qscheme_describe(&ws, q.w_axis >= 0, wt);
  qbuf_printf(report, "  %-48s W %s", ir_node_desc(&g->nodes[ni]), wt);
  if (q.w_axis >= 0) qbuf_printf(report, " (axis %d, %lld)", q.w_axis, (long long)w.n);
  if (q.w_method == PTQ_QMETHOD_MSE) qbuf_printf(report, ", MSE range");
  char at[96];
  const int px_bits = px >= 0 ? p->points[px].bits : prof->act.bits;
  const ptq_qscheme as = qprofile_act_scheme(prof, px_bits);
  qscheme_describe(&as, 0, at);
  qbuf_printf(report, ", A %s%s\n", at,
              bias_q                                        ? ", bias int32"
              : q.b_input >= 0 || g->nodes[ni].n_inputs > 2 ? ", bias float"
                                                            : "");
  wq_free(&w);
  return PTQ_OK;
}

static const char *kind_text(qkind k) {
  switch (k) {
    case QK_ACT: return "quantized inputs (activation scheme)";
    case QK_MOVE: return "quantized, shares its input's scale";
    case QK_CONCAT: return "quantized, one scale for all inputs and the output";
    case QK_FUSED: return "fused into the quantized op before it";
    default: return "";
  }
}

ptq_status qdq_export(ptq_model *m, qplan *p, const qprofile *prof, ptq_qmethod method, qbuf *json,
                      qbuf *report) {
  ir_graph *g = m->graph;
  const int n_nodes = p->n_nodes;
  qbuf_printf(report, "quantized nodes:\n");
  for (int i = 0; i < n_nodes; i++) {
    const qkind k = p->nodes[i].kind;
    if (k == QK_WEIGHTED)
      PTQ_TRY(export_weighted(g, p, i, prof, method, json, report));
    else if (k != QK_FLOAT)
      qbuf_printf(report, "  %-48s %s\n", ir_node_desc(&g->nodes[i]), kind_text(k));
  }
  qbuf_printf(report, "float nodes:\n");
  int n_float = 0;
  for (int i = 0; i < n_nodes; i++)
    if (p->nodes[i].kind == QK_FLOAT) {
      qbuf_printf(report, "  %-48s %s\n", ir_node_desc(&g->nodes[i]), p->nodes[i].why);
      n_float++;
    }
  if (!n_float) qbuf_printf(report, "  (none)\n");
  for (int i = 0; i < p->n_points; i++) PTQ_TRY(insert_point(g, p, prof, i, json));
  /* float weights and biases nothing reads any more are dropped */
  for (int v = 0; v < g->n_values; v++) {
    ir_value *val = &g->values[v];
    if (!val->data) continue;
    val->is_input = 0; /* IR < 4 listed initializers as inputs; constants stay constants */
    if (!val->is_output && ir_graph_use_count(g, v) == 0) {
      ptq_tensor_destroy(val->data);
      val->data = NULL;
      val->is_initializer = 0;
    }
  }
  return ir_graph_toposort(g);
}
