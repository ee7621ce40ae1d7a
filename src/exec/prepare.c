/* Load-time preparation: overrides, validation, shape inference, constant folding, pruning. */
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"
#include "exec/lower.h"

static const char *attr_type_name(enum ir_attr_type t) {
  static const char *names[] = {"undefined", "f", "i", "s", "t", "g", "floats", "ints", "strings"};
  return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

/* Schema entries are "name:type" with type f, i, s, t, g, floats, ints or strings. */
static ptq_status check_attrs(const ir_node *n, const op_def *op) {
  for (int a = 0; a < n->n_attrs; a++) {
    const ir_attr *at = &n->attrs[a];
    const char *want = NULL;
    size_t len = strlen(at->name);
    for (const char *const *s = op->attrs; s && *s; s++)
      if (strncmp(*s, at->name, len) == 0 && (*s)[len] == ':') want = *s + len + 1;
    if (!want)
      return ptq_error(PTQ_ERR_UNSUPPORTED, "%s: attribute '%s' is not supported", ir_node_desc(n),
                       at->name);
    const char *have = attr_type_name(at->type);
    /* an INTS attribute may legally be empty and then carries no type information */
    if (strcmp(want, have) != 0)
      return ptq_error(PTQ_ERR_INVALID_MODEL, "%s: attribute '%s' must be of type %s, not %s",
                       ir_node_desc(n), at->name, want, have);
  }
  return PTQ_OK;
}

static void value_to_shape(const ir_value *v, ptq_tensor *t) {
  memset(t, 0, sizeof *t);
  t->dtype = v->dtype;
  t->rank = v->rank;
  for (int d = 0; d < PTQ_MAX_RANK && v->rank > 0 && d < v->rank; d++) t->dims[d] = v->dims[d];
  t->data = v->data ? v->data->data : NULL;
}

ptq_status exec_fold_node(const ir_graph *g, const ir_node *n, ptq_tensor **outs) {
  const op_def *op = n->op;
  ptq_tensor *in[64], shapes[16];
  if (n->n_inputs > 64 || n->n_outputs > 16) return PTQ_ERR_UNSUPPORTED;
  for (int k = 0; k < n->n_inputs; k++) {
    ir_value *v = ir_in(g, n, k);
    in[k] = v ? v->data : NULL;
  }
  op_ctx c = {.graph = g,
              .node = n,
              .opset = g->opset,
              .n_in = n->n_inputs,
              .n_out = n->n_outputs,
              .in = in,
              .out = outs};
  ptq_status st = PTQ_OK;
  for (int k = 0; k < n->n_outputs; k++) {
    memset(&shapes[k], 0, sizeof shapes[k]);
    outs[k] = n->outputs[k] >= 0 ? &shapes[k] : NULL;
  }
  if ((st = op->infer(&c)) != PTQ_OK) return st;
  for (int k = 0; k < n->n_outputs; k++) {
    outs[k] = NULL;
    if (n->outputs[k] < 0) continue;
    if (!op_shape_known(&shapes[k])) return PTQ_ERR_SHAPE;
    if ((st = ptq_tensor_create(shapes[k].dtype, shapes[k].rank, shapes[k].dims, &outs[k])))
      goto error;
  }
  if ((st = op->run(&c)) != PTQ_OK) goto error;
  return PTQ_OK;
error:
  for (int k = 0; k < n->n_outputs; k++) {
    ptq_tensor_destroy(outs[k]);
    outs[k] = NULL;
  }
  return st;
}

typedef struct prep_ctx {
  int optimize;
  int keep_qdq; /* do not fold DequantizeLinear: lowering reads the int8 data behind it */
  int64_t batch, orig_batch; /* batch override (0: none) and the batch the model declared */
} prep_ctx;

static ptq_status prepare_graph(ir_graph *g, const prep_ctx *pc);

/* Outer values of subgraphs take the current type and shape of the enclosing value. */
static void refresh_outer(ir_graph *sg) {
  for (int v = 0; v < sg->n_values; v++) {
    ir_value *val = &sg->values[v];
    if (!val->outer) continue;
    for (const ir_graph *p = sg->parent; p; p = p->parent) {
      int pv = ir_graph_find(p, val->name);
      if (pv < 0) continue;
      val->dtype = p->values[pv].dtype;
      val->rank = p->values[pv].rank;
      memcpy(val->dims, p->values[pv].dims, sizeof val->dims);
      break;
    }
  }
}

static ptq_status infer_node(ir_graph *g, int ni, const prep_ctx *pc) {
  int optimize = pc->optimize;
  ir_node *n = &g->nodes[ni];
  const op_def *op = op_find(n->op_type, n->domain, g->opset);
  if (!op) {
    if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
      return ptq_error(PTQ_ERR_UNSUPPORTED, "%s: operator domain '%s' is not supported",
                       ir_node_desc(n), n->domain);
    return ptq_error(PTQ_ERR_UNSUPPORTED, "%s: operator '%s' at opset %lld is not supported",
                     ir_node_desc(n), n->op_type, (long long)g->opset);
  }
  n->op = op;
  if (n->n_inputs < op->min_in || n->n_inputs > op->max_in || n->n_outputs < op->min_out ||
      n->n_outputs > op->max_out)
    return ptq_error(PTQ_ERR_INVALID_MODEL,
                     "%s: has %d inputs and %d outputs; %s takes %d..%d inputs and %d..%d outputs",
                     ir_node_desc(n), n->n_inputs, n->n_outputs, n->op_type, op->min_in, op->max_in,
                     op->min_out, op->max_out);
  PTQ_TRY(check_attrs(n, op));
  for (int k = 0; k < op->min_in && k < n->n_inputs; k++)
    if (n->inputs[k] < 0)
      return ptq_error(PTQ_ERR_INVALID_MODEL, "%s: required input %d is missing", ir_node_desc(n),
                       k);
  for (int a = 0; a < n->n_attrs; a++)
    if (n->attrs[a].g) {
      refresh_outer(n->attrs[a].g);
      PTQ_TRY(prepare_graph(n->attrs[a].g, pc));
    }
  ptq_tensor in_shapes[64], out_shapes[16], *in[64], *out[16];
  if (n->n_inputs > 64 || n->n_outputs > 16)
    return ptq_error(PTQ_ERR_UNSUPPORTED, "%s: too many inputs or outputs", ir_node_desc(n));
  int all_const = 1, shapes_known = 1;
  for (int k = 0; k < n->n_inputs; k++) {
    ir_value *v = ir_in(g, n, k);
    in[k] = NULL;
    if (!v) continue;
    value_to_shape(v, &in_shapes[k]);
    in[k] = &in_shapes[k];
    all_const &= v->data != NULL;
    shapes_known &= op_shape_known(&in_shapes[k]) && v->dtype != PTQ_DT_UNDEFINED;
  }
  for (int k = 0; k < n->n_outputs; k++) {
    memset(&out_shapes[k], 0, sizeof out_shapes[k]);
    out_shapes[k].rank = -1;
    out[k] = n->outputs[k] >= 0 ? &out_shapes[k] : NULL;
  }
  op_ctx c = {.graph = g,
              .node = n,
              .opset = g->opset,
              .n_in = n->n_inputs,
              .n_out = n->n_outputs,
              .in = in,
              .out = out,
              .infer_only = 1};
  PTQ_TRY(op->infer(&c));
  for (int k = 0; k < n->n_outputs; k++) {
    ir_value *v = ir_out(g, n, k);
    if (!v) continue;
    if (out_shapes[k].dtype != PTQ_DT_UNDEFINED || !v->has_type) v->dtype = out_shapes[k].dtype;
    if (out_shapes[k].rank >= 0) {
      /* A declared dim fills a dim inference could not determine; inferred dims win. */
      for (int d = 0; d < out_shapes[k].rank; d++)
        if (out_shapes[k].dims[d] < 0 && v->rank == out_shapes[k].rank && v->dims[d] >= 0)
          out_shapes[k].dims[d] = v->dims[d];
      v->rank = out_shapes[k].rank;
      memcpy(v->dims, out_shapes[k].dims, sizeof v->dims);
    }
    if (v->dtype != PTQ_DT_UNDEFINED) v->has_type = 1;
  }
  const int dq = strcmp(n->op_type, "DequantizeLinear") == 0;
  int fold = optimize && !op->no_fold && !op->self_alloc && !(pc->keep_qdq && dq) &&
             (all_const || (op->shape_only && shapes_known));
  if (!fold) return PTQ_OK;
  ptq_tensor *res[16] = {0};
  if (op->shape_only && !all_const) {
    /* Shape/Size read only the input's shape: fold with a shape-only input. */
    for (int k = 0; k < n->n_outputs; k++) {
      if (n->outputs[k] < 0) continue;
      PTQ_TRY(
          ptq_tensor_create(out_shapes[k].dtype, out_shapes[k].rank, out_shapes[k].dims, &res[k]));
    }
    c.infer_only = 0;
    for (int k = 0; k < n->n_outputs; k++) out[k] = res[k];
    ptq_status st = op->run(&c);
    if (st != PTQ_OK) {
      for (int k = 0; k < n->n_outputs; k++) ptq_tensor_destroy(res[k]);
      return st;
    }
  } else {
    PTQ_TRY(exec_fold_node(g, n, res));
  }
  for (int k = 0; k < n->n_outputs; k++) {
    ir_value *v = ir_out(g, n, k);
    if (v) {
      ptq_tensor_destroy(v->data);
      v->data = res[k];
    }
  }
  return PTQ_OK;
}

/* Marks values read by any subgraph (by name) of the nodes of g. */
static void mark_outer_uses(const ir_graph *g, const ir_graph *sg, char *used) {
  for (int v = 0; v < sg->n_values; v++) {
    if (!sg->values[v].outer) continue;
    int pv = ir_graph_find(g, sg->values[v].name);
    if (pv >= 0) used[pv] = 1;
  }
  for (int i = 0; i < sg->n_nodes; i++)
    for (int a = 0; a < sg->nodes[i].n_attrs; a++)
      if (sg->nodes[i].attrs[a].g) mark_outer_uses(g, sg->nodes[i].attrs[a].g, used);
}

/* Bypasses Identity and Dropout (inference mode) by rewiring their consumers. */
static void bypass_identities(ir_graph *g, const char *outer_used) {
  for (int i = 0; i < g->n_nodes; i++) {
    ir_node *n = &g->nodes[i];
    if (strcmp(n->op_type, "Identity") != 0 && strcmp(n->op_type, "Dropout") != 0) continue;
    if (n->n_inputs < 1 || n->inputs[0] < 0 || n->outputs[0] < 0) continue;
    if (n->n_outputs > 1 && n->outputs[1] >= 0) continue; /* Dropout mask is used */
    int src = n->inputs[0], dst = n->outputs[0];
    if (g->values[dst].is_output || outer_used[dst]) continue;
    for (int j = 0; j < g->n_nodes; j++)
      for (int k = 0; k < g->nodes[j].n_inputs; k++)
        if (g->nodes[j].inputs[k] == dst) g->nodes[j].inputs[k] = src;
  }
}

static ptq_status prune(ir_graph *g) {
  char *used = ptq_calloc((size_t)g->n_values, 1);
  char *keep = ptq_calloc((size_t)g->n_nodes, 1);
  if (!used || !keep) {
    free(used);
    free(keep);
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  }
  for (int i = 0; i < g->n_nodes; i++)
    for (int a = 0; a < g->nodes[i].n_attrs; a++)
      if (g->nodes[i].attrs[a].g) mark_outer_uses(g, g->nodes[i].attrs[a].g, used);
  bypass_identities(g, used);
  for (int i = 0; i < g->n_outputs; i++) used[g->outputs[i]] = 1;
  /* Walk backwards: a node is live if it computes a used value that is not already constant. */
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    ir_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_outputs; k++) {
      int v = n->outputs[k];
      if (v >= 0 && used[v] && !g->values[v].data) keep[i] = 1;
    }
    if (!keep[i]) continue;
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] >= 0) used[n->inputs[k]] = 1;
    for (int a = 0; a < n->n_attrs; a++)
      if (n->attrs[a].g) mark_outer_uses(g, n->attrs[a].g, used);
  }
  int w = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (keep[i]) {
      g->nodes[w++] = g->nodes[i];
    } else {
      for (int k = 0; k < g->nodes[i].n_outputs; k++)
        if (g->nodes[i].outputs[k] >= 0) g->values[g->nodes[i].outputs[k]].producer = -1;
      ir_node_clear(&g->nodes[i]);
    }
  }
  g->n_nodes = w;
  for (int v = 0; v < g->n_values; v++) {
    ir_value *val = &g->values[v];
    if (val->data && !used[v] && !val->is_input) {
      ptq_tensor_destroy(val->data);
      val->data = NULL;
      val->is_initializer = 0;
    }
    if (val->data) val->producer = -1;
  }
  free(used);
  free(keep);
  return ir_graph_toposort(g);
}

/* True if every consumer of value v also reads a value of the given rank whose first dim is
 * `batch` (so a constant shape feeding v is a batch-1 leftover of the export). */
static int consumers_batched(const ir_graph *g, int v, int rank, int64_t batch) {
  int seen = 0;
  for (int j = 0; j < g->n_nodes; j++) {
    const ir_node *n = &g->nodes[j];
    int reads = 0, other = 0;
    for (int k = 0; k < n->n_inputs; k++) {
      int u = n->inputs[k];
      if (u == v)
        reads = 1;
      else if (u >= 0 && g->values[u].rank == rank && g->values[u].dims[0] == batch)
        other = 1;
    }
    if (reads && !other) return 0;
    seen |= reads;
  }
  return seen;
}

/* With a batch override, models exported with a fixed batch keep it in constant shapes. A
 * Reshape whose target starts with the declared batch while its input carries the new one, and
 * a ConstantOfShape/Expand whose shape starts with it while all its consumers combine it with
 * batched values, get their own copy of the shape with the new batch. */
static ptq_status rebatch_shape(ir_graph *g, int ni, const prep_ctx *pc) {
  ir_node *n = &g->nodes[ni];
  if (pc->batch <= 0 || pc->orig_batch < 0 || pc->batch == pc->orig_batch) return PTQ_OK;
  int reshape = strcmp(n->op_type, "Reshape") == 0, expand = strcmp(n->op_type, "Expand") == 0;
  int cos = strcmp(n->op_type, "ConstantOfShape") == 0;
  int si = cos ? 0 : 1;
  if (!(reshape || expand || cos) || n->n_inputs <= si || n->inputs[si] < 0 || n->outputs[0] < 0)
    return PTQ_OK;
  const ptq_tensor *shape = g->values[n->inputs[si]].data;
  if (!shape || shape->dtype != PTQ_DT_INT64 || shape->rank != 1 || shape->dims[0] < 1 ||
      ((const int64_t *)shape->data)[0] != pc->orig_batch)
    return PTQ_OK;
  if (reshape) {
    const ir_value *x = &g->values[n->inputs[0]];
    if (x->rank < 1 || x->dims[0] != pc->batch) return PTQ_OK;
  } else if (!consumers_batched(g, n->outputs[0], (int)shape->dims[0], pc->batch)) {
    return PTQ_OK;
  }
  char *name =
      ptq_asprintf("%s__ptq_batch%lld", g->values[n->inputs[si]].name, (long long)pc->batch);
  if (!name) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  int v = ir_graph_find(g, name);
  if (v < 0) {
    ptq_tensor *t;
    ptq_status st = ir_tensor_clone(shape, &t);
    if (st == PTQ_OK && (v = ir_graph_add_value(g, name)) < 0) {
      ptq_tensor_destroy(t);
      st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    }
    if (st != PTQ_OK) {
      free(name);
      return st;
    }
    ((int64_t *)t->data)[0] = pc->batch;
    ir_value *val = &g->values[v];
    val->data = t;
    val->is_initializer = 1;
    val->has_type = 1;
    val->dtype = t->dtype;
    val->rank = 1;
    val->dims[0] = t->dims[0];
  }
  free(name);
  g->nodes[ni].inputs[si] = v;
  return PTQ_OK;
}

static ptq_status prepare_graph(ir_graph *g, const prep_ctx *pc) {
  int optimize = pc->optimize;
  PTQ_TRY(ir_graph_toposort(g));
  for (int i = 0; i < g->n_nodes; i++) {
    PTQ_TRY(rebatch_shape(g, i, pc));
    PTQ_TRY(infer_node(g, i, pc));
  }
  for (int i = 0; i < g->n_outputs; i++) {
    const ir_value *v = &g->values[g->outputs[i]];
    if (v->dtype == PTQ_DT_UNDEFINED && !v->outer)
      return ptq_error(PTQ_ERR_INVALID_MODEL, "graph output '%s' has no known type", v->name);
  }
  if (optimize) PTQ_TRY(prune(g));
  return PTQ_OK;
}

static ptq_status parse_dims(const char *spec, int *rank, int64_t *dims) {
  int r = 0;
  const char *p = spec;
  while (*p) {
    if (r == PTQ_MAX_RANK) return PTQ_ERR_INVALID_ARG;
    char *end;
    long long d = strtoll(p, &end, 10);
    if (end == p || d < 0 || d > ((int64_t)1 << 32)) return PTQ_ERR_INVALID_ARG;
    dims[r++] = d;
    p = end;
    if (*p == 'x' || *p == 'X' || *p == ',')
      p++;
    else if (*p)
      return PTQ_ERR_INVALID_ARG;
  }
  if (r == 0) return PTQ_ERR_INVALID_ARG;
  *rank = r;
  return PTQ_OK;
}

static ptq_status apply_overrides(ir_graph *g, const ptq_load_options *opts) {
  if (!opts) return PTQ_OK;
  if (opts->batch < 0)
    return ptq_error(PTQ_ERR_INVALID_ARG, "batch must be positive, got %lld",
                     (long long)opts->batch);
  if (opts->batch > 0) {
    for (int i = 0; i < g->n_inputs; i++) {
      ir_value *v = &g->values[g->inputs[i]];
      if (v->rank >= 1) v->dims[0] = opts->batch;
    }
    for (int i = 0; i < g->n_values; i++) { /* declared intermediate shapes are stale now */
      ir_value *v = &g->values[i];
      if (!v->is_input && !v->data && v->rank >= 1) v->dims[0] = -1;
    }
  }
  for (size_t s = 0; s < opts->n_shapes; s++) {
    const char *spec = opts->shapes[s];
    const char *eq = spec ? strrchr(spec, '=') : NULL;
    if (!eq)
      return ptq_error(PTQ_ERR_INVALID_ARG, "shape override '%s' must be NAME=DIMS",
                       spec ? spec : "");
    char *name = ptq_strndup(spec, (size_t)(eq - spec));
    if (!name) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
    int v = ir_graph_find(g, name);
    if (v < 0 || !g->values[v].is_input || g->values[v].is_initializer) {
      ptq_status st =
          ptq_error(PTQ_ERR_INVALID_ARG, "shape override: model has no input '%s'", name);
      free(name);
      return st;
    }
    free(name);
    int rank;
    int64_t dims[PTQ_MAX_RANK];
    if (parse_dims(eq + 1, &rank, dims) != PTQ_OK)
      return ptq_error(PTQ_ERR_INVALID_ARG, "shape override '%s': dims must look like 1x3x640x640",
                       spec);
    ir_value *val = &g->values[v];
    if (val->rank >= 0 && val->rank != rank)
      return ptq_error(PTQ_ERR_SHAPE, "shape override '%s': input '%s' has rank %d", spec,
                       val->name, val->rank);
    for (int d = 0; d < rank; d++)
      if (val->rank >= 0 && val->dims[d] >= 0 && val->dims[d] != dims[d] &&
          !(d == 0 && opts->batch > 0))
        return ptq_error(PTQ_ERR_SHAPE,
                         "shape override '%s': dimension %d of input '%s' is fixed to %lld", spec,
                         d, val->name, (long long)val->dims[d]);
    val->rank = rank;
    memcpy(val->dims, dims, sizeof dims);
    if (opts->batch > 0) val->dims[0] = opts->batch;
  }
  return PTQ_OK;
}

/* FLOAT engine: readers of DQ(Q(x)) on activations read x instead (pruning then drops the
 * pair); weight DQs fold into float constants when the graph is prepared again. */
static void strip_qdq(ir_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *dq = &g->nodes[i];
    if (strcmp(dq->op_type, "DequantizeLinear") != 0 || dq->inputs[0] < 0 || dq->outputs[0] < 0)
      continue;
    const int p = g->values[dq->inputs[0]].producer;
    if (p < 0 || strcmp(g->nodes[p].op_type, "QuantizeLinear") != 0) continue;
    const int src = g->nodes[p].inputs[0], dst = dq->outputs[0];
    if (src < 0 || g->values[src].data || g->values[dst].is_output) continue;
    for (int j = 0; j < g->n_nodes; j++)
      for (int k = 0; k < g->nodes[j].n_inputs; k++)
        if (g->nodes[j].inputs[k] == dst) g->nodes[j].inputs[k] = src;
  }
}

static int has_qdq(const ir_graph *g) {
  for (int i = 0; i < g->n_nodes; i++)
    if (strcmp(g->nodes[i].op_type, "QuantizeLinear") == 0 ||
        strcmp(g->nodes[i].op_type, "DequantizeLinear") == 0)
      return 1;
  return 0;
}

/* Every graph input and output has a leading dimension of 1: a batch of images can run one
 * image at a time. */
static int batch_separable(const ir_graph *g) {
  for (int i = 0; i < g->n_inputs; i++)
    if (g->values[g->inputs[i]].rank < 1 || g->values[g->inputs[i]].dims[0] != 1) return 0;
  for (int i = 0; i < g->n_outputs; i++)
    if (g->values[g->outputs[i]].rank < 1 || g->values[g->outputs[i]].dims[0] != 1) return 0;
  return g->n_inputs > 0;
}

ptq_status exec_prepare_model(ptq_model *m, const ptq_load_options *opts) {
  ptq_engine engine = opts ? opts->engine : PTQ_ENGINE_AUTO;
  if ((unsigned)engine > PTQ_ENGINE_FLOAT)
    return ptq_error(PTQ_ERR_INVALID_ARG, "unknown engine %d", (int)engine);
  prep_ctx pc = {.optimize = !(opts && opts->no_optimize), .batch = opts ? opts->batch : 0};
  if (!pc.optimize) engine = PTQ_ENGINE_SIM;
  pc.keep_qdq = engine != PTQ_ENGINE_SIM;
  ir_graph *g = m->graph;
  pc.orig_batch =
      (g->n_inputs && g->values[g->inputs[0]].rank >= 1) ? g->values[g->inputs[0]].dims[0] : -1;
  /* The int8 engine runs a batch of a batch-1 model image by image (the activations of one
   * image stay in cache; threads take images): prepare at batch 1, apply the batch later if
   * the graph does not lower or is not separable. */
  const int micro = (engine == PTQ_ENGINE_INT8 || engine == PTQ_ENGINE_AUTO) && pc.batch > 1 &&
                    pc.orig_batch == 1 && has_qdq(g);
  ptq_load_options later;
  if (micro) {
    later = *opts;
    later.n_shapes = 0;
    ptq_load_options now = *opts;
    now.batch = 0;
    PTQ_TRY(apply_overrides(g, &now));
    pc.batch = 0;
  } else {
    PTQ_TRY(apply_overrides(g, opts));
  }
  PTQ_TRY(prepare_graph(g, &pc));
  memset(&m->engine, 0, sizeof m->engine);
  m->engine.engine = PTQ_ENGINE_SIM;
  m->micro_batch = 0;
  if (engine == PTQ_ENGINE_SIM) return PTQ_OK;
  const int quantized = has_qdq(g);
  if (engine == PTQ_ENGINE_FLOAT || (engine == PTQ_ENGINE_AUTO && !quantized)) {
    if (quantized) {
      strip_qdq(g);
      m->lowered = 1;
    }
    m->engine.engine = PTQ_ENGINE_FLOAT;
    return exec_reprepare_model(m);
  }
  exec_lower_stats ls;
  PTQ_TRY(exec_lower_int8(m, &ls));
  const int lowered = ls.int8_nodes > 0 || ls.boundary_nodes > 0;
  if (micro) {
    if (lowered && batch_separable(g)) {
      m->micro_batch = later.batch;
    } else { /* the batch as the user asked, the usual way */
      PTQ_TRY(apply_overrides(g, &later));
      pc.batch = later.batch;
      PTQ_TRY(prepare_graph(g, &pc));
    }
  }
  if (!lowered) {
    if (engine == PTQ_ENGINE_AUTO) return PTQ_OK; /* runs as the simulation */
    return ptq_error(PTQ_ERR_UNSUPPORTED,
                     "the int8 engine needs quantized activations (per-tensor int8/uint8 "
                     "QuantizeLinear/DequantizeLinear of rank 2 or 4); this model has none");
  }
  m->engine.engine = PTQ_ENGINE_INT8;
  m->engine.int8_nodes = ls.int8_nodes;
  m->engine.boundary_nodes = ls.boundary_nodes;
  m->engine.float_nodes = ls.float_nodes;
  return PTQ_OK;
}

ptq_status exec_reprepare_model(ptq_model *m) {
  prep_ctx pc = {.optimize = 1, .batch = 0, .orig_batch = -1};
  return prepare_graph(m->graph, &pc);
}
