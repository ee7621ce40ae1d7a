/* BatchNormalization folding (src/quant/qprep_bn.c) against hand-worked values.
 *   scale {1, 2}, B {0, 1}, mean {1, 0}, var {4, 0.25}, eps 0
 *   s = scale / sqrt(var + eps) = {0.5, 4};  t = B - mean * s = {-0.5, 1}
 * Conv W {2, -1} ([2,1,1,1]), bias {0.5, 1}:  W' = {1, -4},  b' = b * s + t = {-0.25, 5}
 * Gemm transB=0, B [[1,2],[3,4],[5,6]] (columns are channels), no C:
 *   B' = [[0.5, 8], [1.5, 16], [2.5, 24]],  C' = t = {-0.5, 1}
 * Every value is exact in float32. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "quant/qgraph.h"

static int add_const(ir_graph *g, const char *name, int rank, const int64_t *dims, const float *v) {
  ptq_tensor *t;
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, rank, dims, &t), PTQ_OK);
  memcpy(t->data, v, (size_t)ptq_tensor_numel(t) * sizeof(float));
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

/* x → op(x, W[, b]) → y → BatchNormalization → z (graph output); returns the graph. */
static ir_graph *make(const char *op, int rank, const int64_t *wdims, const float *w,
                      const float *b) {
  ir_graph *g = ir_graph_create(NULL);
  assert_non_null(g);
  g->opset = 13;
  const int64_t c2[1] = {2};
  int x = add_act(g, "x"), y = add_act(g, "y"), z = add_act(g, "z");
  g->values[x].is_input = 1;
  g->values[z].is_output = 1;
  g->inputs = malloc(sizeof(int));
  g->outputs = malloc(sizeof(int));
  g->inputs[0] = x;
  g->outputs[0] = z;
  g->n_inputs = g->n_outputs = 1;
  int in[5] = {x, add_const(g, "W", rank, wdims, w), b ? add_const(g, "b", 1, c2, b) : -1};
  assert_true(ir_graph_new_node(g, "op", op, b ? 3 : 2, in, 1, &y) >= 0);
  const float scale[2] = {1, 2}, bias[2] = {0, 1}, mean[2] = {1, 0}, var[2] = {4, 0.25f};
  int bn[5] = {y, add_const(g, "scale", 1, c2, scale), add_const(g, "B", 1, c2, bias),
               add_const(g, "mean", 1, c2, mean), add_const(g, "var", 1, c2, var)};
  int ni = ir_graph_new_node(g, "bn", "BatchNormalization", 5, bn, 1, &z);
  assert_true(ni >= 0);
  assert_int_equal(ir_node_set_int(&g->nodes[ni], "epsilon", 0), PTQ_OK);
  assert_int_equal(ir_graph_toposort(g), PTQ_OK);
  return g;
}

static void expect(const ir_graph *g, int input, const float *want, int64_t n) {
  assert_int_equal(g->n_nodes, 1);
  const ir_value *v = ir_in(g, &g->nodes[0], input);
  assert_non_null(v);
  assert_non_null(v->data);
  assert_int_equal(ptq_tensor_numel(v->data), n);
  const float *got = v->data->data;
  for (int64_t i = 0; i < n; i++) assert_true(got[i] == want[i]);
}

static void test_coeffs(void **state) {
  (void)state;
  const float scale[2] = {1, 2}, bias[2] = {0, 1}, mean[2] = {1, 0}, var[2] = {4, 0.25f};
  float s[2], t[2];
  qprep_bn_coeffs(scale, bias, mean, var, 0.0f, 2, s, t);
  assert_true(s[0] == 0.5f && s[1] == 4.0f && t[0] == -0.5f && t[1] == 1.0f);
}

static void test_conv(void **state) {
  (void)state;
  const int64_t wd[4] = {2, 1, 1, 1};
  const float w[2] = {2, -1}, b[2] = {0.5f, 1};
  ir_graph *g = make("Conv", 4, wd, w, b);
  int folded = 0;
  qbuf rep = {0};
  assert_int_equal(qprep_fold_bn(g, &folded, &rep), PTQ_OK);
  assert_int_equal(folded, 1);
  assert_int_equal(g->nodes[0].outputs[0], ir_graph_find(g, "z"));
  const float w2[2] = {1, -4}, b2[2] = {-0.25f, 5};
  expect(g, 1, w2, 2);
  expect(g, 2, b2, 2);
  free(rep.s);
  ir_graph_destroy(g);
}

static void test_gemm_transb0(void **state) {
  (void)state;
  const int64_t wd[2] = {3, 2};
  const float w[6] = {1, 2, 3, 4, 5, 6};
  ir_graph *g = make("Gemm", 2, wd, w, NULL);
  int folded = 0;
  qbuf rep = {0};
  assert_int_equal(qprep_fold_bn(g, &folded, &rep), PTQ_OK);
  assert_int_equal(folded, 1);
  const float w2[6] = {0.5f, 8, 1.5f, 16, 2.5f, 24}, c2[2] = {-0.5f, 1};
  expect(g, 1, w2, 6);
  expect(g, 2, c2, 2);
  free(rep.s);
  ir_graph_destroy(g);
}

/* BN after a graph input stays (and is reported). */
static void test_standalone(void **state) {
  (void)state;
  const int64_t wd[4] = {2, 1, 1, 1};
  const float w[2] = {2, -1};
  ir_graph *g = make("Conv", 4, wd, w, NULL);
  g->values[ir_graph_find(g, "W")].data->dtype = PTQ_DT_FLOAT;
  g->nodes[0].inputs[1] = ir_graph_find(g, "x"); /* weight no longer constant */
  int folded = 0;
  qbuf rep = {0};
  assert_int_equal(qprep_fold_bn(g, &folded, &rep), PTQ_OK);
  assert_int_equal(folded, 0);
  assert_int_equal(g->n_nodes, 2);
  assert_non_null(rep.s);
  assert_non_null(strstr(rep.s, "kept in float"));
  free(rep.s);
  ir_graph_destroy(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_coeffs),
      cmocka_unit_test(test_conv),
      cmocka_unit_test(test_gemm_transb0),
      cmocka_unit_test(test_standalone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
