/* Cross-layer equalization (src/quant/qprep_cle.c): the float function is unchanged (Relu
 * chains: within 1e-5 relative, run by ptq's float executor before and after), and after
 * convergence every pair has equal ranges r1_i = r2_i (the paper's optimum). Graphs:
 *   A: x → Conv 3x3 (8→16) → Relu → Conv 1x1 (16→4) → y
 *   B: x → Conv 1x1 (4→12) → Relu → depthwise Conv 3x3 (group 12) → Relu → Conv 1x1 (12→6) → y
 *   C: x → Gemm (transB=1, 10→7) → Relu → Gemm (transB=0, 7→3) → y
 * Weights are random with per-channel magnitudes spread over 1e-3..1e2 (like BN-folded
 * depthwise layers); biases random. Also: Clip(0, 6) between two layers becomes Relu (data-
 * free mode), and a pre-activation that is a graph output blocks the pair. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exec/exec.h"
#include "quant/qgraph.h"

static uint64_t g_rng = 0x1234567u;
static double urand(void) { /* [0, 1) */
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(g_rng >> 11) * (1.0 / 9007199254740992.0);
}

static int add_const(ir_graph *g, const char *name, int rank, const int64_t *dims,
                     int scale_axis0) {
  ptq_tensor *t;
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, rank, dims, &t), PTQ_OK);
  const int64_t n = ptq_tensor_numel(t), rows = dims[0], per = n / rows;
  float *v = t->data;
  for (int64_t r = 0; r < rows; r++) {
    /* a magnitude per row (output channel for Conv / Gemm transB=1) */
    const double mag = scale_axis0 ? pow(10.0, -3.0 + 5.0 * urand()) : 1.0;
    for (int64_t k = 0; k < per; k++) v[r * per + k] = (float)((2.0 * urand() - 1.0) * mag);
  }
  int i = ir_graph_add_constant(g, name, t);
  assert_true(i >= 0);
  return i;
}

static int add_act(ir_graph *g, const char *name) {
  int v = ir_graph_add_value(g, name);
  assert_true(v >= 0);
  g->values[v].dtype = PTQ_DT_FLOAT;
  g->values[v].has_type = 1;
  return v;
}

static ptq_model *new_model(ir_graph *g, int x, int y, int rank, const int64_t *xdims) {
  g->values[x].is_input = 1;
  g->values[x].rank = rank;
  memcpy(g->values[x].dims, xdims, (size_t)rank * sizeof *xdims);
  g->values[y].is_output = 1;
  g->inputs = malloc(sizeof(int));
  g->outputs = malloc(sizeof(int));
  g->inputs[0] = x;
  g->outputs[0] = y;
  g->n_inputs = g->n_outputs = 1;
  assert_int_equal(ir_graph_toposort(g), PTQ_OK);
  ptq_model *m = calloc(1, sizeof *m);
  assert_non_null(m);
  m->graph = g;
  m->ir_version = 7;
  m->opset = 13;
  m->opsets = calloc(1, sizeof *m->opsets);
  m->opsets[0].domain = ptq_strdup("");
  m->opsets[0].version = 13;
  m->n_opsets = 1;
  return m;
}

static int conv(ir_graph *g, const char *name, int in, int cin, int cout, int k, int group,
                const char *out) {
  char wn[64], bn[64];
  snprintf(wn, sizeof wn, "%s_W", name);
  snprintf(bn, sizeof bn, "%s_B", name);
  const int64_t wd[4] = {cout, cin / group, k, k}, bd[1] = {cout};
  const int y = add_act(g, out);
  int ins[3] = {in, add_const(g, wn, 4, wd, 1), add_const(g, bn, 1, bd, 0)};
  const int ni = ir_graph_new_node(g, name, "Conv", 3, ins, 1, &y);
  assert_true(ni >= 0);
  ir_node *n = &g->nodes[ni];
  const int64_t ks[2] = {k, k}, pads[4] = {k / 2, k / 2, k / 2, k / 2};
  assert_int_equal(ir_node_set_ints(n, "kernel_shape", 2, ks), PTQ_OK);
  assert_int_equal(ir_node_set_ints(n, "pads", 4, pads), PTQ_OK);
  assert_int_equal(ir_node_set_int(n, "group", group), PTQ_OK);
  return y;
}

static int unary(ir_graph *g, const char *op, int in, const char *out) {
  const int y = add_act(g, out);
  assert_true(ir_graph_new_node(g, out, op, 1, &in, 1, &y) >= 0);
  return y;
}

static int clip06(ir_graph *g, int in, const char *out) {
  const int y = add_act(g, out);
  ptq_tensor *lo, *hi;
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 0, NULL, &lo), PTQ_OK);
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 0, NULL, &hi), PTQ_OK);
  ((float *)lo->data)[0] = 0.0f;
  ((float *)hi->data)[0] = 6.0f;
  int ins[3] = {in, ir_graph_add_constant(g, "lo", lo), ir_graph_add_constant(g, "hi", hi)};
  assert_true(ir_graph_new_node(g, out, "Clip", 3, ins, 1, &y) >= 0);
  return y;
}

enum { GRAPH_A, GRAPH_B, GRAPH_C, GRAPH_CLIP, GRAPH_OUT };

static ptq_model *build(int which, uint64_t seed) {
  g_rng = seed;
  ir_graph *g = ir_graph_create(NULL);
  assert_non_null(g);
  g->opset = 13;
  const int x = add_act(g, "x");
  if (which == GRAPH_C) {
    const int64_t w1[2] = {7, 10}, b1[1] = {7}, w2[2] = {7, 3}, b2[1] = {3}, xd[2] = {5, 10};
    const int h = add_act(g, "h"), y = add_act(g, "y");
    int i1[3] = {x, add_const(g, "W1", 2, w1, 1), add_const(g, "B1", 1, b1, 0)};
    const int n1 = ir_graph_new_node(g, "g1", "Gemm", 3, i1, 1, &h);
    assert_int_equal(ir_node_set_int(&g->nodes[n1], "transB", 1), PTQ_OK);
    const int r = unary(g, "Relu", h, "r");
    /* W2 [K=7, N=3]: row c (an input channel) gets its own magnitude */
    int i2[3] = {r, add_const(g, "W2", 2, w2, 1), add_const(g, "B2", 1, b2, 0)};
    assert_true(ir_graph_new_node(g, "g2", "Gemm", 3, i2, 1, &y) >= 0);
    return new_model(g, x, y, 2, xd);
  }
  if (which == GRAPH_B) {
    const int64_t xd[4] = {2, 4, 9, 9};
    int h = conv(g, "c1", x, 4, 12, 1, 1, "h1");
    h = unary(g, "Relu", h, "r1");
    h = conv(g, "dw", h, 12, 12, 3, 12, "h2");
    h = unary(g, "Relu", h, "r2");
    const int y = conv(g, "c3", h, 12, 6, 1, 1, "y");
    return new_model(g, x, y, 4, xd);
  }
  const int64_t xd[4] = {2, 8, 7, 7};
  int h = conv(g, "c1", x, 8, 16, 3, 1, "h1");
  h = which == GRAPH_CLIP ? clip06(g, h, "r1") : unary(g, "Relu", h, "r1");
  const int y = conv(g, "c2", h, 16, 4, 1, 1, "y");
  ptq_model *m = new_model(g, x, y, 4, xd);
  if (which == GRAPH_OUT) { /* the pre-activation is also a graph output */
    int *outs = realloc(g->outputs, 2 * sizeof(int));
    assert_non_null(outs);
    g->outputs = outs;
    g->outputs[g->n_outputs++] = ir_graph_find(g, "h1");
    g->values[ir_graph_find(g, "h1")].is_output = 1;
  }
  return m;
}

static ptq_tensor *run(ptq_model *m) {
  const ir_value *xv = &m->graph->values[m->graph->inputs[0]];
  ptq_tensor *x, *outs[2] = {NULL, NULL};
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, xv->rank, xv->dims, &x), PTQ_OK);
  const uint64_t save = g_rng;
  g_rng = 99;
  float *xd = x->data;
  for (int64_t i = 0; i < ptq_tensor_numel(x); i++) xd[i] = (float)(2.0 * urand() - 1.0);
  g_rng = save;
  ptq_session *s;
  assert_int_equal(ptq_session_create(m, NULL, &s), PTQ_OK);
  const char *name = xv->name;
  assert_int_equal(ptq_session_run(s, 1, &name, (const ptq_tensor *const *)&x, outs), PTQ_OK);
  ptq_session_destroy(s);
  ptq_tensor_destroy(x);
  ptq_tensor_destroy(outs[1]);
  return outs[0];
}

static void assert_close(const ptq_tensor *a, const ptq_tensor *b) {
  assert_int_equal(ptq_tensor_numel(a), ptq_tensor_numel(b));
  const float *x = a->data, *y = b->data;
  double amax = 0.0;
  for (int64_t i = 0; i < ptq_tensor_numel(a); i++) amax = fmax(amax, fabs(x[i]));
  assert_true(amax > 0.0);
  for (int64_t i = 0; i < ptq_tensor_numel(a); i++) {
    const double tol = 1e-5 * fmax(fabs(x[i]), 1e-2 * amax);
    if (fabs(x[i] - y[i]) > tol) fail_msg("element %lld: %.9g vs %.9g", (long long)i, x[i], y[i]);
  }
}

/* max |w| of Conv/Gemm weight `node`'s output channel o (out = 1) or input channel o. */
static double wrange(const ir_graph *g, const char *node, int64_t ch, int out) {
  const ir_node *n = NULL;
  for (int i = 0; i < g->n_nodes; i++)
    if (strcmp(g->nodes[i].name, node) == 0) n = &g->nodes[i];
  assert_non_null(n);
  const ptq_tensor *w = ir_in(g, n, 1)->data;
  const float *v = w->data;
  double r = 0.0;
  if (strcmp(n->op_type, "Gemm") == 0) {
    const int tb = (int)ir_attr_int(n, "transB", 0);
    const int64_t rows = w->dims[0], cols = w->dims[1];
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++) {
        const int64_t o = tb ? i : j, c = tb ? j : i;
        if ((out ? o : c) == ch) r = fmax(r, fabs(v[i * cols + j]));
      }
    return r;
  }
  const int64_t m = w->dims[0], cpg = w->dims[1], inner = ptq_tensor_numel(w) / (m * cpg);
  const int64_t opg = m / ((int64_t)ir_attr_int(n, "group", 1));
  for (int64_t o = 0; o < m; o++)
    for (int64_t j = 0; j < cpg; j++) {
      const int64_t c = (o / opg) * cpg + j;
      if ((out ? o : c) != ch) continue;
      for (int64_t k = 0; k < inner; k++) r = fmax(r, fabs(v[(o * cpg + j) * inner + k]));
    }
  return r;
}

static void expect_equal_ranges(const ir_graph *g, const char *n1, const char *n2, int64_t c) {
  for (int64_t i = 0; i < c; i++) {
    const double r1 = wrange(g, n1, i, 1), r2 = wrange(g, n2, i, 0);
    if (fabs(r1 - r2) > 1e-4 * r2)
      fail_msg("%s/%s channel %lld: %g vs %g", n1, n2, (long long)i, r1, r2);
  }
}

/* Equalizes graph `which`: outputs before/after equal; returns the stats. */
static qcle_stats check_exact(int which, ptq_model **out) {
  ptq_model *m0 = build(which, 42), *m1 = build(which, 42);
  assert_int_equal(exec_prepare_model(m0, NULL), PTQ_OK);
  ptq_tensor *y0 = run(m0);
  qcle_stats st;
  qbuf rep = {0};
  qcle_opts o = qcle_opts_default();
  o.tol = 1e-9;
  assert_int_equal(qprep_cle(m1->graph, &o, &st, &rep), PTQ_OK);
  assert_int_equal(exec_prepare_model(m1, NULL), PTQ_OK);
  ptq_tensor *y1 = run(m1);
  if (which != GRAPH_CLIP) assert_close(y0, y1);
  ptq_tensor_destroy(y0);
  ptq_tensor_destroy(y1);
  ptq_model_destroy(m0);
  free(rep.s);
  *out = m1;
  return st;
}

static void test_conv_relu_conv(void **state) {
  (void)state;
  ptq_model *m;
  qcle_stats st = check_exact(GRAPH_A, &m);
  assert_int_equal(st.pairs, 1);
  assert_int_equal(st.chains, 1);
  assert_int_equal(st.clip_relu, 0);
  expect_equal_ranges(m->graph, "c1", "c2", 16);
  /* the weights did move: the channel magnitudes span 1e-3..1e2 */
  ptq_model *m0 = build(GRAPH_A, 42);
  double smin = INFINITY, smax = 0.0;
  for (int64_t i = 0; i < 16; i++) {
    const double s = wrange(m0->graph, "c1", i, 1) / wrange(m->graph, "c1", i, 1);
    smin = fmin(smin, s);
    smax = fmax(smax, s);
  }
  assert_true(smax / smin > 10.0);
  ptq_model_destroy(m0);
  ptq_model_destroy(m);
}

static void test_depthwise_chain(void **state) {
  (void)state;
  ptq_model *m;
  qcle_stats st = check_exact(GRAPH_B, &m);
  assert_int_equal(st.pairs, 2);
  assert_int_equal(st.chains, 1);
  assert_true(st.iterations > 1);
  assert_true(st.residual <= 1e-9);
  /* converged: both pairs balanced at once (the depthwise channel i sits between them) */
  expect_equal_ranges(m->graph, "c1", "dw", 12);
  expect_equal_ranges(m->graph, "dw", "c3", 12);
  ptq_model_destroy(m);
}

static void test_gemm(void **state) {
  (void)state;
  ptq_model *m;
  qcle_stats st = check_exact(GRAPH_C, &m);
  assert_int_equal(st.pairs, 1);
  expect_equal_ranges(m->graph, "g1", "g2", 7);
  ptq_model_destroy(m);
}

/* Data-free: Clip(0, 6) between the layers becomes Relu (and the result equals the Relu
 * graph's, equalized). */
static void test_clip_becomes_relu(void **state) {
  (void)state;
  ptq_model *m;
  qcle_stats st = check_exact(GRAPH_CLIP, &m);
  assert_int_equal(st.pairs, 1);
  assert_int_equal(st.clip_relu, 1);
  int relu = 0, clip = 0;
  for (int i = 0; i < m->graph->n_nodes; i++) {
    relu += strcmp(m->graph->nodes[i].op_type, "Relu") == 0;
    clip += strcmp(m->graph->nodes[i].op_type, "Clip") == 0;
  }
  assert_int_equal(relu, 1);
  assert_int_equal(clip, 0);
  ptq_model_destroy(m);
}

/* With calibration statistics the Clip stays, saturating channels keep scale 1 and the others
 * are bounded so that Clip(0, 6) stays exact on the data. */
static void test_clip_bounded(void **state) {
  (void)state;
  ptq_model *m = build(GRAPH_CLIP, 42);
  qcle_data *d;
  int n;
  assert_int_equal(qcle_data_create(m->graph, &d, &n), PTQ_OK);
  assert_int_equal(n, 1);
  assert_int_equal(d[0].c, 16);
  assert_string_equal(d[0].name, "h1");
  for (int i = 0; i < 16; i++) {
    d[0].min[i] = -1.0f;
    d[0].max[i] = i < 4 ? 10.0f : 0.5f * (float)(i - 3); /* 4 saturate; 0.5 .. 6 */
  }
  d[0].seen = 1;
  qcle_opts o = qcle_opts_default();
  o.data = d;
  o.n_data = 1;
  qcle_stats st;
  assert_int_equal(qprep_cle(m->graph, &o, &st, NULL), PTQ_OK);
  assert_int_equal(st.pairs, 1);
  assert_int_equal(st.clip_relu, 0);
  assert_int_equal(st.pinned, 4);
  const ir_graph *g = m->graph;
  const ir_node *c1 = &g->nodes[0];
  assert_string_equal(c1->op_type, "Conv");
  /* scale S_i = old / new output range of c1 */
  ptq_model *m0 = build(GRAPH_CLIP, 42);
  for (int64_t i = 0; i < 16; i++) {
    const double S = wrange(m0->graph, "c1", i, 1) / wrange(g, "c1", i, 1);
    if (i < 4)
      assert_true(fabs(S - 1.0) < 1e-6);
    else
      assert_true(S >= d[0].max[i] / 6.0 * (1 - 1e-6));
  }
  ptq_model_destroy(m0);
  qcle_data_free(d, n);
  ptq_model_destroy(m);
}

static void test_graph_output_blocks(void **state) {
  (void)state;
  ptq_model *m = build(GRAPH_OUT, 42);
  qcle_stats st;
  assert_int_equal(qprep_cle(m->graph, NULL, &st, NULL), PTQ_OK);
  assert_int_equal(st.pairs, 0);
  ptq_model_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_relu_conv), cmocka_unit_test(test_depthwise_chain),
      cmocka_unit_test(test_gemm),           cmocka_unit_test(test_clip_becomes_relu),
      cmocka_unit_test(test_clip_bounded),   cmocka_unit_test(test_graph_output_blocks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
