/* BatchNormalization folding into a preceding Conv, ConvTranspose or Gemm. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/qgraph.h"

void qprep_bn_coeffs(const float *scale, const float *bias, const float *mean, const float *var,
                     float eps, int64_t c, float *s, float *t) {
  for (int64_t i = 0; i < c; i++) {
    s[i] = scale[i] / sqrtf(var[i] + eps);
    t[i] = bias[i] - mean[i] * s[i];
  }
}

static int is_f32_const(const ir_value *v) {
  return v && v->data && v->data->dtype == PTQ_DT_FLOAT;
}

/* The weight viewed as [outer, cw, inner]; element (o, j, i) belongs to output channel
 * (o / per_group) * cw + j:
 *   Conv [M, C/g, k..]:            outer M, cw 1, per_group 1
 *   ConvTranspose [C, M/g, k..]:   outer C, cw M/g, per_group C/g
 *   Gemm transB=1 [N, K]:          outer N, cw 1, per_group 1
 *   Gemm transB=0 [K, N]:          outer K, cw N, per_group K, inner 1 */
typedef struct wlayout {
  int64_t c, outer, cw, inner, per_group;
} wlayout;

static int weight_layout(const ir_node *p, const ptq_tensor *w, wlayout *l) {
  const int64_t n = ptq_tensor_numel(w);
  if (strcmp(p->op_type, "Conv") == 0 ||
      (strcmp(p->op_type, "Gemm") == 0 && ir_attr_int(p, "transB", 0))) {
    if (w->rank < 2 || w->dims[0] < 1) return 0;
    *l = (wlayout){
        .c = w->dims[0], .outer = w->dims[0], .cw = 1, .per_group = 1, .inner = n / w->dims[0]};
    return strcmp(p->op_type, "Conv") != 0 || w->rank >= 3;
  }
  if (strcmp(p->op_type, "ConvTranspose") == 0) {
    const int64_t groups = ir_attr_int(p, "group", 1);
    if (w->rank < 3 || groups < 1 || w->dims[0] % groups || w->dims[0] < 1 || w->dims[1] < 1)
      return 0;
    *l = (wlayout){.c = w->dims[1] * groups,
                   .outer = w->dims[0],
                   .cw = w->dims[1],
                   .per_group = w->dims[0] / groups,
                   .inner = n / (w->dims[0] * w->dims[1])};
    return 1;
  }
  if (strcmp(p->op_type, "Gemm") == 0) {
    if (w->rank != 2 || w->dims[0] < 1) return 0;
    *l = (wlayout){.c = w->dims[1],
                   .outer = w->dims[0],
                   .cw = w->dims[1],
                   .per_group = w->dims[0],
                   .inner = 1};
    return 1;
  }
  return 0;
}

/* Folds BN node bi into its producer; *done = 0 when the pattern does not apply. */
static ptq_status fold_one(ir_graph *g, int bi, int *done) {
  *done = 0;
  ir_node *bn = &g->nodes[bi];
  if (bn->n_inputs != 5 || bn->inputs[0] < 0 || ir_attr_int(bn, "training_mode", 0) != 0)
    return PTQ_OK;
  for (int k = 1; k < bn->n_outputs; k++)
    if (bn->outputs[k] >= 0) return PTQ_OK;
  if (g->opset < 9 && ir_attr_int(bn, "spatial", 1) != 1) return PTQ_OK;
  const int x = bn->inputs[0];
  const int pi = g->values[x].producer;
  if (pi < 0 || g->values[x].is_output || ir_graph_use_count(g, x) != 1) return PTQ_OK;
  ir_node *p = &g->nodes[pi];
  const ir_value *wv = ir_in(g, p, 1), *bv = ir_in(g, p, 2);
  if (p->n_outputs != 1 || !is_f32_const(wv) || (bv && !is_f32_const(bv))) return PTQ_OK;
  wlayout l;
  if (!weight_layout(p, wv->data, &l)) return PTQ_OK;
  const int gemm = strcmp(p->op_type, "Gemm") == 0;
  const float beta = gemm ? ir_attr_float(p, "beta", 1.0f) : 1.0f;
  if (beta == 0.0f) return PTQ_OK;
  if (bv && ptq_tensor_numel(bv->data) != l.c && ptq_tensor_numel(bv->data) != 1) return PTQ_OK;
  if (bv && gemm && bv->data->rank == 2 && bv->data->dims[0] != 1) return PTQ_OK;
  const float *prm[4];
  for (int k = 1; k < 5; k++) {
    const ir_value *v = ir_in(g, bn, k);
    if (!is_f32_const(v) || ptq_tensor_numel(v->data) != l.c) return PTQ_OK;
    prm[k - 1] = v->data->data;
  }
  ptq_status st = PTQ_OK;
  ptq_tensor *w = NULL, *b = NULL;
  float *s = ptq_malloc((size_t)l.c * sizeof *s), *t = ptq_malloc((size_t)l.c * sizeof *t);
  const int64_t bdims[1] = {l.c};
  if (!s || !t || (st = ir_tensor_clone(wv->data, &w)) != PTQ_OK ||
      (st = ptq_tensor_create(PTQ_DT_FLOAT, 1, bdims, &b)) != PTQ_OK) {
    st = st ? st : ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  qprep_bn_coeffs(prm[0], prm[1], prm[2], prm[3], ir_attr_float(bn, "epsilon", 1e-5f), l.c, s, t);
  float *wd = w->data, *bd = b->data;
  for (int64_t o = 0; o < l.outer; o++)
    for (int64_t j = 0; j < l.cw; j++) {
      const float m = s[(o / l.per_group) * l.cw + j];
      float *row = wd + (o * l.cw + j) * l.inner;
      for (int64_t i = 0; i < l.inner; i++) row[i] *= m;
    }
  const float *b0 = bv ? bv->data->data : NULL;
  const int64_t nb0 = bv ? ptq_tensor_numel(bv->data) : 0;
  for (int64_t c = 0; c < l.c; c++) {
    const float base = b0 ? b0[nb0 == 1 ? 0 : c] : 0.0f;
    bd[c] = base * s[c] + t[c] / beta; /* Gemm adds beta * C */
  }
  char *wname = ptq_asprintf("%s_bnfold", wv->name),
       *bname = ptq_asprintf("%s_bnfold_bias", g->values[x].name);
  int wi = -1, bi2 = -1;
  if (wname && bname) {
    wi = ir_graph_add_constant(g, wname, w);
    w = NULL;
    bi2 = wi >= 0 ? ir_graph_add_constant(g, bname, b) : -1;
    if (wi >= 0) b = NULL;
  }
  free(wname);
  free(bname);
  if (wi < 0 || bi2 < 0) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  p = &g->nodes[pi]; /* values may have moved, nodes not */
  p->inputs[1] = wi;
  if ((st = ir_node_set_input(p, 2, bi2)) != PTQ_OK) goto out;
  p->outputs[0] = g->nodes[bi].outputs[0];
  g->nodes[bi].outputs[0] = -1;
  *done = 1;
out:
  ptq_tensor_destroy(w);
  ptq_tensor_destroy(b);
  free(s);
  free(t);
  return st;
}

ptq_status qprep_fold_bn(ir_graph *g, int *folded, qbuf *report) {
  *folded = 0;
  unsigned char *drop = ptq_calloc((size_t)g->n_nodes + 1, 1);
  if (!drop) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  ptq_status st = PTQ_OK;
  for (int i = 0; i < g->n_nodes && st == PTQ_OK; i++) {
    if (strcmp(g->nodes[i].op_type, "BatchNormalization") != 0) continue;
    int done = 0;
    if ((st = fold_one(g, i, &done)) != PTQ_OK) break;
    if (done) {
      drop[i] = 1;
      (*folded)++;
    } else {
      qbuf_printf(report,
                  "  %s: kept in float (no Conv/ConvTranspose/Gemm with constant "
                  "weights and a single consumer before it)\n",
                  ir_node_desc(&g->nodes[i]));
    }
  }
  if (st == PTQ_OK && *folded) {
    ir_graph_remove_nodes(g, drop);
    st = ir_graph_toposort(g);
  }
  free(drop);
  return st;
}
