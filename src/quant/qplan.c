/* Quantization plan: which nodes run in int8 and where activations get a Q/DQ pair. */
#include <stdlib.h>
#include <string.h>

#include "quant/qgraph.h"

static int is(const ir_node *n, const char *op) {
  return strcmp(n->op_type, op) == 0;
}

static int is_act(const ir_value *v) {
  return v && !v->data && v->dtype == PTQ_DT_FLOAT;
}
static int is_fconst(const ir_value *v) {
  return v && v->data && v->data->dtype == PTQ_DT_FLOAT;
}

/* Ops that only move or select values: their output's codes are a subset of the input's, so
 * input and output share one scale. */
static int is_move(const ir_node *n) {
  static const char *const ops[] = {"MaxPool",   "Reshape", "Transpose", "Flatten", "Squeeze",
                                    "Unsqueeze", "Pad",     "Slice",     NULL};
  for (const char *const *o = ops; *o; o++)
    if (is(n, *o)) return !(n->n_outputs > 1 && n->outputs[1] >= 0);
  return is(n, "Resize") && strcmp(ir_attr_string(n, "mode", "nearest"), "nearest") == 0;
}

int qplan_root(qplan *p, int i) {
  while (p->points[i].parent != i) {
    p->points[i].parent = p->points[p->points[i].parent].parent;
    i = p->points[i].parent;
  }
  return i;
}

static void unite(qplan *p, int a, int b) {
  a = qplan_root(p, a);
  b = qplan_root(p, b);
  if (a != b) p->points[a > b ? a : b].parent = a < b ? a : b;
}

/* Point of value v, created on first use; -1 (and *st set on allocation failure). */
static int add_point(qplan *p, int v, ptq_status *st) {
  if (p->point_of[v] >= 0) return p->point_of[v];
  if (p->n_points == p->cap_points) {
    int cap = p->cap_points ? 2 * p->cap_points : 32;
    qpoint *q = ptq_realloc_array(p->points, (size_t)cap, sizeof *q);
    if (!q) {
      *st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
      return -1;
    }
    p->points = q;
    p->cap_points = cap;
  }
  qpoint *q = &p->points[p->n_points];
  memset(q, 0, sizeof *q);
  q->method = -1;
  q->value = v;
  q->parent = p->n_points;
  p->point_of[v] = p->n_points;
  return p->n_points++;
}

/* Weighted op: weight input, channel axis, bias input; 0 when n is not one. */
static int weighted(const ir_graph *g, const ir_node *n, qnode *q) {
  const ir_value *x = ir_in(g, n, 0), *w = ir_in(g, n, 1), *b = ir_in(g, n, 2);
  if (!is_act(x) || !is_fconst(w)) return 0;
  const ptq_tensor *wt = w->data;
  q->w_input = 1;
  q->b_input = -1;
  if (is(n, "Conv") || is(n, "ConvTranspose")) {
    if (wt->rank < 3) return 0;
    q->w_axis = is(n, "Conv") ? 0 : 1; /* Conv [M, C/g, k..]; ConvTranspose [C, M/g, k..] */
    if (is_fconst(b) && b->data->rank == 1) q->b_input = 2;
    return 1;
  }
  if (is(n, "Gemm")) {
    if (wt->rank != 2) return 0;
    q->w_axis = ir_attr_int(n, "transB", 0) ? 0 : 1; /* [N, K] or [K, N]: axis of N */
    const int64_t nout = wt->dims[q->w_axis];
    if (is_fconst(b) && ptq_tensor_numel(b->data) == nout &&
        b->data->dims[b->data->rank - 1] == nout && ir_attr_float(n, "alpha", 1.0f) == 1.0f &&
        ir_attr_float(n, "beta", 1.0f) == 1.0f)
      q->b_input = 2;
    return 1;
  }
  if (is(n, "MatMul")) {
    if (wt->rank < 2) return 0;
    q->w_axis = wt->rank - 1; /* [.., K, N]: axis of N */
    return 1;
  }
  return 0;
}

static const qlayer_cfg *layer_cfg(const qconfig *c, const char *name) {
  for (size_t k = 0; c && k < c->n_layers; k++)
    if (strcmp(c->layers[k].name, name) == 0) return &c->layers[k];
  return NULL;
}

static ptq_status classify(const ir_graph *g, int i, const qplan_opts *o, qplan *p) {
  const ir_node *n = &g->nodes[i];
  qnode *q = &p->nodes[i];
  q->kind = QK_FLOAT;
  q->w_input = q->b_input = q->w_axis = -1;
  q->a_method = -1;
  for (size_t e = 0; e < o->n_exclude; e++)
    if (strcmp(o->exclude[e], n->name) == 0) {
      q->why = "excluded by the user";
      return PTQ_OK;
    }
  const qlayer_cfg *lc = layer_cfg(o->config, n->name);
  if (lc && lc->is_float == 1) {
    q->why = "float in the --config file";
    return PTQ_OK;
  }
  if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) {
    q->why = "custom domain";
    return PTQ_OK;
  }
  if (is(n, "Conv") || is(n, "ConvTranspose") || is(n, "Gemm") || is(n, "MatMul")) {
    if (weighted(g, n, q)) {
      q->kind = QK_WEIGHTED;
      const qlayer_cfg *d = o->config ? &o->config->deflt : NULL;
      int per_channel = o->prof->weight.per_channel && !o->per_tensor;
      if (d && d->per_channel >= 0) per_channel = d->per_channel;
      if (lc && lc->per_channel >= 0) per_channel = lc->per_channel;
      if (!per_channel) q->w_axis = -1;
      q->w_bits = lc && lc->w_bits > 0 ? lc->w_bits : d && d->w_bits > 0 ? d->w_bits : 0;
      q->w_method = o->method;
      if (d && d->method >= 0) q->w_method = d->method;
      if (lc && lc->method >= 0) q->w_method = lc->method;
    } else if (is(n, "MatMul") && is_act(ir_in(g, n, 0)) && is_act(ir_in(g, n, 1))) {
      q->kind = QK_ACT;
    } else {
      q->why = "weight is not a float constant";
    }
    return PTQ_OK;
  }
  if (is(n, "Add")) {
    if (!o->prof->quant_add)
      q->why = "profile keeps Add of two activations in float";
    else if (is_act(ir_in(g, n, 0)) && is_act(ir_in(g, n, 1)))
      q->kind = QK_ACT;
    else
      q->why = "Add with a constant operand (bias-like) stays float";
    return PTQ_OK;
  }
  if (is(n, "Concat")) {
    q->kind = QK_CONCAT;
    for (int k = 0; k < n->n_inputs; k++)
      if (!is_act(ir_in(g, n, k))) q->kind = QK_FLOAT;
    if (q->kind == QK_FLOAT) q->why = "an input is constant or not float";
    return PTQ_OK;
  }
  if ((is(n, "AveragePool") || is(n, "GlobalAveragePool")) && is_act(ir_in(g, n, 0)) &&
      is_act(ir_out(g, n, 0))) {
    /* integer kernels in every backend (onnxruntime QLinearAveragePool, TFLite, the DPU);
     * TFLite's takes the input's scale for its output */
    q->kind = strcmp(o->prof->name, "tflite") == 0 ? QK_MOVE : QK_ACT;
    return PTQ_OK;
  }
  if (is_move(n) && is_act(ir_in(g, n, 0)) && is_act(ir_out(g, n, 0)) && o->prof->share_move) {
    q->kind = QK_MOVE; /* becomes float again below if no neighbour is quantized */
    return PTQ_OK;
  }
  q->why = "no int8 kernel for this op in the profile";
  return PTQ_OK;
}

/* Levenshtein distance, capped: rows of at most 256 + 1 entries (longer names compare their
 * first 256 bytes). */
static int edit_distance(const char *a, const char *b) {
  int row[257];
  const size_t la = strlen(a) < 256 ? strlen(a) : 256, lb = strlen(b) < 256 ? strlen(b) : 256;
  for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      const int up = row[j];
      int best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

ptq_status qplan_unknown_node(const ir_graph *g, const char *what, const char *name) {
  int best[3] = {-1, -1, -1}, dist[3] = {0, 0, 0};
  const int limit = (int)strlen(name) / 2 + 2; /* close: at most about half the name differs */
  for (int i = 0; i < g->n_nodes; i++) {
    if (!g->nodes[i].name[0]) continue;
    int d = edit_distance(name, g->nodes[i].name);
    if (d > limit) continue;
    for (int k = 0; k < 3; k++)
      if (best[k] < 0 || d < dist[k]) {
        for (int j = 2; j > k; j--) {
          best[j] = best[j - 1];
          dist[j] = dist[j - 1];
        }
        best[k] = i;
        dist[k] = d;
        break;
      }
  }
  if (best[0] < 0)
    return ptq_error(PTQ_ERR_INVALID_ARG, "%s: the model has no node named '%s'", what, name);
  return ptq_error(PTQ_ERR_INVALID_ARG,
                   "%s: the model has no node named '%s' (did you mean '%s'%s%s%s%s%s%s?)", what,
                   name, g->nodes[best[0]].name, best[1] >= 0 ? ", '" : "",
                   best[1] >= 0 ? g->nodes[best[1]].name : "", best[1] >= 0 ? "'" : "",
                   best[2] >= 0 ? ", '" : "", best[2] >= 0 ? g->nodes[best[2]].name : "",
                   best[2] >= 0 ? "'" : "");
}

static int has_node(const ir_graph *g, const char *name) {
  for (int i = 0; i < g->n_nodes; i++)
    if (strcmp(g->nodes[i].name, name) == 0) return 1;
  return 0;
}

/* Weight bits per node: the override, else the profile's, except that with keep_ends_8bit the
 * first and last weighted node (graph order, which is topological) without an override keep 8. */
static ptq_status assign_bits(const ir_graph *g, const qplan_opts *o, qplan *p) {
  int first = -1, last = -1;
  for (int i = 0; i < p->n_nodes; i++)
    if (p->nodes[i].kind == QK_WEIGHTED) {
      if (first < 0) first = i;
      last = i;
    }
  for (int i = 0; i < p->n_nodes; i++) {
    qnode *q = &p->nodes[i];
    if (q->kind != QK_WEIGHTED) continue;
    if (q->w_bits == 0)
      q->w_bits = o->prof->keep_ends_8bit && (i == first || i == last) && o->prof->weight.bits < 8
                      ? 8
                      : o->prof->weight.bits;
    if (q->w_bits < o->prof->w_bits_min || q->w_bits > o->prof->w_bits_max)
      return ptq_error(PTQ_ERR_INVALID_ARG, "%s: w_bits %d outside profile '%s''s %d..%d",
                       ir_node_desc(&g->nodes[i]), q->w_bits, o->prof->name, o->prof->w_bits_min,
                       o->prof->w_bits_max);
  }
  return PTQ_OK;
}

ptq_status qplan_build(const ir_graph *g, const qplan_opts *o, qplan *p) {
  memset(p, 0, sizeof *p);
  p->per_tensor = o->per_tensor;
  ptq_status st = PTQ_OK;
  p->n_nodes = g->n_nodes;
  p->n_values = g->n_values;
  p->nodes = ptq_calloc((size_t)g->n_nodes + 1, sizeof *p->nodes);
  p->point_of = ptq_malloc(((size_t)g->n_values + 1) * sizeof *p->point_of);
  if (!p->nodes || !p->point_of) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto fail;
  }
  for (int v = 0; v < g->n_values; v++) p->point_of[v] = -1;
  for (size_t e = 0; e < o->n_exclude; e++)
    if (!has_node(g, o->exclude[e])) {
      st = qplan_unknown_node(g, "--exclude", o->exclude[e]);
      goto fail;
    }
  for (size_t k = 0; o->config && k < o->config->n_layers; k++)
    if (!has_node(g, o->config->layers[k].name)) {
      st = qplan_unknown_node(g, "--config", o->config->layers[k].name);
      goto fail;
    }
  for (int i = 0; i < g->n_nodes; i++) {
    if ((st = classify(g, i, o, p)) != PTQ_OK) goto fail;
    const qlayer_cfg *lc = layer_cfg(o->config, g->nodes[i].name);
    if (lc && lc->method >= 0) p->nodes[i].a_method = lc->method;
    if (lc && lc->a_bits > 0) {
      if ((st = qprofile_check_a_bits(o->prof, "a_bits", lc->a_bits)) != PTQ_OK) {
        ptq_error_prefix(st, "--config %s: ", ir_node_desc(&g->nodes[i]));
        goto fail;
      }
      p->nodes[i].a_bits = lc->a_bits;
    }
  }
  int global_bits = o->prof->act.bits;
  if (o->config && o->config->deflt.a_bits > 0) {
    global_bits = o->config->deflt.a_bits;
    if ((st = qprofile_check_a_bits(o->prof, "a_bits", global_bits)) != PTQ_OK) {
      ptq_error_prefix(st, "--config default: ");
      goto fail;
    }
  }
  if ((st = assign_bits(g, o, p)) != PTQ_OK) goto fail;
  /* Inputs read in int8 by quantized compute nodes. */
  for (int i = 0; i < g->n_nodes && st == PTQ_OK; i++) {
    const ir_node *n = &g->nodes[i];
    const qnode *q = &p->nodes[i];
    if (q->kind == QK_WEIGHTED) {
      add_point(p, n->inputs[0], &st);
    } else if (q->kind == QK_ACT) {
      for (int k = 0; k < n->n_inputs && k < 2 && st == PTQ_OK; k++)
        add_point(p, n->inputs[k], &st);
    } else if (q->kind == QK_CONCAT) {
      int first = add_point(p, n->inputs[0], &st);
      for (int k = 1; k < n->n_inputs && st == PTQ_OK; k++) {
        int pk = add_point(p, n->inputs[k], &st);
        if (pk >= 0 && first >= 0 && o->prof->share_concat) unite(p, first, pk);
      }
      if (st == PTQ_OK && ir_graph_use_count(g, n->outputs[0]) > 0) {
        int po = add_point(p, n->outputs[0], &st);
        if (po >= 0 && first >= 0 && o->prof->share_concat) unite(p, first, po);
      }
    }
    for (int k = 0; k < n->n_inputs && st == PTQ_OK; k++) {
      if (n->inputs[k] < 0 || p->point_of[n->inputs[k]] < 0) continue;
      qpoint *pt = &p->points[p->point_of[n->inputs[k]]];
      if (q->a_method >= 0) pt->method = q->a_method;
      if (q->a_bits > pt->bits) pt->bits = q->a_bits; /* readers disagree: the widest */
    }
  }
  /* Move ops carry quantization through: an int8 input gives an int8 output (when something
   * reads it) and an int8 output needs an int8 input; both share one scale. */
  for (int changed = 1; changed && st == PTQ_OK;) {
    changed = 0;
    for (int i = 0; i < g->n_nodes && st == PTQ_OK; i++) {
      if (p->nodes[i].kind != QK_MOVE) continue;
      const int x = g->nodes[i].inputs[0], y = g->nodes[i].outputs[0];
      int px = p->point_of[x], py = p->point_of[y];
      if (px >= 0 && py < 0 && ir_graph_use_count(g, y) > 0) {
        py = add_point(p, y, &st);
        changed = 1;
      }
      if (py >= 0 && px < 0) {
        px = add_point(p, x, &st);
        changed = 1;
      }
      if (px >= 0 && py >= 0) unite(p, px, py);
    }
  }
  if (st != PTQ_OK) goto fail;
  /* One bit width per shared-scale class: the widest a member's readers asked for, else the
   * global one. */
  int *cls = ptq_calloc((size_t)p->n_points + 1, sizeof *cls);
  if (!cls) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto fail;
  }
  for (int i = 0; i < p->n_points; i++) {
    const int r = qplan_root(p, i);
    if (p->points[i].bits > cls[r]) cls[r] = p->points[i].bits;
  }
  for (int i = 0; i < p->n_points; i++) {
    const int b = cls[qplan_root(p, i)];
    p->points[i].bits = b > 0 ? b : global_bits;
  }
  free(cls);
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    qnode *q = &p->nodes[i];
    if (q->kind == QK_MOVE && p->point_of[n->inputs[0]] < 0) {
      q->kind = QK_FLOAT;
      q->why = "moves values; no quantized neighbour";
    }
    const ir_value *x = ir_in(g, n, 0);
    if ((is(n, "Relu") || is(n, "Clip")) && x && x->producer >= 0 &&
        p->point_of[n->inputs[0]] < 0 && ir_graph_use_count(g, n->inputs[0]) == 1) {
      const qkind pk = p->nodes[x->producer].kind;
      if (pk == QK_WEIGHTED || (pk == QK_ACT && is(&g->nodes[x->producer], "Add")))
        q->kind = QK_FUSED;
    }
  }
  return PTQ_OK;
fail:
  qplan_free(p);
  return st;
}

void qplan_free(qplan *p) {
  free(p->nodes);
  free(p->point_of);
  free(p->points);
  memset(p, 0, sizeof *p);
}

int qplan_max_a_bits(const qprofile *prof, const qconfig *config) {
  int b = config && config->deflt.a_bits > 0 ? config->deflt.a_bits : prof->act.bits;
  for (size_t k = 0; config && k < config->n_layers; k++)
    if (config->layers[k].a_bits > b && config->layers[k].is_float != 1)
      b = config->layers[k].a_bits;
  return b;
}

ptq_status qplan_resolve(qplan *p, const ir_graph *g, const qprofile *prof) {
  for (int i = 0; i < p->n_points; i++) {
    const qpoint *q = &p->points[i];
    if (!q->calibrated)
      return ptq_error(PTQ_ERR_INTERNAL, "tensor '%s' saw no calibration data",
                       g->values[q->value].name);
  }
  /* Union of the member ranges of each class, gathered at its root. */
  float *lo = ptq_malloc(((size_t)p->n_points + 1) * sizeof *lo);
  float *hi = ptq_malloc(((size_t)p->n_points + 1) * sizeof *hi);
  if (!lo || !hi) {
    free(lo);
    free(hi);
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  }
  for (int i = 0; i < p->n_points; i++) {
    lo[i] = p->points[i].rmin;
    hi[i] = p->points[i].rmax;
  }
  for (int i = 0; i < p->n_points; i++) {
    const int r = qplan_root(p, i);
    if (lo[i] < lo[r]) lo[r] = lo[i];
    if (hi[i] > hi[r]) hi[r] = hi[i];
  }
  ptq_status st = PTQ_OK;
  for (int i = 0; i < p->n_points && st == PTQ_OK; i++) {
    const int r = qplan_root(p, i);
    p->points[i].rmin = lo[r];
    p->points[i].rmax = hi[r];
    const ptq_qscheme s = qprofile_act_scheme(prof, p->points[i].bits);
    st = ptq_qparams_from_range(&s, lo[r], hi[r], &p->points[i].qp);
    if (st != PTQ_OK) ptq_error_prefix(st, "tensor '%s': ", g->values[p->points[i].value].name);
  }
  free(lo);
  free(hi);
  return st;
}
