#define _POSIX_C_SOURCE 200809L
#include <math.h>
#ifdef __linux__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "exec/exec.h"
#include "util/pool.h"

#define MAX_NODE_IO 4096

static void prep_destroy(exec_prep *ep) {
  if (!ep) return;
  ptq_conv2d_packed_free(ep->p.packed);
  if (ep->p.state_free) ep->p.state_free(ep->p.state);
  ptq_tensor_destroy(ep->own_w);
  ptq_tensor_destroy(ep->own_b);
  free(ep);
}

static void plan_destroy(exec_plan *p) {
  if (!p) return;
  if (p->prep)
    for (int i = 0; i < p->g->n_nodes; i++) prep_destroy(p->prep[i]);
  free(p->prep);
  free(p->pass);
  free(p->last_use);
  free(p->outer_idx);
  free(p);
}

/* ------------------------------------------------------------- fusion --- */

static int op_is(const ir_node *n, const char *name) {
  return n->op && strcmp(n->op->name, name) == 0;
}

static int is_f32(const ptq_tensor *t) {
  return t && t->dtype == PTQ_DT_FLOAT;
}

/* The node that is the only reader of computed value v, reading it as input 0, when v is not
 * a graph output and no subgraph reads it; else -1. readers[v] counts input slots. */
static int sole_consumer(const ir_graph *g, const exec_plan *p, const int *readers, int v) {
  if (v < 0 || readers[v] != 1 || g->values[v].data || p->last_use[v] == INT32_MAX) return -1;
  const int j = p->last_use[v];
  if (j < 0 || j >= g->n_nodes) return -1;
  const ir_node *c = &g->nodes[j];
  if (c->n_inputs < 1 || c->inputs[0] != v || c->n_outputs < 1 || c->outputs[0] < 0) return -1;
  for (int k = 1; k < c->n_outputs; k++)
    if (c->outputs[k] >= 0) return -1;
  return j;
}

/* The activation node n as a fused epilogue; 0 if n is not one that can be fused. */
static int act_of(const ir_graph *g, const ir_node *n, ptq_act *act) {
  memset(act, 0, sizeof *act);
  if (op_is(n, "Relu")) {
    act->kind = PTQ_ACT_RELU;
    return 1;
  }
  if (op_is(n, "LeakyRelu")) {
    act->kind = PTQ_ACT_LEAKY;
    act->alpha = ir_attr_float(n, "alpha", 0.01f);
    return 1;
  }
  if (!op_is(n, "Clip")) return 0;
  act->kind = PTQ_ACT_CLIP;
  act->lo = -INFINITY;
  act->hi = INFINITY;
  if (g->opset < 11) {
    act->lo = ir_attr_float(n, "min", -3.402823e+38f);
    act->hi = ir_attr_float(n, "max", 3.402823e+38f);
    return 1;
  }
  for (int k = 1; k < 3; k++) {
    const ir_value *v = ir_in(g, n, k);
    if (!v) continue;
    double d;
    if (!is_f32(v->data) || ptq_tensor_numel(v->data) != 1 || !op_read_scalar(v->data, &d))
      return 0;
    if (k == 1)
      act->lo = (float)d;
    else
      act->hi = (float)d;
  }
  return 1;
}

/* Folds BatchNormalization node bn (inference mode, constant float parameters of c_out
 * entries) into the constant weights and bias of Conv node cv: with s = scale / sqrtf(var +
 * eps) and t = B - mean * s as BatchNormalization computes them, w' = w * s[oc] and
 * b' = b * s + t. Returns 0 (nothing allocated) when the pattern does not apply. */
static ptq_status fold_bn(const ir_graph *g, const ir_node *cv, const ir_node *bn, exec_prep *ep,
                          int *folded) {
  *folded = 0;
  const ir_value *wv = ir_in(g, cv, 1), *bv = ir_in(g, cv, 2);
  if (!wv || !is_f32(wv->data) || wv->data->rank < 3 || (bv && !is_f32(bv->data))) return PTQ_OK;
  if (bn->n_inputs != 5 || ir_attr_int(bn, "training_mode", 0) != 0) return PTQ_OK;
  if (g->opset < 9 && ir_attr_int(bn, "spatial", 1) != 1) return PTQ_OK;
  const int64_t c_out = wv->data->dims[0];
  if (bv && (bv->data->rank != 1 || bv->data->dims[0] != c_out)) return PTQ_OK;
  const float *prm[4];
  for (int k = 1; k < 5; k++) {
    const ir_value *v = ir_in(g, bn, k);
    if (!v || !is_f32(v->data) || v->data->rank != 1 || v->data->dims[0] != c_out) return PTQ_OK;
    prm[k - 1] = v->data->data;
  }
  const float eps = ir_attr_float(bn, "epsilon", 1e-5f);
  PTQ_TRY(ir_tensor_clone(wv->data, &ep->own_w));
  const int64_t dims[1] = {c_out};
  PTQ_TRY(ptq_tensor_create(PTQ_DT_FLOAT, 1, dims, &ep->own_b));
  float *w = ep->own_w->data, *b = ep->own_b->data;
  const float *b0 = bv ? bv->data->data : NULL;
  const int64_t per = ptq_tensor_numel(wv->data) / (c_out > 0 ? c_out : 1);
  for (int64_t oc = 0; oc < c_out; oc++) {
    const float sc = prm[0][oc] / sqrtf(prm[3][oc] + eps), t = prm[1][oc] - prm[2][oc] * sc;
    for (int64_t i = 0; i < per; i++) w[oc * per + i] *= sc;
    b[oc] = (b0 ? b0[oc] : 0.0f) * sc + t;
  }
  ep->p.w = ep->own_w;
  ep->p.b = ep->own_b;
  *folded = 1;
  return PTQ_OK;
}

/* Session-level fusion, leaving the IR as it is: a Conv with constant weights absorbs a
 * following BatchNormalization; a Conv, ConvTranspose or Gemm absorbs a following Relu,
 * LeakyRelu or Clip with constant bounds; in each case only when the intermediate value has
 * that node as its only reader and is not a graph output. Absorbed nodes are marked pass. Conv
 * nodes with constant weights get their weights packed. */
static ptq_status plan_fuse(exec_plan *p) {
  const ir_graph *g = p->g;
  int *readers = ptq_calloc((size_t)g->n_values + 1, sizeof *readers);
  if (!readers) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      if (g->nodes[i].inputs[k] >= 0) readers[g->nodes[i].inputs[k]]++;
  for (int i = 0; i < g->n_nodes; i++)
    for (int a = 0; a < g->nodes[i].n_attrs; a++) {
      const ir_graph *sg = g->nodes[i].attrs[a].g;
      for (int v = 0; sg && v < sg->n_values; v++) {
        int pv = sg->values[v].outer ? ir_graph_find(g, sg->values[v].name) : -1;
        if (pv >= 0) readers[pv] += 2;
      }
    }
  ptq_status st = PTQ_OK;
  for (int i = 0; i < g->n_nodes && st == PTQ_OK; i++) {
    const ir_node *n = &g->nodes[i];
    const int conv = op_is(n, "Conv");
    if (p->pass[i] || (!conv && !op_is(n, "ConvTranspose") && !op_is(n, "Gemm"))) continue;
    if (n->n_outputs < 1 || n->outputs[0] < 0 || g->values[n->outputs[0]].dtype != PTQ_DT_FLOAT)
      continue;
    const ir_value *wv = ir_in(g, n, 1);
    const int const_w = conv && wv && is_f32(wv->data);
    exec_prep *ep = calloc(1, sizeof *ep);
    if (!ep) {
      st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
      break;
    }
    int v = n->outputs[0], j = sole_consumer(g, p, readers, v);
    if (const_w && j >= 0 && op_is(&g->nodes[j], "BatchNormalization")) {
      int folded;
      if ((st = fold_bn(g, n, &g->nodes[j], ep, &folded)) != PTQ_OK) {
        prep_destroy(ep);
        break;
      }
      if (folded) {
        p->pass[j] = 1;
        v = g->nodes[j].outputs[0];
        j = sole_consumer(g, p, readers, v);
      }
    }
    if (j >= 0 && act_of(g, &g->nodes[j], &ep->p.act)) p->pass[j] = 1;
    if (const_w) st = op_conv_prepare(g, n, &ep->p);
    if (ep->p.w || ep->p.packed || ep->p.act.kind != PTQ_ACT_NONE)
      p->prep[i] = ep;
    else
      prep_destroy(ep);
  }
  free(readers);
  return st;
}

static ptq_status plan_create(const ir_graph *g, int fuse, exec_plan **out) {
  exec_plan *p = calloc(1, sizeof *p);
  if (!p) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  p->g = g;
  p->last_use = ptq_malloc((size_t)g->n_values * sizeof(int));
  p->outer_idx = ptq_malloc((size_t)g->n_values * sizeof(int));
  if (!p->last_use || !p->outer_idx) {
    plan_destroy(p);
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  }
  for (int v = 0; v < g->n_values; v++) {
    p->last_use[v] = -1;
    p->outer_idx[v] = -1;
    if (g->values[v].outer && g->parent)
      p->outer_idx[v] = ir_graph_find(g->parent, g->values[v].name);
  }
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      if (g->nodes[i].inputs[k] >= 0) p->last_use[g->nodes[i].inputs[k]] = i;
  /* Values read by subgraphs (by name) live until the node owning the subgraph is done. */
  for (int i = 0; i < g->n_nodes; i++)
    for (int a = 0; a < g->nodes[i].n_attrs; a++) {
      const ir_graph *sg = g->nodes[i].attrs[a].g;
      if (!sg) continue;
      for (int v = 0; v < sg->n_values; v++) {
        if (!sg->values[v].outer) continue;
        int pv = ir_graph_find(g, sg->values[v].name);
        if (pv >= 0 && p->last_use[pv] < i) p->last_use[pv] = i;
      }
    }
  for (int i = 0; i < g->n_outputs; i++) p->last_use[g->outputs[i]] = INT32_MAX;
  p->prep = ptq_calloc((size_t)g->n_nodes + 1, sizeof *p->prep);
  p->pass = ptq_calloc((size_t)g->n_nodes + 1, 1);
  ptq_status st = !p->prep || !p->pass ? ptq_error(PTQ_ERR_NOMEM, "out of memory")
                  : fuse               ? plan_fuse(p)
                                       : PTQ_OK;
  for (int i = 0; i < g->n_nodes && st == PTQ_OK; i++) {
    const ir_node *n = &g->nodes[i];
    if (strcmp(n->domain, OP_INT8_DOMAIN) != 0) continue;
    if (!p->prep[i] && !(p->prep[i] = calloc(1, sizeof *p->prep[i]))) {
      st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
      break;
    }
    if ((st = op_int8_prepare(g, n, &p->prep[i]->p)) != PTQ_OK)
      ptq_error_prefix(st, "%s: ", ir_node_desc(n));
  }
  if (st != PTQ_OK) {
    plan_destroy(p);
    return st;
  }
  *out = p;
  return PTQ_OK;
}

static ptq_status add_plans(ptq_session *s, const ir_graph *g) {
  exec_plan **np = ptq_realloc_array(s->plans, (size_t)s->n_plans + 1, sizeof *np);
  if (!np) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  s->plans = np;
  PTQ_TRY(plan_create(g, !s->hooks.no_fuse, &s->plans[s->n_plans]));
  s->n_plans++;
  for (int i = 0; i < g->n_nodes; i++)
    for (int a = 0; a < g->nodes[i].n_attrs; a++)
      if (g->nodes[i].attrs[a].g) PTQ_TRY(add_plans(s, g->nodes[i].attrs[a].g));
  return PTQ_OK;
}

ptq_status ptq_session_create(const ptq_model *model, const ptq_session_options *opts,
                              ptq_session **out) {
  return exec_session_create(model, opts, NULL, out);
}

ptq_status exec_session_create(const ptq_model *model, const ptq_session_options *opts,
                               const exec_hooks *hooks, ptq_session **out) {
  if (!model || !out) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  *out = NULL;
  ptq_session *s = calloc(1, sizeof *s);
  if (!s) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  s->model = model;
  s->threads = opts ? opts->threads : 0;
  if (hooks) s->hooks = *hooks;
  ptq_status st = add_plans(s, model->graph);
  if (st != PTQ_OK) {
    ptq_session_destroy(s);
    return st;
  }
  *out = s;
  return PTQ_OK;
}

void ptq_session_destroy(ptq_session *s) {
  if (!s) return;
  for (int i = 0; i < s->pool.n; i++) free(s->pool.bufs[i]);
  free(s->pool.bufs);
  free(s->pool.caps);
  for (int i = 0; i < s->n_workers; i++) ptq_session_destroy(s->workers[i]);
  free(s->workers);
  if (!s->borrowed_plans) {
    for (int i = 0; i < s->n_plans; i++) plan_destroy(s->plans[i]);
    free(s->plans);
  }
  free(s->scratch);
  free(s->prof_ms);
  free(s->prof_out);
  free(s);
}

ptq_tensor *exec_frame_get(exec_frame *f, int v) {
  const ir_value *val = &f->plan->g->values[v];
  if (val->data) return val->data;
  if (val->outer) {
    int pv = f->plan->outer_idx[v];
    return (f->parent && pv >= 0) ? exec_frame_get(f->parent, pv) : NULL;
  }
  return f->vals[v];
}

#define POOL_MAX 64

/* Takes the smallest pooled buffer of at least `bytes` (NULL if none). */
static void *pool_take(exec_pool *p, size_t bytes) {
  int best = -1;
  for (int i = 0; i < p->n; i++)
    if (p->caps[i] >= bytes && (best < 0 || p->caps[i] < p->caps[best])) best = i;
  if (best < 0) return NULL;
  void *b = p->bufs[best];
  p->n--;
  p->bufs[best] = p->bufs[p->n];
  p->caps[best] = p->caps[p->n];
  return b;
}

/* Bytes usable in buffer b (allocated by malloc and friends) that holds a tensor of `used`
 * bytes. A pooled buffer may be larger than the tensor it was last lent to; recording only the
 * tensor's size would shrink the pool's buffers run after run and miss on the large tensors. */
static size_t buf_capacity(void *b, size_t used) {
#ifdef __GLIBC__
  const size_t u = malloc_usable_size(b);
  return u > used ? u : used;
#else
  (void)b;
  return used;
#endif
}

/* Keeps t's data for reuse (or frees it) and frees t. */
static void pool_put(exec_pool *p, ptq_tensor *t) {
  if (!t) return;
  if (t->owns_data && t->data) {
    size_t bytes = buf_capacity(t->data, (size_t)ptq_tensor_numel(t) * ptq_dtype_size(t->dtype));
    if (p->n == p->cap && p->cap < POOL_MAX) {
      int cap = p->cap ? p->cap * 2 : 16;
      void **b = ptq_realloc_array(p->bufs, (size_t)cap, sizeof *b);
      if (b) p->bufs = b;
      size_t *c = b ? ptq_realloc_array(p->caps, (size_t)cap, sizeof *c) : NULL;
      if (c) p->caps = c;
      if (b && c) p->cap = cap;
    }
    if (p->n < p->cap && bytes >= 4096) {
      p->bufs[p->n] = t->data;
      p->caps[p->n++] = bytes;
      t->data = NULL;
    }
  }
  ptq_tensor_destroy(t);
}

/* Creates an uninitialised tensor, reusing a pooled buffer when one is large enough. */
static ptq_status pool_tensor(exec_pool *p, const ptq_tensor *shape, ptq_tensor **out) {
  size_t bytes = (size_t)ptq_tensor_numel(shape) * ptq_dtype_size(shape->dtype);
  void *buf = bytes >= 4096 ? pool_take(p, bytes) : NULL;
  if (!buf) return ptq_tensor_create(shape->dtype, shape->rank, shape->dims, out);
  ptq_tensor *t = calloc(1, sizeof *t);
  if (!t) {
    free(buf);
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  }
  t->dtype = shape->dtype;
  t->rank = shape->rank;
  memcpy(t->dims, shape->dims, sizeof t->dims);
  t->data = buf;
  t->owns_data = 1;
  *out = t;
  return PTQ_OK;
}

static void frame_release(exec_frame *f, int v) {
  if (f->owned[v]) pool_put(&f->sess->pool, f->vals[v]);
  f->vals[v] = NULL;
  f->owned[v] = 0;
}

float *op_scratch(op_ctx *c, size_t n, float **to_free) {
  *to_free = NULL;
  if (n == 0) return NULL;
  ptq_session *s = c->frame ? c->frame->sess : NULL;
  if (!s) return *to_free = ptq_malloc(n * sizeof(float));
  if (s->scratch_cap < n) {
    free(s->scratch);
    s->scratch = ptq_malloc(n * sizeof(float));
    s->scratch_cap = s->scratch ? n : 0;
  }
  return s->scratch;
}

/* A node fused into its producer: its input 0 (the producer's output, owned by the frame and
 * read by no one else) becomes its output 0. */
static ptq_status pass_node(exec_frame *f, const ir_node *n) {
  const int vi = n->inputs[0], vo = n->outputs[0];
  ptq_tensor *t = exec_frame_get(f, vi);
  if (!t) return ptq_error(PTQ_ERR_INTERNAL, "%s: input has no value", ir_node_desc(n));
  if (f->owned[vi]) {
    f->vals[vi] = NULL;
    f->owned[vi] = 0;
  } else {
    PTQ_TRY(ir_tensor_clone(t, &t));
  }
  frame_release(f, vo);
  f->vals[vo] = t;
  f->owned[vo] = 1;
  return PTQ_OK;
}

ptq_status exec_node(exec_frame *f, int ni) {
  const ir_graph *g = f->plan->g;
  const ir_node *n = &g->nodes[ni];
  if (f->plan->pass[ni]) return pass_node(f, n);
  const op_def *op = n->op;
  ptq_tensor *in_buf[16], *out_buf[16], shape_buf[16];
  ptq_tensor **in = in_buf, **outs = out_buf, *shapes = shape_buf;
  ptq_status st = PTQ_OK;
  if (n->n_inputs > 16 || n->n_outputs > 16) {
    in = ptq_calloc((size_t)n->n_inputs, sizeof *in);
    outs = ptq_calloc((size_t)n->n_outputs, sizeof *outs);
    shapes = ptq_calloc((size_t)n->n_outputs, sizeof *shapes);
    if (!in || !outs || !shapes) {
      st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
      goto done;
    }
  }
  for (int k = 0; k < n->n_inputs; k++) {
    in[k] = n->inputs[k] >= 0 ? exec_frame_get(f, n->inputs[k]) : NULL;
    if (n->inputs[k] >= 0 && !in[k]) {
      st = ptq_error(PTQ_ERR_INTERNAL, "%s: input '%s' has no value", ir_node_desc(n),
                     g->values[n->inputs[k]].name);
      goto done;
    }
  }
  op_ctx c = {.graph = g,
              .node = n,
              .opset = g->opset,
              .n_in = n->n_inputs,
              .n_out = n->n_outputs,
              .in = in,
              .out = outs,
              .frame = f,
              .prep = f->plan->prep[ni] ? &f->plan->prep[ni]->p : NULL};
  for (int k = 0; k < n->n_outputs; k++) outs[k] = NULL;
  if (!op->self_alloc) {
    for (int k = 0; k < n->n_outputs; k++) {
      memset(&shapes[k], 0, sizeof shapes[k]);
      outs[k] = n->outputs[k] >= 0 ? &shapes[k] : NULL;
    }
    st = op->infer(&c);
    for (int k = 0; k < n->n_outputs; k++) outs[k] = NULL; /* they pointed at shapes[] */
    if (st != PTQ_OK) goto done;
    for (int k = 0; k < n->n_outputs; k++) {
      if (n->outputs[k] < 0) continue;
      if (!op_shape_known(&shapes[k])) {
        st = ptq_error(PTQ_ERR_INTERNAL, "%s: output %d shape unknown at run time", ir_node_desc(n),
                       k);
        goto done;
      }
      if ((st = pool_tensor(&f->sess->pool, &shapes[k], &outs[k])) != PTQ_OK) {
        ptq_error_prefix(st, "%s: ", ir_node_desc(n));
        goto done;
      }
    }
  }
  if ((st = op->run(&c)) != PTQ_OK) goto done;
  for (int k = 0; k < n->n_outputs; k++) {
    int v = n->outputs[k];
    if (v < 0) {
      ptq_tensor_destroy(outs[k]);
      continue;
    }
    frame_release(f, v);
    f->vals[v] = outs[k];
    f->owned[v] = 1;
    outs[k] = NULL;
  }
  for (int k = 0; k < n->n_inputs; k++) {
    int v = n->inputs[k];
    if (v >= 0 && f->plan->last_use[v] == ni && !g->values[v].data && !g->values[v].outer)
      frame_release(f, v);
  }
done:
  if (st != PTQ_OK)
    for (int k = 0; k < n->n_outputs; k++) ptq_tensor_destroy(outs[k]);
  if (in != in_buf) free(in);
  if (outs != out_buf) free(outs);
  if (shapes != shape_buf) free(shapes);
  return st;
}

static ptq_status frame_init(exec_frame *f, const exec_plan *p, exec_frame *parent,
                             ptq_session *s) {
  memset(f, 0, sizeof *f);
  f->plan = p;
  f->parent = parent;
  f->sess = s;
  f->vals = ptq_calloc((size_t)p->g->n_values, sizeof *f->vals);
  f->owned = ptq_calloc((size_t)p->g->n_values, 1);
  if (!f->vals || !f->owned) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  return PTQ_OK;
}

static void frame_free(exec_frame *f) {
  if (f->vals && f->owned)
    for (int v = 0; v < f->plan->g->n_values; v++) frame_release(f, v);
  free(f->vals);
  free(f->owned);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs every node, then moves (or copies) the graph outputs into outs. */
static ptq_status frame_run(exec_frame *f, ptq_tensor **outs) {
  const ir_graph *g = f->plan->g;
  const exec_hooks *h = &f->sess->hooks;
  int observe = h->observe && !f->parent;
  for (int i = 0; observe && i < g->n_inputs; i++)
    PTQ_TRY(h->observe(h->user, g, g->inputs[i], f->vals[g->inputs[i]]));
  const int prof = f->sess->profiling && !f->parent;
  for (int i = 0; i < g->n_nodes; i++) {
    const double t0 = prof ? now_ms() : 0.0;
    PTQ_TRY(exec_node(f, i));
    if (prof) f->sess->prof_ms[i] += now_ms() - t0;
    for (int k = 0; observe && k < g->nodes[i].n_outputs; k++) {
      int v = g->nodes[i].outputs[k];
      if (v >= 0 && f->vals[v]) PTQ_TRY(h->observe(h->user, g, v, f->vals[v]));
    }
  }
  for (int i = 0; i < g->n_outputs; i++) {
    int v = g->outputs[i];
    ptq_tensor *t = exec_frame_get(f, v);
    if (!t)
      return ptq_error(PTQ_ERR_INTERNAL, "graph output '%s' was not computed", g->values[v].name);
    int dup = 0; /* the same value listed twice as output: copy the second */
    for (int j = 0; j < i; j++) dup |= g->outputs[j] == v;
    if (f->owned[v] && !dup) {
      outs[i] = t;
      f->owned[v] = 0;
    } else {
      PTQ_TRY(ir_tensor_clone(t, &outs[i]));
    }
  }
  return PTQ_OK;
}

ptq_status exec_subgraph(exec_frame *parent, const ir_graph *g, ptq_tensor **outs) {
  const exec_plan *p = NULL;
  for (int i = 0; i < parent->sess->n_plans; i++)
    if (parent->sess->plans[i]->g == g) p = parent->sess->plans[i];
  if (!p) return ptq_error(PTQ_ERR_INTERNAL, "subgraph has no plan");
  exec_frame f;
  for (int i = 0; i < g->n_outputs; i++) outs[i] = NULL;
  ptq_status st = frame_init(&f, p, parent, parent->sess);
  if (st == PTQ_OK) st = frame_run(&f, outs);
  if (st != PTQ_OK)
    for (int i = 0; i < g->n_outputs; i++) {
      ptq_tensor_destroy(outs[i]);
      outs[i] = NULL;
    }
  frame_free(&f);
  return st;
}

static ptq_status check_input(const ir_value *v, const ptq_tensor *t) {
  if (t->dtype != v->dtype)
    return ptq_error(PTQ_ERR_SHAPE, "input '%s' must be %s, got %s", v->name,
                     ptq_dtype_name(v->dtype), ptq_dtype_name(t->dtype));
  if (t->rank < 0 || t->rank > PTQ_MAX_RANK || (!t->data && ptq_tensor_numel(t) > 0))
    return ptq_error(PTQ_ERR_INVALID_ARG, "input '%s' is not a valid tensor", v->name);
  int bad = v->rank >= 0 && t->rank != v->rank;
  for (int i = 0; !bad && i < t->rank; i++)
    bad = t->dims[i] < 0 || (v->rank >= 0 && v->dims[i] >= 0 && v->dims[i] != t->dims[i]);
  if (bad) {
    char want[256] = "", got[256] = "";
    size_t wl = 0, gl = 0;
    for (int i = 0; i < v->rank && wl < 200; i++)
      wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s%lld", i ? "x" : "",
                             (long long)v->dims[i]);
    for (int i = 0; i < t->rank && gl < 200; i++)
      gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%lld", i ? "x" : "",
                             (long long)t->dims[i]);
    return ptq_error(PTQ_ERR_SHAPE, "input '%s' must have shape %s (-1: any), got %s", v->name,
                     v->rank >= 0 ? want : "?", t->rank ? got : "scalar");
  }
  return PTQ_OK;
}

/* One run of the graph as prepared (inputs validated against its shapes). */
static ptq_status run_graph(ptq_session *s, size_t n_inputs, const char *const *names,
                            const ptq_tensor *const *inputs, ptq_tensor **outputs,
                            int set_threads) {
  const ir_graph *g = s->model->graph;
  for (int i = 0; i < g->n_outputs; i++) outputs[i] = NULL;
  exec_frame f;
  ptq_status st = frame_init(&f, s->plans[0], NULL, s);
  if (st != PTQ_OK) goto done;
  for (size_t i = 0; i < n_inputs; i++) {
    int v = names[i] ? ir_graph_find(g, names[i]) : -1;
    if (v < 0 || !g->values[v].is_input || g->values[v].is_initializer) {
      st = ptq_error(PTQ_ERR_INVALID_ARG, "model has no input named '%s'",
                     names[i] ? names[i] : "(null)");
      goto done;
    }
    if (!inputs[i]) {
      st = ptq_error(PTQ_ERR_INVALID_ARG, "input '%s' is NULL", names[i]);
      goto done;
    }
    if ((st = check_input(&g->values[v], inputs[i])) != PTQ_OK) goto done;
    f.vals[v] = (ptq_tensor *)inputs[i];
  }
  for (int i = 0; i < g->n_inputs; i++)
    if (!f.vals[g->inputs[i]]) {
      st = ptq_error(PTQ_ERR_INVALID_ARG, "input '%s' is not bound", g->values[g->inputs[i]].name);
      goto done;
    }
  if (s->threads > 0 && set_threads) ptq_set_threads(s->threads);
  st = frame_run(&f, outputs);
done:
  if (st != PTQ_OK)
    for (int i = 0; i < g->n_outputs; i++) {
      ptq_tensor_destroy(outputs[i]);
      outputs[i] = NULL;
    }
  if (f.vals) frame_free(&f);
  return st;
}

/* A worker session for another thread: the parent's plans (read-only while running), its own
 * buffers. */
static ptq_status worker_create(ptq_session *s, ptq_session **out) {
  ptq_session *w = calloc(1, sizeof *w);
  if (!w) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  w->model = s->model;
  w->plans = s->plans;
  w->n_plans = s->n_plans;
  w->borrowed_plans = 1;
  *out = w;
  return PTQ_OK;
}

/* Micro-batched model (model->micro_batch = B): inputs carry B samples; sample b runs alone
 * through the batch-1 graph, threads taking samples, and its outputs land in slice b. */
static ptq_status run_micro(ptq_session *s, size_t n_inputs, const char *const *names,
                            const ptq_tensor *const *inputs, ptq_tensor **outputs) {
  const ir_graph *g = s->model->graph;
  const int64_t B = s->model->micro_batch;
  for (int i = 0; i < g->n_outputs; i++) outputs[i] = NULL;
  if (n_inputs > 64) return ptq_error(PTQ_ERR_INVALID_ARG, "too many inputs");
  for (size_t i = 0; i < n_inputs; i++) {
    const ptq_tensor *t = inputs[i];
    if (!t || t->rank < 1 || t->dims[0] != B || (!t->data && ptq_tensor_numel(t) > 0))
      return ptq_error(PTQ_ERR_SHAPE,
                       "input '%s' must hold %lld samples (the batch the model "
                       "was loaded with)",
                       names[i] ? names[i] : "(null)", (long long)B);
  }
  ptq_status st = PTQ_OK;
  for (int i = 0; i < g->n_outputs && st == PTQ_OK; i++) {
    const ir_value *v = &g->values[g->outputs[i]];
    int64_t dims[PTQ_MAX_RANK];
    memcpy(dims, v->dims, sizeof dims);
    dims[0] = B;
    st = ptq_tensor_create(v->dtype, v->rank, dims, &outputs[i]);
  }
  int nt = ptq_threads();
  if (s->threads > 0) nt = s->threads;
  if (nt > B) nt = (int)B;
  if (nt < 1) nt = 1;
  if (st == PTQ_OK && s->n_workers < nt - 1) {
    ptq_session **w = ptq_realloc_array(s->workers, (size_t)nt - 1, sizeof *w);
    if (!w)
      st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    else
      s->workers = w;
    while (st == PTQ_OK && s->n_workers < nt - 1) {
      if ((st = worker_create(s, &s->workers[s->n_workers])) == PTQ_OK) s->n_workers++;
    }
  }
  for (int k = 0; k < s->n_workers && st == PTQ_OK; k++) {
    ptq_session *w = s->workers[k];
    if (s->profiling && !w->profiling) st = ptq_session_profile(w, 1);
    if (!s->profiling) w->profiling = 0;
  }
  if (st != PTQ_OK) goto done;
  if (s->threads > 0) ptq_set_threads(s->threads);
  int64_t next = 0;
  ptq_status th_st[64] = {0};
  char th_err[64][256];
  if (nt > 64) nt = 64;
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    ptq_session *ws = t == 0 ? s : s->workers[t - 1];
    if (nt > 1) ptq_pool_serial(1); /* the images keep the threads busy */
    ptq_tensor slices[64], *sp[64], *outs[64];
    for (;;) {
      int64_t b;
#pragma omp atomic capture
      b = next++;
      if (b >= B || th_st[t] != PTQ_OK) break;
      for (size_t i = 0; i < n_inputs; i++) {
        slices[i] = *inputs[i];
        slices[i].dims[0] = 1;
        slices[i].owns_data = 0;
        const size_t bytes =
            (size_t)(ptq_tensor_numel(&slices[i]) * ptq_dtype_size(inputs[i]->dtype));
        slices[i].data = (char *)inputs[i]->data + (size_t)b * bytes;
        sp[i] = &slices[i];
      }
      ptq_status r = run_graph(ws, n_inputs, names, (const ptq_tensor *const *)sp, outs, 0);
      for (int i = 0; i < g->n_outputs && i < 64; i++) {
        if (r == PTQ_OK) {
          const size_t bytes = (size_t)(ptq_tensor_numel(outs[i]) * ptq_dtype_size(outs[i]->dtype));
          memcpy((char *)outputs[i]->data + (size_t)b * bytes, outs[i]->data, bytes);
        }
        ptq_tensor_destroy(outs[i]);
      }
      if (r != PTQ_OK) {
        th_st[t] = r;
        snprintf(th_err[t], sizeof th_err[t], "%s", ptq_last_error());
      }
    }
    ptq_pool_serial(0);
  }
  for (int t = 0; t < nt; t++)
    if (th_st[t] != PTQ_OK) {
      st = ptq_error(th_st[t], "%s", th_err[t]);
      break;
    }
  if (st == PTQ_OK && s->profiling) s->prof_runs++;
done:
  if (st != PTQ_OK)
    for (int i = 0; i < g->n_outputs; i++) {
      ptq_tensor_destroy(outputs[i]);
      outputs[i] = NULL;
    }
  return st;
}

ptq_status ptq_session_run(ptq_session *s, size_t n_inputs, const char *const *names,
                           const ptq_tensor *const *inputs, ptq_tensor **outputs) {
  if (!s || (n_inputs && (!names || !inputs)) || !outputs)
    return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  if (s->model->micro_batch > 1 && s->model->graph->n_outputs <= 64)
    return run_micro(s, n_inputs, names, inputs, outputs);
  ptq_status st = run_graph(s, n_inputs, names, inputs, outputs, 1);
  if (st == PTQ_OK && s->profiling) s->prof_runs++;
  return st;
}

ptq_status ptq_session_profile(ptq_session *s, int enable) {
  if (!s) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  const int n = s->model->graph->n_nodes;
  if (enable && !s->prof_ms && !(s->prof_ms = ptq_calloc((size_t)n + 1, sizeof *s->prof_ms)))
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  if (enable) memset(s->prof_ms, 0, ((size_t)n + 1) * sizeof *s->prof_ms);
  s->prof_runs = 0;
  s->profiling = enable != 0;
  for (int k = 0; k < s->n_workers; k++) PTQ_TRY(ptq_session_profile(s->workers[k], enable));
  return PTQ_OK;
}

/* A node's time over this session and its workers (micro-batched runs: summed over threads). */
static double prof_total(const ptq_session *s, int i) {
  double t = s->prof_ms ? s->prof_ms[i] : 0.0;
  for (int k = 0; k < s->n_workers; k++)
    if (s->workers[k]->prof_ms) t += s->workers[k]->prof_ms[i];
  return t;
}

/* Multiply-accumulates of one run of a node, from the graph's static shapes. */
static int64_t node_macs(const ir_graph *g, const ir_node *n) {
  const ir_value *y = ir_out(g, n, 0), *w = ir_in(g, n, 1);
  if (!y || !w || y->rank < 1 || w->rank < 2) return 0;
  int64_t out = 1;
  for (int d = 0; d < y->rank; d++) out *= y->dims[d] > 0 ? y->dims[d] : 0;
  const int int8 = strcmp(n->domain, OP_INT8_DOMAIN) == 0;
  if (op_is(n, "Conv") || (int8 && strcmp(n->op_type, "QConv") == 0)) {
    int64_t k = 1;
    for (int d = 1; d < w->rank; d++) k *= w->dims[d];
    return out * k;
  }
  if (int8 && (strcmp(n->op_type, "QGemm") == 0 || strcmp(n->op_type, "QGemmF") == 0 ||
               strcmp(n->op_type, "QConvF") == 0))
    return out * w->dims[1];
  if (op_is(n, "Gemm")) return out * w->dims[ir_attr_int(n, "transB", 0) ? 1 : 0];
  if (op_is(n, "MatMul")) return out * w->dims[w->rank - 2];
  return 0;
}

ptq_status ptq_session_profile_get(ptq_session *s, const ptq_node_time **out, size_t *n,
                                   int64_t *runs) {
  if (!s || !out || !n) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  const ir_graph *g = s->model->graph;
  free(s->prof_out);
  if (!(s->prof_out = ptq_calloc((size_t)g->n_nodes + 1, sizeof *s->prof_out)))
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *nd = &g->nodes[i];
    s->prof_out[i] = (ptq_node_time){
        .node = nd->name ? nd->name : "",
        .op = nd->op_type,
        .ms = prof_total(s, i),
        .macs = node_macs(g, nd) * (s->model->micro_batch > 1 ? s->model->micro_batch : 1)};
  }
  *out = s->prof_out;
  *n = (size_t)g->n_nodes;
  if (runs) *runs = s->prof_runs;
  return PTQ_OK;
}
