/* Public API contracts (status codes, last error, ownership, NULL handling), float16
 * conversion, and loading a model built in memory with protobuf-c. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <cmocka.h>

#include "onnx/onnx.pb-c.h"
#include "ptq/data.h"
#include "ptq/ptq.h"
#include "util/util.h"

static void test_destroy_null(void **state) {
  (void)state;
  ptq_model_destroy(NULL);
  ptq_session_destroy(NULL);
  ptq_tensor_destroy(NULL);
  ptq_dataset_destroy(NULL);
}

static void test_load_missing_file(void **state) {
  (void)state;
  ptq_model *m = (ptq_model *)1;
  ptq_status st = ptq_model_load("/nonexistent/dir/model.onnx", NULL, &m);
  assert_int_equal(st, PTQ_ERR_IO);
  assert_null(m);
  assert_non_null(strstr(ptq_last_error(), "/nonexistent/dir/model.onnx"));
  assert_string_equal(ptq_status_string(PTQ_ERR_IO), "i/o error");
}

static void test_tensor_create_checks(void **state) {
  (void)state;
  ptq_tensor *t = NULL;
  int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
  assert_int_not_equal(ptq_tensor_create(PTQ_DT_FLOAT, 2, huge, &t), PTQ_OK);
  assert_null(t);
  int64_t neg[1] = {-1};
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 1, neg, &t), PTQ_ERR_SHAPE);
  assert_int_equal(ptq_tensor_create(PTQ_DT_STRING, 0, NULL, &t), PTQ_ERR_UNSUPPORTED);
  int64_t d[3] = {2, 3, 4};
  assert_int_equal(ptq_tensor_create(PTQ_DT_INT64, 3, d, &t), PTQ_OK);
  assert_int_equal(ptq_tensor_numel(t), 24);
  for (int i = 0; i < 24; i++) assert_int_equal(((int64_t *)t->data)[i], 0);
  ptq_tensor_destroy(t);
}

/* Every finite half converts to float and back unchanged; float -> half rounds to nearest
 * even (checked at the midpoint between 1 and the next half, 1 + 2^-11). */
static void test_f16_roundtrip(void **state) {
  (void)state;
  for (uint32_t h = 0; h < 65536; h++) {
    if ((h & 0x7c00) == 0x7c00) continue; /* inf/nan */
    assert_int_equal(ptq_f32_to_f16(ptq_f16_to_f32((uint16_t)h)), h);
  }
  assert_int_equal(ptq_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);     /* tie -> even */
  assert_int_equal(ptq_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02); /* tie -> even */
  assert_int_equal(ptq_f32_to_f16(65520.0f), 0x7c00);                     /* overflow */
  assert_true(isnan(ptq_f16_to_f32(ptq_f32_to_f16(NAN))));
}

/* A one-node model Y = Relu(X), X float [2, 3], serialized with protobuf-c. */
static uint8_t *make_relu_model(size_t *len, const char *op) {
  Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
  Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
  Onnx__NodeProto n = ONNX__NODE_PROTO__INIT;
  Onnx__OperatorSetIdProto ops = ONNX__OPERATOR_SET_ID_PROTO__INIT;
  Onnx__ValueInfoProto x = ONNX__VALUE_INFO_PROTO__INIT, y = ONNX__VALUE_INFO_PROTO__INIT;
  Onnx__TypeProto tx = ONNX__TYPE_PROTO__INIT, ty = ONNX__TYPE_PROTO__INIT;
  Onnx__TypeProto__Tensor ttx = ONNX__TYPE_PROTO__TENSOR__INIT,
                          tty = ONNX__TYPE_PROTO__TENSOR__INIT;
  Onnx__TensorShapeProto shx = ONNX__TENSOR_SHAPE_PROTO__INIT;
  Onnx__TensorShapeProto__Dimension d0 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
  Onnx__TensorShapeProto__Dimension d1 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
  Onnx__TensorShapeProto__Dimension *dims[2] = {&d0, &d1};
  d0.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
  d0.dim_value = 2;
  d1.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
  d1.dim_value = 3;
  shx.n_dim = 2;
  shx.dim = dims;
  ttx.has_elem_type = 1;
  ttx.elem_type = 1;
  ttx.shape = &shx;
  tty.has_elem_type = 1;
  tty.elem_type = 1;
  tx.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tx.tensor_type = &ttx;
  ty.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  ty.tensor_type = &tty;
  x.name = "X";
  x.type = &tx;
  y.name = "Y";
  y.type = &ty;
  char *in[1] = {"X"}, *out[1] = {"Y"};
  n.n_input = 1;
  n.input = in;
  n.n_output = 1;
  n.output = out;
  n.op_type = (char *)op;
  Onnx__NodeProto *nodes[1] = {&n};
  Onnx__ValueInfoProto *gin[1] = {&x}, *gout[1] = {&y};
  g.n_node = 1;
  g.node = nodes;
  g.n_input = 1;
  g.input = gin;
  g.n_output = 1;
  g.output = gout;
  g.name = "g";
  ops.has_version = 1;
  ops.version = 13;
  ops.domain = "";
  Onnx__OperatorSetIdProto *opsv[1] = {&ops};
  m.has_ir_version = 1;
  m.ir_version = 7;
  m.n_opset_import = 1;
  m.opset_import = opsv;
  m.graph = &g;
  *len = onnx__model_proto__get_packed_size(&m);
  uint8_t *buf = malloc(*len);
  onnx__model_proto__pack(&m, buf);
  return buf;
}

static void test_buffer_model_runs(void **state) {
  (void)state;
  size_t len;
  uint8_t *buf = make_relu_model(&len, "Relu");
  ptq_model *m = NULL;
  assert_int_equal(ptq_model_load_buffer(buf, len, NULL, NULL, &m), PTQ_OK);
  assert_int_equal(ptq_model_input_count(m), 1);
  assert_int_equal(ptq_model_output_count(m), 1);
  ptq_value_info vi;
  assert_int_equal(ptq_model_output(m, 0, &vi), PTQ_OK);
  assert_string_equal(vi.name, "Y");
  assert_int_equal(vi.rank, 2); /* inferred: the file declares no output shape */
  assert_int_equal(vi.dims[1], 3);
  assert_int_equal(ptq_model_output(m, 1, &vi), PTQ_ERR_INVALID_ARG);

  ptq_session *s = NULL;
  assert_int_equal(ptq_session_create(m, NULL, &s), PTQ_OK);
  int64_t d[2] = {2, 3};
  ptq_tensor *x, *y = NULL;
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 2, d, &x), PTQ_OK);
  const float xv[6] = {-1.5f, 0.0f, 2.0f, -0.0f, 3.25f, -7.0f};
  memcpy(x->data, xv, sizeof xv);
  const char *names[1] = {"X"};
  const ptq_tensor *ins[1] = {x};
  assert_int_equal(ptq_session_run(s, 1, names, ins, &y), PTQ_OK);
  const float want[6] = {0.0f, 0.0f, 2.0f, 0.0f, 3.25f, 0.0f};
  for (int i = 0; i < 6; i++) assert_true(((float *)y->data)[i] == want[i]);
  ptq_tensor_destroy(y);

  /* wrong name, wrong shape, wrong dtype: errors, outputs left NULL */
  const char *bad[1] = {"Z"};
  y = (ptq_tensor *)1;
  assert_int_equal(ptq_session_run(s, 1, bad, ins, &y), PTQ_ERR_INVALID_ARG);
  assert_null(y);
  x->dims[1] = 2;
  assert_int_equal(ptq_session_run(s, 1, names, ins, &y), PTQ_ERR_SHAPE);
  assert_non_null(strstr(ptq_last_error(), "2x3"));
  x->dims[1] = 3;
  x->dtype = PTQ_DT_INT32;
  assert_int_equal(ptq_session_run(s, 1, names, ins, &y), PTQ_ERR_SHAPE);
  ptq_tensor_destroy(x);
  ptq_session_destroy(s);
  ptq_model_destroy(m);
  free(buf);
}

static void test_unknown_op_rejected_at_load(void **state) {
  (void)state;
  size_t len;
  uint8_t *buf = make_relu_model(&len, "NoSuchOp");
  ptq_model *m = (ptq_model *)1;
  assert_int_equal(ptq_model_load_buffer(buf, len, NULL, NULL, &m), PTQ_ERR_UNSUPPORTED);
  assert_null(m);
  assert_non_null(strstr(ptq_last_error(), "NoSuchOp"));
  assert_non_null(strstr(ptq_last_error(), "opset 13"));
  free(buf);
}

/* Every prefix of a valid model is rejected or loads; none crashes (ASan checks memory). */
static void test_truncations(void **state) {
  (void)state;
  size_t len;
  uint8_t *buf = make_relu_model(&len, "Relu");
  for (size_t n = 0; n < len; n++) {
    ptq_model *m = NULL;
    ptq_status st = ptq_model_load_buffer(buf, n, NULL, NULL, &m);
    if (st == PTQ_OK)
      ptq_model_destroy(m);
    else
      assert_null(m);
  }
  free(buf);
}

/* Save then load gives the same summary (inputs, outputs, ops, parameters). */
static void test_save_load_roundtrip(void **state) {
  (void)state;
  size_t len;
  uint8_t *buf = make_relu_model(&len, "Relu");
  ptq_model *m = NULL, *m2 = NULL;
  assert_int_equal(ptq_model_load_buffer(buf, len, NULL, NULL, &m), PTQ_OK);
  char path[] = "/tmp/ptq_test_api_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(ptq_model_save(m, path), PTQ_OK);
  assert_int_equal(ptq_model_load(path, NULL, &m2), PTQ_OK);
  char *a = ptq_model_summary(m), *b = ptq_model_summary(m2);
  assert_string_equal(a, b);
  free(a);
  free(b);
  close(fd);
  remove(path);
  ptq_model_destroy(m);
  ptq_model_destroy(m2);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_destroy_null),
      cmocka_unit_test(test_load_missing_file),
      cmocka_unit_test(test_tensor_create_checks),
      cmocka_unit_test(test_f16_roundtrip),
      cmocka_unit_test(test_buffer_model_runs),
      cmocka_unit_test(test_unknown_op_rejected_at_load),
      cmocka_unit_test(test_truncations),
      cmocka_unit_test(test_save_load_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
