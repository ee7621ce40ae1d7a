/* Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight
 * Equalization and Bias Correction", section 4.1), on the float graph before calibration.
 *
 * A pair is L1 → [act] → L2: two Conv (same weight rank) or two Gemm with constant float
 * weights, L1's output read only by the activation (or L2), the activation's output only by L2
 * as its data input, neither a graph output, and act positive-homogeneous (Relu, LeakyRelu,
 * PRelu: f(x / s) * s = f(x) for s > 0) or Clip(0, c) — ReLU6 — which becomes Relu (the
 * paper's "replace ReLU6 by ReLU"; Clip(0, c)(x / s) * s = Clip(0, c s)(x), so no per-tensor
 * Clip stays exact). Channel i of L1's output (weights and bias) is divided by s_i and the
 * weights reading L2's input channel i are multiplied by s_i, with
 *   s_i = sqrt(r1_i * r2_i) / r2_i = sqrt(r1_i / r2_i)
 * (r1_i: max |w| of L1's output channel i, r2_i: max |w| over the weights reading L2's input
 * channel i), which makes both ranges sqrt(r1_i r2_i). A layer can be L2 of one pair and L1 of
 * the next (a depthwise conv is both for the same channel), so the pairs are swept, alternately
 * forward and backward, until every s_i of a sweep is within tol of 1 (or max_iter sweeps).
 *
 * With calibration statistics (qcle_opts.data, what `ptq quantize --cle` uses) each pair's
 * cumulative scale S_i is clamped so that the float model is unchanged on the calibration data
 * and keeps its Clip: a channel whose pre-activation exceeds c there (ReLU6 saturates) keeps
 * S_i = 1, the others S_i >= max y_i / c (Clip(0, c)(y / S) S = y = Clip(0, c)(y) while
 * y <= c S), and after Relu / no activation S_i >= R_i / max R (no activation range grows). On
 * the TF-slim MobileNets the data-free replacement of ReLU6 costs 14-16 pt of FP32 top-1
 * (docs/quantization.md), hence this variant.
 *
 * Precision: the scales accumulate in double per layer (a: per input channel, d: per output
 * channel) over the original weights; each new weight w * a[c] / d[o] and bias b / d[o] is
 * rounded to float32 once. The rewritten weights and biases are new constants; the originals
 * are left for other readers (unused ones are dropped at export). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/qgraph.h"

typedef struct cle_layer {
  int node;
  const float *w; /* original weights */
  int64_t nw;
  const float *b; /* original bias or NULL */
  int64_t nb;     /* bias elements: 1 (broadcast) or a multiple of m */
  /* element (o, j, k) of output channel o, j-th input channel of o's group, inner k, sits at
   * o * so + j * sj + k; its input channel is (o / opg) * cpg + j */
  int64_t m, c, opg, cpg, inner, so, sj;
  float *rowmax; /* max_k |w(o, j, k)| at o * cpg + j (the ranges need no more) */
  double *a, *d; /* input-channel multipliers [c], output-channel divisors [m] */
  int used;
} cle_layer;

typedef struct cle_pair {
  int l1, l2;  /* layer indices */
  int act;     /* activation node or -1 */
  int to_relu; /* act is Clip(0, c) to become Relu */
} cle_pair;

static int is_op(const ir_node *n, const char *op) {
  return n->domain[0] == '\0' && strcmp(n->op_type, op) == 0;
}

static const float *f32_const(const ir_value *v) {
  return v && v->data && v->data->dtype == PTQ_DT_FLOAT ? v->data->data : NULL;
}

/* Fills *l from node ni when it is a Conv or Gemm with a constant float weight; 0 otherwise. */
static int layer_of(const ir_graph *g, int ni, cle_layer *l) {
  const ir_node *n = &g->nodes[ni];
  memset(l, 0, sizeof *l);
  l->node = ni;
  const int conv = is_op(n, "Conv"), gemm = is_op(n, "Gemm");
  if ((!conv && !gemm) || n->n_outputs != 1 || n->outputs[0] < 0 || n->n_inputs < 2) return 0;
  const ir_value *wv = ir_in(g, n, 1), *bv = ir_in(g, n, 2);
  if (!(l->w = f32_const(wv)) || (bv && !(l->b = f32_const(bv)))) return 0;
  const ptq_tensor *w = wv->data;
  l->nw = ptq_tensor_numel(w);
  if (conv) {
    const int64_t groups = ir_attr_int(n, "group", 1);
    if (w->rank < 3 || w->dims[0] < 1 || w->dims[1] < 1 || groups < 1 || w->dims[0] % groups)
      return 0;
    l->m = w->dims[0];
    l->cpg = w->dims[1];
    l->c = w->dims[1] * groups;
    l->opg = w->dims[0] / groups;
    l->inner = l->nw / (w->dims[0] * w->dims[1]);
    l->so = l->cpg * l->inner;
    l->sj = l->inner;
  } else {
    if (w->rank != 2 || w->dims[0] < 1 || w->dims[1] < 1) return 0;
    const int tb = ir_attr_int(n, "transB", 0) != 0;
    l->m = w->dims[tb ? 0 : 1];
    l->c = l->cpg = w->dims[tb ? 1 : 0];
    l->opg = l->m;
    l->inner = 1;
    l->so = tb ? l->c : 1;
    l->sj = tb ? 1 : l->m;
  }
  if (l->b) {
    l->nb = ptq_tensor_numel(bv->data);
    const ptq_tensor *bt = bv->data;
    if (conv && l->nb != l->m) return 0;
    /* Gemm C: a scalar, or its last axis along the output channels */
    if (gemm && l->nb != 1 && (bt->rank < 1 || bt->dims[bt->rank - 1] != l->m)) return 0;
  }
  return 1;
}

/* Clip bounds (opset < 11: attributes, else constant inputs); 0 when not constant. */
static int clip_bounds(const ir_graph *g, const ir_node *n, float *lo, float *hi) {
  *lo = -INFINITY;
  *hi = INFINITY;
  if (g->opset < 11) {
    *lo = ir_attr_float(n, "min", -INFINITY);
    *hi = ir_attr_float(n, "max", INFINITY);
    return 1;
  }
  for (int k = 1; k <= 2; k++) {
    const ir_value *v = ir_in(g, n, k);
    if (!v) continue;
    const float *p = f32_const(v);
    if (!p || ptq_tensor_numel(v->data) != 1) return 0;
    *(k == 1 ? lo : hi) = p[0];
  }
  return 1;
}

/* 1: f(x / s) * s = f(x) for s > 0; 2: Clip(0, c) with finite c > 0 (to become Relu); 0: no. */
static int act_kind(const ir_graph *g, const ir_node *n, int x) {
  if (n->n_outputs != 1 || n->outputs[0] < 0 || n->n_inputs < 1 || n->inputs[0] != x) return 0;
  if (is_op(n, "Relu") || is_op(n, "LeakyRelu")) return 1;
  if (is_op(n, "PRelu")) return n->n_inputs == 2 && n->inputs[1] != x;
  if (is_op(n, "Clip")) {
    float lo, hi;
    for (int k = 1; k < n->n_inputs; k++)
      if (n->inputs[k] == x) return 0;
    if (!clip_bounds(g, n, &lo, &hi) || lo != 0.0f || !(hi > 0.0f)) return 0;
    return isinf(hi) ? 1 : 2;
  }
  return 0;
}

/* The only node reading value v (once), or -1; -1 also for graph outputs. */
static int sole_consumer(const ir_graph *g, int v) {
  if (g->values[v].is_output || ir_graph_use_count(g, v) != 1) return -1;
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      if (g->nodes[i].inputs[k] == v) return i;
  return -1;
}

/* r[o] = max |w| of output channel o (with the current scales). */
static void out_ranges(const cle_layer *l, double *r) {
  for (int64_t o = 0; o < l->m; o++) {
    double mx = 0.0;
    const int64_t c0 = (o / l->opg) * l->cpg;
    for (int64_t j = 0; j < l->cpg; j++) {
      const double v = (double)l->rowmax[o * l->cpg + j] * l->a[c0 + j];
      if (v > mx) mx = v;
    }
    r[o] = mx / l->d[o];
  }
}

/* r[c] = max |w| over the weights reading input channel c (with the current scales). */
static void in_ranges(const cle_layer *l, double *r) {
  for (int64_t c = 0; c < l->c; c++) r[c] = 0.0;
  for (int64_t o = 0; o < l->m; o++) {
    const int64_t c0 = (o / l->opg) * l->cpg;
    for (int64_t j = 0; j < l->cpg; j++) {
      const double v = (double)l->rowmax[o * l->cpg + j] / l->d[o];
      if (v > r[c0 + j]) r[c0 + j] = v;
    }
  }
  for (int64_t c = 0; c < l->c; c++) r[c] *= l->a[c];
}

/* One equalization step of a pair; returns max |log s_i|. lo/hi (or NULL) bound the pair's
 * cumulative scale, which is l1->d. */
static double equalize(cle_layer *l1, cle_layer *l2, const double *lo, const double *hi, double *r1,
                       double *r2) {
  out_ranges(l1, r1);
  in_ranges(l2, r2);
  double dev = 0.0;
  for (int64_t i = 0; i < l1->m; i++) {
    if (!(r1[i] > 0.0) || !(r2[i] > 0.0) || !isfinite(r1[i]) || !isfinite(r2[i])) continue;
    double s = sqrt(r1[i] / r2[i]);
    if (lo) {
      const double S = fmin(fmax(l1->d[i] * s, lo[i]), hi[i]);
      s = S / l1->d[i];
    }
    if (!(s > 0.0) || !isfinite(s)) continue;
    l1->d[i] *= s;
    l2->a[i] *= s;
    const double e = fabs(log(s));
    if (e > dev) dev = e;
  }
  return dev;
}

/* Writes layer l's scaled weight (and bias) as new constants. */
static ptq_status rewrite_layer(ir_graph *g, const cle_layer *l) {
  ir_node *n = &g->nodes[l->node];
  const ir_value *wv = ir_in(g, n, 1), *bv = ir_in(g, n, 2);
  ptq_tensor *w = NULL, *b = NULL;
  PTQ_TRY(ir_tensor_clone(wv->data, &w));
  float *wd = w->data;
  for (int64_t o = 0; o < l->m; o++) {
    const int64_t c0 = (o / l->opg) * l->cpg;
    for (int64_t j = 0; j < l->cpg; j++) {
      const double f = l->a[c0 + j] / l->d[o];
      const int64_t base = o * l->so + j * l->sj;
      for (int64_t k = 0; k < l->inner; k++) wd[base + k] = (float)((double)l->w[base + k] * f);
    }
  }
  char *wname = ptq_asprintf("%s_cle", wv->name);
  const int wi = wname ? ir_graph_add_constant(g, wname, w) : -1;
  if (!wname) ptq_tensor_destroy(w);
  free(wname);
  if (wi < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  g->nodes[l->node].inputs[1] = wi;
  if (!l->b) return PTQ_OK;
  bv = ir_in(g, &g->nodes[l->node], 2); /* values may have moved */
  ptq_status st;
  if (l->nb == 1 && l->m > 1) {
    const int64_t dims[1] = {l->m};
    st = ptq_tensor_create(PTQ_DT_FLOAT, 1, dims, &b);
  } else {
    st = ir_tensor_clone(bv->data, &b);
  }
  if (st != PTQ_OK) return st;
  float *bd = b->data;
  const int64_t nb = ptq_tensor_numel(b);
  for (int64_t e = 0; e < nb; e++)
    bd[e] = (float)((double)l->b[l->nb == 1 ? 0 : e] / l->d[e % l->m]);
  char *bname = ptq_asprintf("%s_cle", bv->name);
  const int bi = bname ? ir_graph_add_constant(g, bname, b) : -1;
  if (!bname) ptq_tensor_destroy(b);
  free(bname);
  if (bi < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  g->nodes[l->node].inputs[2] = bi;
  return PTQ_OK;
}

/* Clip(x, 0, c) → Relu(x): drops the bound inputs (opset >= 11) or attributes. */
static ptq_status clip_to_relu(ir_node *n) {
  char *op = ptq_strdup("Relu");
  if (!op) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  free(n->op_type);
  n->op_type = op;
  n->n_inputs = 1;
  ir_node_remove_attr(n, "min");
  ir_node_remove_attr(n, "max");
  n->op = NULL; /* resolved again by the executor's preparation */
  return PTQ_OK;
}

qcle_opts qcle_opts_default(void) {
  qcle_opts o = {.max_iter = 1000, .tol = 1e-6};
  return o;
}

typedef struct cle_graph {
  cle_layer *layers;
  int *layer_of_node;
  cle_pair *pairs;
  int n_layers, n_pairs;
} cle_graph;

static void cle_graph_free(cle_graph *c) {
  for (int li = 0; c->layers && li < c->n_layers; li++) {
    free(c->layers[li].a);
    free(c->layers[li].d);
    free(c->layers[li].rowmax);
  }
  free(c->layers);
  free(c->layer_of_node);
  free(c->pairs);
}

/* The layers and the pairs (in node order of L1). */
static ptq_status find_pairs(const ir_graph *g, cle_graph *cg) {
  memset(cg, 0, sizeof *cg);
  cg->layers = ptq_calloc((size_t)g->n_nodes + 1, sizeof *cg->layers);
  cg->layer_of_node = ptq_malloc(((size_t)g->n_nodes + 1) * sizeof *cg->layer_of_node);
  cg->pairs = ptq_calloc((size_t)g->n_nodes + 1, sizeof *cg->pairs);
  if (!cg->layers || !cg->layer_of_node || !cg->pairs) {
    cle_graph_free(cg);
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  }
  cle_layer *layers = cg->layers;
  for (int i = 0; i < g->n_nodes; i++) {
    cg->layer_of_node[i] = -1;
    if (layer_of(g, i, &layers[cg->n_layers])) cg->layer_of_node[i] = cg->n_layers++;
  }
  for (int li = 0; li < cg->n_layers; li++) {
    cle_layer *l1 = &layers[li];
    const ir_node *n1 = &g->nodes[l1->node];
    const int y = n1->outputs[0];
    int ci = sole_consumer(g, y), act = -1, kind = 1;
    if (ci < 0) continue;
    if (cg->layer_of_node[ci] < 0) {
      act = ci;
      if (!(kind = act_kind(g, &g->nodes[act], y))) continue;
      if ((ci = sole_consumer(g, g->nodes[act].outputs[0])) < 0 || cg->layer_of_node[ci] < 0)
        continue;
    }
    const ir_node *n2 = &g->nodes[ci];
    const int x2 = act >= 0 ? g->nodes[act].outputs[0] : y;
    cle_layer *l2 = &layers[cg->layer_of_node[ci]];
    if (n2->inputs[0] != x2 || n2->inputs[1] == x2 || (n2->n_inputs > 2 && n2->inputs[2] == x2) ||
        strcmp(n1->op_type, n2->op_type) != 0 || l1->m != l2->c)
      continue;
    if (is_op(n2, "Gemm") && ir_attr_int(n2, "transA", 0) != 0) continue;
    if (is_op(n2, "Conv") && ir_in(g, n1, 1)->data->rank != ir_in(g, n2, 1)->data->rank) continue;
    cg->pairs[cg->n_pairs++] =
        (cle_pair){.l1 = li, .l2 = cg->layer_of_node[ci], .act = act, .to_relu = kind == 2};
    l1->used = l2->used = 1;
  }
  return PTQ_OK;
}

void qcle_data_free(qcle_data *d, int n) {
  for (int k = 0; d && k < n; k++) {
    free(d[k].name);
    free(d[k].min);
    free(d[k].max);
  }
  free(d);
}

ptq_status qcle_data_create(const ir_graph *g, qcle_data **out, int *n) {
  *out = NULL;
  *n = 0;
  cle_graph cg;
  PTQ_TRY(find_pairs(g, &cg));
  ptq_status st = PTQ_OK;
  qcle_data *d = cg.n_pairs ? ptq_calloc((size_t)cg.n_pairs, sizeof *d) : NULL;
  if (cg.n_pairs && !d) st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
  for (int p = 0; p < cg.n_pairs && st == PTQ_OK; p++) {
    const cle_layer *l1 = &cg.layers[cg.pairs[p].l1];
    d[p].c = l1->m;
    d[p].name = ptq_strdup(g->values[g->nodes[l1->node].outputs[0]].name);
    d[p].min = ptq_malloc((size_t)l1->m * sizeof *d[p].min);
    d[p].max = ptq_malloc((size_t)l1->m * sizeof *d[p].max);
    if (!d[p].name || !d[p].min || !d[p].max) st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
  }
  if (st == PTQ_OK) {
    *out = d;
    *n = cg.n_pairs;
  } else {
    qcle_data_free(d, cg.n_pairs);
  }
  cle_graph_free(&cg);
  return st;
}

/* The bounds of pair p's cumulative scales from its data (see qcle_opts). */
static ptq_status pair_bounds(const ir_graph *g, const qcle_opts *o, const cle_graph *cg, int p,
                              double *lo, double *hi, qcle_stats *stats) {
  const cle_pair *pr = &cg->pairs[p];
  const cle_layer *l1 = &cg->layers[pr->l1];
  const char *name = g->values[g->nodes[l1->node].outputs[0]].name;
  const qcle_data *d = NULL;
  for (int k = 0; k < o->n_data && !d; k++)
    if (strcmp(o->data[k].name, name) == 0) d = &o->data[k];
  if (!d || d->c != l1->m || !d->seen)
    return ptq_error(PTQ_ERR_INTERNAL, "no calibration statistics for tensor '%s'", name);
  const ir_node *act = pr->act >= 0 ? &g->nodes[pr->act] : NULL;
  float clo = 0.0f, chi = INFINITY;
  if (act && is_op(act, "Clip")) clip_bounds(g, act, &clo, &chi);
  const int relu = act && is_op(act, "Relu");
  double rmax = 0.0;
  for (int64_t i = 0; i < l1->m; i++) {
    const double r = relu ? fmax(d->max[i], 0.0) : fmax(fabs(d->min[i]), fabs(d->max[i]));
    if (r > rmax) rmax = r;
  }
  for (int64_t i = 0; i < l1->m; i++) {
    lo[i] = 0.0;
    hi[i] = INFINITY;
    if (isfinite(chi)) { /* Clip(0, c) stays */
      if (d->max[i] > chi) {
        lo[i] = hi[i] = 1.0;
        stats->pinned++;
      } else if (d->max[i] > 0.0f) {
        lo[i] = (double)d->max[i] / chi;
      }
    } else if (rmax > 0.0) {
      const double r = relu ? fmax(d->max[i], 0.0) : fmax(fabs(d->min[i]), fabs(d->max[i]));
      lo[i] = r / rmax;
    }
  }
  return PTQ_OK;
}

ptq_status qprep_cle(ir_graph *g, const qcle_opts *opts, qcle_stats *stats, qbuf *report) {
  const qcle_opts o = opts ? *opts : qcle_opts_default();
  memset(stats, 0, sizeof *stats);
  cle_graph cg;
  PTQ_TRY(find_pairs(g, &cg));
  ptq_status st = PTQ_OK;
  double *r1 = NULL, *r2 = NULL, **lo = NULL, **hi = NULL;
  cle_layer *layers = cg.layers;
  const cle_pair *pairs = cg.pairs;
  const int n_pairs = cg.n_pairs, data = o.data != NULL;
  stats->pairs = n_pairs;
  if (!n_pairs) goto out;
  int64_t max_c = 1;
  for (int p = 0; p < n_pairs; p++)
    if (layers[pairs[p].l1].m > max_c) max_c = layers[pairs[p].l1].m;
  r1 = ptq_malloc((size_t)max_c * sizeof *r1);
  r2 = ptq_malloc((size_t)max_c * sizeof *r2);
  lo = ptq_calloc((size_t)n_pairs, sizeof *lo);
  hi = ptq_calloc((size_t)n_pairs, sizeof *hi);
  if (!r1 || !r2 || !lo || !hi) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto out;
  }
  for (int li = 0; li < cg.n_layers; li++) {
    cle_layer *l = &layers[li];
    if (!l->used) continue;
    l->a = ptq_malloc((size_t)l->c * sizeof *l->a);
    l->d = ptq_malloc((size_t)l->m * sizeof *l->d);
    l->rowmax = ptq_malloc((size_t)(l->m * l->cpg) * sizeof *l->rowmax);
    if (!l->a || !l->d || !l->rowmax) {
      st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
      goto out;
    }
    for (int64_t c = 0; c < l->c; c++) l->a[c] = 1.0;
    for (int64_t m = 0; m < l->m; m++) l->d[m] = 1.0;
    for (int64_t m = 0; m < l->m; m++)
      for (int64_t j = 0; j < l->cpg; j++) {
        const float *row = l->w + m * l->so + j * l->sj;
        float fm = 0.0f;
        for (int64_t k = 0; k < l->inner; k++) fm = fmaxf(fm, fabsf(row[k]));
        l->rowmax[m * l->cpg + j] = fm;
      }
  }
  for (int p = 0; p < n_pairs && data; p++) {
    const int64_t m = layers[pairs[p].l1].m;
    lo[p] = ptq_malloc((size_t)m * sizeof **lo);
    hi[p] = ptq_malloc((size_t)m * sizeof **hi);
    if (!lo[p] || !hi[p]) {
      st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
      goto out;
    }
    if ((st = pair_bounds(g, &o, &cg, p, lo[p], hi[p], stats)) != PTQ_OK) goto out;
  }
  for (int p = 0; p < n_pairs; p++) {
    int is_l2 = 0;
    for (int q = 0; q < n_pairs; q++) is_l2 |= pairs[q].l2 == pairs[p].l1;
    stats->chains += !is_l2;
  }
  const int max_iter = o.max_iter > 0 ? o.max_iter : 1000;
  double dev = 0.0;
  for (int it = 0; it < max_iter; it++) {
    dev = 0.0;
    for (int k = 0; k < n_pairs; k++) { /* alternately forward and backward */
      const int p = it % 2 ? n_pairs - 1 - k : k;
      const double e = equalize(&layers[pairs[p].l1], &layers[pairs[p].l2], lo[p], hi[p], r1, r2);
      if (e > dev) dev = e;
    }
    stats->iterations = it + 1;
    if (dev <= o.tol) break;
  }
  stats->residual = dev;
  for (int p = 0; p < n_pairs && data; p++) {
    const cle_layer *l1 = &layers[pairs[p].l1];
    for (int64_t i = 0; i < l1->m; i++)
      if (lo[p][i] < hi[p][i] && l1->d[i] <= lo[p][i] * (1.0 + 1e-9)) stats->bounded++;
  }
  for (int li = 0; li < cg.n_layers && st == PTQ_OK; li++)
    if (layers[li].used) st = rewrite_layer(g, &layers[li]);
  for (int p = 0; p < n_pairs && st == PTQ_OK && !data; p++) {
    if (!pairs[p].to_relu) continue;
    if ((st = clip_to_relu(&g->nodes[pairs[p].act])) == PTQ_OK) stats->clip_relu++;
  }
  if (st == PTQ_OK && report) {
    qbuf_printf(report,
                "cross-layer equalization: %d layer pairs in %d chains (%d sweeps, max |log s| "
                "%.2g in the last)",
                stats->pairs, stats->chains, stats->iterations, stats->residual);
    if (data)
      qbuf_printf(report,
                  "; bounded by the calibration data: %d channels kept at scale 1 (their "
                  "Clip saturates), %d at the bound keeping Clip exact / the range unchanged\n",
                  stats->pinned, stats->bounded);
    else
      qbuf_printf(report, "; %d Clip(0, c) (ReLU6) between them replaced by Relu\n",
                  stats->clip_relu);
  }
out:
  for (int p = 0; lo && p < n_pairs; p++) free(lo[p]);
  for (int p = 0; hi && p < n_pairs; p++) free(hi[p]);
  free(lo);
  free(hi);
  free(r1);
  free(r2);
  cle_graph_free(&cg);
  return st;
}
