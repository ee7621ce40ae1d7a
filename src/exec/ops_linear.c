/* Gemm, MatMul (batched, broadcasting), BatchNormalization, InstanceNormalization. */
#include <math.h>
#include <string.h>

#include "exec/op.h"
#include "kernels/kernels.h"

/* ----------------------------------------------------------------- Gemm --- */

static ptq_status gemm_dims(const op_ctx *c, int64_t *m, int64_t *n, int64_t *k) {
  const ptq_tensor *a = c->in[0], *b = c->in[1];
  int ta = (int)ir_attr_int(c->node, "transA", 0), tb = (int)ir_attr_int(c->node, "transB", 0);
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  PTQ_TRY(op_require_dtype(c, 1, OP_FLOATS));
  if ((a->rank >= 0 && a->rank != 2) || (b->rank >= 0 && b->rank != 2))
    return op_fail(c, PTQ_ERR_SHAPE, "A and B must be 2-D (got rank %d and %d)", a->rank, b->rank);
  *m = a->rank == 2 ? a->dims[ta ? 1 : 0] : -1;
  int64_t ka = a->rank == 2 ? a->dims[ta ? 0 : 1] : -1;
  int64_t kb = b->rank == 2 ? b->dims[tb ? 1 : 0] : -1;
  *n = b->rank == 2 ? b->dims[tb ? 0 : 1] : -1;
  if (ka >= 0 && kb >= 0 && ka != kb)
    return op_fail(c, PTQ_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)ka,
                   (long long)kb);
  *k = ka >= 0 ? ka : kb;
  if (c->n_in > 2 && c->in[2]) {
    PTQ_TRY(op_require_dtype(c, 2, OP_FLOATS));
    const ptq_tensor *cc = c->in[2];
    if (cc->rank > 2) return op_fail(c, PTQ_ERR_SHAPE, "C has rank %d", cc->rank);
    for (int i = 0; i < cc->rank; i++) {
      int64_t want = (cc->rank - i == 2) ? *m : *n, have = cc->dims[i];
      if (have >= 0 && want >= 0 && have != 1 && have != want)
        return op_fail(c, PTQ_ERR_SHAPE, "C does not broadcast to %lldx%lld", (long long)*m,
                       (long long)*n);
    }
  }
  return PTQ_OK;
}

static ptq_status gemm_infer(op_ctx *c) {
  int64_t d[2] = {-1, -1}, k = 0;
  PTQ_TRY(gemm_dims(c, &d[0], &d[1], &k));
  op_set_out(c, 0, PTQ_DT_FLOAT, 2, d);
  return PTQ_OK;
}

static ptq_status gemm_run(op_ctx *c) {
  int64_t m = 0, n = 0, k = 0;
  PTQ_TRY(gemm_dims(c, &m, &n, &k));
  int ta = (int)ir_attr_int(c->node, "transA", 0), tb = (int)ir_attr_int(c->node, "transB", 0);
  float alpha = ir_attr_float(c->node, "alpha", 1.0f), beta = ir_attr_float(c->node, "beta", 1.0f);
  float *y = c->out[0]->data;
  const ptq_tensor *cc = (c->n_in > 2) ? c->in[2] : NULL;
  float b2 = 0.0f;
  if (cc && beta != 0.0f && ptq_tensor_numel(cc) > 0) {
    const float *cv = cc->data;
    int64_t rs = (cc->rank == 2 && cc->dims[0] != 1) ? cc->dims[1] : 0;
    int64_t cs = (cc->rank >= 1 && cc->dims[cc->rank - 1] != 1) ? 1 : 0;
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) y[i * n + j] = cv[i * rs + j * cs];
    b2 = beta;
  }
  ptq_sgemm(ta, tb, m, n, k, alpha, c->in[0]->data, c->in[0]->dims[1], c->in[1]->data,
            c->in[1]->dims[1], b2, y, n);
  if (c->prep) ptq_act_apply(&c->prep->act, y, m * n);
  return PTQ_OK;
}

/* --------------------------------------------------------------- MatMul --- */

static ptq_status matmul_shape(op_ctx *c, int *rank, int64_t *dims) {
  const ptq_tensor *a = c->in[0], *b = c->in[1];
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  PTQ_TRY(op_require_dtype(c, 1, OP_FLOATS));
  if (a->rank < 0 || b->rank < 0) {
    *rank = -1;
    return PTQ_OK;
  }
  if (a->rank == 0 || b->rank == 0) return op_fail(c, PTQ_ERR_SHAPE, "MatMul of a scalar");
  /* Promote 1-D operands as numpy does, then broadcast the batch dims. */
  ptq_tensor pa = *a, pb = *b;
  if (a->rank == 1) {
    pa.rank = 2;
    pa.dims[0] = 1;
    pa.dims[1] = a->dims[0];
  }
  if (b->rank == 1) {
    pb.rank = 2;
    pb.dims[0] = b->dims[0];
    pb.dims[1] = 1;
  }
  int64_t ka = pa.dims[pa.rank - 1], kb = pb.dims[pb.rank - 2];
  if (ka >= 0 && kb >= 0 && ka != kb)
    return op_fail(c, PTQ_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)ka,
                   (long long)kb);
  ptq_tensor ba = pa, bb = pb;
  ba.rank -= 2;
  bb.rank -= 2;
  int br;
  PTQ_TRY(op_broadcast(c, &ba, &bb, &br, dims));
  int r = br;
  if (a->rank > 1) dims[r++] = pa.dims[pa.rank - 2];
  if (b->rank > 1) dims[r++] = pb.dims[pb.rank - 1];
  *rank = r;
  return PTQ_OK;
}

static ptq_status matmul_infer(op_ctx *c) {
  int rank = -1;
  int64_t dims[PTQ_MAX_RANK] = {0};
  PTQ_TRY(matmul_shape(c, &rank, dims));
  op_set_out(c, 0, PTQ_DT_FLOAT, rank, dims);
  return PTQ_OK;
}

static ptq_status matmul_run(op_ctx *c) {
  const ptq_tensor *a = c->in[0], *b = c->in[1];
  int64_t m = a->rank > 1 ? a->dims[a->rank - 2] : 1, k = a->dims[a->rank - 1];
  int64_t n = b->rank > 1 ? b->dims[b->rank - 1] : 1;
  int ar = a->rank > 2 ? a->rank - 2 : 0, brk = b->rank > 2 ? b->rank - 2 : 0;
  int r = ar > brk ? ar : brk;
  int64_t bdims[PTQ_MAX_RANK], sa[PTQ_MAX_RANK], sb[PTQ_MAX_RANK], batches = 1;
  for (int i = 0; i < r; i++) {
    int ia = i - (r - ar), ib = i - (r - brk);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    bdims[i] = da > db ? da : db;
    batches *= bdims[i];
  }
  /* batch strides in matrices */
  int64_t acc = 1;
  for (int i = r - 1; i >= 0; i--) {
    int ia = i - (r - ar);
    sa[i] = (ia >= 0 && a->dims[ia] != 1) ? acc : 0;
    if (ia >= 0) acc *= a->dims[ia];
  }
  acc = 1;
  for (int i = r - 1; i >= 0; i--) {
    int ib = i - (r - brk);
    sb[i] = (ib >= 0 && b->dims[ib] != 1) ? acc : 0;
    if (ib >= 0) acc *= b->dims[ib];
  }
  const float *pa = a->data, *pb = b->data;
  float *py = c->out[0]->data;
  /* Whole A batch against a shared B: one tall GEMM. */
  int b_shared = 1;
  for (int i = 0; i < r; i++) b_shared &= sb[i] == 0;
  int a_contig = 1;
  for (int i = 0; i < r; i++) a_contig &= sa[i] != 0 || bdims[i] == 1;
  if (b_shared && a_contig) {
    ptq_sgemm(0, 0, batches * m, n, k, 1.0f, pa, k, pb, n, 0.0f, py, n);
    return PTQ_OK;
  }
  for (int64_t bi = 0; bi < batches; bi++) {
    int64_t oa = 0, ob = 0, rem = bi;
    for (int i = r - 1; i >= 0; i--) {
      int64_t idx = rem % bdims[i];
      rem /= bdims[i];
      oa += idx * sa[i];
      ob += idx * sb[i];
    }
    ptq_sgemm(0, 0, m, n, k, 1.0f, pa + oa * m * k, k, pb + ob * k * n, n, 0.0f, py + bi * m * n,
              n);
  }
  return PTQ_OK;
}

/* ------------------------------------------------- BatchNormalization --- */

static ptq_status bn_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  for (int i = 0; i < 5; i++) PTQ_TRY(op_require_dtype(c, i, OP_FLOATS));
  if (c->n_out > 1) return op_fail(c, PTQ_ERR_UNSUPPORTED, "training-mode outputs");
  if (ir_attr_int(c->node, "training_mode", 0))
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "training_mode = 1");
  if (c->opset < 9 && ir_attr_int(c->node, "spatial", 1) != 1)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "spatial = 0");
  if (x->rank >= 0 && x->rank < 2) return op_fail(c, PTQ_ERR_SHAPE, "input rank %d < 2", x->rank);
  int64_t ch = x->rank >= 2 ? x->dims[1] : -1;
  for (int i = 1; i < 5; i++) {
    const ptq_tensor *p = c->in[i];
    if (p->rank >= 0 && (p->rank != 1 || (ch >= 0 && p->dims[0] >= 0 && p->dims[0] != ch)))
      return op_fail(c, PTQ_ERR_SHAPE, "parameter %d must be 1-D of size %lld", i, (long long)ch);
  }
  op_set_out(c, 0, x->dtype, x->rank, x->dims);
  return PTQ_OK;
}

static ptq_status bn_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  const float *sc = c->in[1]->data, *bi = c->in[2]->data, *mu = c->in[3]->data,
              *var = c->in[4]->data;
  float eps = ir_attr_float(c->node, "epsilon", 1e-5f);
  int64_t n = x->dims[0], ch = x->dims[1], hw = 1;
  for (int i = 2; i < x->rank; i++) hw *= x->dims[i];
  const float *px = x->data;
  float *py = c->out[0]->data;
#pragma omp parallel for collapse(2) if (n * ch * hw > 65536) schedule(static)
  for (int64_t b = 0; b < n; b++)
    for (int64_t k = 0; k < ch; k++) {
      float s = sc[k] / sqrtf(var[k] + eps), t = bi[k] - mu[k] * s;
      const float *src = px + (b * ch + k) * hw;
      float *dst = py + (b * ch + k) * hw;
      for (int64_t i = 0; i < hw; i++) dst[i] = src[i] * s + t;
    }
  return PTQ_OK;
}

static ptq_status inorm_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  for (int i = 0; i < 3; i++) PTQ_TRY(op_require_dtype(c, i, OP_FLOATS));
  if (x->rank >= 0 && x->rank < 3) return op_fail(c, PTQ_ERR_SHAPE, "input rank %d < 3", x->rank);
  op_set_out(c, 0, x->dtype, x->rank, x->dims);
  return PTQ_OK;
}

static ptq_status inorm_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  const float *sc = c->in[1]->data, *bi = c->in[2]->data;
  float eps = ir_attr_float(c->node, "epsilon", 1e-5f);
  int64_t n = x->dims[0], ch = x->dims[1], hw = 1;
  for (int i = 2; i < x->rank; i++) hw *= x->dims[i];
  for (int64_t b = 0; b < n; b++)
    for (int64_t k = 0; k < ch; k++) {
      const float *src = (const float *)x->data + (b * ch + k) * hw;
      float *dst = (float *)c->out[0]->data + (b * ch + k) * hw;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < hw; i++) mean += src[i];
      mean /= (double)hw;
      for (int64_t i = 0; i < hw; i++) var += (src[i] - mean) * (src[i] - mean);
      var /= (double)hw;
      float s = sc[k] / sqrtf((float)var + eps);
      for (int64_t i = 0; i < hw; i++) dst[i] = (float)(src[i] - mean) * s + bi[k];
    }
  return PTQ_OK;
}

static const char *const A_GEMM[] = {"alpha:f", "beta:f", "transA:i", "transB:i", NULL};
static const char *const A_NONE[] = {NULL};
static const char *const A_BN7[] = {"epsilon:f", "momentum:f", "spatial:i", NULL};
static const char *const A_BN9[] = {"epsilon:f", "momentum:f", NULL};
static const char *const A_BN14[] = {"epsilon:f", "momentum:f", "training_mode:i", NULL};
static const char *const A_EPS[] = {"epsilon:f", NULL};

const op_def op_defs_linear[] = {
    {"Gemm", 7, 2, 3, 1, 1, A_GEMM, gemm_infer, gemm_run, 0, 0, 0},
    {"MatMul", 1, 2, 2, 1, 1, A_NONE, matmul_infer, matmul_run, 0, 0, 0},
    {"BatchNormalization", 7, 5, 5, 1, 5, A_BN7, bn_infer, bn_run, 0, 0, 0},
    {"BatchNormalization", 9, 5, 5, 1, 5, A_BN9, bn_infer, bn_run, 0, 0, 0},
    {"BatchNormalization", 14, 5, 5, 1, 3, A_BN14, bn_infer, bn_run, 0, 0, 0},
    {"InstanceNormalization", 6, 3, 3, 1, 1, A_EPS, inorm_infer, inorm_run, 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};
